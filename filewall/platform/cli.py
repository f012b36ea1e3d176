"""``filewall campaigns`` and ``filewall update``: thin shells over the platform modules.

Registered on the main app by :func:`register` (one line in ``filewall/cli.py``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

campaigns_app = typer.Typer(
    help="Campaigns: the same attack seen by several shops (reads the desk's database).",
    invoke_without_command=True,
    no_args_is_help=False,
)

DataOption = Annotated[
    Path | None,
    typer.Option("--data", help="The desk's data folder (default: FILEWALL_DATA or the user data folder)."),
]


def _open(data: Path | None):
    from ..service.settings import Settings
    from ..storage import BlobStore
    from ..store import Database

    settings = Settings.load(data)
    if not settings.database_url and not settings.layout.database_file.exists():
        typer.echo(
            f"filewall: no desk database in {settings.data_dir} (run `filewall serve` first, or give --data)",
            err=True,
        )
        raise typer.Exit(2)
    db = Database(settings.database)
    db.migrate()
    blobs = BlobStore(settings.samples_dir) if settings.samples_dir.is_dir() else None
    return settings, db, blobs


def _secret(settings) -> bytes:
    from .updates import pseudonym_secret

    return pseudonym_secret(settings.data_dir)


@campaigns_app.callback()
def campaigns(
    ctx: typer.Context,
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON object per campaign (JSON Lines).")
    ] = False,
    data: DataOption = None,
) -> None:
    """Index new reports, group them into campaigns, alert, and list the campaigns."""
    if ctx.invoked_subcommand is not None:
        return
    from .pipeline import PlatformSettings, run

    settings, db, blobs = _open(data)
    try:
        result = run(db, PlatformSettings.load(settings.data_dir), blobs, secret=_secret(settings))
    finally:
        db.dispose()
    if json_output:
        for campaign in result.campaigns:
            sys.stdout.write(json.dumps(campaign.to_dict(), ensure_ascii=False) + "\n")
        return
    if not result.campaigns:
        typer.echo(f"No campaigns ({result.indexed} new reports indexed).")
        return
    typer.echo(f"{len(result.campaigns)} campaigns ({result.indexed} new reports indexed):")
    for campaign in result.campaigns:
        linked = ", ".join(f"{i['kind']} {i['value']}" for i in campaign.indicators[:3])
        typer.echo(
            f"  {campaign.id}  {campaign.shop_count:>4} shops  {len(campaign.reports):>5} reports  "
            f"{campaign.first_seen:%Y-%m-%d} .. {campaign.last_seen:%Y-%m-%d}  {campaign.name}"
            + (f"  [{linked}]" if linked else "")
        )
    for alert in result.alerts:
        state = "sent" if alert.delivered else ("not sent: " + (alert.delivery_error or "no webhook"))
        typer.echo(f"ALERT {alert.campaign_id} reached {alert.shop_count} shops (webhook {state})")


@campaigns_app.command("export")
def export(
    campaign_id: Annotated[str, typer.Argument(help="A campaign id (or its unique beginning).")],
    stix: Annotated[Path | None, typer.Option("--stix", help="Write a STIX 2.1 bundle here.")] = None,
    misp: Annotated[Path | None, typer.Option("--misp", help="Write a MISP event (JSON) here.")] = None,
    data: DataOption = None,
) -> None:
    """Export one campaign (shops anonymised) as STIX 2.1 and/or a MISP event."""
    if stix is None and misp is None:
        typer.echo("give --stix FILE and/or --misp FILE", err=True)
        raise typer.Exit(2)
    from .pipeline import PlatformSettings, find_campaign, run
    from .share import misp_event, stix_bundle

    settings, db, blobs = _open(data)
    try:
        campaign = find_campaign(db, campaign_id)
        if campaign is None:
            run(db, PlatformSettings.load(settings.data_dir), blobs, secret=_secret(settings))
            campaign = find_campaign(db, campaign_id)
    finally:
        db.dispose()
    if campaign is None:
        typer.echo(f"no campaign {campaign_id!r} (see `filewall campaigns`)", err=True)
        raise typer.Exit(2)
    if stix is not None:
        stix.write_text(stix_bundle(campaign, secret=_secret(settings)), encoding="utf-8")
        typer.echo(f"wrote {stix}")
    if misp is not None:
        misp.write_text(json.dumps(misp_event(campaign), ensure_ascii=False, indent=1), encoding="utf-8")
        typer.echo(f"wrote {misp}")


def update(
    server: Annotated[
        str, typer.Option("--server", help="The platform's address, e.g. https://desk.example.com")
    ],
    token: Annotated[str, typer.Option("--token", help="An API token of the desk.")],
    data: DataOption = None,
    public_key: Annotated[
        str | None,
        typer.Option("--public-key", help="The server's Ed25519 public key (base64); default from config."),
    ] = None,
) -> None:
    """Fetch the signed update (blocked hashes, YARA rules), verify it, and keep it for offline scans."""
    from .updates import UpdateError, fetch_update

    try:
        result = fetch_update(server, token, data_dir=data, public_key=public_key)
    except UpdateError as error:
        typer.echo(f"filewall: update failed: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(
        f"update version {result.version}: {result.hashes} hashes, {result.rules} YARA rules "
        f"-> {result.folder}" + ("" if result.changed else " (unchanged)")
    )


def register(app: typer.Typer) -> None:
    app.add_typer(campaigns_app, name="campaigns")
    app.command("update")(update)
