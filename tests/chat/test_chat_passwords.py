"""Password extraction: one test per pattern, and the ordinary numbers it must leave alone."""

from __future__ import annotations

import pytest

from filewall.chat import analyze_chat, extract_passwords

# (text, expected passwords) — one row per pattern.
EXTRACTED = [
    # Chinese keywords
    ("解压密码 8866", ["8866"]),
    ("解压密码：8866", ["8866"]),
    ("密码：qwe123", ["qwe123"]),
    ("密码是8866", ["8866"]),
    ("密码8866，记得电脑打开", ["8866"]),
    ("压缩包密码：lp5566", ["lp5566"]),
    ("压缩包的密码是 ab-12_cd", ["ab-12_cd"]),
    ("文件密码：ls2024", ["ls2024"]),
    ("解压码：fp2024", ["fp2024"]),
    ("口令：tiger88", ["tiger88"]),
    ("提取码 a1b2", ["a1b2"]),
    ("链接：https://pan.example.invalid/s/1AbC 提取码：k7m2", ["k7m2"]),
    ("访问码：x9y8", ["x9y8"]),
    ("密码就是 2024abc 哦", ["2024abc"]),
    ("密码统一是 666888", ["666888"]),
    ("密码我发你：hello2024", ["hello2024"]),
    ("密码如下：abc123", ["abc123"]),
    # English keywords
    ("pwd: 2024", ["2024"]),
    ("pwd = cat778", ["cat778"]),
    ("password is 6688", ["6688"]),
    ("The password is 6688.", ["6688"]),
    ('the password: "abc123"', ["abc123"]),
    ("Password: route88", ["route88"]),
    ("passcode 4455", ["4455"]),
    ("menu text in the zip, pass: menu600", ["menu600"]),
    ("password is Conf#2024", ["Conf#2024"]),
    ("password for the zip is 7788", ["7788"]),
    ("Password for the first zip: req2024", ["req2024"]),
    ("extraction code: m3n4", ["m3n4"]),
    ("it's password protected, password is 'po0602'", ["po0602"]),
    # surrounding punctuation and quotes are not part of the password
    ("密码：「qwe123」。", ["qwe123"]),
    ("密码：“abc123”，别外传", ["abc123"]),
    ("password (abc123)!", ["abc123"]),
    # normalisation: full-width, traditional, spaced-out keyword and digits
    ("解压密码：８８６６", ["8866"]),
    ("ｐａｓｓｗｏｒｄ：ｑｗｅ１２３", ["qwe123"]),
    ("解壓密碼：hk2024", ["hk2024"]),
    ("解壓縮密碼是 tw5566", ["tw5566"]),
    ("解 压 密 码 ： qwe123", ["qwe123"]),
    ("解-压-密-码：qwe123", ["qwe123"]),
    ("解压密码：6 6 8 8", ["6688"]),
    # case is kept: passwords are case-sensitive
    ("密码：AbC123", ["AbC123"]),
    # the value on the next line / next message
    ("解压密码：\n8866", ["8866"]),
    ("密码:\n  qwe123  \n谢谢", ["qwe123"]),
    ("[10:22] 客户: 解压密码：\n[10:22] 客户: 8866", ["8866"]),
    ("附件密码见下一条\ngy8899", ["gy8899"]),
    ("解压码发你：\nzl2024", ["zl2024"]),
    ("the password is in my next message\nnext1234", ["next1234"]),
    ("密码在我上一条消息里：yp1234", ["yp1234"]),
    ("2024-04-15 16:43:58 张先生\n解压密码：\n2024-04-15 16:44:01 张先生\njp2024", ["jp2024"]),
    # several passwords, in order, deduplicated
    ("密码8866或者6688", ["8866", "6688"]),
    ("password is 1111 or 2222", ["1111", "2222"]),
    ("第一个压缩包密码：1111\n第二个压缩包密码：2222", ["1111", "2222"]),
    ("Password for the first zip: req2024\nPassword for the second zip: list2024", ["req2024", "list2024"]),
    ("密码：8866\n再说一次，密码：8866", ["8866"]),
    # "the password is the file name" with the name quoted
    ("密码就是文件名“定制需求0516.zip”", ["定制需求0516"]),
    ("密码就是文件名「报价单A」", ["报价单A"]),
    ('sending "stickers_0611.zip"\nThe password is the file name', ["stickers_0611"]),
    ("户型图2024.rar\n密码就是文件名", ["户型图2024"]),
]

# Texts where no password is stated: ordinary numbers and other secrets.
NOT_EXTRACTED = [
    "订单号 123456789012",
    "订单号：3021456789012345，请问什么时候发货",
    "税号 91310000MA1FL5XX3Q",
    "Tax ID 91440300MA5FXXXX1K, VAT ID: DE123456789",
    "电话：13800138000",
    "Phone: +1 555 0134 2278",
    "尺寸 50x80cm，还有1920*1080的",
    "价格 ¥128.00，300个，总价5000元",
    "2024-05-01 10:22:33 发货",
    "快递单号 SF1234567890123",
    "验证码是482913",
    "优惠码 SAVE2024",
    "Zip code 10001",
    "密码就是文件名",
    "密码是你手机号后四位",
    "the password is the last four digits of your phone",
    "the password is the file name",
    "我忘记登录密码了，账号密码一直提示错误",
    "支付密码是多少来着",
    "wifi密码是 12345678",
    "默认wifi密码在背面，管理员密码默认是admin",
    "初始密码是123456",
    "￥AbC1234dEf￥ 复制这条淘口令打开手机淘宝",
    "my login password is wrong",
    "password incorrect",
    "密码错误怎么办",
    "I forgot my password: 1234",
    "I'll pass on that, 2 pieces please",
    "取件码是 8-3-2047",
]


@pytest.mark.parametrize(("text", "expected"), EXTRACTED)
def test_password_is_extracted(text: str, expected: list[str]) -> None:
    assert extract_passwords(text) == expected


@pytest.mark.parametrize("text", NOT_EXTRACTED)
def test_no_password_from_ordinary_text(text: str) -> None:
    assert extract_passwords(text) == []


def test_analyze_chat_reports_the_same_passwords() -> None:
    text = "亲，图在压缩包里\n解压密码：８８６６\n不行的话试试 password is 6688"
    assert analyze_chat(text).passwords == extract_passwords(text) == ["8866", "6688"]


def test_password_rule_quotes_the_statement() -> None:
    result = analyze_chat("款式图打包了，解压密码：qwe123，电脑上打开")
    reason = next(r for r in result.reasons if r.rule == "archive_password")
    assert reason.quote == "解压密码：qwe123"


def test_filename_password_is_a_rule_hit_without_a_value() -> None:
    result = analyze_chat("密码就是文件名")
    assert result.passwords == []
    assert {r.rule for r in result.reasons} == {"password_is_filename"}


def test_last_digits_hint_is_a_rule_hit_without_a_value() -> None:
    result = analyze_chat("解压密码是你们店铺电话的后四位")
    assert result.passwords == []
    assert "password_hint" in {r.rule for r in result.reasons}
