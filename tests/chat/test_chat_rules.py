"""The conversation rules: weights pinned, each rule's triggers and non-triggers, the scoring."""

from __future__ import annotations

import pytest

from filewall.chat import analyze_chat, risk_for
from filewall.chat.rules import CONTEXT_CAP, HIGH_AT, MEDIUM_AT, RULES, RULES_BY_NAME


def fired(text: str) -> set[str]:
    return {reason.rule for reason in analyze_chat(text).reasons}


# Changing a weight or a threshold is a deliberate act: update this table and docs/chat.md.
PINNED = {
    "pretext": (10, "context"),
    "urgency": (5, "context"),
    "off_platform": (10, "context"),
    "file_to_open": (15, "file"),
    "computer_only": (20, "computer"),
    "archive_password": (20, "password"),
    "share_code": (10, "password"),
    "password_is_filename": (25, "password"),
    "password_hint": (25, "password"),
    "double_click": (20, "execute"),
    "run_program": (30, "execute"),
    "program_file": (30, "execute"),
    "disable_security": (30, "security"),
    "security_reassurance": (20, "security"),
}


def test_weights_and_stages_are_pinned() -> None:
    assert {rule.name: (rule.weight, rule.stage) for rule in RULES} == PINNED
    assert (MEDIUM_AT, HIGH_AT, CONTEXT_CAP) == (35, 65, 15)


def test_no_single_rule_reaches_medium() -> None:
    # Real customers trip single rules; only a combination may raise the alarm.
    assert max(rule.weight for rule in RULES) < MEDIUM_AT


def test_every_rule_speaks_both_languages() -> None:
    for rule in RULES:
        assert rule.message and rule.message_zh, rule.name
        assert any("\u4e00" <= char <= "\u9fff" for char in rule.message_zh), rule.name


# (rule, text that must trigger it) — Chinese, English, traditional, full-width, spaced.
TRIGGERS = [
    ("pretext", "我想定制一批文化衫"),
    ("pretext", "设计稿在这里"),
    ("pretext", "麻烦报个价"),
    ("pretext", "采购清单发你"),
    ("pretext", "我们想訂製一批禮盒"),
    ("pretext", "我们公司想客製化一批保温瓶"),
    ("pretext", "户型图发你了"),
    ("pretext", "I want a custom order of 500 bags"),
    ("pretext", "here is our purchase order"),
    ("pretext", "please send a quotation"),
    ("pretext", "the route map for our tour"),
    ("urgency", "急！今天就要"),
    ("urgency", "麻烦尽快处理"),
    ("urgency", "we need it ASAP"),
    ("urgency", "this is urgent"),
    ("off_platform", "加我微信发你"),
    ("off_platform", "千牛发不了大文件"),
    ("off_platform", "你加我QQ 12345678"),
    ("off_platform", "换个号联系你"),
    ("off_platform", "add me on WhatsApp"),
    ("off_platform", "I can't send it here"),
    ("off_platform", "let's move to Telegram"),
    ("file_to_open", "图纸在压缩包里"),
    ("file_to_open", "解压一下"),
    ("file_to_open", "发你个zip"),
    ("file_to_open", "设计稿在壓縮檔裡"),
    ("file_to_open", "设 计 图 在 压 缩 包 里"),
    ("file_to_open", "the design is in the archive"),
    ("file_to_open", "please unzip it"),
    ("file_to_open", "open the attachment please"),
    ("computer_only", "手机打不开的话用电脑打开"),
    ("computer_only", "手机上解压不了"),
    ("computer_only", "请用电脑下载查看"),
    ("computer_only", "请下载电脑版查看"),
    ("computer_only", "记得电脑上打开"),
    ("computer_only", "手機打不開，請用電腦開啟"),
    ("computer_only", "用 电-脑 打开"),
    ("computer_only", "用ＰＣ打开"),
    ("computer_only", "please open it on your computer"),
    ("computer_only", "it won't open on a phone"),
    ("computer_only", "it's too big for the phone"),
    ("computer_only", "use a desktop computer"),
    ("computer_only", "电脑打开后双击协议即可查看"),
    ("computer_only", "it won't show anything on mobile"),
    ("computer_only", "please do it on your laptop"),
    ("archive_password", "解压密码：8866"),
    ("archive_password", "文件是加密的压缩包"),
    ("archive_password", "压缩包有密码"),
    ("archive_password", "password is 6688"),
    ("archive_password", "it's password protected"),
    ("archive_password", "encrypted zip"),
    ("share_code", "提取码：k7m2"),
    ("share_code", "extraction code: m3n4"),
    ("password_is_filename", "密码就是文件名"),
    ("password_is_filename", "解压密码是压缩包的名字"),
    ("password_is_filename", "文件名就是密码"),
    ("password_is_filename", "密碼就是檔名"),
    ("password_is_filename", "the password is the file name"),
    ("password_is_filename", "password = name of the archive"),
    ("password_hint", "密码是你手机号后四位"),
    ("password_hint", "手机号后四位就是密码"),
    ("password_hint", "解压码是你们店铺电话的后四位"),
    ("password_hint", "密码是你们的店铺名"),
    ("password_hint", "The password is the last 4 digits of your store's phone number"),
    ("password_hint", "the last four digits of your order number are the password"),
    ("double_click", "双击图片就能看"),
    ("double_click", "直接双击"),
    ("double_click", "點兩下就可以"),
    ("double_click", "just double-click the picture"),
    ("double_click", "double click on it"),
    ("double_click", "双击协议即可查看"),
    ("run_program", "解压后运行里面的程序"),
    ("run_program", "需要安装我发的查看器"),
    ("run_program", "这是自解压文件"),
    ("run_program", "需要用专用软件打开"),
    ("run_program", "那是我们的图纸查看器"),
    ("run_program", "點兩下執行檔"),
    ("run_program", "just run the viewer"),
    ("run_program", "install the plugin first"),
    ("run_program", "it's a self-extracting archive"),
    ("run_program", "install the Adobe plugin I attached"),
    ("run_program", "The invoice viewer is attached"),
    ("program_file", "合作方案.exe"),
    ("program_file", "违规名单2024年5月pdf.exe"),
    ("program_file", "说明书.chm"),
    ("program_file", "申请表.msi"),
    ("program_file", "后缀显示是exe"),
    ("program_file", "Run viewer.EXE"),
    ("disable_security", "先把杀毒软件关一下"),
    ("disable_security", "关闭360再打开"),
    ("disable_security", "退出一下360"),
    ("disable_security", "防火墙先关掉"),
    ("disable_security", "报毒不用管"),
    ("disable_security", "弹出提示点允许"),
    ("disable_security", "添加信任就可以"),
    ("disable_security", "弹出窗口问是否允许更改的时候选是"),
    ("disable_security", "防毒軟體先關掉"),
    ("disable_security", "关 闭 杀 毒 软 件"),
    ("disable_security", "turn off your antivirus"),
    ("disable_security", "disable Windows Defender for a minute"),
    ("disable_security", "if the antivirus complains, turn it off for a moment"),
    ("disable_security", 'click "More info" then "Run anyway"'),
    ("disable_security", "click Yes to continue"),
    ("disable_security", "ignore the warning"),
    ("disable_security", "if smartscreen pops up click more info and run"),
    ("disable_security", "just hit run"),
    ("disable_security", "如果防火牆跳出警告請按允許"),
    ("security_reassurance", "360可能会报毒"),
    ("security_reassurance", "那是误报"),
    ("security_reassurance", "不是病毒，放心打开"),
    ("security_reassurance", "杀毒软件会拦截"),
    ("security_reassurance", "it's a false positive"),
    ("security_reassurance", "your antivirus might flag it"),
    ("security_reassurance", "it's not a virus"),
    ("security_reassurance", "windows might show a red warning"),
    ("security_reassurance", "Defender sometimes removes our files by mistake"),
]


@pytest.mark.parametrize(("rule", "text"), TRIGGERS)
def test_rule_triggers(rule: str, text: str) -> None:
    assert rule in fired(text)


def test_every_rule_has_trigger_tests() -> None:
    assert {rule for rule, _ in TRIGGERS} == set(RULES_BY_NAME)


# (rule, text that must NOT trigger it): ordinary words and warnings.
NON_TRIGGERS = [
    ("pretext", "什么时候发货"),
    ("urgency", "不急，慢慢来"),
    ("urgency", "不着急的"),
    ("urgency", "no rush"),
    ("off_platform", "请勿添加微信"),
    ("off_platform", "发票发到邮箱就行"),
    ("file_to_open", "这个被子是真空压缩包装的吗"),
    ("file_to_open", "Zip code 10001"),
    ("file_to_open", "这个拉链 zipper 质量怎么样"),
    ("file_to_open", "请不要下载陌生人发来的压缩包"),
    ("computer_only", "电脑上下载会快一点"),
    ("computer_only", "我用电脑登录千牛发给你"),
    ("computer_only", "这款笔记本电脑多少钱"),
    ("archive_password", "我忘记登录密码了"),
    ("archive_password", "初始密码是123456"),
    ("share_code", "验证码是482913"),
    ("password_hint", "请提供手机号后四位核对身份"),
    ("double_click", "主播说宝宝们双击666"),
    ("double_click", "双击屏幕点赞"),
    ("computer_only", "用数据线传到电脑上，双击安装就可以"),  # two clauses, not one phrase
    ("run_program", "您可以在我们的小程序下单"),
    ("run_program", "这是微软官方的安装程序"),
    ("run_program", "do not run the viewer"),
    ("program_file", "网址是 www.example.com"),
    ("program_file", "请不要打开陌生人发的exe文件"),
    ("disable_security", "请不要关闭杀毒软件"),
    ("disable_security", "千万别退出360"),
    ("disable_security", "don't turn off your antivirus"),
    ("disable_security", "never disable the firewall"),
    ("security_reassurance", "这个玩具是无毒的吗"),
    ("security_reassurance", "Is this teether completely safe for babies?"),
    ("security_reassurance", "这款防毒面具是正品吗"),
]


@pytest.mark.parametrize(("rule", "text"), NON_TRIGGERS)
def test_rule_does_not_trigger(rule: str, text: str) -> None:
    assert rule not in fired(text)


def test_risk_thresholds() -> None:
    assert [risk_for(score) for score in (0, 34, 35, 64, 65, 100)] == [
        "low", "low", "medium", "medium", "high", "high",
    ]  # fmt: skip


def test_pretext_alone_stays_low() -> None:
    result = analyze_chat("你好，我想定制一批T恤，要开发票，报价单发我一下，急！加个微信吧")
    assert result.risk == "low"
    assert result.score == CONTEXT_CAP  # pretext + urgency + off_platform, capped


def test_customer_with_zip_of_photos_stays_low() -> None:
    assert analyze_chat("我想定制照片书，照片打包成压缩包发你了，你解压看看").risk == "low"


def test_same_stage_counts_once() -> None:
    # "run the exe" and "double-click it" are one step of the script, not two.
    result = analyze_chat("解压后双击运行里面的程序.exe")
    assert {"run_program", "program_file", "double_click", "file_to_open"} <= fired(
        "解压后双击运行里面的程序.exe"
    )
    assert result.score == 30 + 15


def test_the_classic_script_is_high() -> None:
    text = "亲，我们要定制一批，需求和图纸在压缩包里，手机打不开的话用电脑解压看下，密码8888"
    result = analyze_chat(text)
    assert result.risk == "high"
    assert result.passwords == ["8888"]
    assert {"pretext", "file_to_open", "computer_only", "archive_password"} <= fired(text)


def test_english_script_from_the_issue_is_high() -> None:
    text = (
        "It's a custom order, the design is in the archive. It's too big for the phone, open it on the computer. "
        "The password is 6688. If the antivirus complains, turn it off for a moment. Just double-click the picture."
    )
    result = analyze_chat(text)
    assert result.risk == "high"
    assert result.passwords == ["6688"]


def test_a_pretext_and_an_archive_alone_are_left_to_the_file() -> None:
    # The documented limit: "定制需求在压缩包，解压看下报价" is word for word what a real
    # customer may write. The words stay low; the scan of the archive decides.
    assert analyze_chat("定制需求在压缩包里，解压看下报价").risk == "low"


def test_ambiguous_zip_on_the_computer_is_medium() -> None:
    # "zip + open it on the PC" without anything else: scan the file first (medium), not an alarm.
    assert analyze_chat("I zipped the photos, you'll need to open them on a computer").risk == "medium"


def test_score_is_capped_at_100() -> None:
    text = "定制需求在压缩包里，解压密码8866，手机打不开用电脑打开，关闭杀毒软件，双击运行查看器.exe，急，加我微信"
    assert analyze_chat(text).score == 100
