"""The file rules: every rule id, its severity, its score, and what a person reads.

This table is the whole judgement. Analyzers only state facts (``name.double_extension``
on ``设计图.jpg.exe``); the score and the words come from here. ``tests/test_policy.py``
pins each weight, so changing one is a deliberate, reviewed act.

Scores add up per input file (capped at 100). A shop's inbox is stricter than a general
virus scanner: anything that runs code when an agent double-clicks it — a program, an
installer, a script, a command-running shortcut — scores 100 by itself, signature or not.

Messages are written for a busy customer-service agent, not an analyst: what it is, in
the file's own name, and what to do. ``{name}`` is the file's name as it really is
(hidden characters made visible); other fields come from the fact's parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import Severity

C, H, M, L, I = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO

#: Verdict thresholds on the total score.
MALICIOUS_AT = 70
SUSPICIOUS_AT = 30

_DONT_OPEN_EN = "Do not open it."
_DONT_OPEN_ZH = "不要打开。"


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    score: int
    en: str
    zh: str


def _rules(*rows: tuple[str, Severity, int, str, str]) -> dict[str, Rule]:
    table = {}
    for rule_id, severity, score, en, zh in rows:
        assert rule_id not in table, rule_id
        table[rule_id] = Rule(rule_id, severity, score, en, zh)
    return table


RULES: dict[str, Rule] = _rules(
    # --- what the content is -------------------------------------------------------------
    ("type.executable", C, 100,
     "{name} is a program ({what}). Customers never need to send programs; this is how Trojans arrive. Do not open it.",
     "{name} 是一个程序（{what}）。顾客从来不需要发程序给店铺，木马就是这样进来的。不要打开。"),
    ("type.installer", C, 100,
     "{name} is an installer ({what}). An installer from a customer is treated as a Trojan. Do not run it.",
     "{name} 是一个安装包（{what}）。顾客发来的安装包一律按木马处理。不要运行。"),
    ("type.script", C, 100,
     "{name} is a script ({what}) that runs commands when double-clicked. Do not open it.",
     "{name} 是一个脚本（{what}），双击就会执行命令。不要打开。"),
    ("type.shortcut", C, 100,
     "{name} is a shortcut, not a document. A shortcut from a customer is a common way to start a Trojan. Do not open it.",
     "{name} 是一个快捷方式，不是文档。顾客发来的快捷方式常被用来启动木马。不要打开。"),
    ("type.disk_image", M, 40,
     "{name} is a disk image ({what}); opening it mounts a drive that can hide programs. Let filewall show you what is inside instead.",
     "{name} 是一个磁盘映像（{what}），打开后会挂载成一个盘，里面可能藏着程序。请用 filewall 查看里面的内容，不要直接打开。"),
    ("type.help_file", C, 100,
     "{name} is a Windows help file (CHM), which can run commands when opened. Do not open it.",
     "{name} 是 Windows 帮助文件（CHM），打开时可以执行命令。不要打开。"),
    ("type.registry_file", C, 100,
     "{name} is a registry file; opening it changes Windows settings. Do not open it.",
     "{name} 是注册表文件，打开会修改 Windows 设置。不要打开。"),
    ("type.internet_shortcut", M, 40,
     "{name} is an internet shortcut that opens {target}. Do not open it; ask the customer for a normal link or picture.",
     "{name} 是一个网址快捷方式，会打开 {target}。不要打开，请让顾客直接发链接或图片。"),
    # --- names that lie ------------------------------------------------------------------
    ("name.double_extension", C, 100,
     "{name} pretends to be a {decoy} file but is really a {real} file. This disguise is the classic Trojan trick. Do not open it.",
     "{name} 伪装成 {decoy} 文件，其实是 {real} 文件。这是木马的常见伪装手法。不要打开。"),
    ("name.padding", C, 100,
     "{name} hides its real ending ({real}) behind a run of {count} blank characters, so it looks like a {decoy} file. Do not open it.",
     "{name} 用 {count} 个空白字符把真实后缀（{real}）挤到看不见的地方，让它看起来像 {decoy} 文件。不要打开。"),
    ("name.bidi_override", C, 100,
     "{name} contains a hidden character ({char}) that reverses the text, so the real ending ({real}) is disguised. Do not open it.",
     "{name} 里有一个隐藏字符（{char}）会把文字反转显示，真实后缀（{real}）被伪装了。不要打开。"),
    ("name.invisible_characters", M, 40,
     "{name} contains invisible characters ({chars}); names do not need them. Be careful with this file.",
     "{name} 的名字里有看不见的字符（{chars}），正常文件名不需要这些。请小心这个文件。"),
    ("name.risky_extension", C, 100,
     "{name} ends in {ext}, a type that runs code when opened ({why}). Do not open it.",
     "{name} 的后缀是 {ext}，这种文件一打开就会运行代码（{why_zh}）。不要打开。"),
    ("name.content_mismatch", C, 100,
     "{name} is named like a {claimed} file but is really a {actual}. Do not open it.",
     "{name} 名字像 {claimed} 文件，实际上是{actual_zh}。不要打开。"),
    ("name.content_mismatch_harmless", I, 0,
     "{name} is named .{ext} but its content is {actual}; this is harmless.",
     "{name} 的后缀是 .{ext}，内容其实是 {actual}，这没有危害。"),
    # --- archives --------------------------------------------------------------------------
    ("archive.path_traversal", C, 100,
     "{name} is stored with a path that climbs out of the folder it is unpacked into ({path}); unpacking it can plant files elsewhere on the computer. Do not unpack it.",
     "{name} 的存放路径会跳出解压目录（{path}），解压时可能把文件放到电脑的其他位置。不要解压。"),
    ("archive.startup_path", C, 100,
     "{name} would be unpacked into the Windows Startup folder ({path}) and start with the computer. Do not unpack it.",
     "{name} 解压后会被放进 Windows 开机启动目录（{path}），开机就会自动运行。不要解压。"),
    ("archive.absolute_path", H, 70,
     "{name} is stored with an absolute path ({path}); unpacking it can write anywhere on the computer. Do not unpack it.",
     "{name} 使用了绝对路径（{path}），解压时可能写到电脑的任意位置。不要解压。"),
    ("archive.link", M, 40,
     "{name} is a link pointing to {target}; unpacking links can overwrite other files.",
     "{name} 是一个指向 {target} 的链接，解压链接可能覆盖其他文件。"),
    ("archive.encrypted", I, 0,
     "{name} is password-protected; it was opened with a password from the chat or the scan ({password_source}).",
     "{name} 有密码保护，已用聊天或扫描时提供的密码打开（{password_source}）。"),
    ("archive.encrypted_unopened", M, 40,
     "{name} is password-protected and none of the known passwords opened it, so its content could not be checked. Archives with a password are a common way to sneak Trojans past scanners. Paste the chat (with the password) and scan again.",
     "{name} 有密码，已知的密码都打不开，里面的内容无法检查。带密码的压缩包是躲避查杀、传播木马的常见手法。请把聊天记录（含密码）一起粘贴后重新扫描。"),
    ("archive.names_hidden", M, 40,
     "{name} hides even the names of what it contains (encrypted headers) and no known password opened it. Do not open it until it is checked.",
     "{name} 连里面的文件名都加密隐藏了，已知密码也打不开。检查之前不要打开。"),
    ("archive.decompression_bomb", H, 70,
     "{name} claims to unpack to {declared_size} bytes from {packed_size}; it is built to overwhelm scanners and disks (a decompression bomb). Do not unpack it.",
     "{name} 声称能从 {packed_size} 字节解压出 {declared_size} 字节，这是用来拖垮杀毒软件和硬盘的“解压炸弹”。不要解压。"),
    ("archive.padded_member", H, 70,
     "{name} is padded with {padding} bytes of filler to make it too big for virus scanners. Do not open it.",
     "{name} 被塞了 {padding} 字节的填充数据，目的是让它大到杀毒软件不扫描。不要打开。"),
    ("archive.nested_archives", L, 15,
     "{name} sits inside {levels} archives, one within another; real customers rarely send that.",
     "{name} 被套在 {levels} 层压缩包里面，正常顾客很少这样发文件。"),
    ("archive.self_extracting", C, 100,
     "{name} is a program with an archive attached (a self-extracting archive); opening it runs the program. Do not open it.",
     "{name} 是一个附带压缩包的程序（自解压文件），打开就会运行程序。不要打开。"),
    # --- programs ---------------------------------------------------------------------------
    ("pe.unsigned", I, 0,
     "{name} carries no digital signature.",
     "{name} 没有数字签名。"),
    ("pe.signed", I, 0,
     "{name} carries a digital signature (not verified offline).",
     "{name} 带有数字签名（离线未验证）。"),
    ("pe.packed", H, 70,
     "{name} is packed with {packer}, which hides its real code from scanners.",
     "{name} 用 {packer} 加了壳，真实代码对杀毒软件不可见。"),
    ("pe.high_entropy", M, 40,
     "Part of {name} ({section}) is compressed or encrypted (entropy {entropy}), which hides code.",
     "{name} 的一部分（{section}）经过压缩或加密（熵值 {entropy}），用来隐藏代码。"),
    ("pe.overlay", L, 15,
     "{name} has {size} extra bytes appended after the program.",
     "{name} 的程序末尾附加了 {size} 字节的额外数据。"),
    ("pe.suspicious_imports", M, 40,
     "{name} uses Windows functions often used by Trojans ({functions}).",
     "{name} 调用了木马常用的 Windows 功能（{functions}）。"),
    ("pe.corrupt", M, 40,
     "{name} looks like a program but its structure is broken ({reason}).",
     "{name} 看起来是程序，但结构已损坏（{reason}）。"),
    # --- shortcuts ---------------------------------------------------------------------------
    ("lnk.launches_shell", C, 100,
     "{name} is a shortcut that runs {program} with a command ({arguments}). This is how Trojans start. Do not open it.",
     "{name} 是一个会运行 {program} 并执行命令（{arguments}）的快捷方式，木马常这样启动。不要打开。"),
    ("lnk.hidden_window", H, 70,
     "{name} runs its command in a hidden window so you would not see it.",
     "{name} 会在隐藏窗口里执行命令，你看不到它在做什么。"),
    ("lnk.encoded_command", C, 100,
     "{name} carries an encoded (hidden) command.",
     "{name} 里藏着一段编码过的命令。"),
    ("lnk.remote_target", H, 70,
     "{name} starts a program from another computer or the internet ({target}).",
     "{name} 会从别的电脑或网络上启动程序（{target}）。"),
    ("lnk.icon_disguise", M, 40,
     "{name} borrows the icon of {icon} to look like a document.",
     "{name} 借用了 {icon} 的图标，伪装成文档。"),
    # --- scripts and command text -------------------------------------------------------------
    ("script.download_cradle", C, 100,
     "{name} downloads and runs something from the internet ({evidence}).",
     "{name} 会从网上下载并运行东西（{evidence}）。"),
    ("script.encoded_command", C, 100,
     "{name} runs an encoded (hidden) command ({evidence}).",
     "{name} 会执行一段编码隐藏的命令（{evidence}）。"),
    ("script.lolbin", H, 70,
     "{name} uses a Windows tool that Trojans abuse to run or fetch code ({evidence}).",
     "{name} 使用了木马常滥用的 Windows 系统工具来运行或下载代码（{evidence}）。"),
    ("script.autostart", C, 100,
     "{name} makes something start with Windows ({evidence}).",
     "{name} 会设置开机自动启动（{evidence}）。"),
    ("script.remote_executable", H, 70,
     "{name} points to a program on the internet or another computer ({evidence}).",
     "{name} 指向网络上或其他电脑上的程序（{evidence}）。"),
    ("script.hidden_window", H, 70,
     "{name} runs commands in a hidden window ({evidence}).",
     "{name} 会在隐藏窗口中执行命令（{evidence}）。"),
    ("script.obfuscated", M, 40,
     "{name} is deliberately scrambled to hide what it does ({evidence}).",
     "{name} 被故意打乱以隐藏其行为（{evidence}）。"),
    ("script.disables_security", C, 100,
     "{name} tries to switch off security protection ({evidence}).",
     "{name} 试图关闭安全防护（{evidence}）。"),
    # --- reputation ------------------------------------------------------------------------------
    ("reputation.blocklist", C, 100,
     "{name} is a known malicious file ({source}: {label}). Do not open it.",
     "{name} 是已知的恶意文件（{source}：{label}）。不要打开。"),
    ("yara.critical", C, 100,
     "{name} matches the rule {rule_name}: {description}. Do not open it.",
     "{name} 命中规则 {rule_name}：{description}。不要打开。"),
    ("yara.high", H, 70,
     "{name} matches the rule {rule_name}: {description}.",
     "{name} 命中规则 {rule_name}：{description}。"),
    ("yara.medium", M, 40,
     "{name} matches the rule {rule_name}: {description}.",
     "{name} 命中规则 {rule_name}：{description}。"),
    ("yara.low", L, 15,
     "{name} matches the rule {rule_name}: {description}.",
     "{name} 命中规则 {rule_name}：{description}。"),
    ("yara.info", I, 0,
     "{name} matches the rule {rule_name}: {description}.",
     "{name} 命中规则 {rule_name}：{description}。"),
    # --- limits and errors -----------------------------------------------------------------------
    ("limit.depth", M, 40,
     "{name} is nested more than {limit} levels deep; the deeper levels were not checked. Treat it as unsafe.",
     "{name} 嵌套超过 {limit} 层，更深的内容没有检查。请当作不安全文件处理。"),
    ("limit.file_size", M, 40,
     "{name} is larger than {limit} bytes; only the first part was checked. Treat it as unsafe.",
     "{name} 超过 {limit} 字节，只检查了前面一部分。请当作不安全文件处理。"),
    ("limit.total_bytes", M, 40,
     "{name} unpacks to more than {limit} bytes in total; the rest was not checked. Treat it as unsafe.",
     "{name} 解压后总量超过 {limit} 字节，其余部分没有检查。请当作不安全文件处理。"),
    ("limit.members", M, 40,
     "{name} holds more than {limit} files; the rest were not checked. Treat it as unsafe.",
     "{name} 里的文件超过 {limit} 个，其余的没有检查。请当作不安全文件处理。"),
    ("limit.time", M, 40,
     "Checking {name} took longer than {seconds} seconds and was stopped. Treat it as unsafe.",
     "检查 {name} 超过了 {seconds} 秒，已停止。请当作不安全文件处理。"),
    ("file.corrupt", M, 40,
     "{name} is damaged or not a valid {format} file ({reason}), so it could not be fully checked. Do not open it; ask the customer to send it again.",
     "{name} 已损坏或不是有效的 {format} 文件（{reason}），无法完整检查。不要打开，请让顾客重新发送。"),
    ("file.unreadable", M, 40,
     "{name} could not be read ({reason}).",
     "无法读取 {name}（{reason}）。"),
    ("scan.crashed", M, 40,
     "The check of {name} crashed ({reason}); files built to crash scanners are a known trick. Do not open it.",
     "检查 {name} 时扫描程序崩溃（{reason}）；故意让扫描器崩溃是已知的木马手法。不要打开。"),
    ("scan.killed", M, 40,
     "The check of {name} was stopped ({reason}); files built to stall scanners are a known trick. Do not open it.",
     "检查 {name} 被强制停止（{reason}）；故意拖垮扫描器是已知的木马手法。不要打开。"),
    ("scan.analyzer_failed", L, 15,
     "Part of the check of {name} failed ({analyzer}: {error}); the rest was checked.",
     "{name} 的部分检查出错（{analyzer}：{error}），其余部分已检查。"),
)

#: Facts that make a report an ``error`` unless something already makes it malicious.
ERROR_RULES = frozenset({"file.corrupt", "file.unreadable", "scan.crashed", "scan.killed"})
