"""Incident notes documents (``--as notes``): Markdown or plain text kept
during an incident, with times written inline (``Update 18:14 UTC: ...``,
``at 23:27 PDT``, ``2017-01-31 23:00``, ``- 00:30 - restored backup``).

Each timestamped paragraph or bullet is one event of kind ``note``. A zone
written next to the time (or once for the document: "all times UTC") wins
over ``--tz``; zone abbreviations are read with dateparser's table. Untimed
paragraphs take the previous time, marked inferred. Times without a date take
the last written date (a ``## 2017-01-31`` heading or a dated time), else
``--date``; a clock that jumps back by more than a few hours is the next day.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from functools import cache
from zoneinfo import ZoneInfo

from ..models import Event
from ..timeparse import ClockSequence, TimeError, combine, parse_clock
from . import Format, ParseContext, Source, register
from ._chatutil import NeedsDate, date_from_name, message
from ._pasteshapes import DATE, day_line, read_date
from .paste import ROLLOVER, paste_sniff

NEEDS_DATE_NOTES = "notes with times but no date need --date"
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")
_HEADING = re.compile(r"^\s*#{1,6}\s+")
_CLOCK = r"\d{1,2}:\d{2}(?::\d{2})?(?:\s?[AaPp]\.?[Mm]\.?)?"
_ZONE = r"[A-Z]{1,5}(?:[+-]\d{1,2}(?::?\d{2})?)?|[+-]\d{2}:?\d{2}"
_WHEN = re.compile(
    rf"(?<![\w:./-])(?:(?P<date>\d{{4}}[-/]\d{{2}}[-/]\d{{2}}|{DATE})(?:,?\s+(?:at\s+)?|T))?"
    rf"(?P<clock>{_CLOCK})(?![\w:])(?:-ish)?(?:\s*\(?(?P<zone>{_ZONE})\)?(?![\w]))?"
)
# A time leads a note when only a few words come before it ("Update 18:14 UTC:"); a
# line starts a new note when at most one word does (not "their machine at 10:42").
_LEAD = re.compile(r"^[*_`~\[(]*(?:[A-Za-z]+\s+){0,3}[*_`(~]*$")
_LEAD1 = re.compile(r"^[*_`~\[(]*(?:[A-Za-z]+\s+)?[*_`(~]*$")
_AT = re.compile(r"\b(?:at|around|about|approx\.?|approximately|by|since|until|@|~)\s*$", re.I)
# "all times UTC" names the zone of the whole document ("PST/PDT" names none: --tz).
_DOC_ZONE = re.compile(
    r"(?:\b(?i:times|time\s?zone)\b[^.\n]{0,25}?|\b(?i:timeline)\s*\(\s*)"
    r"\b(?<!/)(?P<zone>UTC|GMT|[A-Z]{1,4}T)\b(?!\s*/)"
)
_BR = re.compile(r"<br\s*/?>[ \t]*", re.I)  # Markdown exported from a document editor
_LOG_START = re.compile(
    r"^(?:\[?\d{4}[-/]\d{2}[-/]\d{2}[ T]\d{1,2}:\d{2}:\d{2}|[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}"
    r"|\[\d{1,2}:\d{2}(?::\d{2})?\])"
)
_LEVEL = re.compile(
    r"\b(?:INFO|WARN|WARNING|ERROR|DEBUG|TRACE|FATAL|NOTICE)\b|\d:\d{2}:\d{2}[.,]\d"
)
_PROSE = re.compile(r"^[A-Za-z\"'(][^={}<>]*$")


# "PT" and friends name a region's local time, summer or winter: its IANA zone.
_REGIONAL = {"PT": "America/Los_Angeles", "MT": "America/Denver", "CT": "America/Chicago",
             "ET": "America/New_York"}  # fmt: skip


@cache
def zone_of(word: str) -> tzinfo | None:
    """The zone an abbreviation or offset names (``PDT``, ``CET``, ``UTC+2``), or None."""
    from dateparser.timezone_parser import pop_tz_offset_from_string

    if word in _REGIONAL:
        return ZoneInfo(_REGIONAL[word])
    rest, tz = pop_tz_offset_from_string(f"00:00 {word}")
    return tz if tz is not None and not rest.strip(" 0:") else None


@dataclass
class _When:
    clock: time
    day: date | None
    month_day: tuple[int, int] | None
    zone: tzinfo | None
    written: str


def find_when(text: str, lead_only: bool = False) -> _When | None:
    """The time a note is about: one that leads it, or one after "at"/"around"."""
    for m in _WHEN.finditer(text[:400]):
        before = text[: m.start()]
        if not (_LEAD1.match(before) if lead_only else _LEAD.match(before) or _AT.search(before)):
            continue
        try:
            clock = parse_clock(m["clock"])
        except TimeError:
            continue
        day, md = read_date(m["date"].replace("/", "-")) if m["date"] else (None, None)
        zone = zone_of(m["zone"]) if m["zone"] else None
        end = m.end() if zone is not None or not m["zone"] else m.start("zone")
        return _When(clock, day, md, zone, text[m.start() : end].strip())
    return None


def _blocks(text: str) -> Iterator[tuple[int, str, bool]]:
    """(first line, text, is heading) of each paragraph, bullet or heading."""
    cur: list[str] = []
    start = 0

    def flush() -> Iterator[tuple[int, str, bool]]:
        if cur:
            yield start, " ".join(cur), False
            cur.clear()

    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not line.strip():
            yield from flush()
            continue
        if _HEADING.match(line):
            yield from flush()
            yield no, _HEADING.sub("", line).strip(" #"), True
            continue
        leads = not line[0].isspace() and find_when(line, lead_only=True) is not None
        if _BULLET.match(line) or leads:
            yield from flush()
        if not cur:
            start = no
        cur.append(_BULLET.sub("", line).strip() if not cur else line.strip())
    yield from flush()


def notes_sniff(head: str) -> int:
    """20..45 for a document of prose, headings or bullets with leading times;
    0 for logs (most timed lines open with a full stamp) and for chat pastes."""
    if head.lstrip("\ufeff \t\r\n")[:1] in ("{", "["):
        return 0
    lines = [ln for ln in head.splitlines() if ln.strip()][:200]
    timed = logs = structure = prose = zones = 0
    for ln in lines:
        if (when := find_when(_BULLET.sub("", _HEADING.sub("", ln)).strip())) is not None:
            timed += 1
            logs += bool(_LOG_START.match(ln) or _LEVEL.search(ln))
            zones += when.zone is not None
        if _HEADING.match(ln) or _BULLET.match(ln):
            structure += 1
        elif _PROSE.match(ln) and len(ln.split()) >= 6:
            prose += 1
    if timed < 2 or not (structure or prose or zones):
        return 0
    if not structure and logs >= 0.6 * timed:
        return 0
    if paste_sniff(head):
        return 0
    return 20 + int(25 * min(1.0, (timed + structure + prose) / len(lines)))


@register
class NotesFormat(Format):
    name = "notes"
    kind = "chat"

    def sniff(self, head: str, name: str) -> int:
        return notes_sniff(head)

    def parse(self, src: Source, ctx: ParseContext) -> Iterator[Event]:
        anchor = ctx.anchor_date or date_from_name(src.path)
        seq = ClockSequence(anchor, ctx.tz, ROLLOVER) if anchor else None
        doc_zone: tzinfo | None = None
        section = ""
        last: datetime | None = None
        before: list[int] = []
        for no, text, heading in _blocks(_BR.sub("\n", src.text)):
            if (z := _DOC_ZONE.search(text)) and (found := zone_of(z["zone"])):
                doc_zone = found
            if (d := day_line(text)) is not None:
                day = d.day or _yearless(seq, d.month_day, ctx)
                if day is not None:
                    seq = _set_day(seq, day, ctx)
                continue
            if not any(c.isalnum() for c in text):
                continue  # a rule (---) or a lone bullet: structure, not a note
            when = find_when(text)
            if heading and when is None:
                section = text[:80]
                continue
            attrs = {"section": section}
            if when is None:
                if last is None:
                    before.append(no)  # reported after a "needs --date", which explains more
                    continue
                ts, inferred = last, True
            else:
                try:
                    seq, ts = _at(seq, when, doc_zone, ctx)
                except NeedsDate:
                    ctx.skip(None, NEEDS_DATE_NOTES)
                    break
                except TimeError as e:
                    ctx.skip(no, str(e))
                    continue
                inferred = when.zone is None and doc_zone is None
                attrs["time_written"] = when.written
            last = ts
            ev = message(
                ctx,
                ts=ts,
                actor=None,
                text=text,
                source=self.name,
                ref=ctx.ref(no),
                attrs=attrs,
                kind="note",
                ts_inferred=inferred,
            )
            if ev is not None:
                yield ev
        for no in before:
            ctx.skip(no, "text before the first time")


def _yearless(
    seq: ClockSequence | None, month_day: tuple[int, int] | None, ctx: ParseContext
) -> date | None:
    """``January 31``: the year of the current day (or of --date)."""
    ref = seq.day if seq else ctx.anchor_date
    if month_day is None or ref is None:
        return None
    try:
        return date(ref.year, *month_day)
    except ValueError:
        return None


def _set_day(seq: ClockSequence | None, day: date, ctx: ParseContext) -> ClockSequence:
    if seq is None:
        return ClockSequence(day, ctx.tz, ROLLOVER)
    seq.set_day(day)
    return seq


def _at(
    seq: ClockSequence | None, when: _When, doc_zone: tzinfo | None, ctx: ParseContext
) -> tuple[ClockSequence, datetime]:
    day = when.day or _yearless(seq, when.month_day, ctx)
    if day is not None:
        seq = _set_day(seq, day, ctx)
    if seq is None:
        raise NeedsDate
    seq.at(when.clock)  # moves to the next day when the clock jumps back
    return seq, combine(seq.day, when.clock, when.zone or doc_zone or ctx.tz)
