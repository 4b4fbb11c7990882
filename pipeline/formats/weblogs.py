"""Web server logs: nginx/Apache access logs (common and combined) and the
nginx error log."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from ..models import Event
from . import ParseContext, register
from ._lineutil import MONTHS, Head, LineFormat, Record, attrs, level, local

_QUOTED = r'"(?:[^"\\]|\\.)*"'

# The remote part is lazy and "["-free: it may be an X-Forwarded-For list
# ("10.0.0.2, 10.0.0.1, 127.0.0.1"), quoted, or IPv6, ahead of the usual fields.
_ACCESS = re.compile(
    r"(?P<remote>[^\[]{1,512}?) (?P<ident>\S+) (?P<user>\S+)"
    r" \[(?P<day>\d\d)/(?P<mon>[A-Z][a-z]{2})/(?P<year>\d{4}):(?P<clock>\d\d:\d\d:\d\d)"
    r"(?: (?P<zone>[+-]\d{4}))?\]"
    rf' "(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{{3}}) (?P<bytes>\d+|-)'
    rf"(?: (?P<referer>{_QUOTED}) (?P<ua>{_QUOTED}))?"
)
_REQUEST = re.compile(r"(?P<method>[A-Z]{3,10}) (?P<path>\S+)(?: (?P<proto>HTTP/[\d.]+))?$")


def _zone(text: str | None) -> timezone | None:
    if not text:
        return None
    minutes = int(text[1:3]) * 60 + int(text[3:5])
    return timezone(timedelta(minutes=-minutes if text[0] == "-" else minutes))


@register
class NginxAccess(LineFormat):
    """``10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 2326 "ref" "ua"``
    (nginx and Apache share the format)."""

    name = "nginx_access"
    pattern = _ACCESS

    def when(self, m: re.Match[str], ctx: ParseContext) -> tuple[datetime, bool]:
        hh, mm, ss = m.group("clock").split(":")
        month = MONTHS.get(m.group("mon"))
        if month is None:
            raise ValueError(f"unknown month {m.group('mon')!r}")
        naive = datetime(int(m["year"]), month, int(m["day"]), int(hh), int(mm), int(ss))
        tz = _zone(m.group("zone"))
        if tz is None:
            return local(naive, ctx.tz), True
        return naive.replace(tzinfo=tz).astimezone(UTC), False

    def build(self, rec: Record[Head], ctx: ParseContext) -> Event:
        m = rec.head.m
        remote = m.group("remote").replace('"', "").strip()
        client = re.split(r"[,\s]+", remote, maxsplit=1)[0]  # X-Forwarded-For: origin first
        request = m.group("request").replace('\\"', '"')
        req = _REQUEST.match(request)
        method, path = (req.group("method"), req.group("path")) if req else (None, None)
        status = int(m.group("status"))
        sev = "error" if status >= 500 else "warning" if status >= 400 else "info"
        size = m.group("bytes")
        shown = f"{method} {path}" if req else (request[:200] or "(empty request)")
        text = f"{shown} -> {status}" + (f" ({size} bytes)" if size != "-" else "")
        ua = (m.group("ua") or "")[1:-1]
        referer = (m.group("referer") or "")[1:-1]
        return self.event(
            rec,
            ctx,
            f"{text} from {client}",
            severity=sev,
            extra=attrs(
                status=status,
                method=method,
                path=path,
                client=client,
                remote=remote if remote != client else None,
                user=m.group("user"),
                bytes=size,
                referer=referer[:500],
                user_agent=ua[:500],
            ),
        )


_NGINX_ERROR = re.compile(
    r"(?P<ts>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(?P<level>[a-z]+)\] (?P<pid>\d+)#(?P<tid>\d+):"
    r" (?:\*(?P<conn>\d+) )?(?P<msg>.*)"
)
# the context nginx appends: ", client: 1.2.3.4, server: x, request: "GET / HTTP/1.1", ..."
_CONTEXT = re.compile(rf", (client|server|request|upstream|host): ({_QUOTED}|[^,]*)")


@register
class NginxError(LineFormat):
    """``2016/10/25 14:49:34 [error] 54053#0: *1 msg, client: ..., request: "..."``;
    lines without a stamp continue the entry (FastCGI stderr is multi-line)."""

    name = "nginx_error"
    pattern = _NGINX_ERROR
    continuation = True
    min_ratio = 0.3

    def when(self, m: re.Match[str], ctx: ParseContext) -> tuple[datetime, bool]:
        naive = datetime.strptime(m.group("ts"), "%Y/%m/%d %H:%M:%S")
        return local(naive, ctx.tz), True

    def build(self, rec: Record[Head], ctx: ParseContext) -> Event:
        m = rec.head.m
        sev = level(m.group("level"))
        found = dict(_CONTEXT.findall(" ".join([m.group("msg"), *rec.more])[:8192]))
        info = {k: v.strip('"') for k, v in found.items()}
        req = _REQUEST.match(info.get("request", ""))
        return self.event(
            rec,
            ctx,
            m.group("msg"),
            severity=sev,
            actor="nginx",
            extra=attrs(
                level=sev,
                pid=m.group("pid"),
                connection=m.group("conn"),
                client=info.get("client"),
                server=info.get("server"),
                upstream=info.get("upstream"),
                http_host=info.get("host"),
                method=req.group("method") if req else None,
                path=req.group("path") if req else None,
            ),
        )
