"""Build what customers really send, deterministically: the benchmark corpus and the benign set.

Everything is generated here from a seed with real libraries (Pillow, python-docx,
openpyxl, python-pptx, fpdf2, py7zr, zipfile, tarfile); nothing is downloaded. The only
programs are harmless Windows launchers that ship inside pip and setuptools (real PE
files that print an error when run without a script), placed in zips under lure names
the way the Trojan gangs do it. Nothing here is ever executed.

Used by ``bench/bench_scan.py`` (a mixed corpus of thousands of files), by
``bench/bench_bomb.py`` and ``tests/test_limits.py`` (:func:`write_zero_bomb`), and by
``tests/test_benign.py`` (the single-file builders).

    python bench/corpus.py /tmp/corpus --files 2000 --size-mb 1024
"""

from __future__ import annotations

import argparse
import csv
import datetime
import gzip
import hashlib
import importlib.util
import io
import json
import math
import os
import random
import re
import struct
import tarfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

KiB, MiB, GiB = 1024, 1024 * 1024, 1024 * 1024 * 1024
CORPUS_VERSION = 2  # bump when the generator changes, so cached corpora are rebuilt
#: Time stored in every generated archive and document, so the same seed gives the same bytes.
STAMP = 1716042727  # 2024-05-18 14:32:07 UTC
_ZIP_TIME = (2024, 5, 18, 14, 32, 7)
_WHEN = datetime.datetime(2024, 5, 18, 14, 32, 7, tzinfo=datetime.UTC)

# -- words a customer and a shop use ---------------------------------------------------------
PHRASES = [
    "您好，这是我们需要定制的产品尺寸，请帮忙看一下能不能做。",
    "颜色要和图片上的一样，数量两百件，月底之前需要发货。",
    "发票抬头请开公司全称，税号见附件。",
    "收货地址：上海市浦东新区张江路一百号，联系人王先生。",
    "包装盒上需要印我们的logo，设计稿在附件里。",
    "上次买的那批质量很好，这次想再订一批，价格能优惠一点吗？",
    "尺码表里的L码胸围是多少？我平时穿中码。",
    "退货原因：收到的颜色和页面描述不一致，附上照片。",
    "订单号在表格第一列，麻烦核对一下物流信息。",
    "合同我们这边已经盖章了，请查收后回传一份。",
]
ENGLISH = [
    "Order summary and delivery schedule for the next quarter.",
    "Please find the size chart and colour references attached.",
    "Invoice details: company name, tax number and bank account.",
    "Packaging: printed logo on the lid, 200 pieces, matte finish.",
]
PHOTO_NAMES = ["产品照片", "IMG_2024", "微信图片_20240", "实拍图", "退货照片", "颜色对比", "细节图", "买家秀"]
SHOT_NAMES = ["截图", "logo设计", "聊天记录截图", "订单截图", "尺寸标注", "Screenshot_2024"]
DOC_NAMES = ["尺寸说明", "定制需求", "合同", "产品介绍", "售后说明", "报价确认"]
SHEET_NAMES = ["订单明细", "报价单", "发货清单", "库存表", "对账单"]
SLIDE_NAMES = ["产品方案", "设计提案", "品牌介绍"]
PDF_NAMES = ["发票信息", "营业执照", "产品目录", "检测报告", "合同扫描件"]
TEXT_NAMES = ["收货地址", "备注", "需求说明", "聊天记录"]
ARCHIVE_NAMES = ["合同", "产品图片", "资料", "设计稿", "退货凭证", "新建文件夹"]
#: How the gangs name the program in the lure archive (from the issue's examples).
LURE_NAMES = [
    "设计图.jpg.exe",
    "订单截图.scr",
    "报价单.pdf.exe",
    "产品图片.exe",
    "合同.docx.exe",
    "尺寸表.com",
]
LURE_ARCHIVES = ["定制需求", "产品资料", "订单详情", "图片打包", "工厂报价"]


# -- single files ------------------------------------------------------------------------------
def photo_array(rng: random.Random, width: int, height: int) -> np.ndarray:
    """An RGB picture: a colour gradient, a few shapes, and sensor-like noise (unique per seed)."""
    gen = np.random.default_rng(rng.getrandbits(64))
    tint = np.array([rng.uniform(0, 60) for _ in range(3)], dtype=np.float32)
    rows = (np.linspace(0, rng.uniform(60, 150), height, dtype=np.float32)[:, None] + tint).astype(np.uint8)
    cols = np.linspace(0, rng.uniform(20, 40), width, dtype=np.float32).astype(np.uint8)[:, None]
    image = rows[:, None, :] + cols[None, :, :]
    for _ in range(rng.randint(2, 6)):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1, y1 = (
            min(width, x0 + rng.randrange(width // 2 + 1)),
            min(height, y0 + rng.randrange(height // 2 + 1)),
        )
        image[y0:y1, x0:x1] = [rng.randrange(180) for _ in range(3)]
    image += np.frombuffer(gen.bytes(height * width * 3), dtype=np.uint8).reshape(height, width, 3) & 127
    return image


def jpeg(
    rng: random.Random, width: int = 640, height: int = 480, exif: bool = False, quality: int = 88
) -> bytes:
    from PIL import Image

    picture = Image.fromarray(photo_array(rng, width, height))
    out = io.BytesIO()
    kwargs = {}
    if exif:
        info = Image.Exif()
        info[0x010F] = "HUAWEI"  # Make
        info[0x0110] = "ELS-AN00"  # Model
        info[0x0132] = "2024:05:18 14:32:07"  # DateTime
        info[0x0131] = "ELS-AN00 4.0.0.160"  # Software
        kwargs["exif"] = info.tobytes()
    picture.save(out, "JPEG", quality=quality, **kwargs)
    return out.getvalue()


def png(rng: random.Random, width: int = 480, height: int = 320) -> bytes:
    """A screenshot-like or logo-like PNG: flat areas and some detail, so it compresses as one."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (width, height), tuple(rng.randrange(200, 256) for _ in range(3)))
    draw = ImageDraw.Draw(picture)
    for _ in range(rng.randint(5, 25)):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        box = (x0, y0, min(width, x0 + rng.randrange(10, 200)), min(height, y0 + rng.randrange(6, 40)))
        draw.rectangle(box, fill=tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(rng.randint(3, 12)):
        draw.text((rng.randrange(width), rng.randrange(height)), rng.choice(ENGLISH)[:30], fill=(20, 20, 20))
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def gif(rng: random.Random, width: int = 200, height: int = 200) -> bytes:
    from PIL import Image

    frames = [Image.fromarray(photo_array(rng, width, height)).convert("P") for _ in range(rng.randint(1, 3))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=len(frames) > 1, append_images=frames[1:], duration=200, loop=0)
    return out.getvalue()


def webp(rng: random.Random, width: int = 400, height: int = 300) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(photo_array(rng, width, height)).save(out, "WEBP", quality=80)
    return out.getvalue()


def docx(rng: random.Random, paragraphs: int = 6, picture: bytes | None = None) -> bytes:
    from docx import Document
    from docx.shared import Cm

    document = Document()
    document.add_heading(rng.choice(DOC_NAMES), level=1)
    for _ in range(paragraphs):
        document.add_paragraph(rng.choice(PHRASES) + " " + rng.choice(ENGLISH))
    table = document.add_table(rows=3, cols=3)
    for row in table.rows:
        for cell in row.cells:
            cell.text = f"{rng.randint(1, 999)} cm"
    if picture is not None:
        document.add_picture(io.BytesIO(picture), width=Cm(8))
    document.core_properties.author = "王小明"
    document.core_properties.created = document.core_properties.modified = _WHEN
    out = io.BytesIO()
    document.save(out)
    return _pin_zip_times(out.getvalue())


def xlsx(rng: random.Random, rows: int = 40) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "订单"
    sheet.append(["订单号", "商品", "数量", "单价", "金额", "收货人"])
    for index in range(rows):
        quantity, price = rng.randint(1, 500), round(rng.uniform(1, 300), 2)
        sheet.append(
            [
                f"2024{rng.randint(10**9, 10**10 - 1)}",
                rng.choice(["T恤", "帆布包", "马克杯", "抱枕", "手机壳"]),
                quantity,
                price,
                None,
                rng.choice(["王先生", "李女士", "张经理", "陈小姐"]),
            ]
        )
        sheet.cell(row=index + 2, column=5, value=f"=C{index + 2}*D{index + 2}")
    book.properties.created = book.properties.modified = _WHEN.replace(tzinfo=None)
    out = io.BytesIO()
    book.save(out)
    return _pin_zip_times(out.getvalue())


def pptx(rng: random.Random, slides: int = 3, picture: bytes | None = None) -> bytes:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    for index in range(slides):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"{rng.choice(SLIDE_NAMES)} {index + 1}"
        slide.placeholders[1].text = rng.choice(PHRASES)
        if picture is not None and index == 0:
            slide.shapes.add_picture(io.BytesIO(picture), Inches(5), Inches(4), width=Inches(3))
    deck.core_properties.created = deck.core_properties.modified = _WHEN
    out = io.BytesIO()
    deck.save(out)
    return _pin_zip_times(out.getvalue())


def pdf(rng: random.Random, pages: int = 2, pictures: list[bytes] | None = None) -> bytes:
    """A plain PDF (Latin text: the core fonts carry no CJK glyphs) with optional photos."""
    from fpdf import FPDF

    document = FPDF()
    document.set_title("Invoice")
    document.set_creator("Microsoft Word")
    document.set_creation_date(_WHEN)
    pictures = list(pictures or [])
    for page in range(pages):
        document.add_page()
        document.set_font("Helvetica", size=12)
        for _ in range(rng.randint(5, 20)):
            document.multi_cell(
                0, 8, rng.choice(ENGLISH) + f" No. {rng.randint(1000, 99999)}", new_x="LMARGIN", new_y="NEXT"
            )
        if pictures:
            document.image(io.BytesIO(pictures.pop()), x=20, w=120)
        if page == pages - 1:
            for picture in pictures:
                document.add_page()
                document.image(io.BytesIO(picture), x=10, w=180)
    return bytes(document.output())


def text(rng: random.Random, lines: int = 20, encoding: str = "utf-8") -> bytes:
    body = "\r\n".join(rng.choice(PHRASES) for _ in range(lines)) + "\r\n"
    return body.encode(encoding)


def csv_bytes(rng: random.Random, rows: int = 100, encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["订单号", "商品名称", "数量", "金额", "收货地址"])
    for _ in range(rows):
        writer.writerow(
            [
                rng.randint(10**11, 10**12),
                rng.choice(["纯棉T恤", "陶瓷马克杯", "定制抱枕"]),
                rng.randint(1, 50),
                f"{rng.uniform(5, 2000):.2f}",
                rng.choice(["北京市朝阳区", "广州市天河区", "杭州市西湖区"]),
            ]
        )
    return out.getvalue().encode(encoding)


def _pin_zip_times(data: bytes) -> bytes:
    """The same package with every member stamped ``_ZIP_TIME`` (Office libraries use now)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            pinned = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            pinned.compress_type, pinned.external_attr = info.compress_type, info.external_attr
            body = source.read(info)
            if info.filename == "docProps/core.xml":  # openpyxl sets "modified" when saving
                body = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>2024-05-18T14:32:07Z", body
                )
            target.writestr(pinned, body)
    return out.getvalue()


def zip_of(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return out.getvalue()


def tar_gz_of(members: list[tuple[str, bytes]], level: int = 6) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), STAMP, 0o644
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(out.getvalue(), compresslevel=level, mtime=STAMP)


def sevenz_of(members: list[tuple[str, bytes]]) -> bytes:
    import py7zr
    from py7zr.helpers import ArchiveTimestamp

    # py7zr stamps members with the current time; pin it so the same seed gives the same bytes.
    original = ArchiveTimestamp.from_now
    ArchiveTimestamp.from_now = classmethod(lambda cls: cls.from_datetime(STAMP))
    try:
        out = io.BytesIO()
        with py7zr.SevenZipFile(out, "w") as archive:
            for name, data in members:
                archive.writestr(data, name)
        return out.getvalue()
    finally:
        ArchiveTimestamp.from_now = original


def launcher_programs() -> list[tuple[str, bytes]]:
    """Real, harmless Windows PE files shipped by pip (distlib) and setuptools."""
    found = []
    for package, parts in (
        ("pip", ("_vendor", "distlib")),
        ("setuptools", ()),
    ):
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        folder = Path(next(iter(spec.submodule_search_locations)), *parts)
        for path in sorted(folder.glob("*.exe")):
            found.append((f"{package}/{path.name}", path.read_bytes()))
    if not found:
        raise RuntimeError("no launcher .exe found in pip or setuptools")
    return found


# -- the zip bomb ----------------------------------------------------------------------------
def write_zero_bomb(
    path: str | os.PathLike, member_size: int = 6 * GiB, members: int = 1, name: str = "图片.bmp"
) -> dict:
    """Write a valid zip (zip64) whose ``members`` each inflate to ``member_size`` zero bytes.

    Cheap to build: deflating 64 MiB of zeros with a full flush at the end resets the
    compressor, so every further 64 MiB block compresses to the very same bytes; the
    member's stream is that block repeated (~65 KB per 64 MiB, a ratio of ~1030:1) plus
    the final empty block. Only the CRC-32 must be computed over all the zeros (~0.3 s
    per GiB). ``member_size`` must be a multiple of 64 MiB.
    """
    block_size = 64 * MiB
    if member_size % block_size:
        raise ValueError("member_size must be a multiple of 64 MiB")
    zeros = bytes(block_size)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.flush(zlib.Z_FINISH)
    repeats = member_size // block_size
    crc = 0
    for _ in range(repeats):
        crc = zlib.crc32(zeros, crc)
    packed = len(block) * repeats + len(tail)
    central = []
    with open(path, "wb") as out:
        for index in range(members):
            member_name = (name if members == 1 else f"{index + 1}_{name}").encode("utf-8")
            offset = out.tell()
            extra = struct.pack("<HHQQ", 0x0001, 16, member_size, packed)
            # local header: version 45 (zip64), flag 0x800 (UTF-8 name), deflate
            out.write(
                struct.pack(
                    "<IHHHHHIIIHH",
                    0x04034B50,
                    45,
                    0x800,
                    8,
                    0,
                    0x5821,
                    crc,
                    0xFFFFFFFF,
                    0xFFFFFFFF,
                    len(member_name),
                    len(extra),
                )
            )
            out.write(member_name + extra)
            for _ in range(repeats):
                out.write(block)
            out.write(tail)
            central.append((member_name, offset))
        cd_start = out.tell()
        for member_name, offset in central:
            extra = struct.pack("<HHQQQ", 0x0001, 24, member_size, packed, offset)
            out.write(
                struct.pack(
                    "<IHHHHHHIIIHHHHHII",
                    0x02014B50,
                    45,
                    45,
                    0x800,
                    8,
                    0,
                    0x5821,
                    crc,
                    0xFFFFFFFF,
                    0xFFFFFFFF,
                    len(member_name),
                    len(extra),
                    0,
                    0,
                    0,
                    0,
                    0xFFFFFFFF,
                )
            )
            out.write(member_name + extra)
        cd_end = out.tell()
        out.write(
            struct.pack(
                "<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, members, members, cd_end - cd_start, cd_start
            )
        )
        out.write(struct.pack("<IIQI", 0x07064B50, 0, cd_end, 1))
        out.write(
            struct.pack(
                "<IHHHHIIH",
                0x06054B50,
                0,
                0,
                min(members, 0xFFFF),
                min(members, 0xFFFF),
                0xFFFFFFFF,
                0xFFFFFFFF,
                0,
            )
        )
        size = out.tell()
    return {"path": str(path), "size": size, "members": members, "member_size": member_size, "crc32": crc}


# -- the mixed corpus --------------------------------------------------------------------------
@dataclass
class Item:
    path: str
    category: str
    lure: bool = False
    size: int = 0
    members: int = 0
    extra: dict = field(default_factory=dict)


class _Builder:
    def __init__(self, root: Path, seed: int, photo_scale: float):
        self.root = root
        self.rng = random.Random(seed)
        self.photo_scale = photo_scale
        self.items: list[Item] = []
        self.programs = launcher_programs()
        self.counter = 0
        self.bpp = _calibrate_bytes_per_pixel(self.rng)

    # sizes -------------------------------------------------------------------------------
    def photo_bytes(self, median: int = 160 * KiB) -> int:
        size = self.rng.lognormvariate(math.log(median), 0.9) * self.photo_scale
        return int(min(max(size, 12 * KiB), 8 * MiB))

    def photo(self, target: int | None = None, exif: bool | None = None) -> bytes:
        target = target or self.photo_bytes()
        pixels = max(64 * 64, target / self.bpp)
        width = max(64, int(math.sqrt(pixels * 4 / 3)))
        height = max(64, int(pixels / width))
        return jpeg(self.rng, width, height, exif=self.rng.random() < 0.4 if exif is None else exif)

    # output --------------------------------------------------------------------------------
    def write(self, name: str, data: bytes, category: str, lure: bool = False, members: int = 0) -> None:
        self.counter += 1
        folder = self.root / f"会话{(self.counter - 1) // 100 + 1:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        stem, dot, ext = name.rpartition(".")
        path = folder / f"{stem}{self.counter}{dot}{ext}" if dot else folder / f"{name}{self.counter}"
        path.write_bytes(data)
        self.items.append(Item(str(path.relative_to(self.root)), category, lure, len(data), members))

    # one file of each kind --------------------------------------------------------------------
    def make(self, category: str) -> None:
        rng = self.rng
        if category == "jpeg":
            self.write(rng.choice(PHOTO_NAMES) + ".jpg", self.photo(), category)
        elif category == "png":
            self.write(
                rng.choice(SHOT_NAMES) + ".png",
                png(rng, rng.randint(320, 1280), rng.randint(240, 900)),
                category,
            )
        elif category == "gif":
            self.write("表情" + ".gif", gif(rng, rng.randint(80, 300), rng.randint(80, 300)), category)
        elif category == "webp":
            self.write(
                rng.choice(PHOTO_NAMES) + ".webp",
                webp(rng, rng.randint(300, 1000), rng.randint(300, 800)),
                category,
            )
        elif category == "docx":
            picture = self.photo(self.photo_bytes(60 * KiB)) if rng.random() < 0.4 else None
            self.write(rng.choice(DOC_NAMES) + ".docx", docx(rng, rng.randint(3, 30), picture), category)
        elif category == "xlsx":
            self.write(rng.choice(SHEET_NAMES) + ".xlsx", xlsx(rng, rng.randint(10, 400)), category)
        elif category == "pptx":
            picture = self.photo(self.photo_bytes(80 * KiB)) if rng.random() < 0.6 else None
            self.write(rng.choice(SLIDE_NAMES) + ".pptx", pptx(rng, rng.randint(2, 8), picture), category)
        elif category == "pdf":
            pictures = [self.photo(self.photo_bytes(60 * KiB), exif=False) for _ in range(rng.randint(0, 3))]
            self.write(rng.choice(PDF_NAMES) + ".pdf", pdf(rng, rng.randint(1, 4), pictures), category)
        elif category == "text":
            encoding = rng.choice(["utf-8", "gbk", "utf-8-sig"])
            self.write(rng.choice(TEXT_NAMES) + ".txt", text(rng, rng.randint(3, 400), encoding), category)
        elif category == "csv":
            encoding = rng.choice(["utf-8-sig", "gbk"])
            self.write(
                rng.choice(SHEET_NAMES) + ".csv", csv_bytes(rng, rng.randint(20, 3000), encoding), category
            )
        elif category in ("zip", "tar.gz", "7z"):
            members = self.members(rng.randint(2, 9))
            data = {"zip": zip_of, "tar.gz": tar_gz_of, "7z": sevenz_of}[category](members)
            self.write(rng.choice(ARCHIVE_NAMES) + "." + category, data, category, members=len(members))
        elif category == "lure":
            label, program = rng.choice(self.programs)
            members = [(rng.choice(LURE_NAMES), program)] + self.members(rng.randint(0, 3))
            rng.shuffle(members)
            self.write(
                rng.choice(LURE_ARCHIVES) + ".zip", zip_of(members), category, lure=True, members=len(members)
            )
            self.items[-1].extra["program"] = label
        else:
            raise ValueError(category)

    def members(self, count: int) -> list[tuple[str, bytes]]:
        rng, out = self.rng, []
        for index in range(count):
            roll = rng.random()
            if roll < 0.6:
                out.append((f"{rng.choice(PHOTO_NAMES)}{index + 1}.jpg", self.photo()))
            elif roll < 0.7:
                out.append((f"{rng.choice(SHEET_NAMES)}{index + 1}.xlsx", xlsx(rng, rng.randint(10, 100))))
            elif roll < 0.8:
                out.append((f"{rng.choice(DOC_NAMES)}{index + 1}.docx", docx(rng, rng.randint(3, 10))))
            elif roll < 0.9:
                out.append((f"{rng.choice(TEXT_NAMES)}{index + 1}.txt", text(rng, rng.randint(3, 50))))
            else:
                out.append((f"{rng.choice(SHOT_NAMES)}{index + 1}.png", png(rng)))
        return out

    def large(self, kind: str, size: int) -> None:
        """A few files of tens of MB: what the big end of a real inbox looks like."""
        rng = self.rng
        if kind == "video":  # an MP4 box header then incompressible payload
            gen = np.random.default_rng(rng.getrandbits(64))
            head = struct.pack(">I4s4sI8s", 24, b"ftyp", b"isom", 0x200, b"isomiso2")
            payload = gen.integers(0, 256, size=size, dtype=np.uint8).tobytes()
            self.write(
                "产品视频.mp4", head + struct.pack(">I4s", len(payload) + 8, b"mdat") + payload, "large"
            )
        elif kind == "csv":
            rows = max(100, size // 90)
            self.write("全年订单导出.csv", csv_bytes(rng, rows, "utf-8-sig"), "large")
        elif kind == "photo-zip":
            members, total = [], 0
            while total < size:
                members.append(
                    (f"实拍图{len(members) + 1}.jpg", self.photo(rng.randint(2 * MiB, 5 * MiB), exif=True))
                )
                total += len(members[-1][1])
            self.write("高清原图.zip", zip_of(members), "large", members=len(members))
        elif kind == "pdf":
            pictures, total = [], 0
            while total < size:
                pictures.append(self.photo(rng.randint(1 * MiB, 3 * MiB), exif=False))
                total += len(pictures[-1])
            self.write("产品目录.pdf", pdf(rng, 3, pictures), "large")
        elif kind == "logs":  # compressible text, the inflate-bound case
            lines, total = [], 0
            while total < size:
                lines.append(f"2024-05-{rng.randint(1, 31):02d} {rng.choice(PHRASES)} {rng.random():.6f}\n")
                total += len(lines[-1].encode())
            self.write(
                "客服记录.tar.gz", tar_gz_of([("客服记录.txt", "".join(lines).encode())]), "large", members=1
            )
        elif kind == "tiff":
            from PIL import Image

            side = int(math.sqrt(size / 3))
            out = io.BytesIO()
            Image.fromarray(photo_array(rng, side, side)).save(out, "TIFF")
            self.write("包装设计稿.tif", out.getvalue(), "large")
        else:
            raise ValueError(kind)


#: Share of the files of each kind (the rest of the count is photos).
MIX = {
    "png": 0.08,
    "gif": 0.02,
    "webp": 0.02,
    "docx": 0.04,
    "xlsx": 0.04,
    "pptx": 0.02,
    "pdf": 0.06,
    "text": 0.04,
    "csv": 0.04,
    "zip": 0.09,
    "tar.gz": 0.02,
    "7z": 0.02,
    "lure": 0.02,
}
#: The large files (kind, MB at --size-mb 1024; scaled with the size).
LARGE = [("video", 48), ("csv", 30), ("photo-zip", 40), ("pdf", 25), ("logs", 40), ("tiff", 36)]


def generate(
    root: str | os.PathLike, files: int = 2000, size_mb: int = 1024, seed: int = 20240518, quiet: bool = False
) -> dict:
    """Write the corpus into ``root`` (reused when a finished one with these parameters is there)."""
    root = Path(root)
    params = {"version": CORPUS_VERSION, "files": files, "size_mb": size_mb, "seed": seed}
    manifest_path = root / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("params") == params:
            return manifest
    if root.exists() and any(root.iterdir()):
        if not manifest_path.exists():
            raise SystemExit(f"{root} is not empty and holds no corpus manifest; choose another folder")
        import shutil

        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    scale = size_mb / 1024
    large = [(kind, int(mb * MiB * scale)) for kind, mb in LARGE]
    counts = {kind: max(1, round(share * files)) for kind, share in MIX.items()}
    counts["jpeg"] = files - len(large) - sum(counts.values())
    if counts["jpeg"] < 1:
        raise SystemExit("--files is too small for the mix")
    # Photo sizes are scaled so that the whole corpus lands near --size-mb: estimate what the
    # fixed parts take, then give the rest to photos (loose photos and those in archives).
    fixed = sum(size for _, size in large) + 60 * KiB * sum(
        counts[k] for k in ("docx", "xlsx", "pptx", "text", "csv")
    )
    fixed += (
        120 * KiB * counts["png"] + 60 * KiB * (counts["gif"] + counts["webp"]) + 130 * KiB * counts["pdf"]
    )
    photo_units = (
        counts["jpeg"] + 5.5 * 0.6 * (counts["zip"] + counts["tar.gz"] + counts["7z"]) + counts["lure"] * 0.9
    )
    mean_at_scale_1 = 160 * KiB * math.exp(0.9**2 / 2)
    photo_scale = max(0.05, (size_mb * MiB - fixed) / photo_units / mean_at_scale_1)
    builder = _Builder(root, seed, photo_scale)
    plan = [kind for kind, count in counts.items() for _ in range(count)]
    builder.rng.shuffle(plan)
    for index, category in enumerate(plan):
        builder.make(category)
        if not quiet and (index + 1) % 250 == 0:
            print(f"  generated {index + 1}/{len(plan)} files", flush=True)
    for kind, size in large:
        builder.large(kind, size)
    programs = {label: hashlib.sha256(data).hexdigest() for label, data in builder.programs}
    manifest = {
        "params": params,
        "generated_seconds": round(time.perf_counter() - started, 1),
        "files": len(builder.items),
        "bytes": sum(item.size for item in builder.items),
        "counts": {
            kind: sum(1 for item in builder.items if item.category == kind)
            for kind in sorted(set(counts) | {"large"})
        },
        "programs": {
            label: {"sha256": digest, "size": len(data)}
            for (label, data), digest in zip(builder.programs, programs.values(), strict=True)
        },
        "items": [item.__dict__ for item in builder.items],
    }
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return manifest


def _calibrate_bytes_per_pixel(rng: random.Random) -> float:
    sample = jpeg(random.Random(rng.random()), 800, 600)
    return len(sample) / (800 * 600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=20240518)
    args = parser.parse_args()
    manifest = generate(args.folder, args.files, args.size_mb, args.seed)
    print(
        f"{manifest['files']} files, {manifest['bytes'] / MiB:.0f} MiB in {args.folder} "
        f"(generated in {manifest['generated_seconds']} s)"
    )


if __name__ == "__main__":
    main()
