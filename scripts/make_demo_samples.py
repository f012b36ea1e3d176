"""Build a small folder of harmless demo samples for the README's first command.

The "program" is pip's own Windows launcher (distlib's t64.exe, a real, harmless PE that
ships with every Python), renamed the way the gangs name theirs. Nothing here is run.
"""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path

import pyzipper

CHAT = """新客户: 你好，我们公司要定制一批礼品，需求和设计图都在压缩包里
新客户: 文件比较大，手机打不开，麻烦用电脑解压看一下
新客户: 解压密码 8866
客服: 好的我看看
"""


def launcher() -> bytes:
    spec = importlib.util.find_spec("pip")
    folder = Path(next(iter(spec.submodule_search_locations)))
    return (folder / "_vendor" / "distlib" / "t64.exe").read_bytes()


def main(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    program = launcher()
    with zipfile.ZipFile(target / "定制需求.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("定制需求/设计图.jpg.exe", program)
        archive.writestr("定制需求/说明.txt", "请查看设计图\n".encode())
    with pyzipper.AESZipFile(target / "设计稿（加密）.zip", "w", compression=zipfile.ZIP_DEFLATED,
                             encryption=pyzipper.WZ_AES) as archive:
        archive.setpassword(b"8866")
        archive.writestr("效果图.pdf" + " " * 40 + ".exe", program)
    (target / "chat.txt").write_text(CHAT, encoding="utf-8")
    (target / "订单备注.txt").write_text("尺寸 50x80cm，颜色：红色，数量 200 个。\n", encoding="utf-8")
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
    (target / "产品照片.png").write_bytes(png)
    print(f"demo samples written to {target}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else ".cache/demo"))
