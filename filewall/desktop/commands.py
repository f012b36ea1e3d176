"""The bodies of ``filewall watch``, ``filewall quarantine …`` and ``filewall sweep``;
:mod:`filewall.cli` only declares the options and calls these (heavy imports stay lazy,
so ``filewall scan`` does not pay for watchdog or psutil's process walk)."""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..datadir import DataLayout
from . import data_dir

EXIT_OK, EXIT_FOUND, EXIT_ERROR = 0, 1, 2
LOG_BYTES, LOG_BACKUPS = 2 * 1024 * 1024, 3


def _console(stderr: bool = False) -> Console | None:
    stream = sys.stderr if stderr else sys.stdout
    if stream is None:  # pythonw.exe: no console at all
        return None
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def setup_logging(folder: Path, name: str) -> Path:
    logs = DataLayout(folder).logs_dir
    logs.mkdir(parents=True, exist_ok=True)
    path = logs / f"{name}.log"
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("filewall")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return path


# -- watch -------------------------------------------------------------------------------------


def run_watch(
    folders: list[Path],
    data: Path | None,
    *,
    install: bool = False,
    uninstall: bool = False,
    poll: bool = False,
    settle: float | None = None,
    workers: int = 1,
    existing: bool = False,
    tray: bool = False,
    notify: bool = True,
    language: str = "en",
) -> int:
    from . import autostart

    folder = data_dir(data)
    out = _console()
    zh = language == "zh"
    if install or uninstall:
        if uninstall:
            removed = autostart.uninstall()
            message = ("已移除开机自动启动：" if zh else "Removed start at logon: ") + (", ".join(removed) or "-")
            if not removed:
                message = "没有找到开机自动启动项。" if zh else "filewall watch was not set to start at logon."
        else:
            installed = autostart.install(folder)
            message = (f"已设置登录时自动启动：{installed.where}" if zh
                       else f"filewall watch will start at logon: {installed.where}")
        if out is not None:
            out.print(escape(message))
        return EXIT_OK

    from .notify import Notifier
    from .quarantine import Quarantine, QuarantineError
    from .watch import SETTLE_SECONDS, Watcher, folders_to_watch

    log_file = setup_logging(folder, "watch")
    try:
        quarantine = Quarantine(folder).open()
    except (OSError, QuarantineError) as error:
        _error(f"cannot open the quarantine in {folder}: {error}")
        return EXIT_ERROR
    chosen, app_data, described = folders_to_watch(folders)
    missing = [path for path in chosen if not path.is_dir()]
    if missing:
        _error(("这些文件夹不存在：" if zh else "these folders do not exist: ") + ", ".join(map(str, missing)))
        return EXIT_ERROR
    if not chosen:
        _error("没有找到要监视的文件夹；请指定文件夹。" if zh else "no folder to watch was found; name one.")
        return EXIT_ERROR
    notifier = Notifier(console=out, desktop=notify)
    tray_icon = None
    if tray and sys.platform == "win32":
        from .tray import Tray

        tray_icon = Tray(language, str(log_file))
    discover = None
    if not folders:
        def discover():
            return folders_to_watch([])[0]

    watcher = Watcher(chosen, quarantine, workers=workers, settle=settle or SETTLE_SECONDS, poll=poll,
                      notifier=notifier, on_event=tray_icon.on_event if tray_icon else None, language=language,
                      ignore=[folder], app_data_folders=app_data, discover=discover, scan_existing=existing)
    if tray_icon is not None:
        tray_icon.on_quit = watcher.stop
    watcher.start()
    if tray_icon is not None:
        tray_icon.start()
    if out is not None:
        head = "正在监视" if zh else "Watching"
        out.print(f"[bold]{head}[/] ({watcher.observer_kind}; Ctrl+C {'停止' if zh else 'stops'}):")
        for line in described:
            out.print(f"  {escape(line)}")
        out.print(f"[dim]{'隔离区与日志' if zh else 'quarantine and log'}: {escape(str(folder))}[/]")
    try:
        watcher.run_forever()
    finally:
        if tray_icon is not None:
            tray_icon.stop()
    return EXIT_OK


# -- quarantine ----------------------------------------------------------------------------------

quarantine_app = typer.Typer(
    help="Files filewall moved out of harm's way: list, restore, delete. / 隔离区：查看、恢复、删除。",
    no_args_is_help=True,
)
DataOption = Annotated[Path | None, typer.Option("--data", help="Data folder (default: FILEWALL_DATA or the user data folder).")]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON output.")]


def _open_quarantine(data: Path | None):
    from .quarantine import Quarantine

    return Quarantine(data_dir(data)).open()


def _language() -> str:
    from ..cli import _language as detect

    return detect("auto")


@quarantine_app.command("list")
def quarantine_list(
    data: DataOption = None,
    json_output: JsonOption = False,
    all_entries: Annotated[bool, typer.Option("--all", help="Also restored and deleted entries.")] = False,
) -> None:
    """List what is in quarantine."""
    entries = _open_quarantine(data).list(include_closed=all_entries)
    if json_output:
        typer.echo(json.dumps([entry.to_dict() for entry in entries], ensure_ascii=False, indent=2))
        raise typer.Exit(EXIT_OK)
    zh = _language() == "zh"
    out = Console(highlight=False, soft_wrap=True)
    if not entries:
        out.print("隔离区是空的。" if zh else "The quarantine is empty.")
        raise typer.Exit(EXIT_OK)
    table = Table(show_header=True, header_style="bold")
    for column in (("编号", "文件", "原位置", "隔离时间", "状态", "原因") if zh
                   else ("id", "file", "was in", "when", "state", "why")):
        table.add_column(column, overflow="fold")
    for entry in entries:
        table.add_row(str(entry.id), escape(entry.name), escape(str(Path(entry.original_path).parent)),
                      entry.quarantined_at, entry.state, escape((entry.summary_zh if zh else entry.summary) or ""))
    out.print(table)
    raise typer.Exit(EXIT_OK)


@quarantine_app.command("restore")
def quarantine_restore(
    entry_id: Annotated[str, typer.Argument(metavar="ID", help="The entry's id (see `filewall quarantine list`).")],
    data: DataOption = None,
    json_output: JsonOption = False,
) -> None:
    """Put a quarantined file back where it was, byte for byte (never over another file)."""
    entry = _apply(data, json_output, lambda quarantine: quarantine.restore(entry_id))
    _report_done(json_output, entry, f"已恢复到 {entry.original_path}", f"Restored to {entry.original_path}")


@quarantine_app.command("delete")
def quarantine_delete(
    entry_id: Annotated[str, typer.Argument(metavar="ID", help="The entry's id (see `filewall quarantine list`).")],
    data: DataOption = None,
    json_output: JsonOption = False,
) -> None:
    """Delete a quarantined file for good."""
    entry = _apply(data, json_output, lambda quarantine: quarantine.delete(entry_id))
    _report_done(json_output, entry, f"已永久删除 {entry.name}", f"Deleted {entry.name} for good")


def _apply(data, json_output: bool, action):
    """Run one quarantine action; a refusal ends the command with its message."""
    from .quarantine import QuarantineError

    try:
        return action(_open_quarantine(data))
    except QuarantineError as error:
        _finish_error(json_output, str(error))


def _report_done(json_output: bool, entry, message_zh: str, message_en: str) -> None:
    if json_output:
        typer.echo(json.dumps(entry.to_dict(), ensure_ascii=False))
    else:
        typer.echo(message_zh if _language() == "zh" else message_en)
    raise typer.Exit(EXIT_OK)


def _finish_error(json_output: bool, message: str) -> None:
    if json_output:
        typer.echo(json.dumps({"error": message}, ensure_ascii=False))
    else:
        _error(message)
    raise typer.Exit(EXIT_ERROR)


def _error(message: str) -> None:
    console = _console(stderr=True)
    if console is not None:
        console.print(f"[bold red]filewall:[/] {escape(message)}")


# -- sweep ---------------------------------------------------------------------------------------


def run_sweep_command(
    *,
    json_output: bool,
    html: Path | None,
    root: Path | None,
    registry_exports: list[Path],
    system: str | None,
    homes: list[Path],
    cron_spools: list[Path],
    days: float,
    files: bool,
    processes: bool,
    home_country: str | None,
    workers: int,
    language: str,
) -> int:
    from . import sweep as sweep_module
    from .sweep.report import print_summary, progress_bar, to_html, to_json

    for path in registry_exports:
        if not path.is_file():
            _error(f"no such registry export: {path}")
            return EXIT_ERROR
    if root is not None and not root.is_dir():
        _error(f"no such folder: {root}")
        return EXIT_ERROR
    options = sweep_module.SweepOptions(
        root=root, registry_exports=list(registry_exports), os=system, homes=list(homes) or None,
        cron_spools=list(cron_spools) or None, days=days, files=files, processes=processes,
        home_country=(home_country or None), workers=workers,
    )
    err = Console(stderr=True, highlight=False)
    with progress_bar(err, err.is_terminal) as progress:
        result = sweep_module.run_sweep(options, progress)
    if html is not None:
        html.write_text(to_html(result, language), encoding="utf-8")
    if json_output:
        sys.stdout.write(to_json(result) + "\n")
    else:
        out = Console(highlight=False, soft_wrap=True)
        print_summary(out, result, language)
        if html is not None:
            out.print(f"[dim]HTML: {escape(str(html))}[/]")
    return EXIT_FOUND if result.verdict != "clean" else EXIT_OK
