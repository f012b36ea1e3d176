"""Which passwords to try on an encrypted archive, in which order, and which one worked.

Shared by every extractor that meets encryption (zip here; 7z, RAR ... elsewhere), so that
all of them try the same passwords in the same order and word the result the same way.

The list, de-duplicated and capped at ``ctx.limits.max_passwords``:

1. passwords that already opened something earlier in this scan (a lure archive nests
   a second one with the same password; trying the winner first saves the rest),
2. ``ctx.passwords``: the ones given with the scan or found in the chat ("解压密码：8888"),
3. :data:`COMMON_PASSWORDS`: a short built-in list of what senders of malware and
   researchers commonly use. Kept short on purpose: every AES try costs a key derivation.

API::

    from ._passwords import candidates, remember, try_passwords, source_params, zip_encodings

    for candidate in candidates(ctx):          # Candidate(password, source)
        if opens(candidate.password):
            remember(ctx, candidate)            # tried first from now on
            ...

    found = try_passwords(ctx, attempt)        # attempt(password) -> result or None (may raise)
    if found:
        result, candidate = found               # the winner is already remembered
        params = source_params(candidate)       # {"password_source": ..., "password_source_zh": ...}

    remembered(ctx)                             # only the passwords that worked so far: what
                                                # to try once guessing has proved hopeless

``try_passwords`` checks the scan's time limit before each try. Guessing costs real
time with AES and 7z (a key derivation per try), so an extractor facing many encrypted
members should stop offering the whole list after a few failures (zip does after 3).

``source_params`` gives the wording for the ``archive.encrypted`` rule's
``{password_source}``. Members that were opened should also carry
``Child.info["encrypted"] = True`` and ``Child.info["password_source"] = params[...]``
(see :mod:`filewall.analyze.archive_traps`).

ZIP stores passwords as bytes in whatever code page the packing tool used: Chinese
Windows tools (WinRAR, 360压缩, Explorer) use GBK, newer ones UTF-8. :func:`zip_encodings`
gives both byte forms of a password, most likely first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from ..engine import ScanContext

T = TypeVar("T")

#: Common archive passwords: the malware-sample convention, then the numbers people in
#: China pick (8888 and 666666 are "lucky"), then the generic favourites.
COMMON_PASSWORDS: tuple[str, ...] = (
    "infected",
    "1234",
    "123456",
    "8888",
    "888888",
    "666666",
    "12345",
    "111111",
    "000000",
    "123",
    "password",
)

#: Where a password came from, for the report.
GIVEN, COMMON = "given", "common"

_STATE_KEY = "passwords.worked"


@dataclass(frozen=True)
class Candidate:
    """One password to try and where it came from (:data:`GIVEN` or :data:`COMMON`)."""

    password: str
    source: str


def candidates(ctx: ScanContext) -> list[Candidate]:
    """Passwords to try, most likely first, de-duplicated, at most ``max_passwords``."""
    ordered: list[Candidate] = list(ctx.state.get(_STATE_KEY, ()))
    ordered += [Candidate(password, GIVEN) for password in ctx.passwords]
    ordered += [Candidate(password, COMMON) for password in COMMON_PASSWORDS]
    seen: set[str] = set()
    unique = []
    for candidate in ordered:
        if candidate.password not in seen:
            seen.add(candidate.password)
            unique.append(candidate)
    return unique[: max(1, ctx.limits.max_passwords)]


def remembered(ctx: ScanContext) -> list[Candidate]:
    """Only the passwords that already opened something in this scan."""
    return list(ctx.state.get(_STATE_KEY, ()))


def remember(ctx: ScanContext, candidate: Candidate) -> None:
    """Record that ``candidate`` opened something: it is tried first from now on."""
    worked: list[Candidate] = ctx.state.setdefault(_STATE_KEY, [])
    if candidate in worked:
        worked.remove(candidate)
    worked.insert(0, candidate)


def try_passwords(
    ctx: ScanContext,
    attempt: Callable[[str], T | None],
    pool: list[Candidate] | None = None,
) -> tuple[T, Candidate] | None:
    """Call ``attempt(password)`` for each candidate until one returns something.

    A candidate fails when ``attempt`` returns None or raises (wrong-password errors
    differ per library). The winner is remembered. ``pool`` defaults to
    :func:`candidates`.
    """
    for candidate in candidates(ctx) if pool is None else pool:
        ctx.check_time()
        try:
            result = attempt(candidate.password)
        except Exception:  # each library signals a wrong password its own way
            continue
        if result is not None:
            remember(ctx, candidate)
            return result, candidate
    return None


def source_params(candidate: Candidate) -> dict[str, str]:
    """Wording of where the password came from, for ``archive.encrypted``."""
    shown = f"“{candidate.password}”"
    if candidate.source == GIVEN:
        return {
            "password_source": f"the password given with the file or found in the chat ({shown})",
            "password_source_zh": f"随文件提供或聊天中找到的密码（{shown}）",
        }
    return {
        "password_source": f"a common archive password ({shown})",
        "password_source_zh": f"常见的压缩包密码（{shown}）",
    }


def zip_encodings(password: str) -> Iterator[bytes]:
    """Byte forms of ``password`` as ZIP tools store them: UTF-8, then GBK if different."""
    utf8 = password.encode("utf-8")
    yield utf8
    try:
        gbk = password.encode("gbk")
    except UnicodeEncodeError:
        return
    if gbk != utf8:
        yield gbk
