"""Stage 4: the clock and the metrics, computed by code from the evidence.

Each fact carries the evidence ids it came from and its formula, so a reader
(or ``--json-out``) can check it. The model only quotes these numbers.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta

from .condense import ERROR_LEVELS, inert
from .cues import is_question, kinds
from .models import AlertSummary, Event, Evidence, EvidenceItem, Facts, Metric, TimedFact
from .urls import find_urls

_PAGE_SEV = {"critical", "page", "p1", "sev1", "sev-1", "high", "disaster", "error"}
_ACK = re.compile(r"\b(ack(?:ed|nowledged)?|looking( into)?|on it|investigating|i'?m on)\b", re.I)
_MITIGATE = re.compile(
    # past tense only: "happy to roll back" is an offer, "rolled back" is a fact
    r"\b(rolled[ -]?back|reverted|killed|terminated|restarted|failed over|scaled (?:up|out)|"
    r"mitigated|renewed|raised|bumped|disabled|drained|cancel(?:l)?ed|shed|fixed)\b",
    re.I,
)
# "rollback didn't help" is a wrong turn, not a mitigation
_NEGATED = re.compile(
    r"\b(didn'?t|did not|doesn'?t|does not|no luck|wasn'?t|isn'?t|not the|not it|won'?t|"
    r"haven'?t|hasn'?t|not yet)\b",
    re.I,
)
_RESOLVED = re.compile(
    r"\b(resolved|all clear|back to normal|fully recovered|recovering|closing|"
    r"(?:i'?ve |we'?ve )?closed (?:the|this) (?:issue|incident|ticket)|"
    r"(?:rollback|revert|fix|restart) worked|(?:is|are) (?:working|functional|healthy) again)\b",
    re.I,
)
_ACTION_HINT = re.compile(
    r"\b(we should|we (?:need|ought) to|todo|to-do|follow[- ]?ups?|action items?|"
    r"let'?s make sure|going forward|next time|in the future|"
    r"would have (?:let|helped|caught|prevented|avoided)|should have|start working on)\b",
    re.I,
)
# "how can we do better? some thoughts:" then "a) ...", "b) ...": a list of proposals
_HINT_LIST_OPENER = re.compile(
    r"\b(do better|improve\w*|follow[- ]?ups?|action items?|lessons?|ideas|thoughts|proposals?)\b.*[:?]\s*$",
    re.I,
)
_LIST_ITEM = re.compile(r"^\s*(?:[a-z0-9][).]|[-*•])\s+\S", re.I)
HINT_LIST_WINDOW = timedelta(minutes=10)


def action_hints(items: list[EvidenceItem], limit: int = 12) -> list[tuple[str, str]]:
    """Follow-ups people proposed: cue phrases, and the items of a list that
    follows "how can we do better? some thoughts:"."""
    out: list[tuple[str, str]] = []
    opened: EvidenceItem | None = None
    for i in items:
        if not _human(i):
            continue
        text = i.text.strip()
        if _HINT_LIST_OPENER.search(text):
            opened = i
        in_list = (
            opened is not None
            and i is not opened
            and i.ts - opened.ts <= HINT_LIST_WINDOW
            and _LIST_ITEM.match(text)
        )
        if in_list or _ACTION_HINT.search(text):
            out.append((i.id, text))
    return out[:limit]


SYMPTOM_LOOKBACK = timedelta(minutes=60)
NOISE_GAP = timedelta(hours=6)
_HEARTBEAT = re.compile(r"watchdog|dead ?mans? ?switch|heartbeat|infoinhibitor", re.I)


def heartbeat(i: EvidenceItem) -> bool:
    """An always-firing pipeline check (Watchdog): never part of an incident."""
    return bool(_HEARTBEAT.search(i.attrs.get("alertname") or i.text))


def _quiet(i: EvidenceItem) -> bool:
    """Heartbeats and info alerts don't mark when an incident was detected."""
    return heartbeat(i) or (i.severity or "").lower() in ("none", "info")


def _fact(item: EvidenceItem | Event | None, formula: str) -> TimedFact:
    if item is None:
        return TimedFact(ts=None, evidence=[], formula=formula + " (not found)")
    return TimedFact(ts=item.ts, evidence=[item.id], formula=formula)


def _minutes(a: datetime | None, b: datetime | None, formula: str) -> Metric:
    if a is None or b is None:
        return Metric(minutes=None, formula=formula + " (unknown)")
    return Metric(minutes=round((b - a).total_seconds() / 60, 1), formula=formula)


def _human(e: EvidenceItem) -> bool:
    """What people wrote: chat messages and incident notes, not bots."""
    return e.kind in ("message", "note") and e.attrs.get("bot") != "true"


def _reports_symptom(text: str) -> bool:
    return any(k == "symptom" for k, _ in kinds(text)) and not is_question(text)


def _alerts(items: list[EvidenceItem]) -> list[AlertSummary]:
    out: dict[str, dict[str, object]] = {}
    for it in items:
        # an always-firing Watchdog is never resolved: it would keep every incident open
        if not it.kind.startswith("alert_") or heartbeat(it):
            continue
        name = it.attrs.get("alertname") or it.text[:60]
        rec = out.setdefault(name, {"fired": None, "resolved": None, "n": 0, "sev": None, "ev": []})
        if it.kind == "alert_firing":
            rec["fired"] = rec["fired"] or it.ts
            rec["n"] = int(rec["n"]) + it.count  # type: ignore[call-overload]
            rec["sev"] = rec["sev"] or it.severity
            rec["resolved"] = None  # fired again after a resolve: still open
        elif it.kind == "alert_resolved" and rec["fired"] is not None:
            rec["resolved"] = it.last_ts or it.ts
        rec["ev"].append(it.id)  # type: ignore[attr-defined]
    result = []
    for name, r in out.items():
        fired = r["fired"]
        if not isinstance(fired, datetime):
            continue
        resolved = r["resolved"] if isinstance(r["resolved"], datetime) else None
        dur = round((resolved - fired).total_seconds() / 60, 1) if resolved else None
        result.append(
            AlertSummary(
                name=name,
                severity=r["sev"] if isinstance(r["sev"], str) else None,
                fired_at=fired,
                resolved_at=resolved,
                fired_count=int(r["n"]),  # type: ignore[call-overload]
                duration_minutes=dur,
                evidence=list(r["ev"])[:6],  # type: ignore[call-overload]
            )
        )
    return sorted(result, key=lambda a: a.fired_at)


def _severity(alerts: list[AlertSummary], ttr: float | None) -> str:
    paged = any((a.severity or "").lower() in _PAGE_SEV for a in alerts)
    if paged and ttr is not None and ttr >= 60:
        return "SEV-1"
    if paged:
        return "SEV-2"
    return "SEV-3"


def compute(evidence: Evidence) -> Facts:
    items = evidence.items
    firing = [i for i in items if i.kind == "alert_firing" and not _quiet(i)]
    paged = [i for i in firing if (i.severity or "").lower() in _PAGE_SEV]
    humans = [i for i in items if _human(i)]
    # an alert firing hours before anyone talked is background noise, not this incident
    pool = paged or firing
    if humans:
        pool = [i for i in pool if i.ts >= humans[0].ts - NOISE_GAP] or pool
    detected: EvidenceItem | None = pool[0] if pool else None
    detect_formula = "first alert that fired"
    if detected is None:
        # no alert: chat-only incidents are detected when someone reports the symptom
        detected = next((i for i in humans if _reports_symptom(i.text)), None)
        detect_formula = "first chat message reporting a symptom (no alert fired)"
    if detected is None and not humans:
        errors = [
            i for i in items if i.kind == "log" and (i.severity or "").lower() in ERROR_LEVELS
        ]
        # background errors predate the incident: the spike is among the most salient
        top = max((i.salience for i in errors), default=0.0)
        detected = next((i for i in errors if i.salience >= top - 10), None)
        detect_formula = "first of the most salient error-level log lines (no alert, no chat)"
    anchor = detected.ts if detected else (items[0].ts if items else None)

    start: EvidenceItem | None = detected
    if anchor is not None:
        for it in items:
            errorish = it.kind == "log" and (it.severity or "").lower() in ERROR_LEVELS
            if errorish and anchor - SYMPTOM_LOOKBACK <= it.ts < (start.ts if start else anchor):
                start = it
                break
    ack = next((i for i in items if i.kind == "alert_ack"), None)
    ack_formula = "first acknowledgement of an alert"
    if ack is None and anchor is not None:
        ack = next((i for i in items if _human(i) and i.ts >= anchor and _ACK.search(i.text)), None)
        ack_formula = "first chat message after detection saying ack/looking/investigating"
    mitigated = None
    if anchor is not None:
        mitigated = next(
            (
                i
                for i in items
                if i.ts >= anchor
                and i.kind in ("message", "note", "action", "log")
                and _MITIGATE.search(i.text)
                and not i.text.rstrip().endswith("?")
                and not _NEGATED.search(i.text)
            ),
            None,
        )
    alerts = _alerts(items)
    open_alerts = [a for a in alerts if a.resolved_at is None]
    resolved_item: EvidenceItem | None = None
    closing = [i for i in items if i.kind == "action" and i.attrs.get("status") == "resolved"]
    resolutions = [i for i in items if i.kind == "alert_resolved"]
    if closing:
        resolved_item, res_formula = closing[-1], "incident closed (tracker)"
    elif resolutions and not open_alerts:
        resolved_item, res_formula = resolutions[-1], "last alert resolution (all alerts resolved)"
    else:
        res_formula = "last alert resolution"
        said = [
            i
            for i in items
            if _human(i)
            and _RESOLVED.search(i.text)
            and not _NEGATED.search(i.text)
            and anchor
            and i.ts > anchor
        ]
        if said and not open_alerts:
            resolved_item, res_formula = said[-1], "last chat message declaring resolution"
    s_ts = start.ts if start else None
    d_ts = detected.ts if detected else None
    r_ts = (resolved_item.last_ts or resolved_item.ts) if resolved_item else None
    ttr = _minutes(s_ts, r_ts, "resolved - start")
    participants = Counter(i.actor for i in items if _human(i) and i.actor)

    # services named by alerts first (that is what was impacted), then the rest by volume
    def svc(i: EvidenceItem) -> str | None:
        return i.attrs.get("service") or i.attrs.get("job")

    alert_svcs = list(
        dict.fromkeys(s for i in items if i.kind.startswith("alert") and (s := svc(i)))
    )
    others = Counter(s for i in items if not i.kind.startswith("alert") and (s := svc(i)))
    services = alert_svcs + [s for s, _ in others.most_common() if s not in alert_svcs]
    if detected is not None and (first := svc(detected)) in services:
        services.remove(first)
        services.insert(0, first)  # the detecting alert names the impacted service
    links: list[str] = []
    for i in items:
        attr_urls = (v for k, v in i.attrs.items() if k in ("url", "runbook_url"))
        for url in [*find_urls(i.text), *(u for v in attr_urls for u in find_urls(v)[:1])]:
            if url not in links:
                links.append(url)
    lead = ack.actor if ack is not None and ack.actor else None
    if lead is None and participants:
        lead = participants.most_common(1)[0][0]
    return Facts(
        start=_fact(start, "first alert, or first error-level event up to 60 min before it"),
        detected=_fact(detected, detect_formula),
        acknowledged=_fact(ack, ack_formula),
        mitigated=_fact(
            mitigated, "first mitigating action after detection (rollback, kill, restart, ...)"
        ),
        resolved=_fact(resolved_item, res_formula),
        time_to_detect=_minutes(s_ts, d_ts, "detected - start"),
        time_to_acknowledge=_minutes(d_ts, ack.ts if ack else None, "acknowledged - detected"),
        time_to_mitigate=_minutes(s_ts, mitigated.ts if mitigated else None, "mitigated - start"),
        time_to_resolve=ttr,
        alerts=alerts,
        participants=[p for p, _ in participants.most_common()],
        services=services,
        severity=_severity(alerts, ttr.minutes),
        status="Resolved" if resolved_item else "Ongoing",
        lead=lead,
        artifacts=links[:20],
        action_hints=action_hints(items),
    )


def describe(f: Facts) -> str:
    """The FACTS block shown to the model: numbers it must quote, not compute."""

    day = f.start.ts.date() if f.start.ts else None

    def t(x: TimedFact) -> str:
        if not x.ts:
            return "unknown"
        # the date once, at the start: every token here is read by a CPU model
        at = (
            f"{x.ts:%H:%M}" if x.ts.date() == day and x is not f.start else f"{x.ts:%Y-%m-%d %H:%M}"
        )
        return f"{at}Z [{', '.join(x.evidence)}]"

    def m(x: Metric) -> str:
        return f"{x.minutes:g} min" if x.minutes is not None else "unknown"

    lines = [
        f"status: {f.status}; computed severity: {f.severity}",
        f"start (first symptom): {t(f.start)}; detected: {t(f.detected)}",
        f"acknowledged: {t(f.acknowledged)}; mitigated: {t(f.mitigated)}; resolved: {t(f.resolved)}",
        f"time to detect {m(f.time_to_detect)}, acknowledge {m(f.time_to_acknowledge)}, "
        f"mitigate {m(f.time_to_mitigate)}, resolve {m(f.time_to_resolve)}",
        "alerts: "
        + "; ".join(
            f"{inert(a.name)} ({inert(a.severity or 'no severity')}) fired {a.fired_count}x"
            + (
                f", {a.duration_minutes:g} min"
                if a.duration_minutes is not None
                else ", not resolved"
            )
            for a in f.alerts[:10]
        ),
        f"services: {inert(', '.join(f.services[:10])) or 'unknown'}",
        f"participants: {len(f.participants)}",
    ]
    return "\n".join(lines)
