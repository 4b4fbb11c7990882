"""Prometheus HTTP API (and Thanos, Mimir, VictoriaMetrics, which serve it).

``ALERTS{alertstate="firing"}`` over the window becomes fired/resolved alerts:
raw samples are read with a range selector (``[Nms]`` evaluated at the end of
each chunk), not ``query_range``, whose 5-minute lookback would stretch every
alert past its last evaluation. Runs of samples become Alertmanager-shaped
alerts and go through the Alertmanager parser's builder, so names, services,
severities and refs read like an Alertmanager export.

``--prom-query 'EXPR'`` (repeatable) is summarised per series: the peak, and
with a threshold (``'EXPR ; > 0.05'``: a trailing ``;`` then ``>``, ``>=``,
``<`` or ``<=`` and a number; PromQL has no ``;``) the first crossing and the
return, each an event, with the per-minute values kept in the peak's attrs.
"""

from __future__ import annotations

import hashlib
import math
import operator
import re
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ..formats import ParseContext
from ..formats._alertutil import guarded
from ..formats.alerts import _am_alert
from ..jsonwalk import dig, str_attrs
from ..models import Event
from ..timeparse import from_epoch
from . import Fetcher, Window
from ._http import Http, expect, token

SOURCE = "prometheus"
CHUNK = timedelta(hours=6)  # raw samples per request: 6 h of a 15 s rule = 1,440 per series
MAX_POINTS = 11_000  # Prometheus refuses a query_range of more points per series
MAX_SERIES = 10  # per --prom-query: the highest peaks; the rest counted in a warning
PER_MINUTE_KEEP = 240  # values kept in attrs for the picture: 4 h a minute apart, then sparser
_THRESHOLD = re.compile(
    r"^(?P<expr>.*\S)\s*;\s*(?P<op>>=|<=|>|<)\s*(?P<val>[-+]?[0-9.]+(?:e[-+]?\d+)?)\s*$", re.I
)
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_HIDDEN = ("__name__", "alertstate")


@dataclass(frozen=True)
class Query:
    expr: str
    op: str | None = None
    threshold: float | None = None

    @classmethod
    def parse(cls, text: str) -> Query:
        m = _THRESHOLD.match(text.strip())
        if m is None:
            return cls(text.strip())
        return cls(m["expr"].strip(), m["op"], float(m["val"]))

    def crossed(self, v: float) -> bool:
        return (
            self.op is not None and self.threshold is not None and _OPS[self.op](v, self.threshold)
        )


def fetcher(url: str, queries: list[str], win: Window, timeout: float) -> Fetcher:
    def fetch(ctx: ParseContext, out: list[Event]) -> None:
        tok = token("PROMETHEUS_TOKEN", what=f"prometheus {ctx.path}")
        headers = {"Authorization": f"Bearer {tok}"} if tok else {}
        with Http(f"prometheus {ctx.path}", url, headers=headers, timeout=timeout) as http:
            seen: set[str] = set()
            for n, alert in enumerate(_alerts(http, win), 1):
                out.extend(guarded(ctx, n, _am_alert, ctx, alert, {}, n, SOURCE, seen))
            for q in queries:
                out.extend(_summary(http, Query.parse(q), win, ctx, len(out)))

    return fetch


def _matrix(http: Http, doc: Any) -> list[dict[str, Any]]:
    expect(
        isinstance(doc, dict) and doc.get("status") == "success", http.name, "status is not success"
    )
    expect(dig(doc, "data.resultType") == "matrix", http.name, "resultType is not matrix")
    result = dig(doc, "data.result")
    expect(isinstance(result, list), http.name, "data.result is not a list")
    return [s for s in result if isinstance(s, dict)]


def _samples(series: dict[str, Any]) -> list[tuple[float, float]]:
    out = []
    for pair in series.get("values") or []:
        try:
            t, v = float(pair[0]), float(pair[1])
        except (TypeError, ValueError, IndexError):
            continue
        if not math.isnan(v):
            out.append((t, v))
    return out


def _alerts(http: Http, win: Window) -> Iterator[dict[str, Any]]:
    """Alertmanager-shaped alerts, one per run of firing samples."""
    series: dict[tuple[tuple[str, str], ...], list[float]] = {}
    start = win.start - timedelta(milliseconds=1)  # a range selector is open at its start
    while start < win.end:
        end = min(start + CHUNK, win.end)
        span_ms = max(1, int((end - start).total_seconds() * 1000))
        doc = http.get(
            "/api/v1/query",
            {
                "query": f'ALERTS{{alertstate="firing"}}[{span_ms}ms]',
                "time": f"{end.timestamp():.3f}",
            },
        )
        for s in _matrix(http, doc):
            labels = {k: v for k, v in str_attrs(s.get("metric")).items() if k not in _HIDDEN}
            series.setdefault(tuple(sorted(labels.items())), []).extend(t for t, _ in _samples(s))
        start = end
    for key, times in sorted(series.items()):
        labels = dict(key)
        fp = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
        for first, last, step, still in _runs(sorted(set(times)), win.end.timestamp()):
            alert: dict[str, Any] = {
                "labels": labels,
                "fingerprint": fp,
                "startsAt": _iso(first),
                "status": "firing" if still else "resolved",
            }
            if not still:  # resolved at the first evaluation that no longer saw it firing
                alert["endsAt"] = _iso(last + step)
            yield alert


def _runs(times: list[float], end: float) -> Iterator[tuple[float, float, float, bool]]:
    """(first, last, evaluation interval, still firing at the end) per run of samples."""
    if not times:
        return
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    step = statistics.median(gaps) if gaps else 60.0
    limit = max(2.5 * step, 30.0)  # a missed evaluation or two is not a resolution
    first = prev = times[0]
    for t in times[1:]:
        if t - prev > limit:
            yield first, prev, step, False
            first = t
        prev = t
    yield first, prev, step, end - prev <= limit


def _iso(epoch: float) -> str:
    return from_epoch(epoch).isoformat().replace("+00:00", "Z")


# --- --prom-query summaries --------------------------------------------------------


def _summary(http: Http, q: Query, win: Window, ctx: ParseContext, base: int) -> list[Event]:
    span = (win.end - win.start).total_seconds()
    step = max(60, math.ceil(span / MAX_POINTS))
    doc = http.get(
        "/api/v1/query_range",
        {
            "query": q.expr,
            "start": f"{win.start.timestamp():.3f}",
            "end": f"{win.end.timestamp():.3f}",
            "step": f"{step}s",
        },
    )
    ranked = []
    for s in _matrix(http, doc):
        pts = _samples(s)
        if pts:
            ranked.append((max(v for _, v in pts), str_attrs(s.get("metric")), pts))
    ranked.sort(key=lambda r: -r[0])
    if len(ranked) > MAX_SERIES:
        ctx.warn(
            f"{q.expr!r}: {len(ranked) - MAX_SERIES} series beyond the {MAX_SERIES} highest not summarised"
        )
    if not ranked:
        ctx.warn(f"{q.expr!r}: no samples in the window")
    out: list[Event] = []
    for _, metric, pts in ranked[:MAX_SERIES]:
        out.extend(_series_events(q, metric, pts, step, ctx, base + len(out)))
    return out


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _series_events(
    q: Query,
    metric: dict[str, str],
    pts: list[tuple[float, float]],
    step: int,
    ctx: ParseContext,
    base: int,
) -> list[Event]:
    labels = ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
    what = f"{q.expr[:120]}" + (f" {{{labels}}}" if labels else "")
    peak_t, peak = max(pts, key=lambda p: (p[1], -p[0]))
    hits = [t for t, v in pts if q.crossed(v)]
    keep = pts[:: max(1, math.ceil(len(pts) / PER_MINUTE_KEEP))]
    attrs = {
        "query": q.expr,
        "series": labels,
        "service": metric.get("service") or metric.get("job") or "",
        "peak": _fmt(peak),
        "step_s": str(step),
        "per_minute": " ".join(f"{from_epoch(t):%H:%M}={_fmt(v)}" for t, v in keep),
    }
    if q.op:
        attrs["threshold"] = f"{q.op} {_fmt(q.threshold or 0.0)}"

    def ev(n: int, t: float, text: str, sev: str, extra: dict[str, str]) -> Event:
        return Event(
            ts=from_epoch(t),
            source=SOURCE,
            kind="log",
            actor=attrs["service"] or None,
            text=text,
            severity=sev,
            ref=ctx.ref(f"query{base + n}"),
            attrs={k: v for k, v in extra.items() if v},
        )

    out = [ev(1, peak_t, f"{what}: peak {_fmt(peak)}", "warning" if hits else "info", attrs)]
    if hits:
        v0 = next(v for t, v in pts if t == hits[0])
        short = {k: attrs[k] for k in ("query", "series", "service", "threshold")}
        out.append(
            ev(
                2,
                hits[0],
                f"{what}: first {q.op} {_fmt(q.threshold or 0)} ({_fmt(v0)})",
                "warning",
                short,
            )
        )
        after = [(t, v) for t, v in pts if t > hits[-1]]
        if after:
            t1, v1 = after[0]
            out.append(
                ev(
                    3,
                    t1,
                    f"{what}: back within {_fmt(q.threshold or 0)} ({_fmt(v1)})",
                    "info",
                    short,
                )
            )
    return out
