"""Text transcripts: chat pasted as plain text, IRC logs and WebVTT meeting
transcripts. Time-only stamps get their day from --date (or a date in the file
name) and roll over midnight; naive times use --tz and are flagged inferred."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from ..models import Event
from ..timeparse import ClockSequence, TimeError, parse_clock, parse_ts
from . import Format, ParseContext, Source, register
from ._chatutil import date_from_name, line_score, message, utc_or_tz

NEEDS_DATE = "time-only transcript needs --date"
NEEDS_START = "needs --meeting-start"

_CLOCK = r"\d{1,2}:\d{2}(?::\d{2})?(?:\s?[AaPp]\.?[Mm]\.?)?"
# Log levels open log lines, never chat names ("[14:03:22] ERROR db: ...").
_NOT_LEVEL = r"(?!(?i:info|warn|warning|error|err|debug|trace|fatal|crit|critical|notice)\b)"
_NAME = _NOT_LEVEL + r"@?[^\W\d_][\w.'\-]*(?: [\w.'\-]+){0,3}"
# After a full date, dotted or slashed names are log sources (app.db:), not people.
_DATED_NAME = _NOT_LEVEL + r"@?[^\W\d_][\w'\-]*(?: [\w'\-]+){0,2}"
_DATE = r"\d{4}-\d{2}-\d{2}"

_T_DATED = re.compile(
    rf"^\[?(?P<date>{_DATE})[ T](?P<clock>\d{{1,2}}:\d{{2}}(?::\d{{2}})?(?:\.\d+)?)"
    rf"(?P<zone>Z|[+-]\d{{2}}:?\d{{2}})?\]?\s+(?P<name>{_DATED_NAME}):\s*(?P<text>.*)$"
)
_T_BRACKET = re.compile(rf"^\[(?P<clock>{_CLOCK})\]\s*(?P<name>{_NAME}):\s*(?P<text>.*)$")
_T_NAME_BRACKET = re.compile(rf"^(?P<name>{_NAME})\s+\[(?P<clock>{_CLOCK})\]:?\s+(?P<text>\S.*)$")
_T_HEADER = re.compile(rf"^(?P<name>{_NAME})\s+\[?(?P<clock>{_CLOCK})\]?\s*$")
_T_BARE = re.compile(rf"^\[(?P<clock>{_CLOCK})\]\s*(?P<text>.*)$")
_TRANSCRIPT = (_T_DATED, _T_BRACKET, _T_NAME_BRACKET, _T_HEADER)
# Sniffing only: "2026-02-08 14:03:22 web01 kernel: x" is syslog, so a dated line
# with seconds counts only when a single word precedes the colon.
_T_DATED_SNIFF = re.compile(
    rf"^\[?{_DATE}[ T](?:\d{{1,2}}:\d{{2}}(?:Z|[+-]\d{{2}}:?\d{{2}})?\]?\s+{_DATED_NAME}"
    rf"|\d{{1,2}}:\d{{2}}:\d{{2}}\S*\]?\s+{_NOT_LEVEL}[^\W\d_][\w'\-]*):\s"
)
_SNIFF = (_T_DATED_SNIFF, _T_BRACKET, _T_NAME_BRACKET, _T_HEADER)

_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_I_MARK = re.compile(
    r"^--- (?:Log opened|Day changed) \w{3} (?P<mon>\w{3}) (?P<day>\d{1,2})"
    r"(?: [\d:]+)? (?P<year>\d{4})"
)
_I_MSG = re.compile(
    r"^(?P<clock>\d{2}:\d{2}(?::\d{2})?) <[ @+%&~]?(?P<nick>[^>\s]+)> (?P<text>.*)$"
)
_I_ACT = re.compile(r"^(?P<clock>\d{2}:\d{2}(?::\d{2})?)\s+\* (?P<nick>\S+) (?P<text>.*)$")
_I_NOISE = re.compile(r"^(?:\d{2}:\d{2}(?::\d{2})? -!- |--- Log closed)")
_Z_MSG = re.compile(r"^\[(?P<clock>\d{2}:\d{2}:\d{2})\] <[@+%&~]?(?P<nick>[^>]+)> (?P<text>.*)$")
_Z_ACT = re.compile(r"^\[(?P<clock>\d{2}:\d{2}:\d{2})\] \* (?P<nick>\S+) (?P<text>.*)$")
_Z_NOISE = re.compile(r"^\[\d{2}:\d{2}:\d{2}\] \*\*\* ")
_W_LINE = re.compile(
    rf"^(?P<date>{_DATE}) (?P<clock>\d{{2}}:\d{{2}}:\d{{2}})\t(?P<nick>[^\t]*)\t(?P<text>.*)$"
)
_W_NOISE = frozenset({"-->", "<--", "--", "=!=", "-=-", ""})
_ISO = rf"(?P<iso>{_DATE}T\d{{2}}:\d{{2}}:\d{{2}}(?:\.\d+)?(?:Z|[+-]\d{{2}}:?\d{{2}})?)"
_O_MSG = re.compile(rf"^{_ISO} <[@+%&~]?(?P<nick>[^>]+)> (?P<text>.*)$")
_O_ACT = re.compile(rf"^{_ISO} \* (?P<nick>\S+) (?P<text>.*)$")
_O_NOISE = re.compile(rf"^{_ISO} (?:-!-|\*\*\*|-->|<--|--) ")
_IRC = (
    _I_MARK,
    _I_MSG,
    _I_ACT,
    _I_NOISE,
    _Z_MSG,
    _Z_ACT,
    _Z_NOISE,
    _W_LINE,
    _O_MSG,
    _O_ACT,
    _O_NOISE,
)

_ZOOM_START = re.compile(r"GMT(\d{8})-(\d{6})")
_SPEAKER = re.compile(r"^(?P<name>[^:\n]{1,60}?):\s+(?P<text>.+)$", re.DOTALL)


class _NeedsDate(Exception):
    pass


class _Clock:
    """Resolves dated and time-only stamps for one file, rolling over midnight."""

    def __init__(self, ctx: ParseContext, name: str) -> None:
        self.ctx = ctx
        start = ctx.anchor_date or date_from_name(name)
        self.seq = ClockSequence(start, ctx.tz) if start else None

    def set_day(self, day: date) -> None:
        if self.seq is None:
            self.seq = ClockSequence(day, self.ctx.tz)
        self.seq.set_day(day)

    def time_only(self, clock: str) -> tuple[datetime, bool]:
        if self.seq is None:
            raise _NeedsDate
        return self.seq.at(parse_clock(clock)), True

    def dated(self, stamp: str) -> tuple[datetime, bool]:
        ts, inferred = parse_ts(stamp, tz=self.ctx.tz)
        if inferred:  # naive local time: later time-only lines continue from it
            local = ts.astimezone(self.ctx.tz)
            self.set_day(local.date())
            assert self.seq is not None
            self.seq.at(local.time().replace(microsecond=0, tzinfo=None))
        return ts, inferred


@dataclass
class _Pending:
    line: int
    actor: str | None
    ts: datetime
    inferred: bool
    parts: list[str] = field(default_factory=list)


def _emit(p: _Pending | None, ctx: ParseContext, source: str) -> Iterator[Event]:
    if p is None:
        return
    ev = message(
        ctx,
        ts=p.ts,
        actor=p.actor,
        text=" ".join(p.parts),
        source=source,
        ref=ctx.ref(p.line),
        ts_inferred=p.inferred,
    )
    if ev is not None:
        yield ev


def _first_stamp_is_time_only(lines: list[str]) -> bool:
    for line in lines:
        if _T_DATED.match(line):
            return False
        if any(p.match(line) for p in (_T_BRACKET, _T_NAME_BRACKET, _T_HEADER, _T_BARE)):
            return True
    return False


@register
class TranscriptFormat(Format):
    name = "transcript"
    kind = "chat"

    def sniff(self, head: str, name: str) -> int:
        return line_score(head.splitlines(), _SNIFF, 45)

    def parse(self, src: Source, ctx: ParseContext) -> Iterator[Event]:
        lines = src.text.splitlines()
        clock = _Clock(ctx, src.path)
        if clock.seq is None and _first_stamp_is_time_only(lines):
            ctx.skip(None, NEEDS_DATE)
            return
        pending: _Pending | None = None
        speakers: set[str] = set()
        header: str | None = None  # speaker of the last desktop-copy header line
        for no, line in enumerate(lines, 1):
            if not line.strip():
                continue
            m = next((p.match(line) for p in _TRANSCRIPT if p.match(line)), None)
            actor = m.group("name").lstrip("@") if m else None
            # In desktop copies "[2:04 PM] note: x" is a follow-up, not a speaker "note".
            if m and header and m.re is _T_BRACKET and actor not in speakers:
                m, actor = None, None
            bare = None if (m and actor) else _T_BARE.match(line)
            if (m is None or actor is None) and bare is None:
                if pending is None:
                    ctx.skip(no, "text before the first timestamped message")
                else:
                    pending.parts.append(line.strip())
                continue
            yield from _emit(pending, ctx, self.name)
            pending = None
            try:
                if m is not None and actor is not None:
                    ts, inferred = (
                        clock.dated(f"{m['date']} {m['clock']}{m['zone'] or ''}")
                        if m.re is _T_DATED
                        else clock.time_only(m["clock"])
                    )
                    speakers.add(actor)
                    header = actor if m.re is _T_HEADER else header
                    text = "" if m.re is _T_HEADER else m["text"]
                else:
                    assert bare is not None
                    ts, inferred = clock.time_only(bare["clock"])
                    actor, text = header, bare["text"]
            except _NeedsDate:
                ctx.skip(no, NEEDS_DATE)
                continue
            except TimeError as e:
                ctx.skip(no, str(e))
                continue
            pending = _Pending(no, actor, ts, inferred, [text])
        yield from _emit(pending, ctx, self.name)


@register
class IrcFormat(Format):
    name = "irc"
    kind = "chat"

    def sniff(self, head: str, name: str) -> int:
        return line_score(head.splitlines(), _IRC, 50)

    def parse(self, src: Source, ctx: ParseContext) -> Iterator[Event]:
        lines = src.text.splitlines()
        clock = _Clock(ctx, src.path)
        for no, line in enumerate(lines, 1):
            if not line.strip():
                continue
            mark = _I_MARK.match(line)
            if mark:
                mon = _MONTHS.get(mark["mon"].lower())
                if mon:
                    clock.set_day(date(int(mark["year"]), mon, int(mark["day"])))
                continue
            w = _W_LINE.match(line)
            noisy = w is not None and w["nick"].strip() in _W_NOISE
            if noisy or any(p.match(line) for p in (_I_NOISE, _Z_NOISE, _O_NOISE)):
                continue  # joins, quits, modes, topic changes
            got = self._line(line)
            if got is None:
                ctx.skip(no, "unrecognised IRC line")
                continue
            stamp, dated, nick, text, action = got
            try:
                ts, inferred = clock.dated(stamp) if dated else clock.time_only(stamp)
            except _NeedsDate:
                ctx.skip(no, NEEDS_DATE)
                continue
            except TimeError as e:
                ctx.skip(no, str(e))
                continue
            ev = message(
                ctx,
                ts=ts,
                actor=nick.lstrip("@+%&~ "),
                text=text,
                source=self.name,
                ref=ctx.ref(no),
                ts_inferred=inferred,
                attrs={"emote": "true" if action else ""},
            )
            if ev is not None:
                yield ev

    @staticmethod
    def _line(line: str) -> tuple[str, bool, str, str, bool] | None:
        """(stamp, stamp has a date, nick, text, is /me action); noise is filtered first."""
        w = _W_LINE.match(line)
        if w:
            nick = w["nick"].strip()
            if nick == "*":  # WeeChat action: "*\talice restarts nginx"
                who, _, rest = w["text"].partition(" ")
                return f"{w['date']} {w['clock']}", True, who, rest, True
            return f"{w['date']} {w['clock']}", True, nick, w["text"], False
        for pat, dated, action in (
            (_O_MSG, True, False),
            (_O_ACT, True, True),
            (_Z_MSG, False, False),
            (_Z_ACT, False, True),
            (_I_MSG, False, False),
            (_I_ACT, False, True),
        ):
            m = pat.match(line)
            if m:
                return (m["iso"] if dated else m["clock"]), dated, m["nick"], m["text"], action
        return None


def _cue_seconds(stamp: str) -> float:
    parts = [float(p) for p in stamp.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0.0)
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


def _meeting_start(ctx: ParseContext, name: str) -> datetime | None:
    if ctx.meeting_start is not None:
        return utc_or_tz(ctx.meeting_start, ctx)[0]
    m = _ZOOM_START.search(name.rsplit("/", 1)[-1])
    if not m:
        return None
    try:  # Zoom names recordings by their UTC start: GMT20240124-202901
        return datetime.strptime(m.group(1) + m.group(2), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


@register
class WebVttFormat(Format):
    name = "webvtt"
    kind = "chat"

    def sniff(self, head: str, name: str) -> int:
        return 95 if head.lstrip("\ufeff").startswith("WEBVTT") else 0

    def parse(self, src: Source, ctx: ParseContext) -> Iterator[Event]:
        start = _meeting_start(ctx, src.path)
        if start is None:
            ctx.skip(None, NEEDS_START)
            return
        try:
            captions = webvtt.from_string(src.text.lstrip("\ufeff")).captions
        except (MalformedFileError, MalformedCaptionError) as e:
            ctx.skip(None, f"malformed WebVTT: {e}")
            return
        timing_lines = [no for no, line in enumerate(src.text.splitlines(), 1) if "-->" in line]
        for i, cap in enumerate(captions):
            line = timing_lines[i] if i < len(timing_lines) else None
            text = html.unescape(cap.text)
            speaker = cap.voice
            if not speaker:  # Zoom: "Name: words"
                m = _SPEAKER.match(text)
                if m:
                    speaker, text = m["name"].strip(), m["text"]
            try:
                ts = start + timedelta(seconds=_cue_seconds(cap.start))
            except OverflowError:
                ctx.skip(line, f"cue time out of range: {cap.start}")
                continue
            ev = message(
                ctx,
                ts=ts,
                actor=speaker,
                text=text,
                source=self.name,
                ref=ctx.ref(line),
            )
            if ev is not None:
                yield ev
