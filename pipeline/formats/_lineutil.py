"""Shared machinery for line-oriented log formats.

Every text log parser is a ``head`` function (is this line the start of a
record? what does it say?) plus a builder; ``records`` owns the rest: CRLF,
blank lines, continuation lines (stack traces, multi-line FastCGI messages),
leading garbage, and capping huge lines so one bad input cannot blow up time
or memory.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import ClassVar, Generic, NamedTuple, TypeVar

from ..models import Event
from ..timeparse import TimeError, parse_ts
from . import Format, ParseContext, Source

MAX_TEXT = 2000  # event text cap: one readable line, not a dump
MAX_LINE = 64 * 1024  # lines are cut here before matching, so regexes stay bounded
MAX_MORE = 200  # continuation lines kept per record; the rest are only counted
MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}

H = TypeVar("H")


class LineError(ValueError):
    """A line that looks like a record of the format but cannot be read."""


def iter_lines(text: str) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` without the ``\\n``/``\\r\\n``; huge lines are cut.

    Uses ``find`` rather than ``split`` so a 200 MB single line is never copied whole.
    """
    pos, no, n = (1 if text.startswith("\ufeff") else 0), 0, len(text)
    while pos < n:
        no += 1
        end = text.find("\n", pos)
        if end < 0:
            end = n
        line = text[pos : min(end, pos + MAX_LINE)]
        if line.endswith("\r"):
            line = line[:-1]
        yield no, line
        pos = end + 1


@dataclass
class Record(Generic[H]):
    line: int
    head: H
    more: list[str] = field(default_factory=list)
    dropped: int = 0  # continuation lines beyond MAX_MORE

    def add(self, line: str) -> None:
        if len(self.more) < MAX_MORE:
            self.more.append(line)
        else:
            self.dropped += 1


def records(
    text: str,
    ctx: ParseContext,
    head: Callable[[str], H | None],
    *,
    what: str,
    continuation: bool = False,
) -> Iterator[Record[H]]:
    """Group lines into records.

    ``head`` returns the parsed start of a record, ``None`` for other lines, or
    raises ``LineError`` for a record it cannot read (skipped with the reason;
    its continuation lines go with it). With ``continuation`` other lines extend
    the previous record, and lines before the first record are skipped as
    leading garbage; without it every other line is skipped.
    """
    current: Record[H] | None = None
    in_bad = False
    for no, line in iter_lines(text):
        if not line.strip():
            continue
        try:
            parsed = head(line)
        except (LineError, TimeError) as e:
            if current is not None:
                yield current
                current = None
            ctx.skip(no, str(e))
            in_bad = True
            continue
        if parsed is not None:
            if current is not None:
                yield current
            current, in_bad = Record(no, parsed), False
        elif continuation and current is not None:
            current.add(line)
        elif continuation and in_bad:
            continue
        elif continuation:
            ctx.skip(no, f"no {what} record starts before this line")
        else:
            ctx.skip(no, f"not a {what} line")
    if current is not None:
        yield current


def one_line(first: str, more: Sequence[str] = (), dropped: int = 0) -> str:
    """A record's text as one readable line: continuation lines joined with `` | ``."""
    parts = [_clean(first)]
    size = len(parts[0])
    for extra in more:
        if size > MAX_TEXT:
            break
        piece = _clean(extra)
        if piece:
            parts.append(piece)
            size += len(piece) + 3
    text = " | ".join(p for p in parts if p)
    if dropped:
        text += f" | (+{dropped} more lines)"
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


_CTRL = re.compile(r"[\x00-\x1f\x7f]+")


def _clean(s: str) -> str:
    return _CTRL.sub(" ", s[: MAX_TEXT + 1]).strip()


# --- sniffing -------------------------------------------------------------------


def head_lines(head: str, limit: int = 30) -> list[str]:
    """The first non-empty lines of a sniff head; a cut-off last line is dropped."""
    lines = head.lstrip("\ufeff").split("\n", limit + 1)[: limit + 1]
    if len(lines) > 1 and not head.endswith("\n"):
        lines = lines[:-1]  # may be truncated by the 64 KiB head
    out = [ln.rstrip("\r") for ln in lines[:limit]]
    return [ln[:MAX_LINE] for ln in out if ln.strip()]


def line_score(
    head: str,
    match: Callable[[str], object],
    score: int,
    *,
    min_ratio: float = 0.6,
    first: bool = False,
) -> int:
    """``score`` when several of the first lines match (all of them if only one)."""
    lines = head_lines(head)
    if not lines or (first and not match(lines[0])):
        return 0
    hits = sum(1 for ln in lines if match(ln))
    return score if hits >= min(2, len(lines)) and hits >= min_ratio * len(lines) else 0


# --- fields ---------------------------------------------------------------------

_LEVELS = {
    "warn": "warning",
    "err": "error",
    "eror": "error",
    "crit": "critical",
    "emerg": "emergency",
    "information": "info",
    "informational": "info",
    "dbg": "debug",
    "trc": "trace",
    "w": "warning",
    "e": "error",
    "i": "info",
    "d": "debug",
    "f": "fatal",
}
# syslog PRI severity (RFC 5424 table 2)
PRI_SEVERITY = ("emergency", "alert", "critical", "error", "warning", "notice", "info", "debug")


def level(raw: object) -> str | None:
    """Normalised lowercase severity; synonyms folded (WARN -> warning)."""
    if raw is None:
        return None
    s = str(raw).strip().strip("[]<>:").lower()
    if not s or s == "-":
        return None
    return _LEVELS.get(s, s)


def pri_severity(pri: str | None) -> str | None:
    if pri is None:
        return None
    value = int(pri)
    return PRI_SEVERITY[value & 7] if value <= 191 else None


def iso(text: str, tz: tzinfo) -> tuple[datetime, bool]:
    """Fast ISO-8601 (``T`` or space, ``,`` or ``.`` fraction, ``Z``); falls back to parse_ts."""
    try:
        dt = datetime.fromisoformat(text.replace(",", ".", 1))
    except ValueError:
        return parse_ts(text, tz=tz)
    if dt.tzinfo is None:
        return dt.replace(tzinfo=tz).astimezone(UTC), True
    return dt.astimezone(UTC), False


def local(dt: datetime, tz: tzinfo) -> datetime:
    """A naive wall-clock time read in ``tz``, as UTC."""
    if tz is UTC:
        return dt.replace(tzinfo=UTC)  # the common case, without a zone conversion
    return dt.replace(tzinfo=tz).astimezone(UTC)


_KV = re.compile(r'\b(level|lvl|msg|service|app|host|component)=("(?:[^"\\]|\\.)*"|[^\s"]+)')


def logfmt(line: str) -> dict[str, str]:
    """The few logfmt keys we use (``level=error msg="..." service=api``)."""
    if "=" not in line:
        return {}
    return {k: v[1:-1].replace('\\"', '"') if v[:1] == '"' else v for k, v in _KV.findall(line)}


def attrs(**kv: object) -> dict[str, str]:
    """Attrs without empty/nil values (``-`` is the nil of most log formats)."""
    return {k: str(v) for k, v in kv.items() if v not in (None, "", "-")}


# --- the base of every regex line format ------------------------------------------


class Head(NamedTuple):
    m: re.Match[str]
    ts: datetime
    inferred: bool


class LineFormat(Format):
    """A format whose records start with a line matching ``pattern``.

    Subclasses give ``when`` (the record's time) and ``build`` (the event).
    """

    kind = "log"
    pattern: ClassVar[re.Pattern[str]]
    score: ClassVar[int] = 80
    continuation: ClassVar[bool] = False
    min_ratio: ClassVar[float] = 0.6

    def matches(self, line: str) -> bool:
        return self.pattern.match(line) is not None

    def sniff(self, head: str, name: str) -> int:
        return line_score(head, self.matches, self.score, min_ratio=self.min_ratio)

    def parse(self, src: Source, ctx: ParseContext) -> Iterable[Event]:
        read = self.reader(ctx)
        for rec in records(src.text, ctx, read, what=self.name, continuation=self.continuation):
            yield self.build(rec, ctx)

    def reader(self, ctx: ParseContext) -> Callable[[str], Head | None]:
        """A per-file line reader (subclasses may keep state, e.g. the syslog year)."""

        def read(line: str) -> Head | None:
            m = self.pattern.match(line)
            if m is None:
                return None
            try:
                ts, inferred = self.when(m, ctx)
            except LineError:
                raise
            except ValueError as e:  # out-of-range fields, TimeError
                raise LineError(f"bad timestamp: {e}") from None
            return Head(m, ts, inferred)

        return read

    def when(self, m: re.Match[str], ctx: ParseContext) -> tuple[datetime, bool]:
        raise NotImplementedError

    def build(self, rec: Record[Head], ctx: ParseContext) -> Event:
        raise NotImplementedError

    def event(
        self,
        rec: Record[Head],
        ctx: ParseContext,
        message: str,
        *,
        severity: str | None = None,
        actor: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> Event:
        return Event(
            ts=rec.head.ts,
            ts_inferred=rec.head.inferred,
            source=self.name,
            kind="log",
            actor=actor or None,
            text=one_line(message, rec.more, rec.dropped),
            severity=severity,
            ref=ctx.ref(rec.line),
            attrs=extra or {},
        )
