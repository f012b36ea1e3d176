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
) -> None:
    """Scan files and print a verdict for each (exit 0 clean, 1 found, 2 error)."""
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
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    main()
