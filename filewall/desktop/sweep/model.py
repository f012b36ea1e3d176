"""What a sweep finds: entries (one autostart entry, file, process or connection each),
what it could not read, what it covered; all JSON-serialisable."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...model import Finding, _jsonable


@dataclass
class SweepEntry:
    #: autostart | file | process | connection
    category: str
    #: run_key | startup_folder | task | service | cron | systemd | xdg_autostart |
    #: shell_rc | launchd | recent_file | process | connection
    source: str
    #: Where it was found: registry key + value, file path, pid.
    location: str
    name: str
    command: str = ""
    #: The file it starts, as the target writes it (payload of a system tool if any).
    image: str | None = None
    #: That file on this computer (under --root for an offline image), when known.
    local_image: str | None = None
    image_exists: bool | None = None
    #: Windows programs: carries an Authenticode signature (None: not a PE / unknown).
    signed: bool | None = None
    #: Verified by Windows (live Windows only; None elsewhere).
    signature_valid: bool | None = None
    folder_class: str | None = None
    user_writable: bool | None = None
    enabled: bool | None = None
    known_good: bool = False
    #: The engine's scan of ``local_image``: verdict, score, summary, host findings.
    scan: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    #: (rule id, params) observed; :mod:`.judge` turns them into findings.
    facts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    score: int = 0
    verdict: str = "clean"

    def fact(self, rule: str, **params: Any) -> None:
        if all(existing != rule for existing, _ in self.facts):
            self.facts.append((rule, params))

    def to_dict(self) -> dict[str, Any]:
        data = {
            "category": self.category,
            "source": self.source,
            "location": self.location,
            "name": self.name,
            "command": self.command,
            "image": self.image,
            "image_exists": self.image_exists,
            "signed": self.signed,
            "signature_valid": self.signature_valid,
            "folder_class": self.folder_class,
            "user_writable": self.user_writable,
            "enabled": self.enabled,
            "known_good": self.known_good,
            "verdict": self.verdict,
            "score": self.score,
            "findings": [finding.to_dict() for finding in self.findings],
            "scan": self.scan,
            "details": _jsonable(self.details),
        }
        if self.local_image and self.local_image != self.image:
            data["local_image"] = self.local_image
        return data


@dataclass
class Unreadable:
    """Something the sweep could not read: listed in the report, never skipped silently."""

    source: str
    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "path": self.path, "reason": self.reason}


@dataclass
class Coverage:
    source: str
    #: checked | partial | skipped
    status: str
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "status": self.status, "detail": self.detail}


@dataclass
class Collected:
    """What one collector returns."""

    entries: list[SweepEntry] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    coverage: list[Coverage] = field(default_factory=list)

    def extend(self, other: Collected) -> None:
        self.entries += other.entries
        self.unreadable += other.unreadable
        self.coverage += other.coverage

    def cannot_read(self, source: str, path: str, error: BaseException | str) -> None:
        if isinstance(error, OSError):
            reason = error.strerror or str(error)
            if isinstance(error, PermissionError):
                reason = f"no permission ({reason})"
        else:
            reason = str(error)
        self.unreadable.append(Unreadable(source, str(path), reason))
