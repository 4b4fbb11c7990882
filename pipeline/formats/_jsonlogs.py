"""JSON log formats: JSON lines (klog, ECS, pino/bunyan, docker, logcli,
structlog...) and Loki query results. Imported by ``logs``.

JSON-lines logs sniff low (35): alert webhooks and chat exports are JSON too
and score 60-90, so a log only wins when nothing more specific claims the file,
and only when its records carry both a time key and a message key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from ..jsonwalk import JSONRecordError, dig, iter_records, str_attrs
from ..models import Event
from ..timeparse import from_epoch, parse_ts
from . import Format, ParseContext, Source, register
from ._lineutil import MAX_LINE, attrs, head_lines, iso, level, logfmt, one_line

TIME_KEYS = ("@timestamp", "timestamp", "time", "ts", "t", "datetime", "date", "eventTime")
MSG_KEYS = ("message", "msg", "log", "line", "text", "event", "body", "textPayload")
LEVEL_KEYS = ("log.level", "level", "severity", "lvl", "levelname", "loglevel", "severity_text")
HOST_KEYS = ("host.hostname", "host.name", "hostname", "host", "kubernetes.host", "node")
SERVICE_KEYS = (
    "service.name",
    "service",
    "app",
    "application",
    "kubernetes.labels.app",
    "kubernetes.container_name",
    "container",
    "job",
    "name",
)
# top-level keys of alert webhooks and chat exports: never a log record
FOREIGN_KEYS = frozenset({"alerts", "messages", "incident", "receiver", "alert", "channel"})
_PINO = {10: "trace", 20: "debug", 30: "info", 40: "warning", 50: "error", 60: "fatal"}
_KEY = re.compile(r'"([\w@.]+)"\s*:')
_EPOCH_NS = datetime(1970, 1, 1, tzinfo=UTC)


def get(obj: dict[str, Any], *keys: str) -> Any:
    """First non-empty scalar among keys, flat (``"log.level"``) or nested."""
    for key in keys:
        v = obj[key] if key in obj else (dig(obj, key) if "." in key else None)
        if v not in (None, "") and not isinstance(v, dict | list | bool):
            return v
    return None


def is_log_record(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and not FOREIGN_KEYS.intersection(obj)
        and obj.get("type") != "message"  # chat messages have ts + text too
        and not ("user" in obj and "text" in obj)
        and get(obj, *TIME_KEYS) is not None
        and get(obj, *MSG_KEYS) is not None
    )


def when(value: Any, ctx: ParseContext) -> tuple[datetime, bool]:
    if isinstance(value, int | float):
        return from_epoch(value), False
    if isinstance(value, dict) and "seconds" in value:  # protobuf Timestamp
        return from_epoch(float(value["seconds"]) + float(value.get("nanos", 0)) / 1e9), False
    text = str(value)
    if text[:4].isdigit() and text[4:5] == "-":
        return iso(text, ctx.tz)
    return parse_ts(text, tz=ctx.tz)


def severity(obj: dict[str, Any]) -> str | None:
    raw = get(obj, *LEVEL_KEYS)
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return _PINO.get(int(raw), str(raw))  # pino/bunyan numeric levels
    if raw is None and "err" in obj:  # klog's JSON has no level: errors carry "err"
        return "error"
    if raw is None and "v" in obj and "ts" in obj:
        return "info"
    return level(raw)


def fields(obj: dict[str, Any]) -> tuple[str, str | None, str | None, dict[str, str]]:
    """(text, severity, actor, attrs) of one JSON log record."""
    msg = str(get(obj, *MSG_KEYS) or "").strip()
    err = get(obj, "err", "error", "error.message")
    if isinstance(err, str) and err not in msg:
        msg = f"{msg}: {err}" if msg else err
    sev = severity(obj)
    raw_labels = obj.get("labels")
    labels: dict[str, Any] = raw_labels if isinstance(raw_labels, dict) else {}
    host = get(obj, *HOST_KEYS) or get(labels, "host", "instance", "node", "pod")
    service = get(obj, *SERVICE_KEYS) or get(labels, "service_name", "service", "app", "job")
    logger = get(obj, "logger", "log.logger", "logger_name")
    pod = get(obj, "pod.name", "pod", "kubernetes.pod_name", "kubernetes.pod.name")
    extra = attrs(
        host=host, service=service, level=sev, logger=logger, pod=pod, caller=obj.get("caller")
    )
    return msg, sev, str(service or logger or pod or host or "") or None, extra


def _event(
    ctx: ParseContext, source: str, ts: tuple[datetime, bool], ref: str, body: tuple[Any, ...]
) -> Event:
    msg, sev, actor, extra = body
    return Event(
        ts=ts[0],
        ts_inferred=ts[1],
        source=source,
        kind="log",
        actor=actor,
        text=one_line(msg[:MAX_LINE]),
        severity=sev,
        ref=ref,
        attrs=extra,
    )


@register
class JsonLog(Format):
    name = "jsonlog"
    kind = "log"

    def sniff(self, head: str, name: str) -> int:
        start = head.lstrip("\ufeff \t\r\n")[:1]
        if start == "{" and '"_source"' in head and '"hits"' in head:
            return 40  # an Elasticsearch search response
        if start not in ("{", "["):
            return 0
        values = list(_values(head))
        if not values:
            return 0
        hits = sum(1 for v in values if is_log_record(v))
        return 35 if hits >= min(2, len(values)) and hits >= 0.8 * len(values) else 0

    def parse(self, src: Source, ctx: ParseContext) -> Iterable[Event]:
        for line, value in iter_records(src.text):
            if isinstance(value, JSONRecordError):
                ctx.skip(line, str(value))
                continue
            hits = dig(value, "hits.hits")
            if isinstance(hits, list):  # Elasticsearch search response
                for i, hit in enumerate(hits):
                    yield from self._one(dig(hit, "_source"), ctx, ctx.ref(f"hits[{i}]"), line)
            else:
                yield from self._one(value, ctx, ctx.ref(line), line)

    def _one(self, obj: Any, ctx: ParseContext, ref: str, line: int) -> Iterator[Event]:
        if not isinstance(obj, dict):
            ctx.skip(line, "not a JSON object")
            return
        raw_ts = get(obj, *TIME_KEYS)
        if raw_ts is None:
            ctx.skip(line, "log record without a time key")
            return
        try:
            ts = when(raw_ts, ctx)
        except ValueError as e:
            ctx.skip(line, f"bad timestamp: {e}")
            return
        yield _event(ctx, self.name, ts, ref, fields(obj))


def _values(head: str) -> Iterator[Any]:
    """Up to 10 complete JSON values from the sniff head."""
    lines = head_lines(head, 12)
    if lines and all(ln.lstrip().startswith("{") for ln in lines):
        for ln in lines[:10]:  # JSON lines: cheap per-line decode
            try:
                yield json.loads(ln)
            except (json.JSONDecodeError, RecursionError):
                # a single line longer than the head: judge it by the keys it shows
                yield dict.fromkeys(_KEY.findall(ln[:4096]), "?") if len(lines) == 1 else None
        return
    for n, (_, value) in enumerate(iter_records(head)):
        if n >= 10 or isinstance(value, JSONRecordError):
            return
        yield value


@register
class Loki(Format):
    """Loki query API results (``data.result[].stream/values``) or push bodies
    (``streams[]``); values are ``[ns epoch string, line, metadata?]``."""

    name = "loki"
    kind = "log"

    def sniff(self, head: str, name: str) -> int:
        if head.lstrip("\ufeff \t\r\n")[:1] != "{" or '"values"' not in head:
            return 0
        if '"stream"' in head and ('"resultType"' in head or '"streams"' in head):
            return 50
        return 0

    def parse(self, src: Source, ctx: ParseContext) -> Iterable[Event]:
        for line, doc in iter_records(src.text):
            if isinstance(doc, JSONRecordError):
                ctx.skip(line, str(doc))
                continue
            streams = dig(doc, "data.result")
            if not isinstance(streams, list):
                streams = dig(doc, "streams")
            if not isinstance(streams, list):
                ctx.skip(line, "no data.result or streams list")
                continue
            for i, stream in enumerate(streams):
                yield from self._stream(i, stream, ctx, line)

    def _stream(self, i: int, stream: Any, ctx: ParseContext, line: int) -> Iterator[Event]:
        labels = str_attrs(dig(stream, "stream"))
        values = dig(stream, "values")
        if not isinstance(values, list):
            ctx.skip(line, f"result[{i}] has no values")
            return
        for j, pair in enumerate(values):
            ref = ctx.ref(f"result[{i}].values[{j}]")
            if not (isinstance(pair, list) and len(pair) >= 2 and isinstance(pair[1], str)):
                ctx.skip(line, f"result[{i}].values[{j}] is not [time, line]")
                continue
            try:
                ns = int(pair[0])
                ts = _EPOCH_NS + timedelta(microseconds=ns // 1000)
            except (TypeError, ValueError, OverflowError):
                ctx.skip(line, f"result[{i}].values[{j}]: bad nanosecond time {pair[0]!r}")
                continue
            yield _event(ctx, self.name, (ts, False), ref, self._body(pair[1], labels))

    @staticmethod
    def _body(text: str, labels: dict[str, str]) -> tuple[str, str | None, str | None, dict]:
        inner: Any = None
        if text.lstrip()[:1] == "{":
            try:
                inner = json.loads(text)
            except (json.JSONDecodeError, RecursionError):
                inner = None
        msg, sev, actor, extra = (
            fields(inner) if isinstance(inner, dict) else (text, None, None, {})
        )
        if not isinstance(inner, dict):
            kv = logfmt(text[:4096])
            msg, sev = kv.get("msg") or text, level(kv.get("level"))
        sev = sev or level(labels.get("level") or labels.get("detected_level"))
        service = get(labels, "service_name", "service", "app", "job", "container")
        host = get(labels, "host", "instance", "node", "pod")
        extra = {**labels, **extra, **attrs(level=sev, service=service, host=host)}
        return msg or text, sev, actor or service or host, extra
