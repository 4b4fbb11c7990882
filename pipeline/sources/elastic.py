"""Elasticsearch and OpenSearch: a point in time (PIT) over ``--index``, paged
with ``search_after`` in ``@timestamp`` order, built by the ``jsonlog``
parser (ECS: ``@timestamp``, ``log.level``, ``message``, ``service.name``,
``host.name``).

The two servers differ where it matters here, and ``GET /`` says which one
answers (``version.distribution``):
- Elasticsearch >= 7.10 opens ``POST /{index}/_pit`` (answer ``id``), closes
  ``DELETE /_pit``; from 7.12 the ``_shard_doc`` tiebreaker exists.
- OpenSearch >= 2.4 opens ``POST /{index}/_search/point_in_time`` (answer
  ``pit_id``), closes ``DELETE /_search/point_in_time`` with a list of ids, and
  has no ``_shard_doc``: ``_id`` breaks ties.
- Older servers have no PIT: plain ``search_after`` on the index (a page may
  then see documents indexed meanwhile; said in a warning).

Documents are kept as events (no column-wise path here: ``MAX_DOCS`` bounds
them, and a cut is said in a warning).
"""

from __future__ import annotations

import base64
import os
import re
from typing import Any

from ..formats import ParseContext
from ..formats._jsonlogs import JsonLog
from ..jsonwalk import dig
from ..models import Event
from . import Fetcher, Window
from ._http import Http, SourceError, expect, token

SOURCE = "elasticsearch"
PAGE = 1000
MAX_DOCS = 200_000
KEEP_ALIVE = "2m"


def _headers(name: str) -> dict[str, str]:
    if key := token("ELASTICSEARCH_API_KEY", what=name):
        return {"Authorization": f"ApiKey {key}"}
    user = os.environ.get("ELASTICSEARCH_USERNAME")
    password = token("ELASTICSEARCH_PASSWORD", what=name)
    if user and password:
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}
    return {}


def _version(info: Any) -> tuple[str, tuple[int, ...]]:
    dist = "opensearch" if dig(info, "version.distribution") == "opensearch" else "elasticsearch"
    number = str(dig(info, "version.number") or "0")
    return dist, tuple(int(x) for x in re.findall(r"\d+", number)[:3])


class _Pit:
    """Open/close a point in time the way the server spells it."""

    def __init__(self, http: Http, dist: str, version: tuple[int, ...], index: str) -> None:
        self.http, self.dist, self.index = http, dist, index
        self.id: str | None = None
        self.available = version >= ((2, 4) if dist == "opensearch" else (7, 10))
        shard_doc = dist == "elasticsearch" and version >= (7, 12)
        self.tiebreak = {"_shard_doc": "asc"} if shard_doc else {"_id": "asc"}

    def open(self) -> None:
        if not self.available:
            return
        if self.dist == "opensearch":
            doc = self.http.post(
                f"/{self.index}/_search/point_in_time", params={"keep_alive": KEEP_ALIVE}
            )
            self.id = doc.get("pit_id") if isinstance(doc, dict) else None
        else:
            doc = self.http.post(f"/{self.index}/_pit", params={"keep_alive": KEEP_ALIVE})
            self.id = doc.get("id") if isinstance(doc, dict) else None
        expect(bool(self.id), self.http.name, "no point-in-time id")

    def close(self) -> None:
        if not self.id:
            return
        try:  # best effort: it expires by itself after KEEP_ALIVE
            if self.dist == "opensearch":
                self.http.request("DELETE", "/_search/point_in_time", json={"pit_id": [self.id]})
            else:
                self.http.request("DELETE", "/_pit", json={"id": self.id})
        except SourceError:
            pass


def _body(query: str | None, win: Window, pit: _Pit, after: list[Any] | None) -> dict[str, Any]:
    window = {"range": {"@timestamp": {"gte": win.start.isoformat(), "lte": win.end.isoformat()}}}
    filters: list[dict[str, Any]] = [window]
    if query:
        filters.append({"query_string": {"query": query}})
    body: dict[str, Any] = {
        "size": PAGE,
        "query": {"bool": {"filter": filters}},
        "sort": [{"@timestamp": "asc"}, pit.tiebreak],
        "track_total_hits": False,
    }
    if pit.id:
        body["pit"] = {"id": pit.id, "keep_alive": KEEP_ALIVE}
    if after is not None:
        body["search_after"] = after
    return body


def fetcher(url: str, index: str, query: str | None, win: Window, timeout: float) -> Fetcher:
    def fetch(ctx: ParseContext, out: list[Event]) -> None:
        name = f"elasticsearch {ctx.path}"
        if not index.strip():
            raise SourceError(f"{name}: --index PATTERN is required (e.g. 'logs-*')")
        with Http(name, url, headers=_headers(name), timeout=timeout) as http:
            dist, version = _version(http.get("/"))
            pit = _Pit(http, dist, version, index)
            pit.open()
            if not pit.id:
                ctx.warn(
                    f"{dist} {'.'.join(map(str, version))} has no point in time: plain search_after"
                )
            try:
                _page_in(http, index, query, win, pit, ctx, out)
            finally:
                pit.close()

    return fetch


def _page_in(
    http: Http,
    index: str,
    query: str | None,
    win: Window,
    pit: _Pit,
    ctx: ParseContext,
    out: list[Event],
) -> None:
    parser = JsonLog()
    after: list[Any] | None = None
    n = 0
    while n < MAX_DOCS:
        path = "/_search" if pit.id else f"/{index}/_search"
        doc = http.post(path, _body(query, win, pit, after))
        hits = dig(doc, "hits.hits")
        expect(isinstance(hits, list), http.name, "no hits.hits list")
        if isinstance(doc, dict) and doc.get("pit_id"):
            pit.id = doc["pit_id"]  # always continue with the newest id
        for hit in hits:
            n += 1
            ref = ctx.ref(f"{dig(hit, '_index') or index}/{dig(hit, '_id') or n}")
            out.extend(parser._one(dig(hit, "_source"), ctx, ref, n))
        if len(hits) < PAGE:
            return
        after = dig(hits[-1], "sort")
        expect(isinstance(after, list), http.name, "hit without sort values")
    ctx.warn(f"stopped at {MAX_DOCS} documents; narrow --query or the window")
