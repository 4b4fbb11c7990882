"""Bulk path for big line logs: group lines into templates column-wise, then
parse one representative line per template with the format's own parser.

Per-line Python costs ~40x a bare read loop, too slow for 10-million-line logs.
Here a file is read in newline-aligned blocks; vectorized polars expressions
pull each line's UTC time and a raw template key; per-key aggregates (count,
first/last time, earliest line, per-minute counts) are merged block by block,
so memory grows with the number of templates, not with the file. The raw key
is meant to be *finer* than condense's (``source|severity|template_of(text)``):
raw groups whose representatives land on the same condense key are merged, so
templates and counts match the per-line path.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

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
BLOCK_BYTES = 2 * 2**20  # one polars column per block: bounds the working set
KEY_CHARS = 512  # raw key prefix; template_of looks at 400 chars of the message
MAX_KEYS = 100_000  # distinct raw keys kept; rare info-level keys beyond are dropped
OPEN_MINUTES = 10  # per-minute counts kept open for lines arriving slightly out of order
MAX_JSON_LINE = 64 * 2**20  # a cut JSON representative is re-read whole up to this
CONTEXT_LINES = 40  # lines re-read after a representative (stack-trace continuations)
# formats whose time the vectorized patterns below cannot read: per-line path
UNSUPPORTED = {"hdfs", "bgl", "thunderbird", "apache_error", "loki"}

_MON = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_SYSLOG = rf"^(?:<[0-9]{{1,3}}>)?(?P<mon>{_MON}) {{1,2}}(?P<day>[0-9]{{1,2}}) (?P<clock>[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}})"
_ISO = (
    r"(?P<date>[0-9]{4}[-/][0-9]{2}[-/][0-9]{2})[T ](?P<clock>[0-9]{2}:[0-9]{2}(?::[0-9]{2})?)"
    r"(?:[.,](?P<frac>[0-9]{1,9}))? ?(?P<zone>Z|[+-][0-9]{2}:?[0-9]{2})?"
)
_CLF = (
    r"\[(?P<day>[0-9]{2})/(?P<mon>[A-Z][a-z]{2})/(?P<year>[0-9]{4}):"
    r"(?P<clock>[0-9]{2}:[0-9]{2}:[0-9]{2})(?: (?P<zone>[+-][0-9]{4}))?\]"
    r'(?: "(?:[^"\\]|\\.)*" (?P<status>[0-9]{3}) )?'  # the status decides the severity
)
_EPOCH = r'"(?:ts|time|timestamp)"\s*:\s*(?P<sec>[0-9]{10})(?:\.(?P<frac>[0-9]{1,6}))?[,}]'
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


def plan(src: str, path: Path, opts: IngestOptions, ctx: ParseContext) -> Plan | None:
    """A plan when ``path`` is a line log the bulk path can read, else None.

    Big files always qualify; small ones only when they mix line formats
    (JSON + syslog + access), which the per-line path reads with the generic
    fallback and so loses levels and message fields.
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
    if not mixed and (size <= BULK_MIN_BYTES or lines_est < BULK_MIN_LINES):
        return None
    if fmt is None or mixed:  # each line by the format that claims it
        return Plan(line_fmts, json_fmt, ctx)
    # one format, as the per-line path would use: its rejects are skipped, not re-read
    return Plan([fmt] if isinstance(fmt, LineFormat) else [], json_fmt, ctx, fmt.name)


def ingest_file(
    src: str, path: Path, opts: IngestOptions, ctx: ParseContext
) -> tuple[list[Event], FileReport] | None:
    """Grouped representative events of one big log file, or None (not for us)."""
    p = plan(src, path, opts, ctx)
    if p is None:
        return None
    state = _State()
    # the year of year-less syslog stamps, per month, as the syslog reader that
    # re-reads the representative decides it (per day would be exact but slow)
    years = {mon: YearGuess(ctx)(m, 15) for mon, m in MONTHS.items()}
    try:
        with path.open("rb") as f, ThreadPoolExecutor(1) as pool:
            pending = None  # the next block is read while this one is aggregated
            for blk in chain(_blocks(f), [None]):
                nxt = pool.submit(_prepare, *blk, ctx.tz, years) if blk else None
                if pending is not None:
                    _add_block(state, src, pending.result())
                pending = nxt
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


@dataclass
class _Block:
    df: pl.DataFrame  # one row per timed line: raw key, UTC time (naive), line, offset, number
    no_time: int = 0  # lines without a readable time (blank ones not counted)
    first_no_time: int | None = None
    bad_utf8: int | None = None  # byte offset of the first invalid byte


# Key masking with bytes.translate, not a regex: deleting every digit and hex
# letter costs ~0.03 s per 8 MB, a regex replace_all ~0.5 s. Numbers, ids, IPs
# and timestamps vanish; words keep their other letters, enough to keep
# different messages apart (the precise template comes later).
_DELETE = b"0123456789abcdefABCDEF"


def _prepare(offset: int, first_no: int, block: bytes, tz: tzinfo, years: dict[str, int]) -> _Block:
    """One block as a frame (runs in a helper thread, beside the aggregation).
    No per-line Python: polars splits the lines and reads the times."""
    import polars as pl

    bad = None
    if offset == 0 and block.startswith(b"\xef\xbb\xbf"):
        block, offset = block[3:], 3
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError as e:
        bad = offset + e.start
        text = block.decode("utf-8", errors="replace")
    keys = block.translate(None, _DELETE).decode("utf-8", errors="replace")
    # both end with "\n": drop the empty last piece
    df = (
        pl.DataFrame({"raw": [text], "k": [keys]})
        .select(pl.all().str.split("\n"))
        .explode("raw", "k")
    )
    n = len(df) - 1
    size = pl.col("raw").str.len_bytes() + 1
    df = df.head(n).select(
        pl.col("raw").str.strip_chars_end("\r").str.slice(0, MAX_LINE).alias("line"),
        (size.cum_sum() - size + offset).cast(pl.Int64).alias("off"),
        pl.int_range(first_no + 1, first_no + 1 + n, dtype=pl.Int64).alias("no"),
        pl.col("k").str.strip_chars_end("\r").str.slice(0, KEY_CHARS),
    )
    # Each pattern runs only where it can matter (a mostly-null column is cheap):
    # a time comes from the first source that matched; the HTTP status (part of
    # the key) needs '] "'. Materialized in stages: an eager select re-evaluates
    # a shared sub-expression once per use.
    c, line = pl.col, pl.col("line")
    df = df.with_columns(
        line.str.extract_groups(_SYSLOG).alias("sy"),
        line.str.extract(r"^<([0-9]{1,3})>", 1).alias("pri"),
        line.str.contains('] "', literal=True).alias("req"),
    ).unnest("sy", separator="_")
    none = c("sy_clock").is_null()
    df = df.with_columns(pl.when(none).then(line).str.extract_groups(_ISO).alias("iso"))
    df = df.unnest("iso", separator="_")
    none = none & c("iso_clock").is_null()
    df = df.with_columns(pl.when(none | c("req")).then(line).str.extract_groups(_CLF).alias("clf"))
    df = df.unnest("clf", separator="_")
    none = none & c("clf_clock").is_null()
    df = df.with_columns(pl.when(none).then(line).str.extract_groups(_EPOCH).alias("ep"))
    df = df.unnest("ep", separator="_").with_columns(
        # digits that decide the severity stay in the key: syslog PRI, HTTP status
        key=pl.concat_str(
            c("pri").fill_null(""), c("clf_status").fill_null(""), c("k"), separator="|"
        )
    )
    df = _timestamp(df, tz, years).select("line", "off", "no", "ts", "key")
    if df["ts"].null_count() == 0:
        return _Block(df, bad_utf8=bad)
    missing = df.filter(c("ts").is_null() & (line.str.strip_chars() != ""))["no"]
    first = int(missing[0]) if len(missing) else None
    return _Block(df.filter(c("ts").is_not_null()), len(missing), first, bad)


def _timestamp(df: pl.DataFrame, tz: tzinfo, years: dict[str, int]) -> pl.DataFrame:
    """Adds ``ts``, the UTC time (naive) of each line from the first pattern that
    matched: syslog at the line start, ISO-8601 (JSON values too), access-log
    brackets, JSON epoch seconds. A written zone is used; naive times are in ``tz``.
    Integer arithmetic on the captured digits: no strings built, none parsed
    as dates (polars' strptime on 1M lines costs more than all of this)."""
    import polars as pl

    c, iso = pl.col, pl.col("iso_date")

    def num(s: pl.Expr, start: int, n: int | None = None) -> pl.Expr:
        return s.str.slice(start, n).str.to_integer(strict=False)

    src = pl.when(c("sy_clock").is_not_null()).then(0).when(c("iso_clock").is_not_null()).then(1)
    src = src.when(c("clf_clock").is_not_null()).then(2)
    clock = pl.coalesce("sy_clock", "iso_clock", "clf_clock")  # a matched source has all
    zone = pl.when(src == 1).then(c("iso_zone")).when(src == 2).then(c("clf_zone"))
    lf = df.lazy().with_columns(
        y=pl.coalesce(
            c("sy_mon").replace_strict(years, default=None, return_dtype=pl.Int64),
            num(iso, 0, 4),
            num(c("clf_year"), 0),
        ),
        mo=pl.coalesce(
            c("sy_mon").replace_strict(MONTHS, default=None, return_dtype=pl.Int64),
            num(iso, 5, 2),
            c("clf_mon").replace_strict(MONTHS, default=None, return_dtype=pl.Int64),
        ),
        d=pl.coalesce(num(c("sy_day"), 0), num(iso, 8, 2), num(c("clf_day"), 0)),
        sec=num(clock, 0, 2) * 3600 + num(clock, 3, 2) * 60 + num(clock, 6, 2).fill_null(0),
        ok=(num(clock, 0, 2) < 24)
        & (num(clock, 3, 2) < 60)
        & (num(clock, 6, 2) < 60).fill_null(True),
        us=pl.when(src == 1)
        .then(c("iso_frac").str.slice(0, 6).str.pad_end(6, "0").str.to_integer(strict=False))
        .fill_null(0),
        off=pl.when(zone == "Z")
        .then(0)
        .otherwise(
            (num(zone, 1, 2) * 3600 + num(zone, -2) * 60)
            * pl.when(zone.str.starts_with("-")).then(-1).otherwise(1)
        ),
    )
    y, mo, d = c("y"), c("mo"), c("d")
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    feb = 28 + leap.cast(pl.Int64)
    dim = pl.when(mo == 2).then(feb).when(mo.is_in([4, 6, 9, 11])).then(30).otherwise(31)
    # days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil)
    yy = y - (mo <= 2).cast(pl.Int64)
    era = yy // 400
    yoe = yy - era * 400
    doy = (153 * ((mo + 9) % 12) + 2) // 5 + d - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    micros = (days * 86400 + c("sec")) * 1_000_000 + c("us")
    valid = c("ok") & mo.is_between(1, 12) & d.is_between(1, dim)
    lf = lf.with_columns(wall=pl.when(valid).then(micros))
    epoch = pl.from_epoch(
        c("ep_sec").cast(pl.Int64) * 1_000_000
        + c("ep_frac").str.pad_end(6, "0").cast(pl.Int64).fill_null(0),
        time_unit="us",
    )
    naive = c("wall").cast(pl.Datetime("us"))
    utc = (c("wall") - c("off") * 1_000_000).cast(pl.Datetime("us"))
    return lf.with_columns(
        ts=pl.coalesce(
            pl.when(c("off").is_not_null()).then(utc).otherwise(_localize(naive, tz)), epoch
        )
    ).collect()


def _localize(naive: pl.Expr, tz: tzinfo) -> pl.Expr:
    """Naive wall-clock times read in ``tz``, as naive UTC."""
    import polars as pl

    key = getattr(tz, "key", None)
    if tz is UTC or key == "UTC":
        return naive
    if key:
        return (
            naive.dt.replace_time_zone(key, ambiguous="earliest", non_existent="null")
            .dt.convert_time_zone("UTC")
            .dt.replace_time_zone(None)
        )
    off = tz.utcoffset(None) or timedelta(0)
    return naive - pl.duration(seconds=int(off.total_seconds()))


# --- aggregating -----------------------------------------------------------------


def _add_block(state: _State, src: str, b: _Block) -> None:
    """Fold one block into the running aggregates."""
    import polars as pl

    if b.bad_utf8 is not None and not any("UTF-8" in w for w in state.warnings):
        state.warnings.append(f"{src}: not valid UTF-8 (byte {b.bad_utf8}); replaced")
    state.no_time += b.no_time
    if state.first_no_time is None:
        state.first_no_time = b.first_no_time
    df = b.df
    if not len(df):
        return
    # one pass over the lines: per (key, minute); everything else is small tables
    per_min = df.group_by("key", pl.col("ts").dt.truncate("1m").alias("minute")).agg(
        n=pl.len(),
        first=pl.col("ts").min(),
        last=pl.col("ts").max(),
        rep=pl.struct("line", "off", "no").get(pl.col("ts").arg_min()),
    )
    state.totals = _merge(per_min.drop("minute"), state.totals)
    counts = per_min.select("key", "minute", "n")
    if state.minutes is not None:
        counts = pl.concat([state.minutes, counts]).group_by("key", "minute").agg(pl.col("n").sum())
    # a minute well before this block's end is complete (logs are roughly in order)
    horizon = df["ts"].max() - timedelta(minutes=OPEN_MINUTES)  # type: ignore[operator]
    _fold(state, counts.filter(pl.col("minute") < horizon))
    state.minutes = counts.filter(pl.col("minute") >= horizon)
    if len(state.totals) > MAX_KEYS:
        _prune(state)


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


def _parse_one(line: str, f: BinaryIO, off: int, p: Plan) -> Event | None:
    """The first event the precise parser reads from ``line`` (and, for formats
    with continuation lines, the lines that follow it in the file)."""
    ctx = ParseContext(
        path=p.ctx.path, tz=p.ctx.tz, anchor_date=p.ctx.anchor_date, mtime=p.ctx.mtime
    )
    if line.lstrip().startswith("{"):
        if p.json_fmt is None:
            return None
        if len(line) >= MAX_LINE:  # cut by _blocks: a JSON record needs its end
            f.seek(off)
            line = f.readline(MAX_JSON_LINE).decode("utf-8", errors="replace").rstrip("\r\n")
        return next(iter(p.json_fmt.parse(Source(p.ctx.path, text=line), ctx)), None)
    for fmt in p.formats:
        if not isinstance(fmt, LineFormat) or not fmt.matches(line):
            continue
        text = line
        if fmt.continuation:
            f.seek(off)
            more = f.read(CONTEXT_LINES * 256).decode("utf-8", errors="replace").split("\n")
            if more and more[0].rstrip("\r")[: len(line)] == line:
                text = "\n".join([line, *more[1:CONTEXT_LINES]])
        return next(iter(fmt.parse(Source(p.ctx.path, text=text), ctx)), None)
    return None
