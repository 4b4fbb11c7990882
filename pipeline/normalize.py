"""Stage 2: one sorted, de-duplicated, windowed UTC event list with stable ids."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .models import Event, last_seen, raw_count

SKEW_LIMIT = timedelta(minutes=2)
# Without --since/--until, logs are kept from the first alert minus WINDOW_BEFORE
# (the change that caused an incident usually lands within it) to the last
# resolution plus WINDOW_AFTER. Alerts and chat are never cut: people explain
# the root cause after the alerts resolve.
WINDOW_BEFORE = timedelta(hours=2)
WINDOW_AFTER = timedelta(hours=1)
SKEW_PAIR_WINDOW = timedelta(minutes=30)


@dataclass
class Normalized:
    events: list[Event]
    duplicates: int = 0
    outside_window: int = 0
    warnings: list[str] = field(default_factory=list)
    window: tuple[datetime, datetime | None] | None = None  # the detected one, if used
    outside_incident: int = 0  # log events outside it


def _sort_key(e: Event) -> tuple[datetime, str, str, int, str, str]:
    # "chat.txt:99" before "chat.txt:100": lines of one minute keep their order
    path, _, line = e.ref.rpartition(":")
    return (e.ts, e.source, path, int(line) if line.isdigit() else -1, e.ref, e.text)


def normalize(
    events: list[Event],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    auto_window: bool = True,
) -> Normalized:
    ordered = sorted(events, key=_sort_key)
    detected = incident_window(ordered) if auto_window and not (since or until) else None
    out: list[Event] = []
    seen: set[tuple[object, ...]] = set()
    dupes = outside = outside_incident = 0
    for e in ordered:
        if (since and e.ts < since) or (until and e.ts > until):
            outside += 1
            continue
        if detected and e.kind == "log" and not _overlaps(e, *detected):
            outside_incident += raw_count(e)
            continue
        # the same message exported twice (overlapping exports) counts once
        k = (e.ts, e.kind, e.source, e.actor, e.text)
        if k in seen:
            dupes += 1
            continue
        seen.add(k)
        out.append(e)
    # ids follow time order, so they are stable for the same inputs
    with_ids = [e.model_copy(update={"id": f"E{i}"}) for i, e in enumerate(out, 1)]
    norm = Normalized(with_ids, dupes, outside, clock_skew(with_ids))
    if outside_incident:
        norm.window, norm.outside_incident = detected, outside_incident
    return norm


def incident_window(events: list[Event]) -> tuple[datetime, datetime | None] | None:
    """First alert - WINDOW_BEFORE to last resolution + WINDOW_AFTER; open-ended
    while an alert still fires after the last resolution; None without alerts."""
    firing = [e.ts for e in events if e.kind == "alert_firing"]
    if not firing:
        return None
    resolved = [e.ts for e in events if e.kind == "alert_resolved"]
    end = max(resolved) + WINDOW_AFTER if resolved and max(resolved) >= max(firing) else None
    return min(firing) - WINDOW_BEFORE, end


def _overlaps(e: Event, start: datetime, end: datetime | None) -> bool:
    return last_seen(e) >= start and (end is None or e.ts <= end)  # grouped: first..last


def clock_skew(events: list[Event]) -> list[str]:
    """The same alert seen by two tools more than 2 minutes apart means a clock
    (or a pipeline delay) is off; say so rather than silently trusting one."""
    firsts: dict[tuple[str, str], Event] = {}
    for e in events:
        name = e.attrs.get("alertname")
        if e.kind != "alert_firing" or not name:
            continue
        firsts.setdefault((name.lower(), e.source), e)
    warnings = []
    by_name: dict[str, list[Event]] = {}
    for (name, _src), e in firsts.items():
        by_name.setdefault(name, []).append(e)
    for name, evs in by_name.items():
        for a in evs:
            for b in evs:
                gap = b.ts - a.ts
                if a.source < b.source and SKEW_LIMIT < abs(gap) < SKEW_PAIR_WINDOW:
                    warnings.append(
                        f"clock skew: alert {name!r} first seen at {a.ts:%H:%M:%S}Z in "
                        f"{a.source} and {b.ts:%H:%M:%S}Z in {b.source} "
                        f"({abs(gap).total_seconds():.0f} s apart)"
                    )
    return warnings
