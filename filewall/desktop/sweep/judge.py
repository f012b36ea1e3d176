"""Facts about sweep entries → findings → a verdict per entry, with the table in
:data:`filewall.policy.rules.SWEEP_RULES`.

The engine's verdict of a file is the *inbox* policy: any program a customer sends is
``malicious``. On a computer, programs are normal, so for the files that autostart
entries and processes run, only the engine findings that say something beyond "this is a
program" count (a disguised name, a blocklisted hash, a YARA hit, packing …); see
:data:`INBOX_ONLY_RULES`. Files found in the chat apps' folders keep the inbox verdict:
that is what they are.
"""

from __future__ import annotations

import datetime
import ntpath
import posixpath
import re
from typing import Any

from ...analyze.script import analyze_text
from ...model import Finding
from ...policy import _Params
from ...policy.rules import MALICIOUS_AT, SUSPICIOUS_AT, SWEEP_RULES
from ..autostart import is_own_command
from .commands import Launch, posix_launch, windows_launch
from .model import SweepEntry
from .target import Target, folder_risk, folder_words

#: Engine rules that only say what a file *is* (right for an inbox, normal on a computer).
INBOX_ONLY_RULES = frozenset({
    "type.executable", "type.installer", "type.script", "type.shortcut", "type.help_file", "type.registry_file",
    "type.disk_image", "type.internet_shortcut", "name.risky_extension", "name.disk_image_extension",
    "pe.unsigned", "pe.signed", "pe.original_name", "pe.overlay", "archive.self_extracting",
    "installer.custom_action", "office.macro_enabled_type", "archive.encrypted", "name.content_mismatch_harmless",
    "scan.analyzer_failed",
})

#: Persistence reported on computers taken over by the Silver Fox gang
#: (/work/shared/research/threats-cs-lures.md §3). (what, regex on lower-case text, evidence)
KNOWN_TROJAN = (
    ("name", r"^\\?\.net framework ngen v4\.0\.30318$", 'scheduled task ".NET Framework NGEN v4.0.30318" (a fake .NET task)'),
    ("path", r"\\programdata\\shine\.exe$", r"C:\ProgramData\Shine.exe"),
    ("path", r"\\users\\public\\documents\\mm\\", r"C:\Users\Public\Documents\MM\ (svchos1.exe)"),
    ("path", r"\\users\\public\\music\\(?:update|python)\\", r"C:\Users\Public\Music\Update\ or \python\ (AutoHotKey payloads)"),
    ("path", r"\\users\\public\\bandizip\\", r"C:\Users\Public\Bandizip\ "),
    ("path", r"\\programdata\\microsoft drive1?\\", r"C:\ProgramData\Microsoft Drive\ (stolen clipboard and screenshots)"),
    ("path", r"\\svchos1\.exe$", "svchos1.exe (a program named to look like svchost.exe)"),
    ("name", r"^(?:termaintor|amsdk_service)$", "service Termaintor / Amsdk_Service (a driver that kills antivirus)"),
    ("run_value", r"^management$", 'Run value "Management" starting a program from ProgramData'),
)

_COMMAND_RULES = {
    "script.download_cradle": "sweep.command_downloads",
    "script.encoded_command": "sweep.command_encoded",
    "script.hidden_window": "sweep.command_hidden_window",
    "script.disables_security": "sweep.command_disables_security",
    "script.obfuscated": "sweep.command_obfuscated",
    "script.lolbin": "sweep.via_system_tool",
}
POSIX_CRADLE = re.compile(
    r"\b(?:curl|wget|fetch)\b[^|;&\n]{0,300}\|\s*(?:sudo\s+)?(?:ba|da|z|k)?sh\b"
    r"|\bbase64\s+(?:-d|--decode)\b[^|;&\n]{0,200}\|\s*(?:ba|da|z|k)?sh\b"
    r"|\b(?:bash|sh)\s+-c\s+[\"']?\$\((?:curl|wget)\b"
    r"|/dev/tcp/\d",
    re.IGNORECASE,
)


def launch_of(entry: SweepEntry, target: Target) -> Launch:
    if target.windows:
        return windows_launch(entry.command)
    return posix_launch(entry.command)


def describe_launch(entry: SweepEntry, target: Target) -> None:
    """Fill image / folder class / existence from the entry's command."""
    if not entry.command and not entry.image:
        return
    launch = launch_of(entry, target) if entry.command else None
    if launch is not None and entry.image is None:
        entry.image = launch.image
        if launch.host:
            entry.details["host"] = launch.host
        if launch.url:
            entry.details["url"] = launch.url
    if entry.image:
        entry.image = target.expand(entry.image)
        local = _resolve_bare(entry.image, target) if _is_bare(entry.image) else target.local(entry.image)
        entry.local_image = str(local) if local is not None else None
        entry.image_exists = local.exists() if local is not None else None
        entry.folder_class = target.classify(entry.image)
        entry.user_writable = folder_risk(entry.folder_class) in ("temp", "user")
    entry.known_good = bool(entry.command) and is_own_command(entry.command)


def _is_bare(path: str) -> bool:
    return "\\" not in path and "/" not in path


def _resolve_bare(name: str, target: Target):
    """A program named without a folder is found through PATH: look where that leads
    (System32 and Windows; /usr/bin and friends). None when it is not found there:
    unknown, not missing."""
    if target.windows:
        folders = [r"C:\Windows\System32", r"C:\Windows", r"C:\Windows\SysWOW64"]
        names = [name] if "." in name else [name + ".exe", name]
        candidates = [target.local(folder + "\\" + item) for folder in folders for item in names]
    else:
        candidates = [target.local(folder + "/" + name) for folder in ("/usr/local/bin", "/usr/bin", "/bin",
                                                                       "/usr/sbin", "/sbin")]
    for candidate in candidates:
        if candidate is not None and candidate.exists():
            return candidate
    return None


def assess_autostart(entry: SweepEntry, target: Target) -> None:
    """Facts for an autostart entry (Run key, task, service, cron, unit, plist …)."""
    if entry.known_good:
        entry.fact("sweep.own_entry")
        return
    name = entry.name
    target_name = entry.image or entry.command or "?"
    _known_trojan(entry)
    if entry.folder_class:
        en, zh = folder_words(entry.folder_class)
        risk = folder_risk(entry.folder_class)
        if risk == "temp":
            entry.fact("sweep.starts_from_temp", name=name, target=target_name, folder=en, folder_zh=zh)
        elif risk == "user" and not entry.signature_valid:  # a program Windows verified is left alone
            entry.fact("sweep.starts_from_user_folder", name=name, target=target_name, folder=en, folder_zh=zh)
        host = entry.details.get("host")
        if host and (risk in ("temp", "user") or entry.details.get("url")):
            entry.fact("sweep.via_system_tool", name=name, tool=host, target=entry.details.get("url") or target_name)
    elif entry.details.get("host") and entry.details.get("url"):
        entry.fact("sweep.via_system_tool", name=name, tool=entry.details["host"], target=entry.details["url"])
    if entry.image_exists is False:
        entry.fact("sweep.target_missing", name=name, target=target_name)
    if entry.signed is False and entry.user_writable:
        entry.fact("sweep.unsigned_program", name=name, target=target_name)
    _command_behaviour(entry, target)
    _scan_facts(entry, target_name, "sweep.target_malicious", "sweep.target_suspicious")


def assess_process(entry: SweepEntry, target: Target) -> None:
    if entry.known_good:
        entry.fact("sweep.own_entry")
        return
    pid = entry.details.get("pid", "?")
    _known_trojan(entry)
    if entry.details.get("deleted"):
        entry.fact("sweep.process_deleted_image", name=entry.name, pid=pid, target=entry.image or "?")
    if entry.folder_class:
        en, zh = folder_words(entry.folder_class)
        risk = folder_risk(entry.folder_class)
        if risk == "temp":
            entry.fact("sweep.process_temp_folder", name=entry.name, pid=pid, folder=en, folder_zh=zh)
        elif risk == "user" and not entry.signature_valid:
            entry.fact("sweep.process_user_folder", name=entry.name, pid=pid, folder=en, folder_zh=zh)
    if entry.signed is False and entry.user_writable:
        entry.fact("sweep.unsigned_program", name=entry.name, target=entry.image or "?")
    _scan_facts(entry, entry.image or entry.name, "sweep.target_malicious", "sweep.target_suspicious")


def _known_trojan(entry: SweepEntry) -> None:
    name = entry.name.lower().strip()
    texts = {
        "name": name if entry.source in ("task", "service") else "",
        "path": " ".join(filter(None, [(entry.image or "").lower(), entry.command.lower()])),
        "run_value": name if entry.source == "run_key" and entry.folder_class == "programdata" else "",
    }
    for what, pattern, evidence in KNOWN_TROJAN:
        text = texts[what]
        if text and re.search(pattern, text):
            entry.fact("sweep.known_trojan", name=entry.name, evidence=evidence)
            entry.details.setdefault("known_trojan", []).append(evidence)


def _command_behaviour(entry: SweepEntry, target: Target) -> None:
    command = entry.command
    if not command:
        return
    evidence = analyze_text(command[:20000])
    for rule, quotes in evidence.quotes.items():
        sweep_rule = _COMMAND_RULES.get(rule)
        if sweep_rule is None:
            continue
        if sweep_rule == "sweep.via_system_tool":
            host = entry.details.get("host")
            risky_payload = entry.user_writable or entry.details.get("url")
            if not (host and risky_payload):
                continue  # a system tool running a system file is ordinary
            entry.fact(sweep_rule, name=entry.name, tool=host, target=entry.image or quotes[0])
            continue
        entry.fact(sweep_rule, name=entry.name, evidence=quotes[0])
    if not target.windows:
        match = POSIX_CRADLE.search(command)
        if match:
            entry.fact("sweep.command_downloads", name=entry.name, evidence=match.group(0)[:160])


def _scan_facts(entry: SweepEntry, target_name: str, malicious_rule: str, suspicious_rule: str) -> None:
    scan = entry.scan
    if not scan:
        return
    score = scan.get("host_score", 0)
    params = {"name": entry.name, "target": target_name, "summary": scan.get("host_summary", ""),
              "summary_zh": scan.get("host_summary_zh", "")}
    if score >= MALICIOUS_AT:
        entry.fact(malicious_rule, **params)
    elif score >= SUSPICIOUS_AT:
        entry.fact(suspicious_rule, **params)


def summarise_scan(report: dict[str, Any]) -> dict[str, Any]:
    """The engine report, cut to what a sweep shows, with the host-relevant score."""
    findings = report.get("findings", [])
    host = [item for item in findings if item.get("rule") not in INBOX_ONLY_RULES and item.get("score", 0) > 0]
    tree = report.get("tree") or {}
    pe = (tree.get("info") or {}).get("pe") or {}
    return {
        "verdict": report.get("verdict"),
        "score": report.get("score"),
        "summary": report.get("summary"),
        "summary_zh": report.get("summary_zh"),
        "sha256": tree.get("sha256"),
        "type": tree.get("type"),
        "signed": pe.get("signed") if pe else None,
        "host_score": min(100, sum(item.get("score", 0) for item in host)),
        "host_summary": host[0]["message"] if host else "",
        "host_summary_zh": host[0]["message_zh"] if host else "",
        "host_findings": [{"rule": item["rule"], "score": item["score"], "message": item["message"],
                           "message_zh": item["message_zh"]} for item in host[:5]],
    }


def judge(entry: SweepEntry) -> SweepEntry:
    """Facts → findings, score (capped at 100) and verdict, like the file policy."""
    findings = [_finding(entry, rule, params) for rule, params in entry.facts]
    findings.sort(key=lambda item: -item.score)
    entry.findings = findings
    entry.score = min(100, sum(item.score for item in findings))
    entry.verdict = "malicious" if entry.score >= MALICIOUS_AT else "suspicious" if entry.score >= SUSPICIOUS_AT else "clean"
    return entry


def _finding(entry: SweepEntry, rule_id: str, params: dict[str, Any]) -> Finding:
    rule = SWEEP_RULES[rule_id]
    values = _Params({"name": entry.name, **params})
    values_zh = _Params({**values, **{key[:-3]: value for key, value in params.items() if key.endswith("_zh")}})
    return Finding(rule_id, rule.severity, rule.score, rule.en.format_map(values), rule.zh.format_map(values_zh),
                   entry.location, params)


def file_date(timestamp: float | None) -> str:
    if not timestamp:
        return "?"
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def base(path: str, windows: bool) -> str:
    return ntpath.basename(path) if windows else posixpath.basename(path)
