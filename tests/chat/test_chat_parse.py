"""Chat export parsing: plain lines, ``name: message``, timestamps, export headers."""

from __future__ import annotations

from filewall.chat.parse import parse_chat


def _check_offsets(text: str) -> None:
    for message in parse_chat(text):
        assert text[message.start : message.start + len(message.text)] == message.text


def test_plain_lines() -> None:
    messages = parse_chat("你好\n\n在吗？\n  我想定制  \n")
    assert [(m.speaker, m.text, m.line) for m in messages] == [
        (None, "你好", 1),
        (None, "在吗？", 3),
        (None, "我想定制", 4),
    ]


def test_name_colon_lines() -> None:
    text = "买家：你好\n客服：在的\n买家: 发你了"
    assert [(m.speaker, m.text) for m in parse_chat(text)] == [
        ("买家", "你好"),
        ("客服", "在的"),
        ("买家", "发你了"),
    ]
    _check_offsets(text)


def test_a_label_is_not_a_speaker() -> None:
    text = "密码：8866\n密码：6688\n订单号：123\n订单号：456"
    assert [(m.speaker, m.text) for m in parse_chat(text)] == [(None, line) for line in text.splitlines()]


def test_a_single_name_colon_line_is_just_a_message() -> None:
    assert [(m.speaker, m.text) for m in parse_chat("注意：明天发货")] == [(None, "注意：明天发货")]


def test_links_are_not_speakers() -> None:
    text = "Alice: hi\nAlice: see\nhttps://example.com/a"
    assert parse_chat(text)[-1].text == "https://example.com/a"


def test_bracketed_time_prefix() -> None:
    text = (
        "[10:22] Jenny: hi there\n[10:23] Shop: hello\n(10:24:01) 没问题\n【2024/5/1 10:25】客服小美：好的亲"
    )
    got = [(m.speaker, m.text) for m in parse_chat(text)]
    assert got == [("Jenny", "hi there"), ("Shop", "hello"), ("Shop", "没问题"), ("客服小美", "好的亲")]
    _check_offsets(text)


def test_full_timestamp_prefix_with_name() -> None:
    text = "[2024-06-02 08:41] Mark (Procurement): Good morning\n2024-06-02 08:42:10 Store Support: Hello"
    got = [(m.speaker, m.text) for m in parse_chat(text)]
    assert got == [("Mark (Procurement)", "Good morning"), ("Store Support", "Hello")]


def test_wechat_export_headers() -> None:
    text = (
        "2024-03-08 10:21:05 刘总\n你好，我想定制\n参考样式发你了\n"
        "2024-03-08 10:23:12 家纺旗舰店\n好的\n"
        "—— 2024-03-09 ——\n"
        "2024-04-15 16:40:02 张先生(2874651032)\n解压密码：\n"
    )
    got = [(m.speaker, m.text) for m in parse_chat(text)]
    assert got == [
        ("刘总", "你好，我想定制"),
        ("刘总", "参考样式发你了"),
        ("家纺旗舰店", "好的"),
        ("张先生(2874651032)", "解压密码："),
    ]
    _check_offsets(text)


def test_name_then_timestamp_header() -> None:
    text = "张三 2024-05-01 10:25:00\n好的\n李四 2024-05-01 10:26:00\n收到"
    assert [(m.speaker, m.text) for m in parse_chat(text)] == [("张三", "好的"), ("李四", "收到")]


def test_a_time_in_a_plain_message_is_not_a_header() -> None:
    text = "10:30 到店取货\n10:31 好的\n密码：8866"
    assert [m.text for m in parse_chat(text)] == ["到店取货", "好的", "密码：8866"]


def test_windows_line_endings() -> None:
    text = "买家: 你好\r\n客服: 在的\r\n买家: 好"
    assert [m.text for m in parse_chat(text)] == ["你好", "在的", "好"]
    _check_offsets(text)
