"""Archive traps: stored paths that escape, startup folders, links, deep nesting."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile

import pytest
from conftest import node_named, rules_of

from filewall.analyze.archive_traps import archive_traps, path_problems
from filewall.engine import ScanContext, ScanOptions
from filewall.limits import Limits
from filewall.model import Fact, Node

STARTUP = "AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Startup/x.lnk"


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0)


def facts_of(node) -> set[str]:
    return {fact.rule for fact in node.facts}


# -- stored paths ---------------------------------------------------------------------------------
def test_traversal_and_startup_members_in_a_zip(scan):
    report = scan(zip_bytes({"../../evil.txt": b"text", STARTUP: b"not a real shortcut"}), "资料.zip")
    evil = node_named(report, "evil.txt")
    assert evil.name == "../../evil.txt"  # shown as stored, never cleaned up
    assert facts_of(evil) == {"archive.path_traversal"}
    startup = node_named(report, "x.lnk")
    assert "archive.startup_path" in facts_of(startup)
    assert "archive.path_traversal" not in facts_of(startup)
    finding = next(f for f in report.findings if f.rule == "archive.startup_path")
    assert "Startup" in finding.message and "开机" in finding.message_zh and "x.lnk" in finding.message_zh
    assert report.verdict.value == "malicious"


def test_backslash_paths_are_checked_as_stored(scan):
    members = {
        "..\\..\\evil.txt": b"a",
        "C:\\Users\\Public\\AppData\\Roaming\\Microsoft\\Windows\\START MENU\\Programs\\startup\\y.txt": b"b",
        "\\\\192.0.2.7\\share\\z.txt": b"c",
        "/etc/cron.d/w.txt": b"d",
    }
    report = scan(zip_bytes(members), "win.zip")
    by_stored = {node.info["stored_name"]: facts_of(node) for node in report.tree.children}
    assert by_stored["..\\..\\evil.txt"] == {"archive.path_traversal"}
    assert by_stored[next(name for name in members if name.startswith("C:"))] == {
        "archive.absolute_path",
        "archive.startup_path",
    }
    assert by_stored["\\\\192.0.2.7\\share\\z.txt"] == {"archive.absolute_path"}
    assert by_stored["/etc/cron.d/w.txt"] == {"archive.absolute_path"}
    # The display name uses / but keeps every part.
    assert node_named(report, "evil.txt").name == "../../evil.txt"


def test_traversal_in_a_tar_gz(scan):
    report = scan(tar_gz({"../../../home/user/.bashrc": b"echo hi", "ok.txt": b"fine"}), "a.tar.gz")
    assert facts_of(node_named(report, ".bashrc")) == {"archive.path_traversal"}
    assert facts_of(node_named(report, "ok.txt")) == set()


def test_ordinary_names_are_not_traps(scan):
    members = {
        "docs/readme.txt": b"a",
        "a..b.txt": b"b",
        "..hidden.txt": b"c",
        "photos/Startup ideas.txt": b"d",
        "Start Menu/Programs/notes.txt": b"e",
        "报价/2024年..txt": b"f",
    }
    report = scan(zip_bytes(members), "ok.zip")
    assert not rules_of(report) & {
        "archive.path_traversal",
        "archive.absolute_path",
        "archive.startup_path",
        "archive.link",
    }
    assert report.verdict.value == "clean", report.findings


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("../x", ["traversal"]),
        ("a/../../x", ["traversal"]),
        ("a\\..\\..\\x", ["traversal"]),
        ("a/.. /x", ["traversal"]),  # Windows drops the trailing space
        ("a/.../x", ["traversal"]),  # ... and trailing dots
        ("/etc/passwd", ["absolute"]),
        ("C:\\Windows\\x.dll", ["absolute"]),
        ("c:x.dll", ["absolute"]),
        ("\\\\server\\share\\x", ["absolute"]),
        ("//server/share/x", ["absolute"]),
        (STARTUP, ["startup"]),
        ("../../" + STARTUP, ["traversal", "startup"]),
        ("ProgramData/Microsoft/Windows/Start Menu/Programs/StartUp/a.exe", ["startup"]),
        ("Documents and Settings/u/「开始」菜单/程序/启动/a.exe", ["startup"]),
        ("start menu\\programs\\startup\\\\a.bat", ["startup"]),
        ("Start Menu/Programs/Startup/", []),  # the folder itself, nothing in it
        ("a..b/c", []),
        ("..a", []),
        ("a/b.txt", []),
        ("", []),
    ],
)
def test_path_problems(stored, expected):
    assert path_problems(stored) == expected


# -- links ----------------------------------------------------------------------------------------
def test_link_inside_the_archive_is_only_a_link(scan):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("a/latest")
        info.type, info.linkname = tarfile.SYMTYPE, "../b/v2.txt"  # a/../b/v2.txt stays inside
        archive.addfile(info)
    report = scan(buffer.getvalue(), "link.tar")
    assert rules_of(report) == {"archive.link"}
    finding = report.findings[0]
    assert "../b/v2.txt" in finding.message and "链接" in finding.message_zh
    assert report.verdict.value == "suspicious"


def test_tar_without_links_has_no_link_finding(scan):
    assert "archive.link" not in rules_of(scan(tar_gz({"a.txt": b"a"}), "a.tgz"))


# -- nesting --------------------------------------------------------------------------------------
def test_three_nested_archives_are_reported_once(scan):
    deepest = zip_bytes({f"file{index}.txt": b"x" for index in range(5)})
    middle = zip_bytes({"c.zip": deepest})
    outer = zip_bytes({"b.zip": middle})
    report = scan(outer, "a.zip")
    nested = [f for f in report.findings if f.rule == "archive.nested_archives"]
    assert len(nested) == 1
    assert nested[0].params["levels"] == 3 and nested[0].where == "a.zip/b.zip/c.zip/file0.txt"
    assert "3" in nested[0].message_zh
    assert report.verdict.value == "clean"  # low weight: worth a note, not an alarm by itself


def test_two_nested_archives_are_normal(scan):
    report = scan(zip_bytes({"b.zip": zip_bytes({"x.txt": b"x"})}), "a.zip")
    assert "archive.nested_archives" not in rules_of(report)


def test_tar_gz_counts_as_one_archive(scan):
    two_levels = zip_bytes({"c.tar.gz": tar_gz({"x.txt": b"x"})})
    assert "archive.nested_archives" not in rules_of(scan(two_levels, "a.zip"))
    three_levels = zip_bytes({"b.zip": two_levels})
    report = scan(three_levels, "a.zip")
    nested = next(f for f in report.findings if f.rule == "archive.nested_archives")
    assert nested.params["levels"] == 3 and nested.where.endswith("x.txt")


# -- the encryption safety net ----------------------------------------------------------------------
def _ctx() -> ScanContext:
    return ScanContext(ScanOptions(limits=Limits.from_env({})), "/nonexistent")


def test_encrypted_member_without_content_gets_the_finding_once():
    node = Node(name="报价.exe", path="x.7z/报价.exe", depth=1, has_content=False, info={"encrypted": True})
    archive_traps(node, None, _ctx())
    assert [fact.rule for fact in node.facts] == ["archive.encrypted_unopened"]

    already = Node(name="a.exe", path="x.7z/a.exe", depth=1, has_content=False, info={"encrypted": True})
    already.facts.append(Fact("archive.encrypted_unopened", already.path, {}))
    archive_traps(already, None, _ctx())
    assert len(already.facts) == 1

    opened = Node(name="b.exe", path="x.7z/b.exe", depth=1, info={"encrypted": True})
    archive_traps(opened, None, _ctx())
    assert opened.facts == []
