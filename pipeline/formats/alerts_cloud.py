"""AWS CloudWatch alarm notifications: via SNS (email/HTTP subscription or the
Lambda ``Records[]`` event) and as EventBridge "CloudWatch Alarm State Change"
events. Both end in the same state-change event builder."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..jsonwalk import dig, maybe_json, str_attrs
from ..models import Event, EventKind
from . import Format, ParseContext, Source, register
from ._alertutil import (
    BadRecord,
    Record,
    Stamp,
    as_dict,
    as_list,
    event,
    guarded,
    has_all,
    matches,
    one_line,
    run,
    scalar,
    stamp,
)

_EB_ALARM = "CloudWatch Alarm State Change"
# Dimensions that name the service an alarm watches (ECS service, Lambda function).
_SERVICE_DIMS = ("ServiceName", "FunctionName", "service")


def _dims(v: Any) -> dict[str, str]:
    """SNS writes dimensions as [{"name", "value"}], EventBridge as {name: value}."""
    if isinstance(v, dict):
        return str_attrs(v)
    out: dict[str, str] = {}
    for d in as_list(v):
        name, value = scalar(d, "name"), scalar(d, "value")
        if name and value:
            out[name] = value
    return out


def _kind(state: str, old: str | None) -> EventKind:
    if state == "ALARM":
        return "alert_firing"
    # OK straight after INSUFFICIENT_DATA is a new alarm settling, not a recovery.
    if state == "OK" and old != "INSUFFICIENT_DATA":
        return "alert_resolved"
    return "log"


def _alarm_event(
    ctx: ParseContext,
    line: int,
    *,
    source: str,
    name: str | None,
    state: str | None,
    old: str | None,
    reason: str | None,
    ts: Stamp,
    dims: dict[str, str],
    attrs: dict[str, object],
) -> Event:
    if not name or not state:
        raise BadRecord("CloudWatch alarm without a name or state")
    state, old = state.upper(), old.upper() if old else None
    return event(
        ctx,
        line,
        source=source,
        kind=_kind(state, old),
        ts=ts,
        text=one_line(name, f"{state} (from {old})" if old else state, reason),
        attrs={
            "alertname": name,
            "status": state,
            "previous_status": old,
            "service": next((dims[k] for k in _SERVICE_DIMS if dims.get(k)), None),
            "dimensions": ",".join(f"{k}={v}" for k, v in dims.items()),
            **attrs,
        },
    )


def _eventbridge(ctx: ParseContext, obj: dict[str, Any], line: int, source: str) -> Event:
    if scalar(obj, "detail-type") != _EB_ALARM:
        raise BadRecord(f"not a {_EB_ALARM!r} event (detail-type {scalar(obj, 'detail-type')!r})")
    detail = as_dict(obj.get("detail"))
    metric = as_dict(dig(detail, "configuration.metrics.0.metricStat.metric"))
    return _alarm_event(
        ctx,
        line,
        source=source,
        name=scalar(detail, "alarmName"),
        state=scalar(detail, "state.value"),
        old=scalar(detail, "previousState.value"),
        reason=scalar(detail, "state.reason"),
        # state.timestamp is the evaluation time; the envelope time is when it was sent.
        ts=stamp(ctx, dig(detail, "state.timestamp"), obj.get("time"), what="state.timestamp"),
        dims=_dims(metric.get("dimensions")),
        attrs={
            "region": scalar(obj, "region"),
            "account": scalar(obj, "account"),
            "arn": scalar(obj, "resources.0"),
            "metric": scalar(metric, "name"),
            "namespace": scalar(metric, "namespace"),
            "description": scalar(detail, "configuration.description"),
        },
    )


def _sns(ctx: ParseContext, env: Any, line: int, source: str) -> Event:
    """One SNS notification (or a bare alarm message saved without its envelope)."""
    if not isinstance(env, dict):
        raise BadRecord("SNS notification is not a JSON object")
    # Message is JSON inside a JSON string; a bare alarm message is used as is.
    msg = maybe_json(env.get("Message")) if "Message" in env else env
    if not isinstance(msg, dict):
        raise BadRecord("SNS Message is not a JSON alarm notification")
    if "detail-type" in msg:  # EventBridge rule -> SNS topic
        return _eventbridge(ctx, msg, line, source)
    trigger = as_dict(msg.get("Trigger"))
    return _alarm_event(
        ctx,
        line,
        source=source,
        name=scalar(msg, "AlarmName"),
        state=scalar(msg, "NewStateValue"),
        old=scalar(msg, "OldStateValue"),
        reason=scalar(msg, "NewStateReason"),
        ts=stamp(ctx, msg.get("StateChangeTime"), env.get("Timestamp"), what="StateChangeTime"),
        dims=_dims(trigger.get("Dimensions")),
        attrs={
            "region": scalar(msg, "Region"),
            "account": scalar(msg, "AWSAccountId"),
            "arn": scalar(msg, "AlarmArn"),
            "metric": scalar(trigger, "MetricName"),
            "namespace": scalar(trigger, "Namespace"),
            "description": scalar(msg, "AlarmDescription"),
            "subject": scalar(env, "Subject"),
        },
    )


def _sns_record(ctx: ParseContext, rec: Record, source: str) -> Iterator[Event]:
    records = rec.obj.get("Records")
    if records is None:
        yield _sns(ctx, rec.obj, rec.line, source)
        return
    if not isinstance(records, list):
        raise BadRecord("'Records' is not a list")
    for r in records:  # Lambda event: {"Records": [{"EventSource": "aws:sns", "Sns": {...}}]}
        line = rec.line_of(scalar(r, "Sns.MessageId"))
        yield from guarded(ctx, line, _sns, ctx, as_dict(r).get("Sns"), line, source)


@register
class CloudWatchSNS(Format):
    name = "cloudwatch_sns"
    kind = "alert"

    def sniff(self, head: str, name: str) -> int:
        alarm = "AlarmName" in head or _EB_ALARM in head
        if alarm and matches(head, r'"Type"\s*:\s*"Notification"|"EventSource"\s*:\s*"aws:sns"'):
            return 86
        if has_all(head, '"AlarmName"', '"NewStateValue"'):
            return 80  # the alarm message saved without its SNS envelope
        return 0

    def parse(self, src: Source, ctx: ParseContext) -> Iterable[Event]:
        return run(src, ctx, lambda rec: _sns_record(ctx, rec, self.name))


@register
class CloudWatchEventBridge(Format):
    name = "cloudwatch_eventbridge"
    kind = "alert"

    def sniff(self, head: str, name: str) -> int:
        # The unescaped key only matches a top-level event, not one inside an SNS Message.
        return 88 if matches(head, r'"detail-type"\s*:\s*"CloudWatch Alarm State Change"') else 0

    def parse(self, src: Source, ctx: ParseContext) -> Iterable[Event]:
        return run(src, ctx, lambda rec: _eventbridge(ctx, rec.obj, rec.line, self.name))
