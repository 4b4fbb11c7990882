"""Alert webhooks: Alertmanager, Grafana, PagerDuty, Opsgenie, Datadog.

A file holds one payload, a JSON array of payloads or JSON lines; each parser maps
fields and leaves skip/ref/attrs plumbing to ``_alertutil``. Sniffing reads content
markers (not file names) and scores 65-90, well above generic JSON-lines logs (~10)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import partial
from typing import Any

from ..jsonwalk import str_attrs
from ..models import Event, EventKind
from ..timeparse import is_go_zero
from . import Format, ParseContext, Source, register
from ._alertutil import (
    BadRecord,
    Record,
    Stamp,
    actor_of,
    as_dict,
    as_list,
    clean_markdown,
    event,
    file_time,
    first_line,
    guarded,
    has_all,
    humanize,
    kv_text,
    matches,
    one_line,
    run,
    scalar,
    severity,
    stamp,
    tag_list,
)

# ---------------------------------------------------------------- Alertmanager / Grafana

# Keys only Grafana's notifier writes; Alertmanager's own webhook has none of them.
_GRAFANA_MARKERS = ('"orgId"', '"dashboardURL"', '"panelURL"', '"silenceURL"', '"valueString"')
_GRAFANA_LEGACY = r'"evalMatches"\s*:|"ruleName"\s*:[^,]*,[\s\S]{0,2000}"ruleUrl"\s*:'
_SERVICE_LABELS = ("service", "job", "instance")


def _am_shape(head: str) -> bool:
    return matches(head, r'"alerts"\s*:\s*\[') and matches(head, r'"startsAt"\s*:')


def _am_events(ctx: ParseContext, rec: Record, source: str, seen: set[str]) -> Iterator[Event]:
    obj = rec.obj
    if "alerts" not in obj and ("labels" in obj or "startsAt" in obj):
        alerts: list[Any] = [obj]  # a bare alert: JSON lines / array of alerts
        payload: dict[str, Any] = {}
    elif isinstance(obj.get("alerts"), list):
        alerts, payload = obj["alerts"], obj
    else:
        raise BadRecord("no 'alerts' list in payload")
    for alert in alerts:
        line = rec.line_of(scalar(alert, "fingerprint") or scalar(alert, "startsAt"))
        yield from guarded(ctx, line, _am_alert, ctx, alert, payload, line, source, seen)


def _am_alert(
    ctx: ParseContext, alert: Any, payload: dict[str, Any], line: int, source: str, seen: set[str]
) -> Iterator[Event]:
    if not isinstance(alert, dict):
        raise BadRecord("alert is not a JSON object")
    # common* are the intersection over the group: only a fallback for a stripped alert.
    labels = str_attrs(alert.get("labels")) or str_attrs(payload.get("commonLabels"))
    notes = str_attrs(alert.get("annotations")) or str_attrs(payload.get("commonAnnotations"))
    name = labels.get("alertname") or scalar(payload, "title") or "alert"
    # API v2 alerts carry status as {"state": "active"}; webhooks as a string.
    status = (scalar(alert, "status", "status.state") or scalar(payload, "status") or "").lower()
    fired = stamp(ctx, alert.get("startsAt"), what="startsAt", text_only=True)
    summary, description = notes.get("summary"), notes.get("description")
    attrs = {
        "alertname": name,
        "fingerprint": alert.get("fingerprint"),
        "service": next((labels[k] for k in _SERVICE_LABELS if labels.get(k)), None),
        "status": status or "firing",
        "url": scalar(alert, "generatorURL", "panelURL", "dashboardURL")
        or scalar(payload, "externalURL"),
        "receiver": scalar(payload, "receiver"),
        "summary": summary,
        "description": description,
        "dashboard_url": scalar(alert, "dashboardURL"),
        "panel_url": scalar(alert, "panelURL"),
        "values": kv_text(alert.get("values")),
        "host": labels.get("host"),
    }
    text = one_line(name, one_line(summary, description, sep=" — "))
    mk = partial(event, ctx, line, source=source, severity=severity(labels.get("severity")))
    # Re-notifications repeat the alert with the same startsAt (and often a changed
    # description): one firing event per alert start, not one per notification.
    key = f"{attrs['fingerprint'] or name}@{fired[0].isoformat()}"
    if key not in seen:
        seen.add(key)
        yield mk(kind="alert_firing", ts=fired, text=text, attrs=attrs)
    if status != "resolved":
        return
    ends = alert.get("endsAt")
    if ends is None or is_go_zero(ends):
        # Go's zero time means "no end": the payload says resolved but gives no time.
        ctx.warn(f"line {line}: alert {name!r} resolved without endsAt; no resolve time")
        return
    try:
        resolved = stamp(ctx, ends, what="endsAt", text_only=True)
    except BadRecord as e:
        ctx.skip(line, str(e))
        return
    yield mk(kind="alert_resolved", ts=resolved, text=f"Resolved: {text}", attrs=attrs)


@register
class Alertmanager(Format):
    name = "alertmanager"
    kind = "alert"

    def sniff(self, head: str, name: str) -> int:
        if _am_shape(head) and matches(head, r'"groupKey"\s*:|"version"\s*:\s*"4"'):
            return 80
        if has_all(head, '"startsAt"', '"labels"', '"fingerprint"'):
            return 65  # bare alerts (API dump / JSON lines of alerts)
        return 0

    def parse(self, src: Source, ctx: ParseContext) -> Iterable[Event]:
        return run(src, ctx, partial(_am_events, ctx, source=self.name, seen=set()))


_NO_TIME = "legacy Grafana alert has no timestamp; used the file time"
_LEGACY_KINDS: dict[str, EventKind] = {"alerting": "alert_firing", "no_data": "alert_firing"}


def _grafana_legacy(ctx: ParseContext, rec: Record, source: str) -> Event:
    obj = rec.obj
    name = scalar(obj, "ruleName", "title")
    if not name or not ("ruleName" in obj or "evalMatches" in obj):
        raise BadRecord("not a Grafana alert (no alerts[] nor ruleName)")
    state = (scalar(obj, "state") or "").lower()
    evals = {
        scalar(m, "metric") or "?": scalar(m, "value") for m in as_list(obj.get("evalMatches"))
    }
    if f"{ctx.path}: {_NO_TIME}" not in ctx.warnings:  # legacy payloads carry no time
        ctx.warn(_NO_TIME)
    tags = str_attrs(obj.get("tags"))
    return event(
        ctx,
        rec.line,
        source=source,
        kind="alert_resolved" if state == "ok" else _LEGACY_KINDS.get(state, "log"),
        ts=file_time(ctx),
        text=one_line(name, scalar(obj, "message"), kv_text(evals)),
        severity=severity(tags.get("severity")),
        attrs={
            "alertname": name,
            "status": state or None,
            "service": tags.get("service"),
            "url": scalar(obj, "ruleUrl"),
            "rule_id": scalar(obj, "ruleId"),
            "title": scalar(obj, "title"),
        },
    )


@register
class Grafana(Format):
    """Unified alerting (v8+, Alertmanager-like ``alerts[]``) and legacy (<=7) payloads."""

    name = "grafana"
    kind = "alert"

    def sniff(self, head: str, name: str) -> int:
        if _am_shape(head) and any(m in head for m in _GRAFANA_MARKERS):
            return 85
        if matches(head, _GRAFANA_LEGACY) and matches(head, r'"state"\s*:'):
            return 84
        return 0

    def parse(self, src: Source, ctx: ParseContext) -> Iterable[Event]:
        seen: set[str] = set()

        def one(rec: Record) -> Iterable[Event] | Event:
            if "alerts" in rec.obj or "startsAt" in rec.obj:
                return _am_events(ctx, rec, self.name, seen)
            return _grafana_legacy(ctx, rec, self.name)

        return run(src, ctx, one)


# ---------------------------------------------------------------- PagerDuty


def _pd_kind(verb: str) -> EventKind:
    """v3 past tense ("triggered") and v2/REST stems ("trigger") alike; the rest are actions."""
    if verb.startswith(("trigger", "reopen")):
        return "alert_firing"
    if verb.startswith("resolve"):
        return "alert_resolved"
    return "alert_ack" if verb.startswith("acknowledge") else "action"


def _pd_event(
    ctx: ParseContext,
    line: int,
    *,
    source: str,
    verb: str,
    ts: Stamp,
    actor: str | None,
    incident: dict[str, Any],
    lead: str | None = None,
    note: str | None = None,
    extra: dict[str, object] | None = None,
) -> Event:
    """One PagerDuty incident change, whatever envelope (v3, v2/v1, REST log entry)."""
    title = scalar(incident, "title", "summary", "trigger_summary_data.subject")
    num = scalar(incident, "number", "incident_number")
    done = verb if verb.endswith("ed") else verb + ("d" if verb.endswith("e") else "ed")
    lead = lead or (f"Incident #{num} {done}" if num else f"Incident {done}")
    sev = scalar(incident, "priority.summary", "priority.name") or scalar(incident, "urgency")
    return event(
        ctx,
        line,
        source=source,
        kind=_pd_kind(verb),
        ts=ts,
        actor=actor,
        text=one_line(lead, title, note),
        severity=severity(sev),
        attrs={
            "alertname": title or scalar(incident, "id") or "incident",
            "status": scalar(incident, "status") or done,
            "service": scalar(incident, "service.summary", "service.name"),
            "url": scalar(incident, "html_url"),
            "incident_id": scalar(incident, "id"),
            "incident_number": num,
            **(extra or {}),
        },
    )


def _pd_v3(ctx: ParseContext, rec: Record, source: str) -> Event:
    ev = as_dict(rec.obj.get("event"))
    event_type = scalar(ev, "event_type")
    if not event_type:
        raise BadRecord("PagerDuty v3 event without event_type")
    data = as_dict(ev.get("data"))
    # incident.* events carry the incident as data; notes and others reference it.
    incident = data if data.get("type") == "incident" else as_dict(data.get("incident"))
    return _pd_event(
        ctx,
        rec.line_of(scalar(ev, "id")),
        source=source,
        verb=event_type.removeprefix("incident."),
        ts=stamp(ctx, ev.get("occurred_at"), what="occurred_at"),
        actor=actor_of(ev.get("agent")),
        incident=incident,
        note=scalar(data, "content") if data is not incident else None,
        extra={"event_type": event_type},
    )


def _pd_message(ctx: ParseContext, msg: Any, line: int, source: str) -> Event:
    """A v2 (``event``) or v1 (``type`` + ``data.incident``) webhook message."""
    if not isinstance(msg, dict):
        raise BadRecord("PagerDuty message is not a JSON object")
    name = scalar(msg, "event", "type")
    if not name:
        raise BadRecord("PagerDuty message without event")
    incident = as_dict(msg.get("incident")) or as_dict(msg.get("data")).get("incident")
    entries = as_list(msg.get("log_entries"))
    entry = as_dict(entries[0]) if entries else {}
    actor = actor_of(entry.get("agent")) or actor_of(as_dict(incident).get("last_status_change_by"))
    return _pd_event(
        ctx,
        line,
        source=source,
        verb=name.removeprefix("incident."),
        ts=stamp(ctx, msg.get("created_on"), entry.get("created_at"), what="created_on"),
        actor=actor,
        incident=as_dict(incident),
        extra={"event_type": name},
    )


def _pd_record(ctx: ParseContext, rec: Record, source: str) -> Iterator[Event]:
    if isinstance(rec.obj.get("event"), dict):
        yield _pd_v3(ctx, rec, source)
    elif "messages" in rec.obj:
        if not isinstance(msgs := rec.obj["messages"], list):
            raise BadRecord("'messages' is not a list")
        for msg in msgs:
            line = rec.line_of(scalar(msg, "event", "type"))  # the event name opens a message
            yield from guarded(ctx, line, _pd_message, ctx, msg, line, source)
    else:  # one v2 message per JSON line
        yield _pd_message(ctx, rec.obj, rec.line, source)


@register
class PagerDuty(Format):
    """Webhooks v3 (``event.event_type``) and the older v2/v1 ``messages[]`` envelope."""

    name = "pagerduty"
    kind = "alert"

    def sniff(self, head: str, name: str) -> int:
        if matches(head, r'"event_type"\s*:\s*"(incident|service|pagey)\.'):
            return 88
        if matches(head, r'"(event|type)"\s*:\s*"incident\.\w+"'):
            return 88  # v2/v1 messages
        return 0

    def parse(self, src: Source, ctx: ParseContext) -> Iterable[Event]:
        return run(src, ctx, lambda rec: _pd_record(ctx, rec, self.name))


def _pd_log_entry(ctx: ParseContext, entry: Any, line: int, source: str) -> Event:
    if not isinstance(entry, dict):
        raise BadRecord("log entry is not a JSON object")
    etype = scalar(entry, "type") or ""
    if not etype.endswith("_log_entry"):
        raise BadRecord(f"not a PagerDuty log entry (type {etype!r})")
    verb = etype.removesuffix("_log_entry")
    incident = as_dict(entry.get("incident"))
    if "service" not in incident and isinstance(entry.get("service"), dict):
        incident = {**incident, "service": entry["service"]}
    return _pd_event(
        ctx,
        line,
        source=source,
        verb=verb,
        ts=stamp(ctx, entry.get("created_at"), what="created_at"),
        actor=actor_of(entry.get("agent")),
        incident=incident,
        lead=scalar(entry, "summary") or verb.replace("_", " ").capitalize(),
        note=scalar(entry, "note", "channel.summary") if verb == "annotate" else None,
        extra={"log_entry_type": etype, "channel": scalar(entry, "channel.type")},
    )


@register
class PagerDutyLogEntries(Format):
    """REST ``GET /log_entries`` (or an incident's log entries) saved as JSON."""

    name = "pagerduty_log_entries"
    kind = "alert"

    def sniff(self, head: str, name: str) -> int:
        if matches(head, r'"messages"\s*:') or not matches(head, r'"type"\s*:\s*"\w+_log_entry"'):
            return 0  # v2 webhooks embed log entries too: leave those to "pagerduty"
        return 78

    def parse(self, src: Source, ctx: ParseContext) -> Iterable[Event]:
        def one(rec: Record) -> Iterator[Event]:
            entries = rec.obj.get("log_entries", [rec.obj])
            if not isinstance(entries, list):
                raise BadRecord("'log_entries' is not a list")
            for entry in entries:
                line = rec.line_of(scalar(entry, "id"))
                yield from guarded(ctx, line, _pd_log_entry, ctx, entry, line, self.name)

        return run(src, ctx, one)


# ---------------------------------------------------------------- Opsgenie

_OG_KINDS: dict[str, EventKind] = {"create": "alert_firing", "acknowledge": "alert_ack"}
_OG_STATUS = {"create": "open", "acknowledge": "acked", "close": "closed"}


def _opsgenie(ctx: ParseContext, rec: Record, source: str) -> Event:
    obj = rec.obj
    action = scalar(obj, "action")
    alert = obj.get("alert")
    if not action or not isinstance(alert, dict):
        raise BadRecord("Opsgenie webhook without action/alert")
    verb = action.lower()
    # createdAt is epoch ms, updatedAt epoch ns: the creation is the time of "Create",
    # the last update the time of any later action.
    order = ("createdAt", "updatedAt") if verb == "create" else ("updatedAt", "createdAt")
    ts = stamp(ctx, *(alert.get(k) for k in order), what="createdAt/updatedAt")
    prio = alert.get("priority")
    if isinstance(prio, int) and not isinstance(prio, bool):
        prio = f"P{prio}"  # some payloads send the level as a bare number
    message = scalar(alert, "message")
    return event(
        ctx,
        rec.line,
        source=source,
        kind="alert_resolved" if verb == "close" else _OG_KINDS.get(verb, "action"),
        ts=ts,
        actor=scalar(alert, "username"),
        text=one_line(humanize(action), message, scalar(alert, "note")),
        severity=severity(prio),
        attrs={
            "alertname": message,
            "status": _OG_STATUS.get(verb, verb),
            "action": action,
            "alert_id": scalar(alert, "alertId"),
            "alias": scalar(alert, "alias"),
            "tiny_id": scalar(alert, "tinyId"),
            "entity": scalar(alert, "entity"),
            "service": scalar(obj, "service.name", "alert.service"),
            "tags": ",".join(tag_list(alert.get("tags"))),
            "integration": scalar(obj, "integrationName"),
        },
    )


@register
class Opsgenie(Format):
    name = "opsgenie"
    kind = "alert"

    def sniff(self, head: str, name: str) -> int:
        if matches(head, r'"action"\s*:\s*"') and matches(head, r'"(alertId|tinyId)"\s*:'):
            return 85
        return 0

    def parse(self, src: Source, ctx: ParseContext) -> Iterable[Event]:
        return run(src, ctx, lambda rec: _opsgenie(ctx, rec, self.name))


# ---------------------------------------------------------------- Datadog

_DD_RESOLVED = {"recovered", "success"}
_DD_FIRING = {"triggered", "re-triggered", "warn", "re-warn", "no data", "re-no data", "renotify"}
_BRACKETS = re.compile(r"^(\s*\[[^\]]*\]\s*)+")


def _dd_kind(transition: str | None, alert_type: str | None) -> EventKind:
    t = (transition or "").lower()
    if t in _DD_RESOLVED or (not t and alert_type == "success"):
        return "alert_resolved"
    if t in _DD_FIRING or (not t and alert_type in ("error", "warning")):
        return "alert_firing"
    return "log"


def _datadog(ctx: ParseContext, rec: Record, source: str) -> Event:
    obj = rec.obj
    ts = stamp(ctx, obj.get("date"), obj.get("last_updated"), what="date/last_updated")
    title = scalar(obj, "alert_title", "title", "event_title")
    # "[Triggered on {host:x}] Host is down" -> transition from the prefix, name after it.
    transition = scalar(obj, "alert_transition")
    if not transition and title and (m := re.match(r"\s*\[([A-Za-z -]+?)(?: on [^\]]*)?\]", title)):
        transition = m.group(1)
    name = _BRACKETS.sub("", title or "").strip() or scalar(obj, "alert_id", "id") or "monitor"
    alert_type = (scalar(obj, "alert_type") or "").lower() or None
    body = clean_markdown(scalar(obj, "body", "event_msg", "text") or "")
    tags = tag_list(obj.get("tags"))
    tag_map = {k: v for k, _, v in (t.partition(":") for t in tags) if v}
    sev = scalar(obj, "alert_priority") or (
        alert_type if alert_type in ("error", "warning") else None
    )
    return event(
        ctx,
        rec.line,
        source=source,
        kind=_dd_kind(transition, alert_type),
        ts=ts,
        text=one_line(name, scalar(obj, "alert_status") or first_line(body)),
        severity=severity(sev),
        attrs={
            "alertname": name,
            "status": transition or alert_type,
            "service": tag_map.get("service"),
            "monitor_id": scalar(obj, "alert_id"),
            "metric": scalar(obj, "alert_metric"),
            "host": scalar(obj, "host_name", "hostname", "host"),
            "scope": scalar(obj, "alert_scope"),
            "tags": ",".join(tags),
            "url": scalar(obj, "link", "url", "event_url"),
            "event_type": scalar(obj, "event_type"),
        },
    )


@register
class Datadog(Format):
    """Monitor webhooks: default payload (body/date/last_updated) or custom ``alert_*`` one."""

    name = "datadog"
    kind = "alert"

    def sniff(self, head: str, name: str) -> int:
        if matches(head, r'"alert_transition"\s*:'):
            return 80
        if has_all(head, '"last_updated"', '"date"') and matches(head, r'"(event_type|body)"\s*:'):
            return 75
        return 0

    def parse(self, src: Source, ctx: ParseContext) -> Iterable[Event]:
        return run(src, ctx, lambda rec: _datadog(ctx, rec, self.name))
