"""Loki: ``/loki/api/v1/query_range`` paged forward over the window.

Each page asks for ``limit`` lines from ``start``; the next page starts at the
last timestamp read (inclusive: more lines may share it) and drops the lines
already read at exactly that nanosecond (Loki keeps one copy of a line per
stream and instant, so (time, stream, line) names a line). No line is read
twice and none is skipped; the one exception, more than ``limit`` lines at a
single nanosecond, is said in a warning.

Pages go to a spool file, not memory: up to ``bulk.BULK_MIN_LINES`` lines are
then built one by one by the ``loki`` parser's builder (stream labels as
attrs); above that the spool takes the column-wise path (``pipeline/bulk.py``)
and only the representative line of each template is rebuilt by that same
builder, so memory stays flat whatever the result size.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

from ..formats import ParseContext
from ..formats._jsonlogs import _EPOCH_NS, Loki, _event
from ..jsonwalk import dig, str_attrs
from ..models import Event
from . import Fetcher, Window
from ._http import Http, SourceError, expect, token

SOURCE = "loki"
LIMIT = 5000  # Loki's default max_entries_limit_per_query
MAX_LINES = 20_000_000  # a guard against a query that matches everything
BULK_LINES = 50_000  # from here the spool goes column-wise (bulk.BULK_MIN_LINES)


def _ns(ts: datetime) -> int:
    delta = ts - _EPOCH_NS
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def fetcher(url: str, logql: str, win: Window, timeout: float) -> Fetcher:
    def fetch(ctx: ParseContext, out: list[Event]) -> None:
        name = f"loki {ctx.path}"
        if not logql.strip():
            raise SourceError(f"{name}: --logql QUERY is required (e.g. '{{app=\"api\"}}')")
        headers = {}
        if tok := token("LOKI_TOKEN", what=name):
            headers["Authorization"] = f"Bearer {tok}"
        if org := os.environ.get("LOKI_ORG_ID"):
            headers["X-Scope-OrgID"] = org  # multi-tenant Loki
        with Http(name, url, headers=headers, timeout=timeout) as http, Spool() as spool:
            failure: SourceError | None = None
            try:
                page_in(http, logql, win, ctx, spool)
            except SourceError as e:
                failure = e  # keep what was read, then say it
            out.extend(spool.events(ctx))
            if failure is not None:
                raise failure

    return fetch


def page_in(http: Http, logql: str, win: Window, ctx: ParseContext, spool: Spool) -> None:
    """Pages in order; the next one is asked for as soon as this one's last
    timestamp is known, so the server works while this page is written."""
    start, end = _ns(win.start), _ns(win.end) + 1  # end is exclusive
    seen_ns: int | None = None
    seen: set[tuple[int, int, str]] = set()  # lines read at exactly seen_ns

    def ask(at: int) -> Any:
        q = {"query": logql, "start": at, "end": end, "limit": LIMIT, "direction": "forward"}
        return http.get("/loki/api/v1/query_range", q)

    pool = ThreadPoolExecutor(1, thread_name_prefix="loki-page")
    try:
        pending: Future[Any] | None = pool.submit(ask, start)
        while pending is not None:
            entries = _entries(http, pending.result(), ctx, spool)
            fresh = [e for e in entries if e[0] != seen_ns or e not in seen]
            pending = None
            if len(entries) >= LIMIT and spool.lines + len(fresh) < MAX_LINES:
                last = entries[-1][0]
                if fresh:
                    at_last = {e for e in entries if e[0] == last}
                    seen = at_last | seen if last == seen_ns else at_last
                    start, seen_ns = last, last
                else:  # a whole page at one instant, all read: step past it
                    when = _EPOCH_NS + timedelta(microseconds=last // 1000)
                    ctx.warn(
                        f"more than {LIMIT} lines at {when}: "
                        "lines beyond the first page at that instant were not read"
                    )
                    start, seen_ns, seen = last + 1, None, set()
                pending = pool.submit(ask, start)
            elif len(entries) >= LIMIT:
                ctx.warn(f"stopped at {MAX_LINES} lines; narrow --logql or the window")
            spool.write(fresh)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # an interrupt does not wait for a page


def _entries(http: Http, doc: Any, ctx: ParseContext, spool: Spool) -> list[tuple[int, int, str]]:
    expect(
        isinstance(doc, dict) and doc.get("status") == "success", http.name, "status is not success"
    )
    kind = dig(doc, "data.resultType")
    if kind != "streams":
        raise SourceError(
            f"{http.name}: --logql must be a log query (the answer is a {kind}, not streams)"
        )
    result = dig(doc, "data.result")
    expect(isinstance(result, list), http.name, "data.result is not a list")
    out: list[tuple[int, int, str]] = []
    for s in result:
        sid = spool.stream(str_attrs(dig(s, "stream")))
        values = dig(s, "values")
        if not isinstance(values, list):
            ctx.skip(None, "a stream without a values list")
            continue
        try:  # the common case in one comprehension: this loop sees every line
            out.extend([(int(t), sid, ln) for t, ln in values if ln.__class__ is str])
        except (TypeError, ValueError):  # odd pairs, or a third element (metadata)
            out.extend(_checked(values, sid, ctx))
    out.sort()  # time, then stream (then line): plain tuple order, compared in C
    return out


_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r"}
_SPECIAL = re.compile(r"[\\\n\r]")
_UNESCAPE = re.compile(r"\\(.)")
_UNESCAPED = {"\\": "\\", "n": "\n", "r": "\r"}


def _escape(line: str) -> str:
    """One physical line per entry; quotes stay as they are, so logfmt and JSON
    bodies read the same in the column-wise path as in the exact one."""
    if "\\" in line or "\n" in line or "\r" in line:
        return "".join(_ESCAPES.get(c, c) for c in line)
    return line


def _unescape(text: str) -> str:
    return (
        _UNESCAPE.sub(lambda m: _UNESCAPED.get(m.group(1), m.group(1)), text)
        if "\\" in text
        else text
    )


def _checked(values: list[Any], sid: int, ctx: ParseContext) -> list[tuple[int, int, str]]:
    out = []
    for v in values:
        try:
            ns, line = int(v[0]), v[1]
        except (TypeError, ValueError, IndexError, KeyError):
            ctx.skip(None, f"not a [time, line] pair: {str(v)[:60]}")
            continue
        if isinstance(line, str):
            out.append((ns, sid, line))
    return out


class Spool:
    """Lines on disk as ``<ISO time> <ns> <stream> <line, \\ and newlines escaped>``:
    a timestamped text log the column-wise path reads, one line per entry."""

    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="draft-incident-loki-")
        self.path = Path(self._dir) / "loki.log"
        self._f = self.path.open("w", encoding="utf-8", newline="\n")
        self.streams: list[dict[str, str]] = []
        self._ids: dict[tuple[tuple[str, str], ...], int] = {}
        self.lines = 0

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._f.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def stream(self, labels: dict[str, str]) -> int:
        key = tuple(sorted(labels.items()))
        if key not in self._ids:
            self._ids[key] = len(self.streams)
            self.streams.append(labels)
        return self._ids[key]

    def write(self, entries: list[tuple[int, int, str]]) -> None:
        """One page in one write: per-line writes through the text layer cost more
        than everything else the page needs."""
        if not entries:
            return
        plain = not _SPECIAL.search("".join(e[2] for e in entries))
        sec = _second
        rows = [
            f"{sec(ns // 1_000_000_000)}.{ns % 1_000_000_000:09d}Z {ns} {sid} "
            f"{line if plain else _escape(line)}\n"
            for ns, sid, line in entries
        ]
        self._f.write("".join(rows))
        self.lines += len(entries)

    def _read(self, raw: str) -> tuple[int, int, str]:
        _, ns, sid, body = raw.rstrip("\n").split(" ", 3)
        return int(ns), int(sid), _unescape(body)

    def event(self, ctx: ParseContext, raw: str) -> Event:
        ns, sid, line = self._read(raw)
        ts = _EPOCH_NS + timedelta(microseconds=ns // 1000)
        body = Loki._body(line, self.streams[sid])
        return _event(ctx, SOURCE, (ts, False), ctx.ref(f"{ns}.{sid}"), body)

    def events(self, ctx: ParseContext) -> list[Event]:
        self._f.close()
        if self.lines <= BULK_LINES:
            with self.path.open(encoding="utf-8") as f:
                return [self.event(ctx, raw) for raw in f]
        return self._bulk(ctx)

    def _bulk(self, ctx: ParseContext) -> list[Event]:
        from ..bulk import ingest_file
        from ..ingest import IngestOptions

        got = ingest_file(
            ctx.path, self.path, IngestOptions(force_format="log"), ParseContext(ctx.path), 0
        )
        if got is None:  # cannot happen for a forced line format; be exact rather than lost
            with self.path.open(encoding="utf-8") as f:
                return [self.event(ctx, raw) for raw in f]
        reps, report = got
        ctx.warnings.extend(report.warnings)
        ctx.skipped.extend(report.skipped)
        by_line = {int(e.ref.rsplit(":", 1)[1]): e for e in reps}
        out = []
        with self.path.open(encoding="utf-8") as f:
            for no, raw in enumerate(f, 1):
                rep = by_line.get(no)
                if rep is None:
                    continue
                ev = self.event(ctx, raw)
                grouped = {
                    k: rep.attrs[k] for k in ("count", "last_ts", "peak_per_min") if k in rep.attrs
                }
                out.append(ev.model_copy(update={"attrs": {**ev.attrs, **grouped}}))
        return out


@lru_cache(maxsize=4096)
def _second(sec: int) -> str:  # lines come many to a second: format each second once
    return f"{datetime.fromtimestamp(sec, UTC):%Y-%m-%dT%H:%M:%S}"
