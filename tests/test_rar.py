"""RAR 3 and 5: real archives from rarfile's own test corpus (ISC licence).

No RAR writer exists here (``rar`` is non-free), so the fixtures are the ones the rarfile
project ships in its sdist on PyPI, fetched once into ``.cache/sdists`` by
``tests/_registry.py``. Their expected listings are in the ``*.exp`` files next to them;
the passwords (``password``) come from rarfile's ``test_api.py``/``test_format.py``.
Most members there are ``stest*.txt``: the lines ``000\\n`` to ``511\\n`` (2048 bytes).
"""

from __future__ import annotations

import hashlib
import shutil
import time

import pytest
from _registry import sdist_file
from conftest import node_named, rules_of

from filewall.limits import Limits

STEST = "".join(f"{number:03d}\n" for number in range(512)).encode()
STEST_SHA256 = hashlib.sha256(STEST).hexdigest()
#: One candidate only, and not the right one: nothing the common list has can open it.
ONE_WRONG = {"passwords": ["not-the-password"], "limits": Limits(max_passwords=1)}

needs_unar = pytest.mark.skipif(shutil.which("unar") is None, reason="unar (Debian unar) is not installed")


def rar(name: str) -> bytes:
    return sdist_file("rarfile", "4.5", f"test/files/{name}").read_bytes()


@needs_unar
@pytest.mark.parametrize("name", ["rar3-solid.rar", "rar5-solid.rar", "rar5-blake.rar", "rar3-subdirs.rar"])
def test_members_come_out_with_names_and_content(scan, name):
    report = scan(rar(name), name)
    members = [node for node in report.tree.walk() if node.depth == 1]
    assert members, "no members"
    for node in members:
        assert node.has_content and node.info["stored_name"], node.path
    if name != "rar3-subdirs.rar":
        assert node_named(report, "stest1.txt").sha256 == STEST_SHA256
        assert node_named(report, "stest2.txt").sha256 == STEST_SHA256
    assert report.verdict.value == "clean", [f.rule for f in report.findings]


@needs_unar
def test_unicode_names(scan):
    report = scan(rar("unicode.rar"), "unicode.rar")
    assert {node.name for node in report.tree.children} == {"уииоотивл.txt", "𝐀𝐁𝐁𝐂.txt"}


@needs_unar
@pytest.mark.parametrize("name", ["rar5-psw.rar", "rar202-comment-psw.rar"])
def test_encrypted_members_open_with_given_password(scan, name):
    report = scan(rar(name), name, passwords=["password"])
    members = report.tree.children
    assert members and all(node.info["encrypted"] and node.has_content for node in members)
    assert "“password”" in members[0].info["password_source"]
    assert "archive.encrypted" in rules_of(report) and "archive.encrypted_unopened" not in rules_of(report)
    if name == "rar5-psw.rar":
        assert node_named(report, "stest1.txt").sha256 == STEST_SHA256


def test_empty_encrypted_members_need_no_password(scan):
    report = scan(rar("rar3-comment-psw.rar"), "rar3-comment-psw.rar", **ONE_WRONG)
    assert [node.size for node in report.tree.children] == [0, 0]
    assert "archive.encrypted_unopened" not in rules_of(report)


def test_encrypted_members_without_password_are_unopened(scan):
    report = scan(rar("rar5-psw.rar"), "rar5-psw.rar", **ONE_WRONG)
    member = node_named(report, "stest1.txt")
    assert not member.has_content and member.info["encrypted"]
    assert "archive.encrypted_unopened" in rules_of(report)
    assert report.verdict.value in ("suspicious", "malicious")


@pytest.mark.parametrize("name", ["rar5-hpsw.rar", "rar3-comment-hpsw.rar"])
def test_encrypted_names_without_password_are_hidden(scan, name):
    report = scan(rar(name), name, **ONE_WRONG)
    assert "archive.names_hidden" in rules_of(report)
    assert report.tree.children == []
    assert report.verdict.value in ("suspicious", "malicious")


@needs_unar
@pytest.mark.parametrize("name", ["rar5-hpsw.rar", "rar3-comment-hpsw.rar"])
def test_encrypted_names_open_with_password(scan, name):
    report = scan(rar(name), name, passwords=["password"])
    assert report.tree.children and "archive.names_hidden" not in rules_of(report)
    if name == "rar5-hpsw.rar":
        assert node_named(report, "stest2.txt").sha256 == STEST_SHA256


def test_symlink_traversal_is_reported_not_followed(scan):
    report = scan(rar("rar5-evil-symlink-traversal.rar"), "evil.rar")
    link = node_named(report, "up")
    assert link.info["link_target"] == ".." and not link.has_content
    assert node_named(report, "up/pwned.txt").size == 23
    assert {"archive.link", "archive.path_traversal"} <= rules_of(report)
    assert report.verdict.value == "malicious"


def test_without_a_helper_stored_members_still_read(scan, monkeypatch):
    monkeypatch.setenv("FILEWALL_DISABLE_TOOLS", "unar,7zz,libarchive")
    report = scan(rar("rar5-blake.rar"), "rar5-blake.rar")
    assert node_named(report, "stest2.txt").sha256 == STEST_SHA256  # stored: pure Python
    compressed = node_named(report, "stest1.txt")
    assert not compressed.has_content
    assert "archive.unsupported" in rules_of(report) and report.verdict.value == "suspicious"


def test_later_volume_alone_is_an_error(scan):
    report = scan(rar("rar5-vols.part2.rar"), "rar5-vols.part2.rar")
    assert report.verdict.value == "error"
    reason = next(f for f in report.findings if f.rule == "file.corrupt").params["reason"]
    assert "first part" in reason


@pytest.mark.parametrize("name", ["rar5-blake.rar", "rar3-solid.rar", "rar5-psw.rar"])
def test_truncated_rar_is_an_error_not_a_crash(scan, name):
    data = rar(name)
    started = time.monotonic()
    report = scan(data[: len(data) // 2], name, passwords=["password"])
    assert report.verdict.value == "error", [(f.rule, f.params) for f in report.findings]
    assert time.monotonic() - started < 10
