"""``filewall chat [FILE|-] [--json]``: the conversation analyzer as a command.

:func:`chat_command` is a plain function (text in, output and exit status out) so that the
Typer app wires it in a few lines::

    @app.command()
    def chat(file: str = "-", json_output: bool = typer.Option(False, "--json")):
        output, code = chat_command(read_chat(file), json_output)
        typer.echo(output)
        raise typer.Exit(code)

Exit status, like ``filewall scan``: 0 for ``low``, 1 for ``medium`` or ``high``; 2 when the
input cannot be read (that is :func:`main`'s business, :func:`chat_command` never fails).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from . import ChatResult, analyze_chat

_RISK_ZH = {"low": "低", "medium": "中", "high": "高"}
_ADVICE = {
    "high": (
        "This conversation follows a Trojan lure script. Do not open the file; scan it with filewall "
        "(the passwords below are tried automatically).",
        "这段聊天符合木马诱骗话术。不要打开对方的文件，先用 filewall 扫描（会自动尝试下面的密码）。",
    ),
    "medium": (
        "Some signs of a lure. Scan the file with filewall before opening it.",
        "有诱骗迹象。打开文件之前先用 filewall 扫描。",
    ),
    "low": (
        "Nothing alarming in the words alone; the file itself still decides — scan it before opening.",
        "单看文字没有明显问题；文件本身才是关键，打开前仍请扫描。",
    ),
}


def exit_code(result: ChatResult) -> int:
    """0 for a ``low`` conversation, 1 for ``medium`` or ``high``."""
    return 0 if result.risk == "low" else 1


def format_text(result: ChatResult) -> str:
    """The human-readable report, in English and Chinese."""
    advice, advice_zh = _ADVICE[result.risk]
    lines = [
        f"Risk 风险: {result.risk.upper()} {_RISK_ZH[result.risk]}  (score {result.score}/100)",
        f"  {advice}",
        f"  {advice_zh}",
    ]
    if result.reasons:
        lines.append("Reasons 原因:")
    for number, reason in enumerate(result.reasons, start=1):
        quote = " ⏎ ".join(part.strip() for part in reason.quote.splitlines())
        lines += [
            f"  {number}. [{reason.rule}] “{quote}”",
            f"     {reason.message}",
            f"     {reason.message_zh}",
        ]
    passwords = ", ".join(result.passwords) if result.passwords else "none 无"
    lines.append(f"Passwords 密码: {passwords}")
    return "\n".join(lines)


def chat_command(text: str, json_output: bool = False) -> tuple[str, int]:
    """Analyse ``text`` and return ``(output, exit status)``; ``json_output`` gives one JSON object."""
    result = analyze_chat(text)
    if json_output:
        return json.dumps(result.to_dict(), ensure_ascii=False), exit_code(result)
    return format_text(result), exit_code(result)


def decode_chat(data: bytes) -> str:
    """Decode a chat export: UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 (Windows exports)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace")


def read_chat(source: str) -> str:
    """The text of ``source``: a file path, or ``-`` for standard input. Raises ``OSError``."""
    if source == "-":
        return decode_chat(sys.stdin.buffer.read())
    with open(source, "rb") as handle:
        return decode_chat(handle.read())


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m filewall.chat [FILE|-] [--json]``."""
    parser = argparse.ArgumentParser(prog="python -m filewall.chat", description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default="-", help="conversation text or chat export; - for stdin")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        text = read_chat(args.file)
    except OSError as error:
        print(f"filewall chat: cannot read {args.file}: {error.strerror or error}", file=sys.stderr)
        return 2
    output, code = chat_command(text, args.json)
    print(output)
    return code
