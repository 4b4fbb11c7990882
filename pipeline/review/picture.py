"""A picture of the incident as SVG: alert firing intervals as bars, the
milestones (start, detected, acknowledged, mitigated, resolved) as markers,
and log errors per minute, from the facts and the evidence.

Served as an image (no script can run in it) and every label escaped.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timedelta
from xml.sax.saxutils import escape

from ..facts import compute
from ..models import AlertSummary, Event, Evidence, EvidenceItem, last_seen, raw_count
from .decision import ReviewSession

W, LEFT, RIGHT = 960, 170, 20
_ERROR_SEV = {"error", "err", "critical", "crit", "fatal", "alert", "emerg", "emergency", "panic"}
_ERROR_TEXT = re.compile(r"\b(error|exception|fatal|panic|fail(?:ed|ure)?|timeout|oom)\b", re.I)
MILESTONES = ("start", "detected", "acknowledged", "mitigated", "resolved")
_COLORS = {
    "start": "#8250df",
    "detected": "#cf222e",
    "acknowledged": "#bf8700",
    "mitigated": "#1a7f37",
    "resolved": "#0969da",
}


def is_error(e: Event) -> bool:
    if e.kind != "log":
        return False
    if e.severity:
        return e.severity.lower() in _ERROR_SEV
    return bool(_ERROR_TEXT.search(e.text))


def errors_per_minute(events: list[Event]) -> dict[datetime, float]:
    """Error lines per minute; a grouped event spreads its count over its span."""
    out: defaultdict[datetime, float] = defaultdict(float)
    for e in events:
        if not is_error(e):
            continue
        n = e.count if isinstance(e, EvidenceItem) else raw_count(e)
        first = e.ts.replace(second=0, microsecond=0)
        last_ts = (e.last_ts or e.ts) if isinstance(e, EvidenceItem) else last_seen(e)
        last = last_ts.replace(second=0, microsecond=0)
        span = max(1, int((last - first).total_seconds() // 60) + 1)
        for k in range(span):
            out[first + timedelta(minutes=k)] += n / span
    return out


def _alerts(session: ReviewSession) -> list[AlertSummary]:
    facts = session.report.facts
    if facts.alerts or session.facts_known:
        return facts.alerts
    # a report read without its JSON: the alert lines of its appendix
    items = [e for e in session.known.values() if e.kind.startswith("alert_")]
    if not items:
        return []
    pack = Evidence(
        items=sorted(items, key=lambda e: e.ts), budget_tokens=0, tokens=0, total_events=len(items)
    )
    return compute(pack).alerts


def svg(session: ReviewSession) -> str:
    r = session.report
    f = r.facts
    alerts = _alerts(session)
    marks: list[tuple[str, datetime]] = [
        (name, ts) for name in MILESTONES if (ts := getattr(f, name).ts) is not None
    ]
    if not marks:  # no computed milestones: the timeline's own moments
        marks = [(f"{t.ts:%H:%M}", t.ts) for t in r.draft.timeline]
    errors = errors_per_minute(session.events)
    times = [m[1] for m in marks] + list(errors)
    times += [a.fired_at for a in alerts] + [a.resolved_at for a in alerts if a.resolved_at]
    if not times:
        return _frame(
            120,
            ['<text x="20" y="60" class="none">Nothing to draw: no times in this report.</text>'],
        )
    t0 = min(times).replace(second=0, microsecond=0)
    t1 = max(times) + timedelta(minutes=1)
    span = max((t1 - t0).total_seconds(), 60.0)

    def x(ts: datetime) -> float:
        return LEFT + (W - LEFT - RIGHT) * (ts - t0).total_seconds() / span

    body: list[str] = []
    y = 30
    body.append(f'<text x="10" y="{y}" class="h">Alerts firing</text>')
    for a in alerts[:12]:
        y += 22
        end = a.resolved_at or t1
        title = (
            f"{a.name}: {a.fired_at:%H:%M}–{a.resolved_at:%H:%M}"
            if a.resolved_at
            else f"{a.name}: from {a.fired_at:%H:%M}, not resolved"
        )
        body.append(f'<text x="10" y="{y + 12}" class="l">{escape(a.name[:24])}</text>')
        body.append(
            f'<rect x="{x(a.fired_at):.1f}" y="{y}" width="{max(x(end) - x(a.fired_at), 3):.1f}" '
            f'height="15" rx="3" class="alert"><title>{escape(title)}</title></rect>'
        )
    if not alerts:
        y += 22
        body.append(f'<text x="{LEFT}" y="{y + 12}" class="none">no alerts in the evidence</text>')
    y += 40
    heading = (
        "Milestones"
        if session.facts_known or any(getattr(f, m).ts for m in MILESTONES)
        else "Timeline"
    )
    body.append(f'<text x="10" y="{y}" class="h">{heading}</text>')
    for n, (name, ts) in enumerate(marks):
        cx = x(ts)
        color = _COLORS.get(name, "#57606a")
        ly = y + 28 + 14 * (n % 2)
        body.append(
            f'<line x1="{cx:.1f}" y1="20" x2="{cx:.1f}" y2="{y + 10}" stroke="{color}" class="m"/>'
            f'<circle cx="{cx:.1f}" cy="{y + 10}" r="5" fill="{color}"><title>{escape(name)} {ts:%H:%M:%S}</title></circle>'
            f'<text x="{cx:.1f}" y="{ly}" class="ml" fill="{color}">{escape(name)}</text>'
        )
    y += 70
    body.append(f'<text x="10" y="{y}" class="h">Log errors / min</text>')
    peak = max(errors.values(), default=0.0)
    base = y + 60
    for minute, count in sorted(errors.items()):
        h = 55 * count / peak if peak else 0.0
        bw = max(x(minute + timedelta(minutes=1)) - x(minute) - 1, 1.5)
        body.append(
            f'<rect x="{x(minute):.1f}" y="{base - h:.1f}" width="{bw:.1f}" height="{h:.1f}" class="err">'
            f"<title>{minute:%H:%M} {count:.0f} errors</title></rect>"
        )
    body.append(f'<text x="10" y="{base}" class="l">peak {peak:.0f}</text>')
    y = base + 8
    body.append(f'<line x1="{LEFT}" y1="{y}" x2="{W - RIGHT}" y2="{y}" class="axis"/>')
    step = _tick(span)
    tick = t0 + timedelta(minutes=-(t0.minute % step) + step) if t0.minute % step else t0
    while tick <= t1:
        tx = x(tick)
        body.append(f'<line x1="{tx:.1f}" y1="{y}" x2="{tx:.1f}" y2="{y + 5}" class="axis"/>')
        body.append(f'<text x="{tx:.1f}" y="{y + 18}" class="t">{tick:%H:%M}</text>')
        tick += timedelta(minutes=step)
    body.append(f'<text x="{W - RIGHT}" y="{y + 34}" class="t end">UTC, {t0:%Y-%m-%d}</text>')
    return _frame(y + 44, body)


def _tick(span_seconds: float) -> int:
    minutes = span_seconds / 60
    return next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 240, 720) if minutes / s <= 12), 1440)


def _frame(height: int, body: list[str]) -> str:
    style = (
        "text{font:12px system-ui,sans-serif;fill:#24292f}.h{font-weight:600}"
        ".l{fill:#57606a}.t{fill:#57606a;text-anchor:middle}.end{text-anchor:end}"
        ".ml{text-anchor:middle;font-size:11px}.none{fill:#8c959f;font-style:italic}"
        ".alert{fill:#cf222e;opacity:.75}.err{fill:#bc4c00}.m{stroke-dasharray:3 3;opacity:.6}"
        ".axis{stroke:#8c959f}"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="{W}" height="{height}" '
        f'role="img" aria-label="Incident picture"><style>{style}</style>'
        f'<rect width="{W}" height="{height}" fill="#fff"/>' + "".join(body) + "</svg>"
    )
