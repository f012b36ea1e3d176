"""The sweep's rule table: every weight pinned (changing one is a deliberate act, as for
the file rules in tests/test_policy.py), every message formats in both languages."""

from __future__ import annotations

import string

from filewall.policy.rules import MALICIOUS_AT, RULES, SUSPICIOUS_AT, SWEEP_RULES

PINNED = {
    "sweep.own_entry": ("info", 0),
    "sweep.known_trojan": ("critical", 100),
    "sweep.starts_from_temp": ("high", 70),
    "sweep.starts_from_user_folder": ("medium", 40),
    "sweep.via_system_tool": ("medium", 40),
    "sweep.target_missing": ("low", 15),
    "sweep.unsigned_program": ("low", 15),
    "sweep.target_malicious": ("critical", 100),
    "sweep.target_suspicious": ("medium", 40),
    "sweep.command_downloads": ("critical", 100),
    "sweep.command_encoded": ("critical", 100),
    "sweep.command_hidden_window": ("medium", 40),
    "sweep.command_disables_security": ("critical", 100),
    "sweep.command_obfuscated": ("medium", 40),
    "sweep.task_hidden": ("high", 70),
    "sweep.process_temp_folder": ("high", 70),
    "sweep.process_user_folder": ("medium", 40),
    "sweep.process_deleted_image": ("high", 70),
    "sweep.connection_abroad": ("high", 70),
    "sweep.connection_unknown_country": ("low", 15),
    "sweep.received_file_dangerous": ("critical", 100),
    "sweep.received_file_suspicious": ("medium", 40),
    "sweep.recent_program": ("medium", 40),
    "sweep.hidden_program": ("high", 70),
    "sweep.temp_program": ("low", 15),
    "sweep.file_malicious": ("critical", 100),
    "sweep.file_suspicious": ("medium", 40),
}


def test_every_sweep_rule_weight_is_pinned():
    assert {rule_id: (rule.severity.value, rule.score) for rule_id, rule in SWEEP_RULES.items()} == PINNED
    assert not set(SWEEP_RULES) & set(RULES)


def test_levels_mean_what_they_say():
    """Temp/received-files folders alone make an entry suspicious-or-worse; a user folder
    alone only suspicious; a missing or unsigned target alone nothing."""
    assert SWEEP_RULES["sweep.starts_from_temp"].score >= SUSPICIOUS_AT
    assert SUSPICIOUS_AT <= SWEEP_RULES["sweep.starts_from_user_folder"].score < MALICIOUS_AT
    assert SWEEP_RULES["sweep.target_missing"].score < SUSPICIOUS_AT
    assert SWEEP_RULES["sweep.known_trojan"].score >= MALICIOUS_AT


def test_messages_format_in_both_languages():
    for rule in SWEEP_RULES.values():
        for text in (rule.en, rule.zh):
            fields = {name for _, name, _, _ in string.Formatter().parse(text) if name}
            assert text.format_map({name: "x" for name in fields})
        assert any("\u4e00" <= char <= "\u9fff" for char in rule.zh), rule.id
