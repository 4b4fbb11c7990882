"""Helpers shared by the alert parsers (alerts.py, alerts_cloud.py).

Every alert format is "JSON records -> a few events each"; this module holds
the loop that skips bad records, the event builder that keeps attrs as
str->str, and the small text/severity normalisers, so each parser only maps
fields.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeAlias

from ..jsonwalk import JSONRecordError, dig, iter_records, str_attrs
from ..models import Event, EventKind
from ..timeparse import TimeError, parse_ts
from . import ParseContext, Source

Stamp = tuple[datetime, bool]  # (utc time, inferred)
Produced: TypeAlias = Iterable[Event] | Event
P = ParamSpec("P")
TEXT_LIMIT = 240


class BadRecord(ValueError):
    """A record (or one alert inside it) that cannot become an event."""


@dataclass
class Record:
    """One JSON object with its starting line, able to find the line of a
    value inside it (so each alert of a pretty-printed payload gets its own ref)."""

    line: int
    obj: dict[str, Any]
    _text: str = field(repr=False)
    _starts: list[int] = field(repr=False)
    _pos: int = 0

    def line_of(self, token: object) -> int:
        """Line of the next occurrence of ``token`` (as JSON) after the last one found."""
        if not isinstance(token, str | int) or isinstance(token, bool) or token == "":
            return self.line
        needle = json.dumps(token) if isinstance(token, str) else str(token)
        start = max(self._pos, self._starts[self.line - 1])
        idx = self._text.find(needle, start)
        if idx < 0:
            return self.line
        self._pos = idx + len(needle)
        return bisect.bisect_right(self._starts, idx)


def records(src: Source, ctx: ParseContext) -> Iterator[Record]:
    """JSON objects of ``src``; invalid JSON and non-objects are skipped and counted."""
    text = src.text.lstrip("\ufeff")
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    for line, value in iter_records(text):
        if isinstance(value, JSONRecordError):
            ctx.skip(line, str(value))
        elif not isinstance(value, dict):
            ctx.skip(line, f"expected a JSON object, got {type(value).__name__}")
        else:
            yield Record(line, value, text, starts)


def run(
    src: Source, ctx: ParseContext, per_record: Callable[[Record], Produced]
) -> Iterator[Event]:
    """Drive a parser: a record that raises is skipped whole, the rest continue."""
    for rec in records(src, ctx):
        yield from guarded(ctx, rec.line, per_record, rec)


def guarded(
    ctx: ParseContext,
    line: int,
    produce: Callable[P, Produced],
    *args: P.args,
    **kwargs: P.kwargs,
) -> list[Event]:
    """Events of one unit (record or alert), or none plus a skip if it is malformed.
    Wrong JSON types surface as TypeError/AttributeError; we never let them escape."""
    try:
        out = produce(*args, **kwargs)
        return [out] if isinstance(out, Event) else list(out)
    except (ValueError, TypeError, AttributeError, KeyError) as e:
        ctx.skip(line, str(e) or type(e).__name__)
        return []


def stamp(ctx: ParseContext, *values: object, what: str = "time", text_only: bool = False) -> Stamp:
    """The first readable timestamp among ``values`` (Go zero time counts as absent).
    ``text_only`` refuses numbers where the format only writes RFC 3339 strings, so a
    stray ``12`` is not read as an epoch in 1970."""
    last: Exception | None = None
    for v in values:
        if v is None or v == "" or isinstance(v, dict | list):
            continue
        if text_only and not isinstance(v, str):
            last = TimeError(f"not an RFC 3339 string: {v!r}")
            continue
        try:
            return parse_ts(v, tz=ctx.tz)
        except TimeError as e:
            last = e
    raise BadRecord(f"missing or unreadable {what}" + (f" ({last})" if last else ""))


def file_time(ctx: ParseContext) -> Stamp:
    """For payloads that carry no time at all: the file's mtime, else now (inferred)."""
    return (ctx.mtime or datetime.now(UTC)), True


def scalar(obj: Any, *paths: str) -> str | None:
    """First non-empty scalar at ``paths`` as a stripped string (dicts/lists ignored,
    so a wrongly typed field reads as absent instead of a JSON blob)."""
    for p in paths:
        v = dig(obj, p)
        if isinstance(v, bool) or v is None or isinstance(v, dict | list):
            continue
        s = str(v).strip()
        if s:
            return s
    return None


def as_dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


_PRIORITY = re.compile(r"^(p|sev-?)\d$", re.I)


def severity(value: object) -> str | None:
    """Raw severity lowercased ("critical"), but priority codes kept upper ("P1")."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    s = str(value).strip()
    if not s:
        return None
    return s.upper() if _PRIORITY.match(s) else s.lower()


def one_line(*parts: str | None, sep: str = ": ", limit: int = TEXT_LIMIT) -> str:
    """Join the non-empty, non-repeated parts into one trimmed line."""
    seen: list[str] = []
    for p in parts:
        if p is None:
            continue
        s = " ".join(p.split())
        if s and all(s.lower() != q.lower() for q in seen):
            seen.append(s)
    text = sep.join(seen)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_NOISE = re.compile(r"(\*\*|__|`|^#+\s*|^\s*[-*]\s+|^\s*-\s*-\s*-\s*$)", re.M)
_MENTION = re.compile(r"(?<!\w)@[\w.-]+-[\w.-]+")  # @webhook-x, @slack-chan, @pagerduty-svc


def clean_markdown(text: str) -> str:
    """Datadog/markdown body -> plain text: drop %%% fences, links, emphasis, mentions."""
    text = text.replace("%%%", "\n")
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_NOISE.sub("", text)
    text = _MENTION.sub("", text)
    lines = [" ".join(ln.split()) for ln in text.splitlines()]
    return "\n".join(ln for ln in lines if ln and ln.strip("[]·| "))


def kv_text(v: Any) -> str | None:
    """{"A": 1.5, "B": 0} (Grafana ``values``) -> "A=1.5, B=0"."""
    return ", ".join(f"{k}={x}" for k, x in str_attrs(v).items()) or None


def tag_list(v: Any) -> list[str]:
    """Tags given as "a:b,c:d" (Datadog ``$TAGS``) or as a JSON list."""
    items = v.split(",") if isinstance(v, str) else as_list(v)
    return [str(t).strip() for t in items if isinstance(t, str | int) and str(t).strip()]


def humanize(action: str) -> str:
    """ "AddNote" -> "Add note" (Opsgenie actions are CamelCase)."""
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", action) or [action]
    return " ".join(words).capitalize()


def first_line(text: str | None) -> str | None:
    if not text:
        return None
    for ln in text.splitlines():
        if ln.strip():
            return ln.strip()
    return None


def actor_of(ref: Any) -> str | None:
    """A person from a PagerDuty-style reference; services/integrations are not actors."""
    if not isinstance(ref, dict):
        return None
    kind = str(ref.get("type") or "")
    if "service" in kind or "integration" in kind:
        return None
    return scalar(ref, "summary", "name", "email")


_KIND_STATUS = {"alert_firing": "firing", "alert_resolved": "resolved", "alert_ack": "acknowledged"}


def event(
    ctx: ParseContext,
    line: int | str,
    *,
    source: str,
    kind: EventKind,
    ts: Stamp,
    text: str,
    actor: str | None = None,
    severity: str | None = None,
    attrs: Mapping[str, object] | None = None,
) -> Event:
    """Build an Event; attrs with empty or non-scalar values are dropped, and a
    missing status is derived from the kind (downstream groups on it)."""
    clean: dict[str, str] = {}
    for k, v in (attrs or {}).items():
        if isinstance(v, bool):
            clean[k] = str(v).lower()
        elif isinstance(v, str | int | float) and str(v).strip():
            clean[k] = str(v).strip()
    clean.setdefault("status", _KIND_STATUS.get(kind, kind))
    return Event(
        ts=ts[0],
        ts_inferred=ts[1],
        source=source,
        kind=kind,
        actor=actor or None,
        text=text or clean.get("alertname") or kind,
        severity=severity,
        ref=ctx.ref(line),
        attrs=clean,
    )


def has_all(head: str, *needles: str) -> bool:
    return all(n in head for n in needles)


def matches(head: str, pattern: str) -> bool:
    return re.search(pattern, head) is not None
