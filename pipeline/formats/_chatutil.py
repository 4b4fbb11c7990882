"""Helpers shared by the chat and transcript formats: text cleaning, HTML to
text, one way to build a message ``Event``, and small sniffing/time utilities."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from typing import Any

from ..jsonwalk import JSONRecordError, load
from ..models import Event, EventKind
from ..timeparse import TimeError, parse_ts
from . import ParseContext

MAX_TEXT = 2000
NEEDS_DATE = "time-only transcript needs --date"


class NeedsDate(Exception):
    """A time-only stamp and no day to put it on (no --date, nothing written)."""


_WS = re.compile(r"\s+")
# "alice joined the channel." and friends: membership chatter is not evidence.
_MEMBERSHIP = re.compile(
    r"^\S+ (?:has )?(?:joined|left) the (?:channel|team|group|chat)\.?$"
    r"|^\S+ (?:was )?(?:added to|removed from) the (?:channel|team)(?: by \S+)?\.?$",
    re.IGNORECASE,
)
_NAME_DATE = re.compile(r"(?<!\d)(20\d{2})-?(0[1-9]|1[0-2])-?(0[1-9]|[12]\d|3[01])(?!\d)")


def as_list(value: Any) -> list[Any]:
    """A JSON field that should be a list: anything else (a number, a string,
    an object from a hand-edited export) counts as empty, never as iterable."""
    return value if isinstance(value, list) else []


def clean_text(text: str | None, limit: int = MAX_TEXT) -> str:
    """One line, whitespace collapsed, cut at ``limit`` characters."""
    if not text:
        return ""
    one = _WS.sub(" ", text).strip()
    if len(one) > limit:
        one = one[: limit - 1].rstrip() + "…"
    return one


def is_membership_noise(text: str) -> bool:
    return bool(_MEMBERSHIP.match(text.strip()))


class _HTMLText(HTMLParser):
    _BLOCK = frozenset({"br", "p", "div", "li", "tr", "blockquote", "pre", "h1", "h2", "h3"})
    _DROP = frozenset({"script", "style", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._dropping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._DROP:
            self._dropping += 1
        elif tag in self._BLOCK:
            self.parts.append(" ")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            self.parts.append(f" [{alt or 'image'}] ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._DROP:
            self._dropping = max(0, self._dropping - 1)
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._dropping:
            self.parts.append(data)


def html_to_text(html: str | None) -> str:
    """Visible text of an HTML fragment (Teams bodies), one clean line."""
    if not html:
        return ""
    p = _HTMLText()
    p.feed(html)
    p.close()
    return clean_text("".join(p.parts))


def message(
    ctx: ParseContext,
    *,
    ts: datetime,
    actor: str | None,
    text: str,
    source: str,
    ref: str,
    attrs: dict[str, str] | None = None,
    kind: EventKind = "message",
    ts_inferred: bool = False,
) -> Event | None:
    """The one place chat formats build events; empty messages are dropped."""
    body = clean_text(text)
    if not body:
        return None
    return Event(
        ts=ts,
        ts_inferred=ts_inferred,
        source=source,
        kind=kind,
        actor=clean_text(actor, 120) or None,
        text=body,
        ref=ref,
        attrs={k: v for k, v in (attrs or {}).items() if v},
    )


def read_ts(ctx: ParseContext, value: Any, line: int | None, what: str = "time") -> datetime | None:
    """A timestamp or None after recording the skip (records without time are useless)."""
    try:
        ts, _ = parse_ts(value, tz=ctx.tz)
    except TimeError as e:
        ctx.skip(line, f"bad {what}: {e}")
        return None
    return ts


def load_json(text: str, ctx: ParseContext) -> Any | None:
    try:
        return load(text)
    except JSONRecordError as e:
        ctx.skip(e.line, str(e))
        return None


def date_from_name(name: str) -> date | None:
    """``#ops_20260208.log`` / ``2026-02-08.txt``: the day a time-only log covers."""
    m = _NAME_DATE.search(name.rsplit("/", 1)[-1])
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def line_score(lines: Iterable[str], patterns: Iterable[re.Pattern[str]], base: int) -> int:
    """Sniff score from how many non-blank lines match: needs 3+ and a fair share.

    Transcripts score 40..70, above the generic timestamped-log fallback (~10),
    but only when the chat shapes dominate the head of the file.
    """
    pats = list(patterns)
    total = hits = 0
    for line in lines:
        if not line.strip():
            continue
        total += 1
        if any(p.match(line) for p in pats):
            hits += 1
        if total >= 200:
            break
    if hits < 3 or hits * 3 < total:
        return 0
    return min(base + 20, base + int(20 * hits / total))


def utc_or_tz(dt: datetime, ctx: ParseContext) -> tuple[datetime, bool]:
    """An aware datetime, applying ``ctx.tz`` (and flagging it) when naive."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=ctx.tz).astimezone(UTC), True
    return dt.astimezone(UTC), False
