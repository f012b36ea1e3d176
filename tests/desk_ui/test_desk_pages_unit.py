"""Pieces of the pages that need no browser: redirects stay local, names are escaped."""

from __future__ import annotations

import pytest

from filewall.service.pages import CSP, _filesize, _hidden_marks, _safe_next


@pytest.mark.parametrize(
    "value, expected",
    [
        ("/history?verdict=malicious", "/history?verdict=malicious"),
        ("/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_language_switch_only_redirects_to_this_site(value, expected):
    assert _safe_next(value) == expected


def test_names_are_escaped_and_only_real_marks_highlighted():
    shown = str(_hidden_marks('<img src=x onerror="alert(1)">[RLO]gpj.exe [ABC]'))
    assert "<img" not in shown and "&lt;img" in shown
    assert '<span class="hidden-mark">[RLO]</span>' in shown
    assert "[ABC]" in shown and '<span class="hidden-mark">[ABC]' not in shown
    assert '<span class="hidden-mark">[U+200B]</span>' in str(_hidden_marks("a[U+200B]b"))


def test_csp_forbids_inline_script_and_outside_sources():
    assert "default-src 'self'" in CSP and "script-src 'self'" in CSP
    assert "unsafe-inline" not in CSP and "http" not in CSP
    assert "frame-ancestors 'none'" in CSP and "object-src 'none'" in CSP


def test_filesize():
    assert _filesize(512) == "512 B"
    assert _filesize(2048) == "2.0 KB"
    assert _filesize(None) == ""
