"""Alertmanager API v2: the alerts it holds and the silences, for the window.

Alerts go through the Alertmanager parser's own builder (``_am_alert``); an
alert whose ``endsAt`` has passed is reported resolved at that time. The API
has no time filter, so the window is applied here: only what overlaps it is
kept (the answer is one bounded list, not pages).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..formats import ParseContext
from ..formats._alertutil import event, guarded, one_line, scalar, stamp
from ..formats.alerts import _am_alert
from ..models import Event
from ..timeparse import TimeError, is_go_zero, parse_ts
from . import Fetcher, Window
from ._http import Http, expect, token

SOURCE = "alertmanager"
_ALL = {"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true"}


def fetcher(url: str, win: Window, timeout: float) -> Fetcher:
    def fetch(ctx: ParseContext, out: list[Event]) -> None:
        tok = token("ALERTMANAGER_TOKEN", what=f"alertmanager {ctx.path}")
        headers = {"Authorization": f"Bearer {tok}"} if tok else {}
        with Http(f"alertmanager {ctx.path}", url, headers=headers, timeout=timeout) as http:
            alerts = http.get("/api/v2/alerts", _ALL)
            expect(isinstance(alerts, list), http.name, "/api/v2/alerts is not a list")
            silences = http.get("/api/v2/silences")
            expect(isinstance(silences, list), http.name, "/api/v2/silences is not a list")
        now = datetime.now(UTC)
        seen: set[str] = set()
        for n, alert in enumerate(alerts, 1):
            if isinstance(alert, dict) and _overlaps(alert, win):
                a = _resolved_if_ended(alert, now)
                out.extend(guarded(ctx, n, _am_alert, ctx, a, {}, n, SOURCE, seen))
        for n, s in enumerate(silences, len(alerts) + 1):
            if isinstance(s, dict) and _overlaps(s, win):
                out.extend(guarded(ctx, n, _silence, ctx, s, n))

    return fetch


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value or is_go_zero(value):
        return None
    try:
        return parse_ts(value)[0]
    except TimeError:
        return None


def _overlaps(obj: dict[str, Any], win: Window) -> bool:
    start, end = _time(obj.get("startsAt")), _time(obj.get("endsAt"))
    return (start is None or start <= win.end) and (end is None or end >= win.start)


def _resolved_if_ended(alert: dict[str, Any], now: datetime) -> dict[str, Any]:
    end = _time(alert.get("endsAt"))
    return {**alert, "status": "resolved"} if end is not None and end <= now else alert


def _silence(ctx: ParseContext, s: dict[str, Any], n: int) -> Event:
    matchers = []
    for m in s.get("matchers") or []:
        if isinstance(m, dict) and m.get("name"):
            op = (
                ("=" if m.get("isEqual", True) else "!=")
                if not m.get("isRegex")
                else ("=~" if m.get("isEqual", True) else "!~")
            )
            matchers.append(f"{m['name']}{op}{m.get('value', '')}")
    state = scalar(s, "status.state") or ""
    who = scalar(s, "createdBy")
    return event(
        ctx,
        n,
        source=SOURCE,
        kind="action",
        ts=stamp(ctx, s.get("startsAt"), what="startsAt", text_only=True),
        text=one_line(f"Silence {','.join(matchers)}", scalar(s, "comment"), sep=" — "),
        actor=who,
        attrs={
            "silence_id": scalar(s, "id"),
            "status": f"silence {state}".strip(),
            "matchers": ",".join(matchers),
            "ends_at": scalar(s, "endsAt"),
            "alertname": next(
                (m.split("=", 1)[1] for m in matchers if m.startswith("alertname=")), None
            ),
        },
    )
