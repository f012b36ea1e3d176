import zipfile

from conftest import node_named, rules_of


def test_lure_zip_with_disguised_program_is_malicious(tmp_path, scan, pe_bytes):
    lure = tmp_path / "lure.zip"
    with zipfile.ZipFile(lure, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("设计图.jpg.exe", pe_bytes)
        archive.writestr("readme.txt", "hello")
    report = scan(lure.read_bytes(), "定制需求.zip")
    assert report.verdict.value == "malicious"
    assert "type.executable" in rules_of(report)
    program = node_named(report, "设计图.jpg.exe")
    assert program.kind == "pe" and program.depth == 1 and program.size == len(pe_bytes)
    assert node_named(report, "readme.txt").kind == "text"
