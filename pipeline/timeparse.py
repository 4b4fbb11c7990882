"""Shared time parsing for every format: one place that knows about epochs,
offsets, naive times and 12-hour clocks."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as du_parser

GO_ZERO_YEAR = 1  # Go's zero time 0001-01-01T00:00:00Z means "not set"

_FRACTION = re.compile(r"(\.\d{6})\d+")  # nanoseconds -> microseconds
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*([AaPp]\.?[Mm]\.?)?\s*$")


class TimeError(ValueError):
    pass


def zone(name: str | None) -> tzinfo:
    """An IANA zone by name (``UTC`` when None)."""
    if not name or name.upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise TimeError(f"unknown time zone {name!r} (use an IANA name like Europe/Paris)") from e


def from_epoch(value: float | int | str) -> datetime:
    """Epoch in s, ms, us or ns, guessed from magnitude (strings allowed)."""
    try:
        v = float(value)
    except (TypeError, ValueError) as e:
        raise TimeError(f"not an epoch: {value!r}") from e
    if v != v or v in (float("inf"), float("-inf")):
        raise TimeError(f"not an epoch: {value!r}")
    a = abs(v)
    if a >= 1e17:
        v /= 1e9
    elif a >= 1e14:
        v /= 1e6
    elif a >= 1e11:
        v /= 1e3
    try:
        return datetime.fromtimestamp(v, UTC)
    except (OverflowError, OSError, ValueError) as e:
        raise TimeError(f"epoch out of range: {value!r}") from e


def parse_ts(
    value: object,
    *,
    tz: tzinfo = UTC,
    default_date: date | None = None,
) -> tuple[datetime, bool]:
    """Parse any timestamp a tool writes; returns (utc datetime, inferred).

    ``inferred`` is True when the zone (naive time, ``tz`` applied) or the date
    (time-only value, ``default_date`` applied) was assumed rather than read.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=tz).astimezone(UTC), True
        return value.astimezone(UTC), False
    if isinstance(value, bool) or value is None:
        raise TimeError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        return from_epoch(value), False
    text = str(value).strip()
    if not text:
        raise TimeError("empty timestamp")
    if re.fullmatch(r"-?\d+(\.\d+)?", text) and len(text.split(".")[0]) >= 9:
        return from_epoch(text), False
    text = _FRACTION.sub(r"\1", text)
    clock = _CLOCK.match(text)
    if clock:
        if default_date is None:
            raise TimeError(f"time without a date: {value!r} (pass --date)")
        return combine(default_date, parse_clock(text), tz), True
    try:
        dt = du_parser.isoparse(text)
    except (ValueError, OverflowError):
        try:
            default = datetime.combine(default_date or date(1900, 1, 1), time())
            dt = du_parser.parse(text, default=default)
        except (ValueError, OverflowError, du_parser.ParserError) as e:
            raise TimeError(f"unreadable timestamp {value!r}") from e
    if dt.year <= GO_ZERO_YEAR:
        raise TimeError(f"zero time {value!r}")
    try:
        if dt.tzinfo is None:
            return dt.replace(tzinfo=tz).astimezone(UTC), True
        return dt.astimezone(UTC), False
    except (OverflowError, ValueError):  # past datetime.max in UTC, or an offset of 24 h+
        raise TimeError(f"timestamp out of range {value!r}") from None


def parse_clock(text: str) -> time:
    """``14:03``, ``2:03 PM``, ``14:03:22`` -> time."""
    m = _CLOCK.match(text)
    if not m:
        raise TimeError(f"not a clock time: {text!r}")
    hour, minute, second = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    ampm = (m.group(4) or "").lower().replace(".", "")
    if ampm:
        if not 1 <= hour <= 12:
            raise TimeError(f"bad 12-hour time: {text!r}")
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise TimeError(f"bad time: {text!r}")
    return time(hour, minute, second)


def combine(day: date, clock: time, tz: tzinfo) -> datetime:
    try:
        return datetime.combine(day, clock).replace(tzinfo=tz).astimezone(UTC)
    except OverflowError:  # 9999-12-31 east of UTC, 0001-01-01 west of it
        raise TimeError(f"date out of range: {day} {clock}") from None


class ClockSequence:
    """Turns a sequence of time-only stamps into dates, rolling over midnight
    when the clock goes backwards by more than ``rollover`` (chat pasted across days)."""

    def __init__(self, start: date, tz: tzinfo, rollover: timedelta = timedelta(hours=1)) -> None:
        self.day = start
        self.tz = tz
        self.rollover = rollover
        self.last: time | None = None

    def at(self, clock: time) -> datetime:
        if self.last is not None:
            back = datetime.combine(self.day, self.last) - datetime.combine(self.day, clock)
            if back > self.rollover:
                if self.day == date.max:
                    raise TimeError(f"date out of range: the day after {self.day}")
                self.day += timedelta(days=1)
        self.last = clock
        return combine(self.day, clock, self.tz)

    def set_day(self, day: date) -> None:
        self.day = day
        self.last = None


def is_go_zero(value: object) -> bool:
    return isinstance(value, str) and value.startswith("0001-01-01")
