"""Text transcripts: IRC logs and WebVTT meeting transcripts (chat pasted as
text is ``paste.py``). Time-only stamps get their day from --date (or a date in
the file name) and roll over midnight; naive times use --tz and are flagged inferred."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from ..models import Event
from ..timeparse import ClockSequence, TimeError, parse_clock, parse_ts
from . import Format, ParseContext, Source, register
from ._chatutil import NEEDS_DATE, NeedsDate, date_from_name, line_score, message, utc_or_tz
from ._pasteshapes import MONTHS

NEEDS_START = "needs --meeting-start"

_DATE = r"\d{4}-\d{2}-\d{2}"

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
            raise NeedsDate
        return self.seq.at(parse_clock(clock)), True

    def dated(self, stamp: str) -> tuple[datetime, bool]:
        ts, inferred = parse_ts(stamp, tz=self.ctx.tz)
        if inferred:  # naive local time: later time-only lines continue from it
            local = ts.astimezone(self.ctx.tz)
            self.set_day(local.date())
            assert self.seq is not None
            self.seq.at(local.time().replace(microsecond=0, tzinfo=None))
        return ts, inferred


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
                mon = MONTHS.get(mark["mon"].lower())
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
            except NeedsDate:
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
