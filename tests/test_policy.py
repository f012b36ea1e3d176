"""The verdict policy: every rule's weight pinned, thresholds, error handling, chat.

Changing a weight must be a deliberate act: update PINNED below in the same commit.
"""

from __future__ import annotations

import string

from filewall.model import Fact, Node, Verdict
from filewall.policy import CHAT_LURE_RULE, combine_with_chat, judge
from filewall.policy.rules import MALICIOUS_AT, RULES, SUSPICIOUS_AT

# rule id -> (severity, score)
PINNED: dict[str, tuple[str, int]] = {
    # PINNED-TABLE-START
    "type.executable": ("critical", 100),
    "type.installer": ("critical", 100),
    "type.script": ("critical", 100),
    "type.shortcut": ("critical", 100),
    "type.disk_image": ("medium", 40),
    "type.help_file": ("critical", 100),
    "type.registry_file": ("critical", 100),
    "type.internet_shortcut": ("medium", 40),
    "name.double_extension": ("critical", 100),
    "name.padding": ("critical", 100),
    "name.bidi_override": ("critical", 100),
    "name.invisible_characters": ("medium", 40),
    "name.risky_extension": ("critical", 100),
    "name.disk_image_extension": ("medium", 40),
    "name.content_mismatch": ("critical", 100),
    "name.content_mismatch_harmless": ("info", 0),
    "archive.path_traversal": ("critical", 100),
    "archive.startup_path": ("critical", 100),
    "archive.absolute_path": ("high", 70),
    "archive.link": ("medium", 40),
    "archive.encrypted": ("info", 0),
    "archive.encrypted_unopened": ("medium", 40),
    "archive.names_hidden": ("medium", 40),
    "archive.hidden_member": ("medium", 40),
    "archive.name_mismatch": ("medium", 40),
    "archive.overlapping_members": ("high", 70),
    "archive.decompression_bomb": ("high", 70),
    "archive.padded_member": ("high", 70),
    "archive.nested_archives": ("low", 15),
    "archive.self_extracting": ("critical", 100),
    "file.appended_data": ("medium", 40),
    "archive.unsupported": ("medium", 40),
    "archive.unsupported_method": ("medium", 40),
    "archive.special_skipped": ("info", 0),
    "pe.unsigned": ("info", 0),
    "pe.signed": ("info", 0),
    "pe.packed": ("high", 70),
    "pe.high_entropy": ("medium", 40),
    "pe.overlay": ("low", 15),
    "pe.suspicious_imports": ("medium", 40),
    "pe.corrupt": ("medium", 40),
    "pe.original_name": ("info", 0),
    "lnk.launches_shell": ("critical", 100),
    "lnk.hidden_window": ("high", 70),
    "lnk.encoded_command": ("critical", 100),
    "lnk.remote_target": ("high", 70),
    "lnk.icon_disguise": ("medium", 40),
    "script.download_cradle": ("critical", 100),
    "script.encoded_command": ("critical", 100),
    "script.lolbin": ("high", 70),
    "script.autostart": ("critical", 100),
    "script.remote_executable": ("high", 70),
    "script.hidden_window": ("high", 70),
    "script.obfuscated": ("medium", 40),
    "script.disables_security": ("critical", 100),
    "script.shellcode_loader": ("critical", 100),
    "script.commands_in_text": ("medium", 40),
    "urlfile.runs_program": ("critical", 100),
    "urlfile.remote_icon": ("high", 70),
    "reputation.blocklist": ("critical", 100),
    "yara.critical": ("critical", 100),
    "yara.high": ("high", 70),
    "yara.medium": ("medium", 40),
    "yara.low": ("low", 15),
    "yara.info": ("info", 0),
    "office.macros": ("medium", 40),
    "office.macro_autoexec": ("low", 15),
    "office.macro_suspicious": ("high", 70),
    "office.macro_obfuscated": ("low", 15),
    "office.macro_enabled_type": ("info", 0),
    "office.xlm_macros": ("high", 70),
    "office.dde": ("critical", 100),
    "office.exploit_object": ("critical", 100),
    "office.activex": ("medium", 40),
    "office.remote_template": ("critical", 100),
    "office.remote_object": ("critical", 100),
    "office.external_link": ("low", 15),
    "office.encrypted": ("info", 0),
    "office.encrypted_unopened": ("medium", 40),
    "rtf.exploit_object": ("critical", 100),
    "rtf.object_autoupdate": ("high", 70),
    "rtf.obfuscated": ("medium", 40),
    "pdf.javascript": ("medium", 40),
    "pdf.javascript_on_open": ("high", 70),
    "pdf.launch": ("critical", 100),
    "pdf.opens_link": ("medium", 40),
    "pdf.embedded_file": ("info", 0),
    "pdf.submit_form": ("low", 15),
    "pdf.remote_goto": ("low", 15),
    "pdf.richmedia": ("medium", 40),
    "pdf.xfa": ("low", 15),
    "pdf.obfuscated_names": ("high", 70),
    "pdf.encrypted_unopened": ("medium", 40),
    "html.shortcut_command": ("critical", 100),
    "html.runs_programs": ("critical", 100),
    "html.smuggling": ("high", 70),
    "html.refresh_download": ("high", 70),
    "html.redirect": ("low", 15),
    "html.script": ("low", 15),
    "svg.script": ("medium", 40),
    "installer.custom_action": ("high", 70),
    "onenote.embedded_file": ("low", 15),
    "limit.depth": ("medium", 40),
    "limit.file_size": ("medium", 40),
    "limit.total_bytes": ("medium", 40),
    "limit.members": ("medium", 40),
    "limit.time": ("medium", 40),
    "file.corrupt": ("medium", 40),
    "file.unreadable": ("medium", 40),
    "scan.crashed": ("medium", 40),
    "scan.killed": ("medium", 40),
    "scan.analyzer_failed": ("low", 15),
    # PINNED-TABLE-END
}


def test_every_rule_weight_is_pinned():
    actual = {rule_id: (rule.severity.value, rule.score) for rule_id, rule in RULES.items()}
    assert actual == PINNED


def test_thresholds():
    assert (SUSPICIOUS_AT, MALICIOUS_AT) == (30, 70)


def test_severity_and_score_agree():
    """A rule's words and its weight must not contradict each other."""
    floors = {"critical": 100, "high": 70, "medium": 30, "low": 1, "info": 0}
    ceilings = {"critical": 100, "high": 99, "medium": 69, "low": 29, "info": 0}
    for rule in RULES.values():
        assert floors[rule.severity.value] <= rule.score <= ceilings[rule.severity.value], rule.id


def test_every_message_exists_in_both_languages_and_names_the_file():
    for rule in RULES.values():
        for template in (rule.en, rule.zh):
            fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
            assert "name" in fields, rule.id
        assert any("\u4e00" <= char <= "\u9fff" for char in rule.zh), rule.id


def _tree(*facts: str) -> Node:
    root = Node(name="x.zip", path="x.zip")
    child = Node(name="a", path="x.zip/a", depth=1)
    root.children.append(child)
    for rule in facts:
        child.facts.append(Fact(rule, child.path, {}))
    return root


def test_no_facts_is_clean():
    report = judge("x.zip", _tree())
    assert report.verdict is Verdict.CLEAN and report.score == 0 and report.findings == []


def test_program_is_malicious_by_policy():
    assert judge("x.zip", _tree("type.executable")).verdict is Verdict.MALICIOUS


def test_limit_reached_is_at_least_suspicious():
    for rule in ("limit.depth", "limit.file_size", "limit.total_bytes", "limit.members", "limit.time"):
        assert judge("x.zip", _tree(rule)).verdict is Verdict.SUSPICIOUS, rule


def test_corrupt_is_error_unless_malicious():
    assert judge("x.zip", _tree("file.corrupt")).verdict is Verdict.ERROR
    assert judge("x.zip", _tree("file.corrupt", "type.executable")).verdict is Verdict.MALICIOUS


def test_damage_is_not_evidence():
    # A flipped byte makes a zip both damaged and "hide" a member: an error to resend,
    # not a Trojan; the damage is what the agent reads first.
    report = judge("x.zip", _tree("file.corrupt", "archive.hidden_member"))
    assert report.verdict is Verdict.ERROR
    assert report.score == RULES["archive.hidden_member"].score
    assert report.summary == next(f.message for f in report.findings if f.rule == "file.corrupt")
    assert judge("x.zip", _tree("file.corrupt")).score == 0
    # A crash of the scanner still counts: files are built to do that.
    assert judge("x.zip", _tree("scan.crashed", "archive.hidden_member")).verdict is Verdict.MALICIOUS


def test_scores_add_up_and_cap_at_100():
    report = judge("x.zip", _tree("archive.link", "pe.overlay"))
    assert report.score == RULES["archive.link"].score + RULES["pe.overlay"].score
    assert judge("x.zip", _tree("type.executable", "type.script")).score == 100


def test_repeated_evidence_counts_once():
    root = _tree("archive.encrypted_unopened")
    second = Node(name="b", path="x.zip/b", depth=1)
    second.facts.append(Fact("archive.encrypted_unopened", second.path, {}))
    root.children.append(second)
    report = judge("x.zip", root)
    assert len(report.findings) == 2
    assert report.score == RULES["archive.encrypted_unopened"].score
    assert report.verdict is Verdict.SUSPICIOUS


def test_unknown_rule_is_never_silent():
    report = judge("x.zip", _tree("no.such.rule"))
    assert report.verdict is Verdict.SUSPICIOUS


def test_high_risk_chat_raises_suspicious_file_to_malicious():
    report = judge("x.zip", _tree("archive.encrypted_unopened"))
    assert report.verdict is Verdict.SUSPICIOUS
    chat = {"risk": "high", "score": 90, "reasons": [{"rule": "r", "quote": "解压密码 8866"}], "passwords": []}
    combine_with_chat(report, chat)
    assert report.verdict is Verdict.MALICIOUS
    assert report.findings[0].rule == CHAT_LURE_RULE.id
    assert "解压密码 8866" in report.findings[0].message_zh


def test_clean_file_stays_clean_whatever_the_chat_says():
    report = judge("x.zip", _tree())
    chat = {"risk": "high", "score": 100, "reasons": [], "passwords": []}
    combine_with_chat(report, chat)
    assert report.verdict is Verdict.CLEAN and report.chat == chat


def test_medium_chat_does_not_escalate():
    report = judge("x.zip", _tree("archive.encrypted_unopened"))
    combine_with_chat(report, {"risk": "medium", "score": 50, "reasons": [], "passwords": []})
    assert report.verdict is Verdict.SUSPICIOUS


def test_chat_escalation_weight_reaches_malicious_from_any_suspicious_score():
    assert SUSPICIOUS_AT + CHAT_LURE_RULE.score >= MALICIOUS_AT


def test_messages_show_hidden_characters_in_names():
    root = Node(name="invoice_\u202egpj.exe", path="invoice_\u202egpj.exe")
    root.facts.append(Fact("type.executable", root.path, {"what": "a Windows program"}))
    message = judge("x", root).findings[0].message
    assert "[RLO]" in message and "\u202e" not in message
