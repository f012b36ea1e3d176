"""Rewrite the PINNED table in tests/test_policy.py from the current rules (a deliberate act)."""

from pathlib import Path

from filewall.policy.rules import RULES

path = Path(__file__).resolve().parent.parent / "tests" / "test_policy.py"
text = path.read_text(encoding="utf-8")
start, end = "    # PINNED-TABLE-START\n", "    # PINNED-TABLE-END\n"
rows = "".join(f'    "{rule.id}": ("{rule.severity.value}", {rule.score}),\n' for rule in RULES.values())
head, rest = text.split(start)
_, tail = rest.split(end)
path.write_text(head + start + rows + end + tail, encoding="utf-8")
print(f"pinned {len(RULES)} rules")
