"""System log formats: syslog (RFC 3164 and 5424), the LogHub system logs
(HDFS, BGL, OpenStack, Thunderbird, Apache error) and a generic fallback.

``actor`` is the most specific emitter the line names (program, service,
component), else the host; ``attrs`` keep host/program/level separately.
JSON log formats live in ``_jsonlogs`` and register from here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import ClassVar

from ..models import Event
from ..timeparse import from_epoch, parse_ts
from . import ParseContext, register
from ._lineutil import (
    MONTHS,
    Head,
    LineError,
    LineFormat,
    Record,
    attrs,
    iso,
    level,
    line_score,
    local,
    logfmt,
    pri_severity,
)

_MON = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
# "prog[pid]: " / "prog: " at the start of a syslog message
_TAG = re.compile(r"(?P<prog>[^\s:\[\]]{1,128})(?:\[(?P<pid>[^\]\s]{0,32})\])?:(?: |$)")
_LEVEL_WORDS = frozenset(
    [
        "TRACE",
        "DEBUG",
        "INFO",
        "NOTICE",
        "WARN",
        "WARNING",
        "ERROR",
        "ERR",
        "SEVERE",
        "CRIT",
        "CRITICAL",
        "FATAL",
        "ALERT",
        "EMERG",
    ]
)


class YearGuess:
    """Years for year-less syslog stamps.

    The first line takes the year that puts it nearest ``--date`` (logs may run
    past the incident day), or the latest year not after the file's mtime (or
    today); later lines roll the year when the month wraps (Dec -> Jan).
    """

    def __init__(self, ctx: ParseContext) -> None:
        self.nearest = ctx.anchor_date is not None
        self.ref: date = ctx.anchor_date or (ctx.mtime or datetime.now(UTC)).date()
        self.year: int | None = None
        self.month = 0

    def __call__(self, month: int, day: int) -> int:
        if self.year is None:
            ref = self.ref
            years = (ref.year - 1, ref.year, ref.year + 1)
            if self.nearest:
                self.year = min(years, key=lambda y: abs(_day(y, month, day) - ref))
            else:
                ok = [y for y in years if _day(y, month, day) <= ref + timedelta(days=1)]
                self.year = max(ok)
        elif month < self.month - 6:
            self.year += 1
        elif month > self.month + 6:
            self.year -= 1  # a late line from before the wrap
        self.month = month
        return self.year


def _day(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, 28 if month == 2 else 30 if month in (4, 6, 9, 11) else 31))


def _bsd_time(years: YearGuess, mon: str, day: str, clock: str, ctx: ParseContext) -> datetime:
    month = MONTHS[mon]
    hh, mm, ss = clock.split(":")
    naive = datetime(years(month, int(day)), month, int(day), int(hh), int(mm), int(ss))
    return local(naive, ctx.tz)


def _tag(rest: str) -> tuple[str | None, str | None, str]:
    """(program, pid, message) of a syslog message body."""
    m = _TAG.match(rest)
    if m is None:
        return None, None, rest
    return m.group("prog"), m.group("pid"), rest[m.end() :]


# --- syslog ---------------------------------------------------------------------

_SYSLOG = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?"
    rf"(?:(?P<mon>{_MON}) {{1,2}}(?P<day>\d{{1,2}}) (?P<clock>\d\d:\d\d:\d\d)"
    r"|(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)))"
    r" (?P<host>\S+) (?P<rest>.*)"
)


@register
class Syslog(LineFormat):
    """RFC 3164 (``Feb  8 14:03:22 host prog[pid]: msg``, optional ``<PRI>``) and
    the RFC 3339 stamps rsyslog writes by default (``2026-02-08T14:03:22+01:00``)."""

    name = "syslog"
    score = 70

    def matches(self, line: str) -> bool:
        m = _SYSLOG.match(line)
        if m is None:
            return False
        if m.group("iso"):  # ISO-led lines are common; demand the full host + tag shape
            return m.group("host") not in _LEVEL_WORDS and _TAG.match(m.group("rest")) is not None
        return not m.group("host").endswith(":")  # "Feb  8 14:03:22 alice: hi" is chat

    def reader(self, ctx: ParseContext) -> Callable[[str], Head | None]:
        years = YearGuess(ctx)

        def read(line: str) -> Head | None:
            m = _SYSLOG.match(line)
            if m is None:
                return None
            try:
                if m.group("iso"):
                    return Head(m, *iso(m.group("iso"), ctx.tz))
                return Head(m, _bsd_time(years, m["mon"], m["day"], m["clock"], ctx), True)
            except ValueError as e:
                raise LineError(f"bad syslog timestamp: {e}") from None

        return read

    def build(self, rec: Record[Head], ctx: ParseContext) -> Event:
        m = rec.head.m
        prog, pid, msg = _tag(m.group("rest"))
        sev = pri_severity(m.group("pri"))
        host = m.group("host")
        return self.event(
            rec,
            ctx,
            msg,
            severity=sev,
            actor=prog or host,
            extra=attrs(host=host, program=prog, pid=pid, level=sev),
        )


_SYSLOG5424 = re.compile(
    r"(?:\d{1,6} )?<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+)"
    r' (?P<msgid>\S+) (?P<sd>-|(?:\[(?:[^\]\\"]|\\.|"(?:[^"\\]|\\.)*")*\])+)(?: (?P<msg>.*))?$'
)


@register
class Syslog5424(LineFormat):
    """RFC 5424: ``<34>1 2026-02-08T14:03:22.123Z host app procid msgid [sd] msg``
    (an optional octet count from TCP framing is ignored)."""

    name = "syslog5424"
    pattern = _SYSLOG5424
    score = 80

    def when(self, m: re.Match[str], ctx: ParseContext) -> tuple[datetime, bool]:
        if m.group("ts") == "-":
            raise LineError("syslog record without a timestamp (NILVALUE)")
        return iso(m.group("ts"), ctx.tz)

    def build(self, rec: Record[Head], ctx: ParseContext) -> Event:
        m = rec.head.m
        sev = pri_severity(m.group("pri"))
        app = m.group("app") if m.group("app") != "-" else None
        host = m.group("host")
        sd = m.group("sd")
        msg = (m.group("msg") or "").lstrip("\ufeff") or (sd if sd != "-" else "")
        return self.event(
            rec,
            ctx,
            msg,
            severity=sev,
            actor=app or (host if host != "-" else None),
            extra=attrs(
                host=host,
                program=app,
                pid=m.group("procid"),
                msgid=m.group("msgid"),
                level=sev,
                sd=sd[:500],
            ),
        )


# --- LogHub system logs ------------------------------------------------------------


@register
class Hdfs(LineFormat):
    """``081109 203615 148 INFO dfs.DataNode$PacketResponder: msg`` (yyMMdd HHmmss, local)."""

    name = "hdfs"
    pattern = re.compile(
        r"(?P<date>\d{6}) (?P<clock>\d{6}) (?P<pid>\d+) (?P<level>[A-Z]+) (?P<comp>[\w.$-]+): ?"
        r"(?P<msg>.*)"
    )

    def when(self, m: re.Match[str], ctx: ParseContext) -> tuple[datetime, bool]:
        d, c = m.group("date"), m.group("clock")
        naive = datetime(
            2000 + int(d[:2]), int(d[2:4]), int(d[4:]), int(c[:2]), int(c[2:4]), int(c[4:])
        )
        return local(naive, ctx.tz), True

    def build(self, rec: Record[Head], ctx: ParseContext) -> Event:
        m = rec.head.m
        sev = level(m.group("level"))
        comp = m.group("comp")
        return self.event(
            rec,
            ctx,
            m.group("msg"),
            severity=sev,
            actor=comp,
            extra=attrs(component=comp, pid=m.group("pid"), level=sev),
        )


def _epoch_time(epoch: str, stamp_seconds: str, micros: str | None) -> datetime:
    """The UTC epoch column, refined with the local stamp's microseconds when the
    seconds agree (the stamp itself is in the cluster's unstated local zone)."""
    ts = from_epoch(int(epoch))
    if micros and ts.second == int(stamp_seconds):
        ts = ts.replace(microsecond=int(micros.ljust(6, "0")[:6]))
    return ts


@register
class Bgl(LineFormat):
    """Blue Gene/L RAS log: ``- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11
    2005-06-03-15.42.50.363779 R02-M1-N0-C:J12-U11 RAS KERNEL INFO msg``;
    the first column is the alert category (``-`` none)."""

    name = "bgl"
    score = 85
    pattern = re.compile(
        r"(?P<label>\S+) (?P<epoch>\d{9,10}) \d{4}\.\d\d\.\d\d (?P<node>\S+)"
        r" \d{4}-\d\d-\d\d-\d\d\.\d\d\.(?P<sec>\d\d)(?:\.(?P<us>\d{1,6}))? \S+"
        r" (?P<type>\S+) (?P<comp>\S+) (?P<level>[A-Z]+)(?: (?P<msg>.*))?$"
    )

    def when(self, m: re.Match[str], ctx: ParseContext) -> tuple[datetime, bool]:
        return _epoch_time(m.group("epoch"), m.group("sec"), m.group("us")), False

    def build(self, rec: Record[Head], ctx: ParseContext) -> Event:
        m = rec.head.m
        sev = level(m.group("level"))
        node = m.group("node")
        return self.event(
            rec,
            ctx,
            m.group("msg") or "",
            severity=sev,
            actor=node,
            extra=attrs(
                host=node,
                component=m.group("comp"),
                type=m.group("type"),
                level=sev,
                alert=m.group("label"),
            ),
        )


@register
class Thunderbird(LineFormat):
    """``- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond[2916]: msg``:
    a BGL-style prefix (alert category, UTC epoch) on a syslog line."""

    name = "thunderbird"
    score = 85
    pattern = re.compile(
        r"(?P<label>\S+) (?P<epoch>\d{9,10}) \d{4}\.\d\d\.\d\d (?P<node>\S+)"
        rf" {_MON} {{1,2}}\d{{1,2}} \d\d:\d\d:(?P<sec>\d\d) (?P<loc>\S+) ?(?P<rest>.*)"
    )

    def when(self, m: re.Match[str], ctx: ParseContext) -> tuple[datetime, bool]:
        return _epoch_time(m.group("epoch"), m.group("sec"), None), False

    def build(self, rec: Record[Head], ctx: ParseContext) -> Event:
        m = rec.head.m
        prog, pid, msg = _tag(m.group("rest"))
        node = m.group("node")
        return self.event(
            rec,
            ctx,
            msg,
            actor=prog or node,
            extra=attrs(
                host=node, program=prog, pid=pid, location=m.group("loc"), alert=m.group("label")
            ),
        )


@register
class OpenStack(LineFormat):
    """oslo.log lines, optionally prefixed by their file name as in LogHub:
    ``nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO
    nova.osapi_compute.wsgi.server [req-... - - -] msg``."""

    name = "openstack"
    continuation = True  # tracebacks
    pattern = re.compile(
        r"(?:(?P<file>[\w.-]+\.log\S*) )?(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)"
        r" (?P<pid>\d+) (?P<level>[A-Z]+) (?P<comp>[\w.-]+) (?:\[(?P<ctx>[^\]]*)\] ?)?(?P<msg>.*)"
    )

    def when(self, m: re.Match[str], ctx: ParseContext) -> tuple[datetime, bool]:
        return iso(m.group("ts"), ctx.tz)

    def build(self, rec: Record[Head], ctx: ParseContext) -> Event:
        m = rec.head.m
        sev = level(m.group("level"))
        service = m.group("file").split(".log", 1)[0] if m.group("file") else None
        req = (m.group("ctx") or "").split(" ", 1)[0]
        return self.event(
            rec,
            ctx,
            m.group("msg"),
            severity=sev,
            actor=service or m.group("comp"),
            extra=attrs(
                service=service,
                component=m.group("comp"),
                pid=m.group("pid"),
                level=sev,
                request_id=req if req.startswith("req-") else None,
            ),
        )


@register
class ApacheError(LineFormat):
    """Apache error log, 2.2 (``[Sun Dec 04 04:47:44 2005] [notice] msg``) and 2.4
    (``[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 1:tid 2] [client ip] msg``)."""

    name = "apache_error"
    pattern = re.compile(
        rf"\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?P<mon>{_MON}) (?P<day>\d\d?)"
        r" (?P<clock>\d\d:\d\d:\d\d)(?:\.(?P<us>\d{1,6}))? (?P<year>\d{4})\]"
        r" \[(?:(?P<module>[\w-]+):)?(?P<level>\w+)\] (?:\[pid (?P<pid>\d+)(?::tid (?P<tid>\d+))?\] )?"
        r"(?:\[client (?P<client>[^\]]+)\] )?(?P<msg>.*)"
    )

    def when(self, m: re.Match[str], ctx: ParseContext) -> tuple[datetime, bool]:
        hh, mm, ss = m.group("clock").split(":")
        naive = datetime(
            int(m["year"]),
            MONTHS[m["mon"]],
            int(m["day"]),
            int(hh),
            int(mm),
            int(ss),
            int((m.group("us") or "0").ljust(6, "0")),
        )
        return local(naive, ctx.tz), True

    def build(self, rec: Record[Head], ctx: ParseContext) -> Event:
        m = rec.head.m
        sev = level(m.group("level"))
        return self.event(
            rec,
            ctx,
            m.group("msg"),
            severity=sev,
            actor=m.group("module") or "apache",
            extra=attrs(
                level=sev, module=m.group("module"), pid=m.group("pid"), client=m.group("client")
            ),
        )


# --- generic fallback ----------------------------------------------------------------

_ANY_TS = re.compile(
    r"(?P<iso>\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d{1,9})?)?(?: ?(?:Z|[+-]\d\d:?\d\d)\b)?)"
    r"|(?P<slash>\d{4}/\d\d/\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?)"
    r"|(?P<clf>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d(?: [+-]\d{4})?)"
    rf"|(?P<mon>{_MON}) {{1,2}}(?P<day>\d\d?) (?P<clock>\d\d:\d\d:\d\d)"
)
_JSON_START = re.compile(r'\ufeff?\s*(?:\{|\[\s*[{\["\]])')
_TS_WINDOW = 80  # a record's timestamp must end this close to the line start
_LEVEL_AFTER = re.compile(
    r"[\s\-|:\]\[]*(?:\b(?P<up>TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|SEVERE|CRITICAL|CRIT"
    r"|FATAL|ALERT|EMERG|PANIC)\b|\[(?P<br>(?i:trace|debug|info|notice|warn|warning|error|err"
    r"|critical|crit|fatal))\])[\s\-|:\]]*"
)


@register
class GenericLog(LineFormat):
    """Any text log whose records start with a date-time near the line start;
    lines without one continue the previous record (stack traces)."""

    name = "log"
    score = 10
    continuation = True
    pattern: ClassVar[re.Pattern[str]] = _ANY_TS

    def matches(self, line: str) -> bool:
        return _ANY_TS.search(line, 0, _TS_WINDOW) is not None

    def sniff(self, head: str, name: str) -> int:
        if _JSON_START.match(head):  # JSON with ISO fields is not a text log
            return 0
        return line_score(head, self.matches, self.score, min_ratio=0.1)

    def reader(self, ctx: ParseContext) -> Callable[[str], Head | None]:
        years = YearGuess(ctx)

        def read(line: str) -> Head | None:
            m = _ANY_TS.search(line, 0, _TS_WINDOW)
            if m is None:
                return None
            try:
                if m.group("mon"):
                    return Head(m, _bsd_time(years, m["mon"], m["day"], m["clock"], ctx), True)
                if m.group("clf"):
                    return Head(m, *parse_ts(m["clf"].replace(":", " ", 1), tz=ctx.tz))
                return Head(m, *iso((m["iso"] or m["slash"]).replace("/", "-"), ctx.tz))
            except ValueError as e:
                raise LineError(f"bad timestamp: {e}") from None

        return read

    def build(self, rec: Record[Head], ctx: ParseContext) -> Event:
        m = rec.head.m
        line = m.string
        rest = line[m.end() :]
        kv = logfmt(line[:4096])
        lv = _LEVEL_AFTER.match(rest)
        raw_level = kv.get("level") or kv.get("lvl")
        if lv and (lv.group("up") or lv.group("br")):
            raw_level = raw_level or lv.group("up") or lv.group("br")
            rest = rest[lv.end() :]
        sev = level(raw_level)
        msg = kv.get("msg") or rest.lstrip(' \t-|:]"')
        prefix = line[: m.start()].strip(" [\"'")
        if prefix and not prefix.endswith("="):
            msg = f"{prefix} {msg}"  # keep what preceded the stamp (a pid, a tag)
        service = kv.get("service") or kv.get("app")
        return self.event(
            rec,
            ctx,
            msg,
            severity=sev,
            actor=service or kv.get("component") or kv.get("host"),
            extra=attrs(level=sev, service=service, host=kv.get("host")),
        )


from . import _jsonlogs  # noqa: E402,F401  (registers jsonlog and loki)
