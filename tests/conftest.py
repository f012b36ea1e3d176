"""Shared fixtures: real, harmless parts that the tests build their samples from.

- ``pe_bytes``: pip's vendored distlib launcher ``t64.exe`` (a real 64-bit Windows PE that
  only prints an error when run without an appended script);
- ``pe_bytes_alt``: setuptools' ``cli-64.exe`` launcher (another real PE);
- ``eicar``: the EICAR standard anti-virus test string (68 bytes);
- ``clam_testfiles``: ClamAV's own test files from Debian's ``clamav-testfiles``.

Nothing built here is ever executed.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from filewall.engine import ScanOptions, scan_bytes, scan_path
from filewall.limits import Limits

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
CLAM_TESTFILES = Path("/usr/share/clamav-testfiles")
CLAM_EXE_SHA256 = "71e7b604d18aefd839e51a39c88df8383bb4c071dc31f87f00a2b5df580d4495"


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec and spec.submodule_search_locations, f"{package} is not installed"
    return Path(next(iter(spec.submodule_search_locations)), *parts)


@pytest.fixture(scope="session")
def pe_bytes() -> bytes:
    return _package_file("pip", "_vendor", "distlib", "t64.exe").read_bytes()


@pytest.fixture(scope="session")
def pe_bytes_alt() -> bytes:
    return _package_file("setuptools", "cli-64.exe").read_bytes()


@pytest.fixture(scope="session")
def eicar() -> bytes:
    return EICAR


@pytest.fixture(scope="session")
def clam_testfiles() -> Path:
    if not CLAM_TESTFILES.is_dir():
        pytest.fail("Debian's clamav-testfiles is missing: run scripts/test (it installs it)")
    return CLAM_TESTFILES


@pytest.fixture
def scan(tmp_path):
    """Scan bytes written to a temp file under ``name``; returns the report."""

    def run(data: bytes, name: str = "sample.bin", **option_overrides):
        limits = option_overrides.pop("limits", None) or Limits.from_env({})
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return scan_path(str(path), ScanOptions(limits=limits, **option_overrides))

    return run


def rules_of(report) -> set[str]:
    """The rule ids of a report's findings."""
    return {finding.rule for finding in report.findings}


def node_named(report, name: str):
    """The first node in the tree whose name ends with ``name``."""
    for node in report.tree.walk():
        if node.name.endswith(name):
            return node
    raise AssertionError(f"no node named {name!r} in {[n.path for n in report.tree.walk()]}")


__all__ = ["EICAR", "CLAM_EXE_SHA256", "rules_of", "node_named", "scan_bytes", "os"]
