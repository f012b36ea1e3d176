"""What real customers send must come out ``clean``: photos, scans, Office files, text, archives.

A false alarm costs an agent's trust in every later warning, so this set is as important
as the Trojan samples. Every file is made here by the real library a customer's phone or
office would use (Pillow, fpdf2, python-docx, openpyxl, python-pptx, py7zr, zipfile,
tarfile; see ``bench/corpus.py``), under the ordinary names customers give their files.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from filewall.engine import ScanOptions, scan_path
from filewall.limits import Limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import corpus  # noqa: E402


def _photo(seed: int, exif: bool = False, size: tuple[int, int] = (800, 600)) -> bytes:
    return corpus.jpeg(random.Random(seed), *size, exif=exif)


def _build() -> dict[str, bytes]:
    rng = random.Random(20240518)
    photo1, photo2, photo3 = _photo(1, exif=True), _photo(2), _photo(3, exif=True, size=(1600, 1200))
    contract = corpus.docx(rng, 12, picture=_photo(4, size=(400, 300)))
    sheet = corpus.xlsx(rng, 60)
    files = {
        "产品照片1.jpg": photo1,  # with EXIF, as a phone writes it
        "产品照片2.jpg": photo2,
        "IMG_20240518_143207.jpg": photo3,
        "logo设计.png": corpus.png(rng, 600, 400),
        "表情.gif": corpus.gif(rng, 120, 120),
        "实拍图.webp": corpus.webp(rng, 640, 480),
        "发票信息.pdf": corpus.pdf(rng, 2, [_photo(5, size=(600, 400))]),
        "检测报告.pdf": corpus.pdf(rng, 3),
        "尺寸说明.docx": contract,
        "订单明细.xlsx": sheet,
        "产品方案.pptx": corpus.pptx(rng, 4, picture=_photo(6, size=(640, 480))),
        "订单明细.csv": corpus.csv_bytes(rng, 200, "utf-8-sig"),
        "对账单.csv": corpus.csv_bytes(rng, 100, "gbk"),
        "收货地址.txt": "收货人：王先生\r\n电话：138 0000 0000\r\n地址：上海市浦东新区张江路100号\r\n".encode(),
        "备注.txt": corpus.text(rng, 30, "gbk"),
        "需求说明.txt": corpus.text(rng, 10, "utf-8-sig"),
        "合同.zip": corpus.zip_of([("合同.docx", contract), ("报价单.xlsx", sheet), ("盖章页.jpg", photo1)]),
        "产品图片.7z": corpus.sevenz_of(
            [("产品照片1.jpg", photo1), ("产品照片2.jpg", photo2), ("说明.txt", "颜色以实物为准".encode())]
        ),
        "实拍图.tar.gz": corpus.tar_gz_of(
            [("实拍图/1.jpg", photo1), ("实拍图/2.jpg", photo2), ("实拍图/3.jpg", photo3)]
        ),
        "资料.zip": corpus.zip_of(
            [("合同/合同.zip", corpus.zip_of([("合同.docx", contract)])), ("照片/产品照片1.jpg", photo1)]
        ),
    }
    return files


@pytest.fixture(scope="module")
def benign_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("顾客文件")
    for name, data in _build().items():
        (folder / name).write_bytes(data)
    return folder


NAMES = [
    "产品照片1.jpg", "产品照片2.jpg", "IMG_20240518_143207.jpg", "logo设计.png", "表情.gif", "实拍图.webp",
    "发票信息.pdf", "检测报告.pdf", "尺寸说明.docx", "订单明细.xlsx", "产品方案.pptx", "订单明细.csv",
    "对账单.csv", "收货地址.txt", "备注.txt", "需求说明.txt", "合同.zip", "产品图片.7z", "实拍图.tar.gz", "资料.zip",
]  # fmt: skip


def test_the_set_is_complete(benign_folder):
    assert sorted(path.name for path in benign_folder.iterdir()) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_customer_file_is_clean(benign_folder, name):
    report = scan_path(str(benign_folder / name), ScanOptions(limits=Limits.from_env({})))
    raised = [(f.rule, f.where, f.message) for f in report.findings if f.score > 0]
    assert report.verdict.value == "clean", raised
    assert report.tree.has_content and report.tree.sha256


@pytest.mark.parametrize(
    ("name", "kind"),
    [("产品照片1.jpg", "jpeg"), ("logo设计.png", "png"), ("表情.gif", "gif"), ("实拍图.webp", "webp"),
     ("发票信息.pdf", "pdf"), ("尺寸说明.docx", "ooxml"), ("订单明细.xlsx", "ooxml"), ("产品方案.pptx", "ooxml"),
     ("收货地址.txt", "text"), ("备注.txt", "text"), ("合同.zip", "zip"), ("产品图片.7z", "7z")],
)  # fmt: skip
def test_customer_file_is_identified_by_content(benign_folder, name, kind):
    report = scan_path(str(benign_folder / name), ScanOptions(limits=Limits.from_env({})))
    assert report.tree.kind == kind


@pytest.mark.parametrize(
    ("name", "inside"),
    [("合同.zip", {"合同.docx", "报价单.xlsx", "盖章页.jpg"}),
     ("产品图片.7z", {"产品照片1.jpg", "产品照片2.jpg", "说明.txt"}),
     ("实拍图.tar.gz", {"1.jpg", "2.jpg", "3.jpg"}),
     ("资料.zip", {"合同.zip", "合同.docx", "产品照片1.jpg"})],
)  # fmt: skip
def test_archives_are_opened_not_just_passed(benign_folder, name, inside):
    report = scan_path(str(benign_folder / name), ScanOptions(limits=Limits.from_env({})))
    names = {node.name.replace("\\", "/").rsplit("/", 1)[-1] for node in report.tree.walk()}
    assert inside <= names, sorted(names)


def test_cli_exit_code_is_0_for_the_whole_folder(benign_folder):
    result = subprocess.run(
        [sys.executable, "-m", "filewall", "scan", "--json", str(benign_folder)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.stdout.count("\n") == len(NAMES)
    assert result.returncode == 0, [
        line[:300] for line in result.stdout.splitlines() if '"clean"' not in line[:400]
    ]
