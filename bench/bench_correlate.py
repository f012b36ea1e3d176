"""How long campaign grouping takes over 100,000 stored reports.

    .venv/bin/python bench/bench_correlate.py [--reports 100000] [--shops 2000] [--campaigns 20]

Makes reports' indicator records (the documents :mod:`filewall.platform.store_models`
keeps per report, serialised to JSON and read back, as the CLI does from the database):
60 % clean traffic, 40 % blocked or with a risky chat; 1–4 files each with a real TLSH of
random-ish bytes (clean traffic repeats 400 common files), import hashes from a pool of
300 (five very common), hosts (20 on every shop's lips, else the shop's own), unique senders, chats from 40 polite templates. Planted:
``--campaigns`` campaigns of 30 shops each, a third each linked by a shared archive,
by re-built samples (TLSH within a few points) with a shared C2 host, and by a lure
script with three sender accounts. Prints the timings and how many planted campaigns were
found exactly.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from filewall.platform.correlate import Correlator  # noqa: E402
from filewall.platform.indicators import FileRef, ReportIndicators, lure_fingerprint, tlsh_of  # noqa: E402

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SENTENCES = [
    "您好，我是贵店的老客户",
    "上次买的货有质量问题",
    "我把照片和视频都打包发给你了",
    "文件比较大所以压缩了",
    "解压密码是{pwd}",
    "请用电脑打开看一下",
    "手机打不开的",
    "麻烦尽快处理一下",
    "不然我就去平台投诉了",
    "订单号{order}",
    "我是做批发的想要大量采购",
    "这是我们公司的采购清单",
    "请看一下报价",
    "表格里有详细的规格要求",
    "你们的产品被我们投诉侵权了",
    "证据材料在附件里",
    "请在三天内处理",
    "快递丢件了需要你确认",
    "这是物流公司发来的理赔单",
    "填好后发回给我",
    "退款流程在文件里",
    "按步骤操作就能退款",
]
PRODUCTS = ["连衣裙", "蓝牙耳机", "面霜", "沙发", "积木", "坚果礼盒", "跑步鞋", "绘本", "手机壳", "台灯"]


def lure_script(rng: random.Random) -> str:
    """A script of its own: three stock sentences and a story told in its own words."""
    picked = sorted(rng.sample(range(len(SENTENCES)), 3))
    story = "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(60))
    return "，".join(SENTENCES[i] for i in picked) + "，" + story + "，解压密码是{pwd}，订单号{order}。"


def _sha(rng: random.Random) -> str:
    return hashlib.sha256(rng.randbytes(16)).hexdigest()


def _blob(rng: random.Random, size: int = 2048) -> bytes:
    # Text-like bytes with structure, so TLSH digests differ the way real files do.
    words = [rng.randbytes(rng.randrange(3, 9)) for _ in range(64)]
    return b" ".join(rng.choice(words) for _ in range(size // 6))[:size]


def make(reports: int, shops: int, campaigns: int, seed: int = 7):
    rng = random.Random(seed)
    shop_ids = [f"s{i:05d}" for i in range(shops)]
    imphashes = [hashlib.md5(str(i).encode()).hexdigest() for i in range(300)]
    hosts = [f"h{i}.shop-cdn.test" for i in range(20)]
    polite = [
        f"亲，在吗？想问一下第{i}款什么时候发货，订单号{{order}}，麻烦查一下物流，谢谢" for i in range(40)
    ]
    truth: list[set[str]] = []
    records: list[ReportIndicators] = []
    planted_per = 30
    tlsh_pool = [tlsh_of(_blob(rng)) for _ in range(400)]  # ordinary files reuse a few digests each
    lure_cache: dict[str, object] = {}

    def lure(text: str):
        if text not in lure_cache:
            lure_cache[text] = lure_fingerprint(text)
        return lure_cache[text]

    number = 0
    # Planted campaigns.
    for c in range(campaigns):
        members = rng.sample(shop_ids, planted_per)
        truth.append(set(members))
        style = c % 3
        archive = _sha(rng)
        base = bytearray(_blob(rng, 8192))
        senders = [f"fake{c}_{k}" for k in range(3)]
        script = lure_script(rng)
        for shop in members:
            number += 1
            files, values, chat_risk, sender, lure_fp = [], set(), "low", f"u{number}", None
            if style == 0:
                files.append(FileRef(archive, "发票.zip", "zip", 90000, 0))
                values.add(("sha256", archive))
            elif style == 1:
                variant = bytearray(base)
                for _ in range(4):
                    variant[rng.randrange(len(variant))] = rng.randrange(256)
                sha = _sha(rng)
                files.append(
                    FileRef(
                        sha,
                        "报价.exe",
                        "pe",
                        8192,
                        1,
                        tlsh=tlsh_of(bytes(variant)),
                        imphash=imphashes[100 + c],
                    )
                )
                values |= {
                    ("sha256", sha),
                    ("domain", f"c2-{c}.example.invalid"),
                    ("imphash", imphashes[100 + c]),
                }
            else:
                sha = _sha(rng)
                files.append(FileRef(sha, "照片.vbs", "text", 700, 0))
                values.add(("sha256", sha))
                sender = rng.choice(senders)
                chat_risk = "high"
                lure_fp = lure(script.format(pwd=rng.randrange(1000, 9999), order=rng.randrange(10**9)))
            values.add(("sender", sender))
            records.append(ReportIndicators(f"p{number}", shop, START + dt.timedelta(minutes=number), "malicious",
                                            chat_risk, sender, files, values, lure_fp))  # fmt: skip
    # Ordinary traffic.
    while len(records) < reports:
        number += 1
        shop = rng.choice(shop_ids)
        interesting = rng.random() < 0.4
        files, values = [], set()
        for depth in range(rng.randrange(1, 5)):
            sha = _sha(rng)
            imphash = (
                rng.choice(imphashes[:5] if rng.random() < 0.7 else imphashes) if rng.random() < 0.3 else None
            )
            # Clean traffic repeats common files (photos); blocked traffic is one-offs.
            if rng.random() < 0.5:
                digest = tlsh_of(_blob(rng)) if interesting else rng.choice(tlsh_pool)
            else:
                digest = None
            files.append(
                FileRef(
                    sha, f"f{depth}", "pe" if imphash else "jpeg", 4096, depth, tlsh=digest, imphash=imphash
                )
            )
            values.add(("sha256", sha))
            if imphash:
                values.add(("imphash", imphash))
        values.add(
            ("domain", rng.choice(hosts[:20]) if rng.random() < 0.5 else f"shop{shop}.example-mall.test")
        )
        values.add(("domain", "www.example.com"))
        sender = f"u{number}"
        values.add(("sender", sender))
        text = rng.choice(polite).format(order=rng.randrange(10**9))
        records.append(ReportIndicators(f"o{number}", shop, START + dt.timedelta(minutes=rng.randrange(60 * 24 * 90)),
                                        "malicious" if interesting else "clean", "low", sender, files, values,
                                        lure(text)))  # fmt: skip
    records.sort(key=lambda r: r.seen_at)
    return records, truth


def _through_database(records: list[ReportIndicators]) -> tuple[float, float]:
    """Store the records in the platform's table (SQLite, the desk's default) and load them back."""
    import tempfile

    from filewall.platform.pipeline import load_records
    from filewall.platform.store_models import IndicatorRow, migrate
    from filewall.store import Database

    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{folder}/bench.db")
        migrate(db)
        started = time.perf_counter()
        for start in range(0, len(records), 5000):
            with db.write() as session:
                session.add_all(
                    IndicatorRow(report_id=r.report_id, shop_id=r.shop_id, seen_at=r.seen_at, of_interest=r.of_interest,
                                 doc=r.to_dict())
                    for r in records[start : start + 5000]
                )  # fmt: skip
        inserted = time.perf_counter()
        again = load_records(db)
        loaded = time.perf_counter()
        assert len(again) == len(records)
        db.dispose()
    return inserted - started, loaded - inserted


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--shops", type=int, default=2000)
    parser.add_argument("--campaigns", type=int, default=21)
    parser.add_argument(
        "--no-db", dest="db", action="store_false", help="Skip the round trip through SQLite."
    )
    args = parser.parse_args()
    t0 = time.perf_counter()
    records, truth = make(args.reports, args.shops, args.campaigns)
    t1 = time.perf_counter()
    stored = [json.dumps(record.to_dict()) for record in records]
    t2 = time.perf_counter()
    loaded = [ReportIndicators.from_dict(json.loads(doc)) for doc in stored]
    t3 = time.perf_counter()
    db_load = None
    if args.db:
        db_load = _through_database(records)
        t3 = time.perf_counter()
    correlator = Correlator()
    correlator.add_all(loaded)  # the same records load_records() returns
    t4 = time.perf_counter()
    clusters = correlator.clusters()
    t5 = time.perf_counter()
    exact = sum(1 for shops in truth if any(cluster.shops == shops for cluster in clusters))
    print(
        f"reports {len(records):,} ({sum(r.of_interest for r in records):,} of interest), shops {args.shops}"
    )
    print(f"generate {t1 - t0:.1f}s, serialise {t2 - t1:.1f}s")
    if db_load:
        print(
            f"SQLite platform_report_indicators: insert {db_load[0]:.1f}s, load_records() {db_load[1]:.1f}s"
        )
    print(f"index (Correlator.add x {len(loaded):,}) {t4 - t3:.1f}s, clusters() {t5 - t4:.2f}s, "
          f"correlation total {t5 - t3:.1f}s")  # fmt: skip
    print(f"campaigns found {len(clusters)}; planted {len(truth)}, found exactly {exact}; "
          f"over-correlating values {len(correlator.over_correlating())}")  # fmt: skip


if __name__ == "__main__":
    main()
