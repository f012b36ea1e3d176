"""What no customer needs to send, judged by *content*: programs, installers, shortcuts ..."""

from __future__ import annotations

from ..registry import analyzer

#: kind → (rule, what it is, for the message)
_DANGEROUS_KINDS = {
    "pe": ("type.executable", "a Windows program", "Windows 程序"),
    "dos-mz": ("type.executable", "a DOS program", "DOS 程序"),
    "elf": ("type.executable", "a Linux program", "Linux 程序"),
    "macho": ("type.executable", "a macOS program", "苹果电脑程序"),
    "dex": ("type.executable", "Android code", "安卓程序代码"),
    "apk": ("type.executable", "an Android app", "安卓应用"),
    "jar": ("type.executable", "a Java program", "Java 程序"),
    "java-class": ("type.executable", "Java code", "Java 程序代码"),
    "msi": ("type.installer", "a Windows Installer package", "Windows 安装包"),
    "lnk": ("type.shortcut", "a Windows shortcut", "Windows 快捷方式"),
    "chm": ("type.help_file", "a compiled help file", "CHM 帮助文件"),
    "reg": ("type.registry_file", "a registry file", "注册表文件"),
    "iso": ("type.disk_image", "ISO image", "ISO 光盘映像"),
    "vhd": ("type.disk_image", "virtual hard disk", "虚拟硬盘"),
    "vhdx": ("type.disk_image", "virtual hard disk", "虚拟硬盘"),
    "hta": ("type.script", "an HTML application (HTA)", "HTA 网页程序"),
}


@analyzer(*_DANGEROUS_KINDS, order=10)
def dangerous_kind(node, content, ctx) -> None:
    rule, what, what_zh = _DANGEROUS_KINDS[node.kind]
    ctx.fact(node, rule, what=what, what_zh=what_zh)
