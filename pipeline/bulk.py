"""Bulk path for big line logs: group lines into templates column-wise, then
parse one representative line per template with the format's own parser.

Per-line Python costs ~40x a bare read loop, too slow for 10-million-line logs.
Here a file is read in newline-aligned blocks; helper threads turn each block
into a small table grouped by raw template key and written minute
(bulk_lines.py); per-key aggregates (count, first/last time, earliest line,
per-minute counts) are merged batch by batch, so memory grows with the number
of templates, not with the file. Raw groups whose representatives land on the
same condense key (``source|severity|template_of(text)``) are merged, so the
templates, first times and total counts are the per-line path's. The raw key
(digits and lowercase hex letters deleted) is in rare cases coarser than
condense's template (a 7- vs a 9-digit number), so a template can absorb a few
lines of a sibling: 98-100% of the lines are attributed alike on the real
LogHub samples (tests/test_bulk.py).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .bulk_lines import Block, Minutes, read_block
from .condense import template_of
from .formats import Format, ParseContext, Skip, Source, detect, load_all
from .formats._lineutil import MAX_LINE, MONTHS, LineFormat, head_lines
from .formats.logs import YearGuess
from .ingest import HEAD_BYTES, FileReport, IngestOptions, InputError
from .models import Event, iso_z

if TYPE_CHECKING:
    import polars as pl

BULK_MIN_BYTES = 5 * 2**20  # below this (or BULK_MIN_LINES) the per-line path is
BULK_MIN_LINES = 50_000  # fast enough and exact; a few huge lines are no volume
# many rotated files add up: when all inputs together pass BULK_MIN_BYTES, a log
# file over this goes column-wise too (40 x 4 MB would be 1.6M Event objects)
BULK_SHARE_BYTES = 256 * 2**10
BULK_SHARE_LINES = 2_000
MAX_KEYS = 100_000  # distinct raw keys kept; rare info-level keys beyond are dropped
WORKERS = min(4, os.cpu_count() or 1)  # blocks read at once, by helper threads
# bytes in flight are bounded, not per worker: 2 x 2 MB on two cores keeps peak
# RSS flat near 270 MB; smaller blocks cost more fixed per-block overhead
BLOCK_BYTES = 4 * 2**20 // WORKERS
FOLD_BLOCKS = 16  # blocks folded at once: each fold has a fixed cost
OPEN_MINUTES = 10  # per-minute counts kept open for lines arriving slightly out of order
MAX_JSON_LINE = 64 * 2**20  # a cut JSON representative is re-read whole up to this
CONTEXT_LINES = 40  # lines re-read after a representative (stack-trace continuations)
# formats the bulk path leaves to the per-line one
UNSUPPORTED = {"loki"}  # one JSON document, not lines

# keys that survive pruning when there are too many: anything that may be the incident
_KEEP = (
    r"(?i)err|crit|fatal|emerg|alert|panic|warn|deploy|roll|revert|restart|oom|kill|"
    r'timeout|timed out|refused|unavailable|exhaust|fail|" 5[0-9]{2} |"level":\s*[56]0'
)


@dataclass
class Plan:
    """The formats to try on representative lines, in order."""

    formats: Sequence[Format]
    json_fmt: Format | None
    ctx: ParseContext
    name: str = "mixed"  # the file's format, for the report


@dataclass
class _State:
    totals: pl.DataFrame | None = None  # one row per raw key
    minutes: pl.DataFrame | None = None  # (key, minute, n) not yet folded into peaks
    peaks: pl.DataFrame | None = None  # (key, peak)
    no_time: int = 0
    first_no_time: int | None = None
    rejected: list[Skip] = field(default_factory=list)  # groups the precise parser refused
    pruned_lines: int = 0
    warnings: list[str] = field(default_factory=list)


def plan(
    src: str, path: Path, opts: IngestOptions, ctx: ParseContext, volume: int = 0
) -> Plan | None:
    """A plan when ``path`` is a line log the bulk path can read, else None.

    Big files always qualify, and so do mid-sized ones when all the inputs
    together (``volume`` bytes) are big; small ones only when they mix line
    formats (JSON + syslog + access), which the per-line path reads with the
    generic fallback and so loses levels and message fields.
    """
    if opts.strict:
        return None  # --strict wants every line checked by the precise parser
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            raw = f.read(HEAD_BYTES)
    except OSError:
        return None
    if not raw.strip() or b"\x00" in raw[:8192] or raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return None  # empty, binary or UTF-16: the per-line path explains or decodes
    head = raw.decode("utf-8", errors="replace")
    if len(raw) == HEAD_BYTES:
        head = head[: head.rfind("\n") + 1] or head
    formats = load_all()
    if opts.force_format:
        fmt: Format | None = formats[opts.force_format]
    else:
        fmt = detect(head, path.name)
    if fmt is not None and (fmt.kind != "log" or fmt.name in UNSUPPORTED):
        return None
    json_fmt = formats.get("jsonlog")
    line_fmts = sorted(
        (f for f in formats.values() if isinstance(f, LineFormat) and f.name not in UNSUPPORTED),
        key=lambda f: -f.score,
    )
    if opts.force_format:
        if not isinstance(fmt, LineFormat) and fmt is not json_fmt:
            return None
        if isinstance(fmt, LineFormat):
            return Plan([fmt], None, ctx, fmt.name)
        return Plan([], json_fmt, ctx, "jsonlog")
    if isinstance(fmt, LineFormat) and fmt.name != "log":
        line_fmts.remove(fmt)
        line_fmts.insert(0, fmt)  # the file's own format first, like the per-line path
    lines = head_lines(head, 200)
    kinds = [
        "jsonlog"
        if ln.lstrip()[:1] == "{"
        else next((f.name for f in line_fmts if f.matches(ln)), None)
        for ln in lines
    ]
    known = [k for k in kinds if k is not None]
    if not lines or len(known) < 0.5 * len(lines):
        return None
    specific = {k for k in set(known) if k != "log" and known.count(k) >= 0.1 * len(lines)}
    mixed = len(specific) >= 2 and len(known) >= 0.8 * len(lines)
    lines_est = size * raw.count(b"\n") / len(raw)
    big = size > BULK_MIN_BYTES and lines_est >= BULK_MIN_LINES
    share = size > BULK_SHARE_BYTES and lines_est >= BULK_SHARE_LINES
    if not (mixed or big or (volume > BULK_MIN_BYTES and share)):
        return None
    # the column-wise time patterns must read what the parsers see as records,
    # or those lines would only be counted as "without a readable timestamp"
    if fmt is None or mixed:  # each line by the format that claims it
        p = Plan(line_fmts, json_fmt, ctx)
    else:  # one format, as the per-line path would use: its rejects are skipped
        p = Plan([fmt] if isinstance(fmt, LineFormat) else [], json_fmt, ctx, fmt.name)
    probe = read_block(0, 0, "".join(f"{ln}\n" for ln in lines).encode())
    records = sum(_parse_one(ln, None, 0, p) is not None for ln in lines)
    return p if int(probe.groups["n"].sum()) >= 0.9 * records else None


def ingest_file(
    src: str, path: Path, opts: IngestOptions, ctx: ParseContext, volume: int = 0
) -> tuple[list[Event], FileReport] | None:
    """Grouped representative events of one big log file, or None (not for us).
    ``volume``: bytes of all the inputs of the run."""
    p = plan(src, path, opts, ctx, volume)
    if p is None:
        return None
    state = _State()
    # the year of year-less syslog stamps, per month, as the syslog reader that
    # re-reads the representative decides it (per day would be exact but slow)
    years = {mon: YearGuess(ctx)(m, 15) for mon, m in MONTHS.items()}
    minutes = Minutes(ctx.tz, years)
    try:
        with path.open("rb") as f, ThreadPoolExecutor(WORKERS) as pool:
            # blocks are read by helper threads (polars releases the GIL), a few
            # ahead, and folded in file order; the window bounds the memory
            pending: deque[Future[Block]] = deque()
            done: list[Block] = []  # folded in batches: each fold has a fixed cost
            for blk in chain(_blocks(f), [None]):
                if blk is not None:
                    pending.append(pool.submit(read_block, *blk))
                while pending and (blk is None or len(pending) >= WORKERS):
                    done.append(pending.popleft().result())
                    if len(done) == FOLD_BLOCKS:
                        _add_blocks(state, src, done, minutes)
                        done = []
            if done:
                _add_blocks(state, src, done, minutes)
        events = _represent(state, p, path)
    except OSError as e:
        raise InputError(f"{src}: cannot read ({e.strerror})") from None
    if state.no_time:
        state.warnings.append(
            f"{src}: {state.no_time} lines without a readable timestamp not counted "
            f"(continuations or unknown format; first at line {state.first_no_time})"
        )
    if state.pruned_lines:
        state.warnings.append(
            f"{src}: {state.pruned_lines} lines of rare info-level templates dropped (memory)"
        )
    total = sum(int(e.attrs["count"]) for e in events)
    return events, FileReport(
        src, p.name, total, state.rejected[:1000], ctx.warnings + state.warnings
    )


def _blocks(f: BinaryIO, size: int = BLOCK_BYTES) -> Iterator[tuple[int, int, bytes]]:
    """``(byte offset, number of the first line, block of whole lines)``; a line
    longer than a block is cut to MAX_LINE, the rest skipped, never held."""
    offset, no, carry = 0, 0, b""
    while True:
        data = f.read(size)
        if not data:
            if carry:
                yield offset, no, carry + b"\n"
            return
        block = carry + data
        cut = block.rfind(b"\n")
        if cut < 0:
            if len(block) < size:
                carry = block
                continue
            head, skipped = block[:MAX_LINE], len(block)
            while True:  # skip to the end of this huge line
                data = f.read(size)
                nl = data.find(b"\n")
                if nl >= 0 or not data:
                    break
                skipped += len(data)
            yield offset, no, head + b"\n"
            no += 1
            if nl < 0:
                return
            offset += skipped + nl + 1
            carry = data[nl + 1 :]
            continue
        carry = block[cut + 1 :]
        block = block[: cut + 1]
        yield offset, no, block
        offset += len(block)
        no += block.count(b"\n")


# --- aggregating -----------------------------------------------------------------


def _add_blocks(state: _State, src: str, blocks: list[Block], minutes: Minutes) -> None:
    """Fold some blocks' groups into the running aggregates (small tables only)."""
    import polars as pl

    for b in blocks:
        if b.bad_utf8 is not None and not any("UTF-8" in w for w in state.warnings):
            state.warnings.append(f"{src}: not valid UTF-8 (byte {b.bad_utf8}); replaced")
        _no_time(state, b.no_time, b.first_no_time)
    groups, c = pl.concat([b.groups for b in blocks]), pl.col
    if not len(groups):
        return
    toks = groups.select("tok", "zone").unique()
    toks = toks.with_columns(
        minute=pl.Series([minutes(t, z) for t, z in toks.iter_rows()], dtype=pl.Datetime("us"))
    )
    groups = groups.join(toks, on=["tok", "zone"], how="left", nulls_equal=True)
    bad = groups.filter(c("minute").is_null())
    if len(bad):  # a time was written but is none (31 Feb, hour 25): no time
        _no_time(state, int(bad["n"].sum()), int(bad["fno"].min()))  # type: ignore[arg-type]
        groups = groups.filter(c("minute").is_not_null())
        if not len(groups):
            return
    per_min = groups.select(
        "key",
        "minute",
        "n",
        first=c("minute") + pl.duration(microseconds=c("lo")),
        last=c("minute") + pl.duration(microseconds=c("hi")),
        rep="rep",
    )
    state.totals = _merge(per_min.drop("minute"), state.totals)
    counts = per_min.group_by("key", "minute").agg(c("n").sum())
    if state.minutes is not None:
        counts = pl.concat([state.minutes, counts]).group_by("key", "minute").agg(c("n").sum())
    # a minute well before this block's end is complete (logs are roughly in order)
    horizon = per_min["minute"].max() - timedelta(minutes=OPEN_MINUTES)  # type: ignore[operator]
    _fold(state, counts.filter(c("minute") < horizon))
    state.minutes = counts.filter(c("minute") >= horizon)
    if len(state.totals) > MAX_KEYS:
        _prune(state)


def _no_time(state: _State, n: int, first: int | None) -> None:
    state.no_time += n
    if first is not None and (state.first_no_time is None or first < state.first_no_time):
        state.first_no_time = first


def _merge(a: pl.DataFrame, b: pl.DataFrame | None) -> pl.DataFrame:
    """Per-key totals; the representative is the earliest line (then file order)."""
    import polars as pl

    return (
        pl.concat([a] if b is None else [a, b])
        .sort("first", pl.col("rep").struct["off"])
        .group_by("key", maintain_order=True)
        .agg(
            pl.col("n").sum(), pl.col("first").first(), pl.col("last").max(), pl.col("rep").first()
        )
    )


def _fold(state: _State, done: pl.DataFrame) -> None:
    import polars as pl

    peaks = [done.group_by("key").agg(peak=pl.col("n").max())]
    old = [] if state.peaks is None else [state.peaks]
    state.peaks = pl.concat(old + peaks).group_by("key").agg(pl.col("peak").max())


def _prune(state: _State) -> None:
    """Too many distinct keys (ids the masks miss): keep every key that may
    matter (errors, deploys...) and the most frequent others; count the rest."""
    import polars as pl

    assert state.totals is not None
    keep = pl.col("rep").struct["line"].str.contains(_KEEP)
    ranked = state.totals.with_columns(keep=keep).sort(["keep", "n"], descending=True)
    kept, dropped = ranked.head(MAX_KEYS // 2), ranked.slice(MAX_KEYS // 2)
    state.pruned_lines += int(dropped["n"].sum())
    state.totals = kept.drop("keep")
    live = state.totals.select("key")
    if state.minutes is not None:
        state.minutes = state.minutes.join(live, on="key", how="semi")
    if state.peaks is not None:
        state.peaks = state.peaks.join(live, on="key", how="semi")


# --- representatives ---------------------------------------------------------------


def _represent(state: _State, p: Plan, path: Path) -> list[Event]:
    """Parse one line per raw key precisely; merge keys that condense would merge."""
    if state.totals is None:
        return []
    if state.minutes is not None:
        _fold(state, state.minutes)
    table = state.totals
    if state.peaks is not None:
        table = table.join(state.peaks, on="key", how="left")
    merged: dict[str, tuple[Event, int, datetime, int]] = {}
    with path.open("rb") as f:
        for row in table.iter_rows(named=True):
            rep: dict[str, Any] = row["rep"]
            ev = _parse_one(rep["line"], f, rep["off"], p)
            if ev is None:  # the precise parser rejects these lines
                state.rejected.append(
                    Skip(rep["no"], f"not a {p.name} record ({row['n']} like it)")
                )
                continue
            ev = ev.model_copy(update={"ref": p.ctx.ref(int(rep["no"]))})
            key = f"{ev.source}|{ev.severity}|{template_of(ev.text)}"
            n, last, peak = row["n"], max(row["last"].replace(tzinfo=UTC), ev.ts), row.get("peak")
            if key in merged:
                old, n0, last0, peak0 = merged[key]
                ev = min(old, ev, key=lambda e: (e.ts, int(e.ref.rsplit(":", 1)[1])))
                n, last, peak = n + n0, max(last, last0), max(peak or 1, peak0)
            merged[key] = (ev, n, last, int(peak or 1))
    out = []
    for ev, n, last, peak in merged.values():
        extra = {"count": str(n), "last_ts": iso_z(last) or "", "peak_per_min": str(peak)}
        out.append(ev.model_copy(update={"attrs": {**ev.attrs, **extra}}))
    return out


def _parse_one(line: str, f: BinaryIO | None, off: int, p: Plan) -> Event | None:
    """The first event the precise parser reads from ``line`` (and, for formats
    with continuation lines, the lines that follow it in the file)."""
    ctx = ParseContext(
        path=p.ctx.path, tz=p.ctx.tz, anchor_date=p.ctx.anchor_date, mtime=p.ctx.mtime
    )
    if line.lstrip().startswith("{"):
        if p.json_fmt is None:
            return None
        if len(line) >= MAX_LINE and f:  # cut by _blocks: a JSON record needs its end
            f.seek(off)
            line = f.readline(MAX_JSON_LINE).decode("utf-8", errors="replace").rstrip("\r\n")
        return next(iter(p.json_fmt.parse(Source(p.ctx.path, text=line), ctx)), None)
    for fmt in p.formats:
        if not isinstance(fmt, LineFormat) or not fmt.matches(line):
            continue
        text = line
        if fmt.continuation and f:
            f.seek(off)
            more = f.read(CONTEXT_LINES * 256).decode("utf-8", errors="replace").split("\n")
            if more and more[0].rstrip("\r")[: len(line)] == line:
                text = "\n".join([line, *more[1:CONTEXT_LINES]])
        return next(iter(fmt.parse(Source(p.ctx.path, text=text), ctx)), None)
    return None
