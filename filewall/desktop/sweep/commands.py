"""Which file an autostart command really starts.

``"C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe" /background`` starts OneDrive;
``rundll32.exe C:\\Users\\a\\AppData\\Roaming\\x.dll,Start`` starts ``x.dll`` *through* the
system tool rundll32; ``C:\\Program Files\\App\\app.exe -x`` written without quotes
still starts ``app.exe`` (Windows tries the longest name ending in a program extension);
``/bin/sh -c "~/.cache/.x/upd >/dev/null"`` starts ``~/.cache/.x/upd``.
"""

from __future__ import annotations

import ntpath
import posixpath
import re
import shlex
from dataclasses import dataclass

from ..autostart import split_command

PROGRAM_EXTENSIONS = (".exe", ".com", ".bat", ".cmd", ".ps1", ".vbs", ".vbe", ".js", ".jse", ".wsf", ".wsh",
                      ".dll", ".scr", ".pif", ".msc", ".hta", ".lnk", ".cpl", ".msi", ".ocx", ".sys", ".jar")
#: Windows programs that run another file or a command given as an argument (LOLBins).
WINDOWS_HOSTS = {
    "rundll32", "regsvr32", "mshta", "wscript", "cscript", "powershell", "pwsh", "cmd", "msiexec",
    "conhost", "forfiles", "pcalua", "explorer", "start", "javaw", "java", "python", "pythonw",
    "cmstp", "installutil", "regasm", "regsvcs", "msbuild", "odbcconf", "schtasks", "hh", "wmic",
}
POSIX_HOSTS = {"sh", "bash", "dash", "zsh", "ksh", "fish", "nohup", "env", "setsid", "python", "python2", "python3",
               "perl", "ruby", "node", "nice", "ionice", "timeout", "exec", "sudo", "osascript"}
_URL_RE = re.compile(r"\b(?:https?|ftp)://[^\s\"']+", re.IGNORECASE)


@dataclass
class Launch:
    argv: list[str]
    #: The program the command runs (first word, resolved), as written.
    program: str | None
    #: The file that really gets started: the payload of a host tool, else the program.
    image: str | None
    #: The system tool in between (``rundll32.exe``), when there is one.
    host: str | None = None
    #: A web address the command fetches (``mshta http://…``).
    url: str | None = None


def windows_launch(command: str) -> Launch:
    argv = split_command(command, windows=True)
    if not argv:
        return Launch([], None, None)
    argv = _join_unquoted(argv)
    program = argv[0]
    stem = _stem(ntpath.basename(program))
    if stem in WINDOWS_HOSTS:
        payload, url = _payload(argv[1:], windows=True)
        if payload or url:
            return Launch(argv, program, payload, host=ntpath.basename(program), url=url)
    return Launch(argv, program, program)


def posix_launch(command: str) -> Launch:
    try:
        argv = shlex.split(command, comments=False)
    except ValueError:
        argv = command.split()
    argv = [arg for arg in argv if not re.fullmatch(r"\w+=.*", arg)] or argv  # VAR=value prefixes
    if not argv:
        return Launch([], None, None)
    program = argv[0]
    stem = _stem(posixpath.basename(program))
    if stem in POSIX_HOSTS or re.fullmatch(r"python[\d.]*", stem):
        rest = argv[1:]
        if "-c" in rest and stem in ("sh", "bash", "dash", "zsh", "ksh", "fish"):
            inner = rest[rest.index("-c") + 1] if rest.index("-c") + 1 < len(rest) else ""
            nested = posix_launch(inner)
            return Launch(argv, program, nested.image, host=posixpath.basename(program), url=_url(inner))
        payload, url = _payload(rest, windows=False)
        if payload or url:
            return Launch(argv, program, payload, host=posixpath.basename(program), url=url)
    return Launch(argv, program, program, url=None)


def _payload(args: list[str], windows: bool) -> tuple[str | None, str | None]:
    url = None
    skip_next = False
    for arg in args:
        if skip_next:
            skip_next = False
            continue
        text = arg.strip().strip('"')
        if not text:
            continue
        if _URL_RE.match(text):
            url = url or text
            continue
        low = text.lower()
        if windows and low in ("/c", "/k", "/r", "-file", "/file", "-f", "-command", "-c", "/i", "/s", "/u", "/q",
                               "/quiet", "/passive", "/n", "-noprofile", "-nop", "-windowstyle", "-w", "-ep",
                               "-executionpolicy", "bypass", "hidden", "-noninteractive", "-noni", "-sta"):
            if low in ("-windowstyle", "-w", "-ep", "-executionpolicy"):
                skip_next = True
            continue
        if text.startswith(("-", "/")) and not (not windows and text.startswith("/")):
            continue
        candidate = text.split(",")[0] if windows else text  # rundll32 x.dll,Entry
        if windows and ("\\" in candidate or ":" in candidate or candidate.lower().endswith(PROGRAM_EXTENSIONS)):
            return candidate, url
        if not windows and ("/" in candidate or candidate.startswith("~")):
            return candidate, url
        if not windows:
            return None, url  # a word (a module name, a subcommand): not a file
    joined = " ".join(args)
    return None, url or _url(joined)


def _url(text: str) -> str | None:
    match = _URL_RE.search(text)
    return match.group(0) if match else None


def _join_unquoted(argv: list[str]) -> list[str]:
    """``C:\\Program Files\\App\\app.exe -x`` without quotes: join the words up to the
    first that ends in a program extension (what CreateProcess itself tries)."""
    if argv[0].lower().endswith(PROGRAM_EXTENSIONS) or len(argv) == 1:
        return argv
    for end in range(1, min(len(argv), 8)):
        if argv[end].lower().endswith(PROGRAM_EXTENSIONS):
            return [" ".join(argv[: end + 1])] + argv[end + 1 :]
    return argv


def _stem(name: str) -> str:
    low = name.lower()
    for ext in (".exe", ".com"):
        if low.endswith(ext):
            return low[: -len(ext)]
    return low
