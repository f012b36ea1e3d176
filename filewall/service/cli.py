"""The desk's command-line steps: ``filewall serve``, ``user add``, ``token create``.

(The Typer commands are declared in :mod:`filewall.cli`; the work is done here so that
``filewall scan`` never imports the web stack.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ..store import ROLES, AccountError, Accounts, Database
from .settings import Settings

EXIT_OK, EXIT_ERROR = 0, 2


def _settings(data: Path | None, database_url: str | None, **overrides) -> Settings:
    return Settings.load(data, database_url=database_url, **overrides)


def _database(settings: Settings) -> Database:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database, pool_size=1)
    db.migrate()
    return db


def serve(host: str, port: int, data: Path | None, database_url: str | None, workers: int, log_level: str) -> None:
    import uvicorn

    from .app import create_app

    settings = _settings(data, database_url, scan_workers=workers or None)
    app = create_app(settings)
    with app.state.db.read() as session:
        users = Accounts(session).count_users()
    typer.echo(f"filewall desk: data in {settings.data_dir}, database {app.state.db.describe()}", err=True)
    if users == 0:
        data_arg = f" --data {settings.data_dir}" if data else ""
        typer.echo(
            "No account yet. Create the shop's first owner with:\n"
            f"    filewall user add{data_arg} --shop 'My shop' --username owner --role owner\n"
            "还没有账号。请先用上面的命令创建店铺负责人账号。",
            err=True,
        )
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"filewall desk: open http://{shown}:{port}/ (API: /api/v1, schema: /api/v1/openapi.json)", err=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=10, server_header=False)


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise typer.BadParameter("no terminal to ask for the password: use --password-stdin")
    return typer.prompt("Password / 密码", hide_input=True, confirmation_prompt=True)


def add_user(
    shop_name: str,
    username: str,
    role: str,
    password_stdin: bool,
    display_name: str | None,
    data: Path | None,
    database_url: str | None,
) -> int:
    if role not in ROLES:
        typer.echo(f"filewall: --role must be one of {', '.join(ROLES)}", err=True)
        return EXIT_ERROR
    password = _read_password(password_stdin)
    settings = _settings(data, database_url)
    db = _database(settings)
    try:
        with db.write() as session:
            accounts = Accounts(session)
            shop = accounts.shop_by_name(shop_name)
            created = shop is None
            if shop is None:
                shop = accounts.create_shop(shop_name)
            user = accounts.create_user(shop, username, password, role, display_name)
            message = f"created {role} {user.username!r} in shop {shop.name!r}" + (" (new shop)" if created else "")
    except AccountError as error:
        typer.echo(f"filewall: {error}", err=True)
        return EXIT_ERROR
    finally:
        db.dispose()
    typer.echo(message)
    return EXIT_OK


def create_token(username: str, name: str, role: str, data: Path | None, database_url: str | None) -> int:
    settings = _settings(data, database_url)
    db = _database(settings)
    try:
        with db.write() as session:
            accounts = Accounts(session)
            user = accounts.user_by_username(username)
            if user is None:
                typer.echo(f"filewall: no user named {username!r}", err=True)
                return EXIT_ERROR
            secret, token = accounts.create_token(user, name, role)
    except AccountError as error:
        typer.echo(f"filewall: {error}", err=True)
        return EXIT_ERROR
    finally:
        db.dispose()
    typer.echo(secret)
    typer.echo(
        f"(token {token.id} for {user.username!r}, role {token.role}; shown only once — keep it secret)", err=True
    )
    return EXIT_OK
