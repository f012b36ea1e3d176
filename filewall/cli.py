"""``filewall`` command line: a thin shell around the engine, the pool and the policy."""

from __future__ import annotations

import json
import locale
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from . import __version__
from .engine import ScanOptions, iter_files
from .limits import Limits
from .pool import ScanPool

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="filewall: check what customers send before anyone opens it. / 在打开之前检查顾客发来的文件。",
)

#: Exit codes, as clamscan: 0 all clean, 1 something found, 2 an error.
EXIT_CLEAN, EXIT_FOUND, EXIT_ERROR = 0, 1, 2
PROGRESS_FROM = 20  # files; below this a bar is only noise

_COLOURS = {"clean": "green", "suspicious": "yellow", "malicious": "bold red", "error": "magenta"}
_LABELS_ZH = {"clean": "安全", "suspicious": "可疑", "malicious": "危险", "error": "出错"}


def _language(choice: str) -> str:
    if choice in ("zh", "en"):
        return choice
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = os.environ.get(variable, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    code = (locale.getlocale()[0] or "").lower()
    return "zh" if code.startswith("zh") or code.startswith("chinese") else "en"


def _read_chat(chat: str | None, chat_file: Path | None) -> str | None:
    if chat_file is not None:
        from .chat.cli import read_chat  # UTF-8, UTF-16 and GBK exports alike

        return read_chat(str(chat_file))
    return chat


def _analyze_chat(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    from .chat import analyze_chat

    return analyze_chat(text).to_dict()


@app.command()
def scan(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (scanned recursively).")],
    json_lines: Annotated[bool, typer.Option("--json", help="JSON Lines: one object per input file.")] = False,
    password: Annotated[
        list[str] | None, typer.Option("--password", "-p", help="A password to try on encrypted archives.")
    ] = None,
    chat: Annotated[str | None, typer.Option(help="The chat text that came with the files.")] = None,
    chat_file: Annotated[Path | None, typer.Option(help="Read the chat text from this file.")] = None,
    rules: Annotated[list[Path] | None, typer.Option(help="Extra YARA rules file or folder.")] = None,
    blocklist: Annotated[
        list[Path] | None, typer.Option(help="Extra sha256 blocklist (text or MalwareBazaar CSV).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Scanning processes (default: one per core).")] = 0,
    max_seconds: Annotated[float | None, typer.Option(help="Time limit per input file.")] = None,
    max_depth: Annotated[int | None, typer.Option(help="Deepest archive nesting unpacked.")] = None,
    lang: Annotated[str, typer.Option(help="Language of messages: zh, en or auto.")] = "auto",
    server: Annotated[
        str | None, typer.Option(help="Send the files to a filewall desk (URL) instead of scanning here.")
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="FILEWALL_TOKEN", help="The desk's API token (with --server).")
    ] = None,
) -> None:
    """Scan files and print a verdict for each (exit 0 clean, 1 found, 2 error)."""
    if server:
        from .service.client import scan_remote

        raise typer.Exit(
            scan_remote(
                server, token, list(iter_files(str(path) for path in paths)), _read_chat(chat, chat_file),
                list(password or []), json_lines, _language(lang),
            )
        )
    chat_result = _analyze_chat(_read_chat(chat, chat_file))
    passwords = list(password or [])
    if chat_result:
        passwords += [item for item in chat_result.get("passwords", []) if item not in passwords]
    options = ScanOptions(
        limits=Limits.from_env(max_seconds=max_seconds, max_depth=max_depth),
        passwords=passwords,
        rule_paths=[str(path) for path in rules or []],
        blocklist_paths=[str(path) for path in blocklist or []],
        chat=chat_result,
    )
    files = list(iter_files(str(path) for path in paths))
    language = _language(lang)
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False)
    counts: Counter[str] = Counter()
    started = time.perf_counter()
    show_progress = not json_lines and len(files) >= PROGRESS_FROM and err.is_terminal
    with ScanPool(options, workers=workers or None) as pool, _progress(err, len(files), show_progress) as bar:
        for report in pool.scan(files):
            counts[report["verdict"]] += 1
            if json_lines:
                sys.stdout.write(json.dumps(_json_line(report), ensure_ascii=False) + "\n")
                sys.stdout.flush()
            else:
                _print_report(out, report, language)
            if bar is not None:
                bar.advance(bar.task_ids[0])
    if not json_lines:
        _print_summary(out, counts, len(files), time.perf_counter() - started, language)
    raise typer.Exit(_exit_code(counts))


def _json_line(report: dict[str, Any]) -> dict[str, Any]:
    """The contract: path, verdict, score, findings, tree first; extras after."""
    ordered = {key: report[key] for key in ("path", "verdict", "score", "findings", "tree")}
    ordered.update({key: value for key, value in report.items() if key not in ordered})
    return ordered


def _exit_code(counts: Counter[str]) -> int:
    if counts["error"]:
        return EXIT_ERROR
    if counts["malicious"] or counts["suspicious"]:
        return EXIT_FOUND
    return EXIT_CLEAN


class _progress:
    def __init__(self, console: Console, total: int, enabled: bool):
        self.console, self.total, self.enabled = console, total, enabled
        self.bar: Progress | None = None

    def __enter__(self) -> Progress | None:
        if not self.enabled:
            return None
        self.bar = Progress(
            TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=self.console, transient=True,
        )
        self.bar.__enter__()
        self.bar.add_task("scan", total=self.total)
        return self.bar

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _print_report(out: Console, report: dict[str, Any], language: str) -> None:
    verdict = report["verdict"]
    label = _LABELS_ZH[verdict] if language == "zh" else verdict.upper()
    colour = _COLOURS[verdict]
    out.print(f"[{colour}]{label:<10}[/] {escape(report['path'])}")
    key = "message_zh" if language == "zh" else "message"
    if verdict == "clean":
        return
    shown = [finding for finding in report["findings"] if finding["score"] > 0][:5]
    for finding in shown:
        out.print(f"    - {escape(finding[key])}  [dim]({escape(finding['rule'])})[/]")
    if report.get("chat") and report["chat"].get("risk") != "low":
        chat = report["chat"]
        out.print(f"    - chat risk: {chat['risk']} ({chat['score']})")


def _print_summary(out: Console, counts: Counter[str], total: int, seconds: float, language: str) -> None:
    parts = [f"{counts[name]} {(_LABELS_ZH[name] if language == 'zh' else name)}" for name in _COLOURS if counts[name]]
    head = f"扫描了 {total} 个文件" if language == "zh" else f"Scanned {total} files"
    out.print(f"\n{head} in {seconds:.1f}s: " + ", ".join(parts or ["0"]))


@app.command()
def chat(
    file: Annotated[str, typer.Argument(help="A conversation export, or - for standard input.")] = "-",
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Read a conversation: lure risk, quoted reasons, passwords (exit 0 low, 1 medium/high)."""
    from .chat.cli import chat_command, read_chat

    try:
        text = read_chat(file)
    except OSError as error:
        typer.echo(f"cannot read {file}: {error.strerror or error}", err=True)
        raise typer.Exit(EXIT_ERROR) from error
    output, code = chat_command(text, json_output)
    typer.echo(output)
    raise typer.Exit(code)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    data: Annotated[
        Path | None, typer.Option(help="Data folder (database, samples, config); default $FILEWALL_DATA or per-user.")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(envvar="FILEWALL_DATABASE_URL", help="PostgreSQL URL instead of SQLite in --data.")
    ] = None,
    workers: Annotated[int, typer.Option(help="Scanning processes (default: one per core).")] = 0,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Start the support desk web app (pages and API) for agents and shop owners."""
    from .service.cli import serve as run_serve

    run_serve(host, port, data, database_url, workers, log_level)


user_app = typer.Typer(no_args_is_help=True, help="Support desk accounts. / 客服工作台账号。")
app.add_typer(user_app, name="user")
token_app = typer.Typer(no_args_is_help=True, help="API tokens for programs. / 程序使用的 API 令牌。")
app.add_typer(token_app, name="token")


@user_app.command("add")
def user_add(
    shop: Annotated[str, typer.Option(help="Shop name (created if missing).")],
    username: Annotated[str, typer.Option(help="Login name.")],
    role: Annotated[str, typer.Option(help="agent, owner or admin.")] = "agent",
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input.")] = False,
    display_name: Annotated[str | None, typer.Option(help="Name shown in the pages.")] = None,
    data: Annotated[Path | None, typer.Option(help="Data folder (as for serve).")] = None,
    database_url: Annotated[str | None, typer.Option(envvar="FILEWALL_DATABASE_URL", help="PostgreSQL URL.")] = None,
) -> None:
    """Create a desk user (the first one: --role owner)."""
    from .service.cli import add_user

    raise typer.Exit(add_user(shop, username, role, password_stdin, display_name, data, database_url))


@token_app.command("create")
def token_create(
    username: Annotated[str, typer.Option(help="The user the token acts for.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "API token",
    role: Annotated[str, typer.Option(help="agent (submit, read) or owner.")] = "agent",
    data: Annotated[Path | None, typer.Option(help="Data folder (as for serve).")] = None,
    database_url: Annotated[str | None, typer.Option(envvar="FILEWALL_DATABASE_URL", help="PostgreSQL URL.")] = None,
) -> None:
    """Create an API token for `filewall scan --server` and other programs (shown once)."""
    from .service.cli import create_token

    raise typer.Exit(create_token(username, name, role, data, database_url))


@app.command()
def watch(
    folders: Annotated[
        list[Path] | None, typer.Argument(help="Folders to watch (default: the chat apps' received files and Downloads).")
    ] = None,
    data: Annotated[Path | None, typer.Option(help="Data folder: quarantine and logs (default $FILEWALL_DATA or per-user).")] = None,
    install: Annotated[bool, typer.Option("--install", help="Start the watcher at logon for this user (no admin).")] = False,
    uninstall: Annotated[bool, typer.Option("--uninstall", help="Stop starting the watcher at logon.")] = False,
    poll: Annotated[bool, typer.Option(help="Poll the folders instead of using file-system events.")] = False,
    settle: Annotated[float | None, typer.Option(help="Seconds without change before a file counts as complete.")] = None,
    workers: Annotated[int, typer.Option(help="Scanning processes.")] = 1,
    existing: Annotated[bool, typer.Option(help="Also scan the files already in the folders at start.")] = False,
    tray: Annotated[bool, typer.Option(help="Show a tray icon (Windows).")] = False,
    notify: Annotated[bool, typer.Option(help="Desktop notifications (the log and console always say it).")] = True,
    lang: Annotated[str, typer.Option(help="Language of messages: zh, en or auto.")] = "auto",
) -> None:
    """Watch folders; quarantine dangerous files as they arrive, report suspicious ones."""
    from .desktop.commands import run_watch

    raise typer.Exit(run_watch(
        list(folders or []), data, install=install, uninstall=uninstall, poll=poll, settle=settle, workers=workers,
        existing=existing, tray=tray, notify=notify, language=_language(lang),
    ))


from .desktop.commands import quarantine_app  # noqa: E402  (light: its heavy imports are lazy)

app.add_typer(quarantine_app, name="quarantine")


@app.command()
def sweep(
    json_output: Annotated[bool, typer.Option("--json", help="Print the whole report as JSON.")] = False,
    html: Annotated[Path | None, typer.Option(help="Also write a self-contained HTML report to this file.")] = None,
    root: Annotated[Path | None, typer.Option(help="Check an offline image (a mounted disk or a copied tree) instead.")] = None,
    registry_export: Annotated[
        list[Path] | None, typer.Option(help="A .reg export to read as the registry (repeatable; Windows images).")
    ] = None,
    target_os: Annotated[str | None, typer.Option("--os", help="windows, linux or macos (default: detected).")] = None,
    home: Annotated[list[Path] | None, typer.Option(help="A home folder to check (repeatable).")] = None,
    cron_spool: Annotated[list[Path] | None, typer.Option(help="A crontab spool folder to read (repeatable).")] = None,
    days: Annotated[float, typer.Option(help="Recent files: created or changed in the last N days.")] = 30.0,
    files: Annotated[bool, typer.Option(help="Look for recent programs and scripts in the user's folders.")] = True,
    processes: Annotated[bool, typer.Option(help="Check running processes and connections (live only).")] = True,
    home_country: Annotated[str, typer.Option(help="Connections of unknown programs to other countries are findings.")] = "CN",
    workers: Annotated[int, typer.Option(help="Scanning processes (default: up to 4).")] = 0,
    lang: Annotated[str, typer.Option(help="Language of messages: zh, en or auto.")] = "auto",
) -> None:
    """Check this computer for planted Trojans (exit 0 nothing found, 1 found, 2 error)."""
    from .desktop.commands import run_sweep_command

    raise typer.Exit(run_sweep_command(
        json_output=json_output, html=html, root=root, registry_exports=list(registry_export or []),
        system=target_os, homes=list(home or []), cron_spools=list(cron_spool or []), days=days, files=files,
        processes=processes, home_country=home_country, workers=workers, language=_language(lang),
    ))


# -- scale-out and protocol servers (thin: the work is in filewall.worker / filewall.protocols) --
@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Files scanned at once (default: one per core).")] = 0,
    metrics: Annotated[
        str | None, typer.Option(help="Serve /metrics and /healthz on HOST:PORT (e.g. 127.0.0.1:9108).")
    ] = None,
    data: Annotated[Path | None, typer.Option(help="The desk's data folder (config.toml, default storage).")] = None,
    hostname: Annotated[str | None, typer.Option(help="This worker's name in the cluster.")] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING ...")] = "INFO",
) -> None:
    """Scan queued files (broker: FILEWALL_BROKER_URL) and store their reports."""
    from .queue import QueueConfig
    from .worker import run_worker

    config = QueueConfig.load(data)
    if not config.enabled:
        typer.echo("filewall worker: set FILEWALL_BROKER_URL (redis://HOST:6379/0 or amqp://USER:PASS@HOST//)", err=True)
        raise typer.Exit(EXIT_ERROR)
    run_worker(config, concurrency, metrics, hostname, log_level.upper())


def _protocol_scanner(source: str, workers: int, suspicious: str, error: str, max_seconds: float | None):
    from .protocols import Answering, ProtocolScanner

    try:
        answering = Answering(suspicious=suspicious, error=error)
    except ValueError as problem:
        raise typer.BadParameter(str(problem)) from problem
    return ProtocolScanner(source, workers=workers, limits=Limits.from_env(max_seconds=max_seconds), answering=answering)


def _serve_metrics(metrics: str | None, health) -> None:
    if metrics:
        from .metrics import MetricsServer, parse_host_port

        MetricsServer(*parse_host_port(metrics), health).start()


@app.command()
def clamd(
    listen: Annotated[
        list[str] | None, typer.Option(help="tcp:HOST:PORT or unix:PATH (repeatable; default tcp:127.0.0.1:3310).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Scanning processes (default: one per core).")] = 0,
    suspicious: Annotated[str, typer.Option(help="Answer for suspicious files: found or ok.")] = "found",
    error: Annotated[str, typer.Option(help="Answer when a file cannot be checked: found, error or ok.")] = "found",
    stream_max_mb: Annotated[float, typer.Option(help="StreamMaxLength for INSTREAM, in MiB.")] = 100.0,
    paths: Annotated[bool, typer.Option(help="Allow SCAN/CONTSCAN/MULTISCAN of server paths.")] = True,
    max_seconds: Annotated[float | None, typer.Option(help="Time limit per file.")] = None,
    metrics: Annotated[str | None, typer.Option(help="Serve /metrics and /healthz on HOST:PORT.")] = None,
) -> None:
    """Serve the clamd protocol, so clamdscan and mail filters use filewall unchanged."""
    from .logging import setup
    from .protocols.clamd import ClamdServer, serve

    setup()
    scanner = _protocol_scanner("clamd", workers, suspicious, error, max_seconds)
    server = ClamdServer(
        scanner, list(listen or ["tcp:127.0.0.1:3310"]), stream_max_length=int(stream_max_mb * 2**20), allow_paths=paths
    )
    _serve_metrics(metrics, scanner.health)
    typer.echo(f"filewall clamd: listening on {', '.join(server.addresses)}", err=True)
    serve(server)


@app.command()
def icap(
    listen: Annotated[str, typer.Option(help="HOST:PORT to listen on.")] = "127.0.0.1:1344",
    workers: Annotated[int, typer.Option(help="Scanning processes (default: one per core).")] = 0,
    suspicious: Annotated[str, typer.Option(help="Block suspicious files (found) or let them pass (ok).")] = "found",
    error: Annotated[str, typer.Option(help="Files that cannot be checked: found (block) or ok.")] = "found",
    max_object_mb: Annotated[float, typer.Option(help="Larger bodies are blocked unscanned, in MiB.")] = 100.0,
    max_seconds: Annotated[float | None, typer.Option(help="Time limit per file.")] = None,
    metrics: Annotated[str | None, typer.Option(help="Serve /metrics and /healthz on HOST:PORT.")] = None,
) -> None:
    """Serve ICAP (RFC 3507) for proxies such as Squid: block malicious downloads and uploads."""
    from .logging import setup
    from .metrics import parse_host_port
    from .protocols.icap import IcapServer, serve

    setup()
    scanner = _protocol_scanner("icap", workers, suspicious, "found" if error == "error" else error, max_seconds)
    host, port = parse_host_port(listen)
    server = IcapServer(scanner, host, port, max_object=int(max_object_mb * 2**20))
    _serve_metrics(metrics, scanner.health)
    typer.echo(f"filewall icap: listening on icap://{host}:{server.port}/ (services: respmod, reqmod)", err=True)
    serve(server)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


# `filewall campaigns [--json] [--data DIR]`, `campaigns export`, `filewall update` (filewall/platform/cli.py).
from .platform.cli import register as _register_platform  # noqa: E402

_register_platform(app)


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    main()
