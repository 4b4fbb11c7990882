"""Evidence pulled from where it lives: Prometheus, Alertmanager, Loki,
Elasticsearch/OpenSearch, Slack and PagerDuty, by time window.

A source yields the same ``Event``s a format parser yields (each module
reuses its format's record builder), so redaction, normalization,
condensation and the ledger treat them exactly like files. Only the window
and the query go to the server; results are paged with bounded memory.

Order: alert sources first (PagerDuty needs no window; Prometheus and
Alertmanager use ``--since/--until``, else the window of the alerts read from
files, else the last 24 h), then log and chat sources over ``--since/--until``
or the incident window computed from every alert read so far. A source that
fails is one line naming it and the HTTP status; the others go on and the
report's ledger says what is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from ..formats import ParseContext
from ..ingest import FileReport, IngestResult
from ..models import Event, raw_count
from ..normalize import incident_window
from ._http import SourceError, display_url

DEFAULT_LOOKBACK = timedelta(hours=24)
UNAVAILABLE = "unavailable:"  # warning prefix the ledger reads (api._input_ledger)


class SourceSpec(BaseModel):
    """What the command line (or the Action) asked for. No tokens here: they are
    read from the environment by each source, so they never reach a cache key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prometheus: str | None = None
    prom_queries: list[str] = Field(default_factory=list)
    alertmanager: str | None = None
    loki: str | None = None
    logql: str | None = None
    elasticsearch: str | None = None
    es_index: str | None = None
    es_query: str | None = None
    slack: str | None = None
    pagerduty: str | None = None
    timeout: float = 30.0

    def any(self) -> bool:
        return any(
            (
                self.prometheus,
                self.alertmanager,
                self.loki,
                self.elasticsearch,
                self.slack,
                self.pagerduty,
            )
        )


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M:%S}Z to {self.end:%Y-%m-%d %H:%M:%S}Z"


# (events out, context for refs/skips/warnings) -> fills events; raises SourceError
Fetcher = Callable[[ParseContext, list[Event]], None]


@dataclass
class SourceContext(ParseContext):
    """Refs of records read from an API: ``URL#record3`` (``URL:3`` reads as a port)."""

    def ref(self, line: int | str | None) -> str:
        return super().ref(f"record{line}" if isinstance(line, int) else line)


def run_one(kind: str, display: str, fetch: Fetcher) -> tuple[list[Event], FileReport]:
    """One source: its events and a report; a failure keeps what was read before it."""
    ctx = SourceContext(path=display)
    out: list[Event] = []
    try:
        fetch(ctx, out)
    except SourceError as e:
        kept = f" (kept {len(out)} events read before the failure)" if out else ""
        ctx.warnings.append(f"{UNAVAILABLE} {e}{kept}")
    return out, FileReport(display, kind, sum(raw_count(e) for e in out), ctx.skipped, ctx.warnings)


def _window(
    events: list[Event], since: datetime | None, until: datetime | None, now: datetime
) -> Window | None:
    if since or until:
        end = until or now
        return Window(since or end - DEFAULT_LOOKBACK, end)
    found = incident_window(events)
    if found is None:
        return None
    return Window(found[0], found[1] or now)


def fetch_all(
    spec: SourceSpec,
    result: IngestResult,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> None:
    """Append every source's events and report to ``result`` (files already read)."""
    from . import alertmanager, elastic, loki, pagerduty, prometheus, slack

    now = now or datetime.now(UTC)
    t = spec.timeout

    def add(kind: str, display: str, fetch: Fetcher, note: str | None = None) -> None:
        events, report = run_one(kind, display, fetch)
        result.events.extend(events)
        result.files.append(report)
        if note:
            report.warnings.insert(0, f"{display}: {note}")

    if spec.pagerduty:
        add("pagerduty", pagerduty.display(spec.pagerduty), pagerduty.fetcher(spec.pagerduty, t))
    win = _window(result.events, since, until, now)
    note = None
    if win is None:
        win = Window(now - DEFAULT_LOOKBACK, now)
        note = f"no --since/--until and no alert read before: asked for the last 24 h ({win})"
    if spec.prometheus:
        fetch = prometheus.fetcher(spec.prometheus, spec.prom_queries, win, t)
        add("prometheus", display_url(spec.prometheus), fetch, note)
    if spec.alertmanager:
        fetch = alertmanager.fetcher(spec.alertmanager, win, t)
        add("alertmanager", display_url(spec.alertmanager), fetch, note)
    # logs and chat: the window of every alert read so far (files and sources)
    win = _window(result.events, since, until, now)
    logs: list[tuple[str, str, Callable[[Window], Fetcher]]] = []
    if spec.loki:
        logs.append(
            (
                "loki",
                display_url(spec.loki),
                lambda w: loki.fetcher(spec.loki or "", spec.logql or "", w, t),
            )
        )
    if spec.elasticsearch:
        logs.append(
            (
                "elasticsearch",
                display_url(spec.elasticsearch),
                lambda w: elastic.fetcher(
                    spec.elasticsearch or "", spec.es_index or "", spec.es_query, w, t
                ),
            )
        )
    if spec.slack:
        logs.append(
            ("slack", slack.display(spec.slack), lambda w: slack.fetcher(spec.slack or "", w, t))
        )
    for kind, display, make in logs:
        if win is None:
            add(kind, display, _no_window(kind, display))
        else:
            add(kind, display, make(win))


def _no_window(kind: str, display: str) -> Fetcher:
    def fail(ctx: ParseContext, out: list[Event]) -> None:
        raise SourceError(
            f"{kind} {display}: no time window (no alert read and no --since/--until); "
            "nothing was asked"
        )

    return fail


__all__ = ["SourceError", "SourceSpec", "Window", "fetch_all", "run_one"]
