"""Chat pasted as text (``--as transcript``): what people copy out of Slack,
Discord, Teams, Mattermost, Zulip, Google Chat or an IRC client into a file.

Line shapes live in ``_pasteshapes``; this module owns the state of a paste:

- sections: a line such as ``# channel: #ops`` starts a new channel; its
  events carry ``attrs["channel"]`` and its clock starts again from the anchor;
- days: ``--date`` (or a date in the file name, or the first written date) is
  the day of each section's first message; a clock that jumps back by more
  than a few hours moves to the next day; day separators (``Today``,
  ``--- March 28, 2023 ---``) and dated stamps set the day, never before the
  section's anchor;
- speakers: header lines (``Name [1:26 PM]``) own the lines below them;
  ``[2:04 PM] text`` and a lone ``2:04 PM`` continue the last speaker; a name
  line followed by a time line is a two-line header (Mattermost, Google Chat);
- relative stamps (``[3 hours ago]``) take the previous message's time, inferred.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from ..models import Event
from ..timeparse import ClockSequence, TimeError, parse_ts
from . import Format, ParseContext, Source, register
from ._chatutil import NEEDS_DATE, NeedsDate, date_from_name, message
from ._pasteshapes import Line, Stamp, classify

ROLLOVER = timedelta(hours=3)  # "a few hours" back: the chat went past midnight
_STARTS = frozenset({"inline", "header", "irc", "bare", "time"})
# A stamp with seconds opening the line: dated ("2026-02-08 14:03:22") or bare ("14:03:22").
_SECONDS = re.compile(r"^(?:\[?\d{4}-\d{2}-\d{2}[ T]|(?=\d))\d{1,2}:\d{2}:\d{2}")


def _shift(day: date, days: int) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        raise TimeError(f"date out of range: {day} {days:+d} days") from None


class _Days:
    """The day of each message of one paste, section by section."""

    def __init__(self, ctx: ParseContext, anchor: date | None) -> None:
        self.ctx = ctx
        self.anchor = anchor
        self.seq: ClockSequence | None = None
        self.today: date | None = None  # what "Today" means in this section
        self.seen = False  # a message was placed in this section
        self.warned = False
        self.twelve = False  # the paste writes 12-hour clocks
        self.reset()

    def reset(self) -> None:
        """A new section: its clock starts again from the anchor day."""
        self.seq = ClockSequence(self.anchor, self.ctx.tz, ROLLOVER) if self.anchor else None
        self.today = None
        self.seen = False

    def set_day(self, day: date) -> None:
        if self.anchor is None:
            self.anchor = day  # no --date: the first written date anchors the paste
        if day < self.anchor:
            if not self.warned:
                self.ctx.warn(
                    f"a written date ({day}) is before --date ({self.anchor}); kept on {self.anchor}"
                )
                self.warned = True
            day = self.anchor
        if self.seq is None:
            self.seq = ClockSequence(day, self.ctx.tz, ROLLOVER)
        else:
            self.seq.set_day(day)

    def _current(self) -> date | None:
        return self.seq.day if self.seq else self.anchor

    def relative(self, rel: int) -> date | None:
        """``Today`` (0) / ``Yesterday`` (-1): the first one met in a section is the
        section's day, or the next day when messages came before it."""
        if self.today is None:
            cur = self._current()
            if cur is None:
                return None
            base = _shift(cur, 1) if self.seen else cur
            self.today = _shift(base, -rel)
        return _shift(self.today, rel)

    def yearless(self, month: int, day: int) -> date | None:
        cur = self._current()
        if cur is None:
            return None
        try:
            found = [date(cur.year + k, month, day) for k in (-1, 0, 1)]
        except ValueError:
            return None
        return min(found, key=lambda d: abs((d - cur).days))

    def separator(self, ln: Line | Stamp) -> None:
        day: date | None = ln.day
        if ln.rel_day is not None:
            day = self.relative(ln.rel_day)
        elif ln.month_day is not None:
            day = self.yearless(*ln.month_day)
        if day is not None:
            self.set_day(day)

    def at(self, stamp: Stamp) -> tuple[datetime, bool]:
        if stamp.iso is not None:
            ts, inferred = parse_ts(stamp.iso, tz=self.ctx.tz)
            self.seen = True
            return ts, inferred
        self.separator(stamp)
        if self.seq is None or stamp.clock is None:
            raise NeedsDate
        clock = stamp.clock
        if stamp.ampm:
            self.twelve = True
        elif self.twelve and 1 <= clock.hour < 12 and self.seq.last is not None:
            # Slack's "9:06" under "Kim Lee  9:05 PM": the same half of the day
            pm = clock.replace(hour=clock.hour + 12)
            if self.seq.last.hour >= 12 and pm >= self.seq.last:
                clock = pm
        self.seen = True
        return self.seq.at(clock), True


@dataclass
class _Msg:
    line: int
    actor: str | None
    ts: datetime
    inferred: bool
    parts: list[str] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)
    last_name: str | None = None  # the last part is a lone name line (maybe a next header)


def _looks_like_log(raw: str, ln: Line) -> bool:
    """``2026-02-08 14:03:22 web01 kernel: x`` is a log line, not alice speaking."""
    name = ln.name or ""
    return bool(_SECONDS.match(raw.strip())) and (" " in name or "." in name)


def _sniff_counts(head: str) -> tuple[int, int, int]:
    """(message starts, lines read, non-blank lines) over the head of a file."""
    lines = [ln for ln in head.splitlines() if ln.strip()]
    if len(lines) > 1 and not head.endswith("\n"):
        lines = lines[:-1]  # cut by the head size
    lines = lines[:200]
    starts = read = 0
    for raw in lines:
        ln = classify(raw)
        if ln.kind in ("inline", "header", "irc") and not _looks_like_log(raw, ln):
            starts += 1
            read += 1
        elif ln.kind in ("section", "day", "noise") or (starts and ln.kind != "inline"):
            read += 1
    return starts, read, len(lines)


def paste_sniff(head: str) -> int:
    """40..70 by the share of the head read, when chat shapes dominate it."""
    starts, read, total = _sniff_counts(head)
    if starts < 3 or starts * 12 < total:
        return 0
    return 40 + int(30 * read / total)


@register
class TranscriptFormat(Format):
    name = "transcript"
    kind = "chat"

    def sniff(self, head: str, name: str) -> int:
        return paste_sniff(head)

    def parse(self, src: Source, ctx: ParseContext) -> Iterator[Event]:
        days = _Days(ctx, ctx.anchor_date or date_from_name(src.path))
        channel = ""
        pending: _Msg | None = None
        before: list[tuple[int, Line]] = []  # lines before the first message
        speaker: str | None = None  # of the last message start: bare lines continue it
        header: str | None = None  # of the last header line (a desktop copy)
        speakers: set[str] = set()
        last_ts: datetime | None = None
        fenced = False  # inside a ``` code block pasted in a message: all text
        for no, raw in enumerate(src.text.splitlines(), 1):
            if not raw.strip():
                continue
            ln = classify(raw) if not fenced else Line("text", text=raw.strip())
            if pending is not None and raw.count("```") % 2:
                # a block opens only where a line or a message starts with it: a
                # stray ``` inside a sentence must not swallow the rest of the paste
                opens = raw.strip().startswith("```") or (ln.text or "").lstrip().startswith("```")
                fenced = False if fenced else opens
            if ln.kind == "said" and ln.name in speakers and last_ts is not None:
                # an untimed "Name (handle): text" of a known speaker: a new message, same time
                yield from self._emit(pending, ctx)
                attrs = {"handle": ln.handle or "", "channel": channel, "time_written": "none"}
                text = ln.text.split(":", 1)[1].strip()
                pending = _Msg(no, ln.name, last_ts, True, [text], attrs)
                continue
            if ln.kind in ("text", "name", "said"):
                if pending is None:
                    before.append((no, ln))
                else:
                    pending.parts.append(ln.text)
                    pending.last_name = ln.name if ln.kind == "name" else None
                    if ln.edited:
                        pending.attrs["edited"] = "true"
                continue
            if ln.kind == "noise":
                continue
            if ln.kind in ("section", "day"):
                yield from self._emit(pending, ctx)
                pending = None
                if ln.kind == "section":
                    channel = ln.text
                    days.reset()
                    speaker = header = None
                else:
                    try:
                        days.separator(ln)
                    except TimeError as e:
                        ctx.skip(no, str(e))
                continue
            actor, text, attrs = self._who(ln, speaker, header, speakers, pending, before)
            yield from self._emit(pending, ctx)
            pending = None
            self._skip_before(before, ctx)
            assert ln.stamp is not None
            try:
                if ln.stamp.clock is None and ln.stamp.iso is None:  # "3 hours ago"
                    if last_ts is None:
                        ctx.skip(no, "relative time before any clock time")
                        continue
                    ts, inferred = last_ts, True
                    attrs["time_written"] = "relative"
                else:
                    ts, inferred = days.at(ln.stamp)
            except NeedsDate:
                ctx.skip(None, NEEDS_DATE)
                return
            except TimeError as e:
                ctx.skip(no, str(e))
                continue
            last_ts = ts
            if ln.kind in ("inline", "header", "irc") and actor:
                speaker = actor
                speakers.add(actor)
                header = actor if ln.kind == "header" else header
            attrs["channel"] = channel
            pending = _Msg(no, actor, ts, inferred, [text], attrs)
        yield from self._emit(pending, ctx)
        self._skip_before(before, ctx)

    @staticmethod
    def _who(
        ln: Line,
        speaker: str | None,
        header: str | None,
        speakers: set[str],
        pending: _Msg | None,
        before: list[tuple[int, Line]],
    ) -> tuple[str | None, str, dict[str, str]]:
        """(speaker, first text, attrs) of a message start."""
        attrs = {
            "handle": ln.handle or "",
            "bot": "true" if ln.bot else "",
            "edited": "true" if ln.edited else "",
        }
        # In a desktop copy "[2:04 PM] note: x" is a follow-up, not a speaker "note".
        if ln.kind == "inline" and header and ln.name not in speakers and ln.opened:
            return header, f"{ln.name}: {ln.text}", attrs
        if ln.kind == "time":
            # "Alice Smith" then "10:42 AM": a two-line header.
            if pending is not None and pending.last_name and len(pending.parts) > 1:
                pending.parts.pop()
                return pending.last_name, "", attrs
            if pending is None and before and before[-1][1].kind == "name":
                return before.pop()[1].name, "", attrs
            return speaker, "", attrs
        if ln.kind == "bare":
            return speaker, ln.text, attrs
        return ln.name, ln.text, attrs

    @staticmethod
    def _skip_before(before: list[tuple[int, Line]], ctx: ParseContext) -> None:
        for no, _ in before:
            ctx.skip(no, "text before the first timestamped message")
        before.clear()

    def _emit(self, m: _Msg | None, ctx: ParseContext) -> Iterator[Event]:
        if m is None:
            return
        ev = message(
            ctx,
            ts=m.ts,
            actor=m.actor,
            text=" ".join(p for p in m.parts if p),
            source=self.name,
            ref=ctx.ref(m.line),
            attrs=m.attrs,
            ts_inferred=m.inferred,
        )
        if ev is not None:
            yield ev
