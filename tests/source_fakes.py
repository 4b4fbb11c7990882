"""Loopback fakes of the APIs the sources read (Loki, Elasticsearch/OpenSearch,
Slack, PagerDuty), answering with the documented response shapes, with
scripted faults (``tests.fakes.Fault``: status, Retry-After, delays, bodies)
served before the normal answer, and every request recorded.

Shapes, as documented:
- Loki ``GET /loki/api/v1/query_range``: ``{"status": "success", "data":
  {"resultType": "streams", "result": [{"stream": {labels}, "values":
  [["<ns>", "<line>"], ...]}]}}``; ``start`` inclusive, ``end`` exclusive,
  the first ``limit`` entries in ``direction`` order across streams.
- Elasticsearch ``POST /{index}/_pit`` -> ``{"id"}``; OpenSearch ``POST
  /{index}/_search/point_in_time`` -> ``{"pit_id"}``; ``POST /_search`` with
  ``pit`` -> ``{"pit_id", "hits": {"hits": [{"_index", "_id", "_source",
  "sort"}]}}``; dates sort as epoch milliseconds.
- Slack Web API: ``{"ok": true, "messages": [...], "has_more", "response_metadata":
  {"next_cursor"}}``, newest first; errors as HTTP 200 ``{"ok": false, "error"}``.
- PagerDuty ``GET /incidents/{id}/log_entries``: ``{"log_entries", "offset",
  "limit", "more", "total"}``.
"""

from __future__ import annotations

import bisect
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes import Fault, QuietHandler, loopback, send


@dataclass
class Req:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


App = Callable[[Req], Any]  # -> JSON-able (200), (status, body), or bytes


@dataclass
class FakeAPI:
    url: str = ""
    requests: list[Req] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def paths(self, prefix: str = "") -> list[str]:
        return [r.path for r in self.requests if r.path.startswith(prefix)]


@contextmanager
def serve(app: App, faults: list[Fault] | None = None) -> Iterator[FakeAPI]:
    state = FakeAPI(faults=list(faults or []))
    lock = threading.Lock()

    class Handler(QuietHandler):
        def _any(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            req = Req(self.command, parts.path, query, body, dict(self.headers.items()))
            with lock:
                state.requests.append(req)
                f = state.faults.pop(0) if state.faults else None
            if f and self.delay_or_reset(f):
                return
            if f and (f.status != 200 or f.body is not None):
                body_out = f.body if f.body is not None else {"error": "fault"}
                self._send(f.status, body_out, f.headers)
                return
            out = app(req)
            status, obj = out if isinstance(out, tuple) else (200, out)
            self._send(status, obj, {})

        do_GET = do_POST = do_DELETE = _any

        def _send(self, status: int, obj: Any, headers: dict[str, str]) -> None:
            if isinstance(obj, str):
                obj = obj.encode()
            send(self, status, obj if isinstance(obj, bytes) else json.dumps(obj).encode(), headers)

    with loopback(Handler) as url:
        state.url = url
        yield state


# --- Loki ---------------------------------------------------------------------------

Entry = tuple[int, int, str]  # (ns, stream index, line)
Select = Callable[[int, int, int], list[Entry]]  # (start, end, limit) -> entries in order


def select_from(entries: list[Entry]) -> Select:
    ordered = sorted(entries, key=lambda e: (e[0], e[1]))
    keys = [e[0] for e in ordered]

    def select(start: int, end: int, limit: int) -> list[Entry]:
        i = bisect.bisect_left(keys, start)
        j = bisect.bisect_left(keys, end)
        return ordered[i : min(j, i + limit)]

    return select


def loki_app(streams: list[dict[str, str]], select: Select) -> App:
    def app(req: Req) -> Any:
        if req.path != "/loki/api/v1/query_range":
            return 404, "404 page not found\n"
        if not req.query.get("query", "").startswith("{"):
            return 400, "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER\n"
        if req.query.get("direction") != "forward":
            return 400, "this fake only pages forward\n"
        start, end = int(req.query["start"]), int(req.query["end"])
        got = select(start, end, int(req.query.get("limit", "100")))
        by_stream: dict[int, list[list[str]]] = {}
        for ns, sid, line in got:
            by_stream.setdefault(sid, []).append([str(ns), line])
        result = [{"stream": streams[s], "values": v} for s, v in by_stream.items()]
        return {
            "status": "success",
            "data": {"resultType": "streams", "result": result, "stats": {}},
        }

    return app


# --- Elasticsearch / OpenSearch -----------------------------------------------------


def es_app(
    docs: list[dict[str, Any]], *, dist: str = "elasticsearch", version: str = "8.11.1"
) -> App:
    """``docs``: ``_source`` bodies with ``@timestamp`` (ISO); ids are their positions."""
    from datetime import datetime

    ms = [
        int(datetime.fromisoformat(d["@timestamp"].replace("Z", "+00:00")).timestamp() * 1000)
        for d in docs
    ]
    state: dict[str, Any] = {"pits": set(), "closed": []}

    def matches(i: int, body: dict[str, Any]) -> bool:
        for f in body["query"]["bool"]["filter"]:
            if "range" in f:
                r = f["range"]["@timestamp"]
                lo = datetime.fromisoformat(r["gte"]).timestamp() * 1000
                hi = datetime.fromisoformat(r["lte"]).timestamp() * 1000
                if not lo <= ms[i] <= hi:
                    return False
            if "query_string" in f:
                field_, _, value = f["query_string"]["query"].partition(":")
                src = docs[i]
                for part in field_.split("."):
                    src = src.get(part, {}) if isinstance(src, dict) else {}
                if src != value:
                    return False
        return True

    def search(body: dict[str, Any], pit: str | None) -> Any:
        sort = body["sort"]
        tb = next(iter(sort[1]))
        if tb == "_shard_doc" and (dist == "opensearch" or not pit):
            return 400, {
                "error": {
                    "type": "illegal_argument_exception",
                    "reason": "No mapping found for [_shard_doc]",
                }
            }
        keyed = []
        for i in range(len(docs)):
            if matches(i, body):
                keyed.append(((ms[i], i if tb == "_shard_doc" else f"{i:08d}"), i))
        keyed.sort()
        after = body.get("search_after")
        if after is not None:
            keyed = [k for k in keyed if k[0] > tuple(after)]
        page = keyed[: body["size"]]
        hits = [
            {
                "_index": "logs-2026.02.08",
                "_id": f"{i:08d}",
                "_score": None,
                "_source": docs[i],
                "sort": list(k),
            }
            for k, i in page
        ]
        out: dict[str, Any] = {"took": 1, "timed_out": False, "hits": {"hits": hits}}
        if pit:
            out["pit_id"] = pit + "+"  # a new id each time, as the docs warn
            state["pits"].add(pit + "+")
        return out

    def app(req: Req) -> Any:
        if req.path == "/" and req.method == "GET":
            v: dict[str, Any] = {"number": version}
            if dist == "opensearch":
                v["distribution"] = "opensearch"
            return {
                "name": "node-1",
                "version": v,
                "tagline": "The OpenSearch Project"
                if dist == "opensearch"
                else "You Know, for Search",
            }
        if dist == "elasticsearch" and req.path.endswith("/_pit") and req.method == "POST":
            state["pits"].add("pit-es")
            return {"id": "pit-es"}
        if (
            dist == "opensearch"
            and req.path.endswith("/_search/point_in_time")
            and req.method == "POST"
        ):
            state["pits"].add("pit-os")
            return {
                "pit_id": "pit-os",
                "_shards": {"total": 1, "successful": 1},
                "creation_time": 0,
            }
        if req.method == "DELETE":
            ids = req.body.get("pit_id") if dist == "opensearch" else [req.body.get("id")]
            state["closed"].extend(ids)
            return (
                {"succeeded": True}
                if dist == "elasticsearch"
                else {"pits": [{"pit_id": i, "successful": True} for i in ids]}
            )
        if req.path == "/_search":
            pit = (req.body.get("pit") or {}).get("id")
            if pit not in state["pits"]:
                return 404, {
                    "error": {
                        "type": "search_context_missing_exception",
                        "reason": "No search context found",
                    }
                }
            return search(req.body, pit)
        if req.path.endswith("/_search"):
            if req.body.get("pit"):
                return 400, {"error": {"reason": "[indices] cannot be used with point in time"}}
            return search(req.body, None)
        return 404, {"error": {"reason": f"no handler for {req.method} {req.path}"}}

    app.state = state  # type: ignore[attr-defined]
    return app


# --- Slack --------------------------------------------------------------------------


def slack_app(
    channels: list[dict[str, Any]],
    history: dict[str, list[dict[str, Any]]],
    replies: dict[str, list[dict[str, Any]]],
    users: dict[str, dict[str, Any]],
    *,
    token: str,
    page: int | None = None,
) -> App:
    """``history``: channel id -> messages; ``replies``: thread ts -> replies (parent first)."""

    def paged(items: list[Any], q: dict[str, str], key: str) -> dict[str, Any]:
        size = page or int(q.get("limit", "100"))
        start = int(q.get("cursor") or 0)
        chunk = items[start : start + size]
        nxt = str(start + size) if start + size < len(items) else ""
        return {
            "ok": True,
            key: chunk,
            "has_more": bool(nxt),
            "response_metadata": {"next_cursor": nxt},
        }

    def in_window(m: dict[str, Any], q: dict[str, str]) -> bool:
        ts = float(m["ts"])
        return float(q.get("oldest", "0")) <= ts <= float(q.get("latest", "9e18"))

    def app(req: Req) -> Any:
        if req.headers.get("Authorization") != f"Bearer {token}":
            return {"ok": False, "error": "invalid_auth"}
        method, q = req.path.strip("/"), req.query
        if method == "conversations.list":
            return paged(channels, q, "channels")
        if method == "conversations.info":
            c = next((c for c in channels if c["id"] == q["channel"]), None)
            return {"ok": True, "channel": c} if c else {"ok": False, "error": "channel_not_found"}
        if method == "conversations.history":
            if q["channel"] not in history:
                return {"ok": False, "error": "channel_not_found"}
            msgs = sorted(
                (m for m in history[q["channel"]] if in_window(m, q)), key=lambda m: -float(m["ts"])
            )
            return paged(msgs, q, "messages")
        if method == "conversations.replies":
            thread = replies.get(q["ts"], [])
            msgs = [m for i, m in enumerate(thread) if i == 0 or in_window(m, q)]
            return paged(msgs, q, "messages")
        if method == "users.info":
            u = users.get(q["user"])
            return {"ok": True, "user": u} if u else {"ok": False, "error": "user_not_found"}
        if method == "users.list":
            return paged(list(users.values()), q, "members")
        return {"ok": False, "error": "unknown_method"}

    return app


# --- PagerDuty ----------------------------------------------------------------------


def pagerduty_app(incident: str, entries: list[dict[str, Any]], *, token: str) -> App:
    def app(req: Req) -> Any:
        if req.headers.get("Authorization") != f"Token token={token}":
            return 401, {"error": {"message": "Unauthorized", "code": 2006}}
        if req.path != f"/incidents/{incident}/log_entries":
            return 404, {"error": {"message": "Not Found", "code": 2100}}
        offset, limit = int(req.query.get("offset", "0")), int(req.query.get("limit", "25"))
        chunk = entries[offset : offset + limit]
        return {
            "log_entries": chunk,
            "offset": offset,
            "limit": limit,
            "more": offset + limit < len(entries),
            "total": None,
        }

    return app
