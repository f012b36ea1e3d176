"""Hash blocklists: the built-in test-file list, plain lists, ClamAV .hdb/.hsb, MalwareBazaar CSV."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import time
import zipfile

import pytest
from conftest import CLAM_EXE_SHA256, rules_of

from filewall import rulesets


@pytest.fixture(autouse=True)
def _fresh_lists():
    rulesets.clear_caches()
    yield
    rulesets.clear_caches()


def listed(report) -> list[dict]:
    return [
        {**item.params, "where": item.where}
        for item in report.findings
        if item.rule == "reputation.blocklist"
    ]


# -- built-in list -------------------------------------------------------------------------------------


def test_clam_exe_is_on_the_builtin_list(scan, clam_testfiles):
    report = scan((clam_testfiles / "clam.exe").read_bytes(), "clam.exe")
    (hit,) = listed(report)
    assert hit["label"].startswith("ClamAV-Test-File") and "杀毒软件测试程序" in hit["label_zh"]
    finding = next(item for item in report.findings if item.rule == "reputation.blocklist")
    assert "clam.exe" in finding.message and "filewall built-in list" in finding.message
    assert (
        "filewall 内置名单" in finding.message_zh
        and "ClamAV-Test-File（杀毒软件测试程序" in finding.message_zh
    )


def test_eicar_is_on_the_builtin_list(scan, eicar):
    (hit,) = listed(scan(eicar, "eicar.com"))
    assert hit["label"].startswith("EICAR-Test-File")
    # One byte more is another file: the YARA rule still knows it, the hash does not.
    assert not listed(scan(eicar + b"\n", "eicar.txt"))


def test_listed_file_inside_a_zip_is_found_on_the_member(scan, clam_testfiles):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("需求/clam.exe", (clam_testfiles / "clam.exe").read_bytes())
    (hit,) = listed(scan(buffer.getvalue(), "需求.zip"))
    assert hit["where"] == "需求.zip/需求/clam.exe"


def test_benign_program_is_not_listed(scan, pe_bytes):
    assert "reputation.blocklist" not in rules_of(scan(pe_bytes, "launcher.exe"))


# -- user lists -----------------------------------------------------------------------------------------


def test_plain_list_with_labels_comments_and_every_hash_type(scan, tmp_path, pe_bytes, pe_bytes_alt):
    other = b"a harmless text the shop decided to block"
    (tmp_path / "shop.txt").write_text(
        "# source: Shop security team\n"
        "# one hash per line; a label may follow\n"
        f"{hashlib.sha256(pe_bytes).hexdigest()}  Fake invoice tool\n"
        f"{hashlib.md5(pe_bytes_alt).hexdigest().upper()},Fake WPS\n"
        f"{hashlib.sha1(other).hexdigest()};sha1 entry\n"
        "not-a-hash   ignored\n"
        "\n"
    )
    paths = [str(tmp_path / "shop.txt")]
    (hit,) = listed(scan(pe_bytes, "invoice.exe", blocklist_paths=paths))
    assert (hit["source"], hit["label"]) == ("Shop security team", "Fake invoice tool")
    assert listed(scan(pe_bytes_alt, "wps.exe", blocklist_paths=paths))[0]["label"] == "Fake WPS"
    assert listed(scan(other, "note.txt", blocklist_paths=paths))[0]["label"] == "sha1 entry"
    assert not listed(scan(b"something else", "other.txt", blocklist_paths=paths))


def test_bare_hash_list_from_environment(scan, tmp_path, monkeypatch, pe_bytes):
    (tmp_path / "feed.sha256").write_text(hashlib.sha256(pe_bytes).hexdigest() + "\n")
    monkeypatch.setenv("FILEWALL_BLOCKLIST", str(tmp_path))
    (hit,) = listed(scan(pe_bytes, "tool.exe"))
    assert hit["source"] == "feed.sha256"


def test_clamav_hash_signatures(scan, tmp_path, clam_testfiles, pe_bytes, pe_bytes_alt):
    (tmp_path / "local.hsb").write_text(
        f"{hashlib.sha256(pe_bytes).hexdigest()}:{len(pe_bytes)}:Shop.Blocked.Launcher\n"
    )
    (tmp_path / "local.hdb").write_text(f"{hashlib.md5(pe_bytes_alt).hexdigest()}:*:Shop.Blocked.Cli:73\n")
    paths = [str(tmp_path)]
    hit = listed(scan(pe_bytes, "a.exe", blocklist_paths=paths))[0]
    assert (hit["source"], hit["label"]) == ("ClamAV signatures local.hsb", "Shop.Blocked.Launcher")
    assert listed(scan(pe_bytes_alt, "b.exe", blocklist_paths=paths))[0]["label"] == "Shop.Blocked.Cli"


MB_HEADER = (
    "################################################################\n"
    "# MalwareBazaar full malware samples dump (CSV)                #\n"
    "################################################################\n"
    '# "first_seen_utc","sha256_hash","md5_hash","sha1_hash","reporter","file_name","file_type_guess",'
    '"mime_type","signature","clamav","vtpercent","imphash","ssdeep","tlsh"\n'
)


def _mb_row(data: bytes, signature: str, file_name: str = "a.exe", kind: str = "exe") -> str:
    return (
        f'"2025-01-02 03:04:05", "{hashlib.sha256(data).hexdigest()}", "{hashlib.md5(data).hexdigest()}", '
        f'"{hashlib.sha1(data).hexdigest()}", "anonymous", "{file_name}", "{kind}", "application/x-dosexec", '
        f'"{signature}", "n/a", "n/a", "n/a", "384:abc", "T1ABC"\n'
    )


def test_malwarebazaar_csv_export(scan, tmp_path, pe_bytes, pe_bytes_alt):
    text_file = b"plain text"
    (tmp_path / "full.csv").write_text(
        MB_HEADER
        + _mb_row(pe_bytes, "ValleyRAT")
        + _mb_row(pe_bytes_alt, "n/a", file_name='odd ""quoted"", ""name"".exe')
        + _mb_row(text_file, "n/a", kind="n/a")
    )
    paths = [str(tmp_path / "full.csv")]
    (hit,) = listed(scan(pe_bytes, "报价单.exe", blocklist_paths=paths))
    assert (hit["source"], hit["label"]) == ("MalwareBazaar", "ValleyRAT")
    # No signature: the file type. A file name holding '", "' (escaped quotes) goes
    # through the csv module instead of the fast split, and keeps its columns.
    assert listed(scan(pe_bytes_alt, "x.exe", blocklist_paths=paths))[0]["label"] == "exe"
    assert listed(scan(text_file, "x.txt", blocklist_paths=paths))[0]["label"] == "malware sample"
    blocklist = rulesets.blocklist(paths)
    for digest in (hashlib.md5(pe_bytes).hexdigest(), hashlib.sha1(pe_bytes).hexdigest()):
        assert blocklist.lookup(digest).label == "ValleyRAT"


def test_malwarebazaar_zip_and_gzip_as_downloaded(scan, tmp_path, pe_bytes):
    body = MB_HEADER + _mb_row(pe_bytes, "Winos")
    with zipfile.ZipFile(tmp_path / "full.csv.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("full.csv", body)
    with gzip.open(tmp_path / "recent.csv.gz", "wt") as stream:
        stream.write(body.replace("Winos", "Gh0st"))
    zipped = rulesets.blocklist([str(tmp_path / "full.csv.zip")])
    gzipped = rulesets.blocklist([str(tmp_path / "recent.csv.gz")])
    assert zipped.lookup(hashlib.sha256(pe_bytes).hexdigest()).label == "Winos"
    assert gzipped.lookup(hashlib.sha256(pe_bytes).hexdigest()).label == "Gh0st"


def test_csv_with_columns_in_another_order(tmp_path, pe_bytes):
    (tmp_path / "x.csv").write_text(
        '# "sha256_hash","signature"\n' + f'"{hashlib.sha256(pe_bytes).hexdigest()}","Reordered"\n'
    )
    assert (
        rulesets.blocklist([str(tmp_path / "x.csv")]).lookup(hashlib.sha256(pe_bytes).hexdigest()).label
        == "Reordered"
    )


def test_broken_list_is_skipped_with_a_warning(scan, tmp_path, capfd, pe_bytes, clam_testfiles):
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 this is not a zip")
    (tmp_path / "good.txt").write_text(hashlib.sha256(pe_bytes).hexdigest() + "  Blocked\n")
    report = scan(pe_bytes, "a.exe", blocklist_paths=[str(tmp_path)])
    assert "broken.zip" in capfd.readouterr().err
    assert listed(report)[0]["label"] == "Blocked"
    assert listed(
        scan((clam_testfiles / "clam.exe").read_bytes(), "clam.exe", blocklist_paths=[str(tmp_path)])
    )


def test_lookup_is_exact_for_digests_sharing_a_prefix(tmp_path):
    base = CLAM_EXE_SHA256[:16]
    neighbours = [base + format(number, "048x") for number in (0, 1, 2**190, 2**191 - 1)]
    (tmp_path / "n.txt").write_text(
        "\n".join(f"{digest} n{index}" for index, digest in enumerate(neighbours))
    )
    blocklist = rulesets.blocklist([str(tmp_path / "n.txt")])
    for index, digest in enumerate(neighbours):
        assert blocklist.lookup(digest).label == f"n{index}"
    assert blocklist.lookup(base + format(3, "048x")) is None
    assert blocklist.lookup("zz" * 32) is None and blocklist.lookup(None, "") is None
    assert blocklist.lookup(CLAM_EXE_SHA256).label.startswith("ClamAV-Test-File")


def test_lists_load_once_and_reload_when_changed(tmp_path, pe_bytes):
    path = tmp_path / "l.txt"
    path.write_text(hashlib.sha256(pe_bytes).hexdigest() + " first\n")
    first = rulesets.blocklist([str(path)])
    assert rulesets.blocklist([str(path)]) is first
    path.write_text(hashlib.sha256(pe_bytes).hexdigest() + " second\n")
    os.utime(path, ns=(1, 1))
    assert rulesets.blocklist([str(path)]).lookup(hashlib.sha256(pe_bytes).hexdigest()).label == "second"


def test_a_big_list_loads_fast(tmp_path):
    """200,000 bare SHA-256 lines; the full 1M-line figures are in the final report."""
    digests = os.urandom(32 * 200_000).hex()
    lines = [digests[index : index + 64] for index in range(0, len(digests), 64)]
    (tmp_path / "big.txt").write_text("\n".join(lines) + "\n")
    started = time.process_time()
    blocklist = rulesets.blocklist([str(tmp_path / "big.txt")])
    elapsed = time.process_time() - started
    assert len(blocklist) >= 200_000
    assert blocklist.lookup(lines[123_456]) is not None
    assert elapsed < 2.0, f"{elapsed:.2f} s of CPU for 200k lines"
