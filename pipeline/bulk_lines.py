"""Column-wise reading of one block of log lines for the bulk path (bulk.py).

Per line, vectorized polars expressions produce a raw template key (a 64-bit
hash) and a *minute token*: the time as written, down to the minute
(``2026-03-14T09:12``, ``Mar 14 09:12``, ``14/Mar/2026:09:12``, epoch
minutes), with the microseconds within that minute beside it. Lines are
grouped on (key, token) right here, so what leaves a block is a small table;
only the few distinct tokens (a handful per block) become UTC datetimes, in
Python, through the same ``local()`` the per-line parsers use. Building a
datetime per line cost more than all the rest of the reading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING

from .formats._lineutil import MAX_LINE, MONTHS, local

if TYPE_CHECKING:
    import polars as pl

KEY_CHARS = 512  # raw key prefix; template_of looks at 400 chars of the message

_MON = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
# each time pattern captures the minute as written (tok), the second, and what
# else decides the instant (fraction, zone)
_SYSLOG = (
    rf"^(?:<[0-9]{{1,3}}>)?(?P<tok>(?:{_MON}) {{1,2}}[0-9]{{1,2}} [0-9]{{2}}:[0-9]{{2}})"
    r":(?P<sec>[0-9]{2})"
)
_ISO = (
    r"(?P<tok>[0-9]{4}[-/][0-9]{2}[-/][0-9]{2}[T ][0-9]{2}:[0-9]{2})(?::(?P<sec>[0-9]{2}))?"
    r"(?:[.,](?P<frac>[0-9]{1,9}))? ?(?P<zone>Z|[+-][0-9]{2}:?[0-9]{2})?"
)
_CLF = (
    r"\[(?P<tok>[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}):(?P<sec>[0-9]{2})"
    r"(?: (?P<zone>[+-][0-9]{4}))?\]"
)
# the status decides the severity; apart from the time: a capture over the
# whole request string costs more than both short ones
_STATUS = r'" ([0-9]{3}) '
_ISO_HEAD = r"^\S{0,40}?[0-9]{4}[-/][0-9]{2}[-/][0-9]{2}[T ]"  # a shipper's prefix
# LogHub shapes, one alternation run only on lines nothing else matched: HDFS
# (yyMMdd HHmmss, local), BGL/Thunderbird (a UTC epoch column; BGL's stamp adds
# microseconds when its second agrees), Apache error ([Sun Dec 04 04:47:44 2005])
_LOGHUB = (
    r"^(?:(?P<hd>[0-9]{6} [0-9]{4})(?P<hds>[0-9]{2}) [0-9]+ [A-Z]+ "
    r"|\S+ (?P<lh>[0-9]{9,10}) [0-9]{4}\.[0-9]{2}\.[0-9]{2} \S+"
    r"(?: [0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}\.[0-9]{2}\.(?P<lhs>[0-9]{2})(?:\.(?P<lhf>[0-9]{1,6}))?)?"
    rf"|\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?P<am>{_MON}) (?P<ad>[0-9]{{1,2}}) "
    r"(?P<ahm>[0-9]{2}:[0-9]{2}):(?P<as>[0-9]{2})(?:\.(?P<af>[0-9]{1,6}))? (?P<ay>[0-9]{4})\])"
)
_EPOCH = r'"(?:ts|time|timestamp)"\s*:\s*(?P<sec>[0-9]{10})(?:\.(?P<frac>[0-9]{1,6}))?[,}]'

# Key masking with bytes.translate, not a regex: deleting every digit and hex
# letter costs ~0.03 s per 8 MB, a regex replace_all ~0.5 s. Numbers, ids, IPs
# and timestamps vanish; words keep their other letters, enough to keep
# different messages apart (the precise template comes later).
_DELETE = b"0123456789abcdef"


@dataclass
class Block:
    """One block, grouped: one row per (raw key, minute token)."""

    groups: pl.DataFrame  # key, tok, zone, n, lo/hi (us in the minute), fno, rep
    no_time: int = 0  # lines without a readable time (blank ones not counted)
    first_no_time: int | None = None
    bad_utf8: int | None = None  # byte offset of the first invalid byte


def read_block(offset: int, first_no: int, block: bytes) -> Block:
    """One block of whole lines, grouped. Runs in helper threads (polars
    releases the GIL); no per-line Python: polars splits the lines, reads the
    times and groups."""
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
    df = pl.DataFrame({"line": [text], "k": [keys]}).select(pl.all().str.split("\n"))
    del text, keys  # the frame holds copies: the working set is what bounds memory
    df = df.explode("line", "k")
    n = len(df) - 1
    c, line = pl.col, pl.col("line")
    size = line.str.len_bytes() + 1
    df = df.head(n).with_columns(
        (size.cum_sum() - size + offset).cast(pl.Int64).alias("off"),
        pl.int_range(first_no + 1, first_no + 1 + n, dtype=pl.Int64).alias("no"),
    )
    # whole-column copies only when some line needs them
    if b"\r" in block:
        df = df.with_columns(pl.col("line", "k").str.strip_chars_end("\r"))
    if df["k"].str.len_bytes().max() > KEY_CHARS:  # type: ignore[operator]
        df = df.with_columns(c("k").str.slice(0, KEY_CHARS))
    if df["line"].str.len_bytes().max() > MAX_LINE:  # type: ignore[operator]
        df = df.with_columns(line.str.slice(0, MAX_LINE))
    df = df.with_columns(c("k").hash(1))  # only equality matters from here on
    # Each pattern runs only where it can matter (a mostly-null column is cheap).
    # The time comes from the first source that matched: syslog, ISO-8601,
    # access-log brackets. ISO is not looked for in access-log lines (a wasted
    # scan of every request line) unless one starts with it, as shippers write.
    # The HTTP status (part of the key) needs '] "'. Materialized in stages: an
    # eager select re-evaluates a shared sub-expression once per use.
    df = df.with_columns(
        line.str.extract_groups(_SYSLOG).alias("sy"),
        line.str.extract(r"^<([0-9]{1,3})>", 1).alias("pri"),
        line.str.contains('] "', literal=True).alias("req"),
    ).unnest("sy", separator="_")
    req = pl.when(c("req")).then(line)
    df = df.with_columns(
        req.str.extract_groups(_CLF).alias("clf"), req.str.extract(_STATUS, 1).alias("status")
    ).unnest("clf", separator="_")
    none = c("sy_tok").is_null()
    access = c("clf_tok").is_not_null()
    iso_head = access & line.str.contains(_ISO_HEAD)
    df = df.with_columns(
        pl.when(none & (~access | iso_head)).then(line).str.extract_groups(_ISO).alias("iso")
    )
    df = df.unnest("iso", separator="_")
    none = none & c("iso_tok").is_null() & c("clf_tok").is_null()
    df = df.with_columns(
        pl.when(none).then(line).str.extract_groups(_EPOCH).alias("ep"),
        pl.when(none).then(line).str.extract_groups(_LOGHUB).alias("lh"),
    ).unnest("lh", separator="_")
    df = df.unnest("ep", separator="_").lazy().select(*_columns(), "line", "off", "no").collect()
    if df["tok"].null_count() == 0:
        return Block(_group(df), bad_utf8=bad)
    missing = df.filter(c("tok").is_null() & (line.str.strip_chars() != ""))["no"]
    first = int(missing[0]) if len(missing) else None
    return Block(_group(df.filter(c("tok").is_not_null())), len(missing), first, bad)


def _columns() -> tuple[pl.Expr, ...]:
    """``key``: a hash of the masked line, the syslog PRI and the HTTP status
    (digits that decide the severity) and the written zone, so that one group
    has one zone; ``tok``, ``zone``, ``sub`` (microseconds in the minute), from
    the first time source that matched: syslog, ISO-8601, access-log brackets,
    the LogHub shapes, epoch seconds."""
    import polars as pl

    c = pl.col
    sy, iso = c("sy_tok").is_not_null(), c("iso_tok").is_not_null()
    zone = pl.when(sy).then(None).when(iso).then(c("iso_zone")).otherwise(c("clf_zone"))
    # in the order of the token's sources below (a line matches one LogHub shape)
    sec = pl.coalesce(
        c("sy_sec"),
        pl.when(iso).then(c("iso_sec").fill_null("0")),
        c("clf_sec"),
        c("lh_hds"),
        c("lh_as"),
    ).str.to_integer(strict=False)
    frac = pl.coalesce(c("iso_frac"), c("lh_af")).str.slice(0, 6).str.pad_end(6, "0")
    ep = pl.coalesce(c("ep_sec"), c("lh_lh")).str.to_integer(strict=False)
    bgl_frac = pl.when(c("lh_lhs").str.to_integer(strict=False) == ep % 60).then(c("lh_lhf"))
    ep_frac = pl.coalesce(c("ep_frac"), bgl_frac).str.pad_end(6, "0").str.to_integer(strict=False)
    apache = pl.concat_str(c("lh_am"), c("lh_ad"), c("lh_ahm"), c("lh_ay"), separator=" ")
    tok = pl.coalesce("sy_tok", "iso_tok", "clf_tok", "lh_hd", apache, (ep // 60).cast(pl.String))
    return (
        (c("k") ^ c("pri").hash(2) ^ c("status").hash(3) ^ zone.hash(4)).alias("key"),
        # a written second of 60 or more is no time (the per-line parsers refuse it)
        pl.when(sec.is_null() | (sec < 60)).then(tok).alias("tok"),
        zone.alias("zone"),
        pl.coalesce(
            sec * 1_000_000 + frac.str.to_integer(strict=False).fill_null(0),
            (ep % 60) * 1_000_000 + ep_frac.fill_null(0),
        ).alias("sub"),
    )


def _group(df: pl.DataFrame) -> pl.DataFrame:
    """One row per (key, minute token); the representative is the earliest line."""
    import polars as pl

    c, first = pl.col, pl.col("sub").arg_min()
    return (
        df.group_by("key", "tok")
        .agg(
            c("zone").first(),
            n=pl.len(),
            lo=c("sub").min(),
            hi=c("sub").max(),
            fno=c("no").min(),
            line=c("line").get(first),
            off=c("off").get(first),
            no=c("no").get(first),
        )
        .select(
            pl.exclude("line", "off", "no"),
            # a gathered string is a view that pins the whole block's buffer:
            # concat_str copies the few kept lines so the block can be freed
            rep=pl.struct(pl.concat_str("line", pl.lit("")).alias("line"), "off", "no"),
        )
    )


@dataclass
class Minutes:
    """Minute tokens to UTC minutes (naive, as polars keeps them), cached for
    the file: a 4-hour log has a few hundred distinct tokens per source."""

    tz: tzinfo
    years: dict[str, int]  # year of year-less syslog stamps, per month name
    cache: dict[tuple[str, str | None], datetime | None] = field(default_factory=dict)

    def __call__(self, tok: str, zone: str | None) -> datetime | None:
        if (tok, zone) not in self.cache:
            try:
                when = self._parse(tok, zone).astimezone(UTC).replace(tzinfo=None)
            except (ValueError, KeyError, OverflowError):
                when = None  # 31 Feb, hour 25...: no time, as per line
            self.cache[tok, zone] = when
        return self.cache[tok, zone]

    def _parse(self, tok: str, zone: str | None) -> datetime:
        if tok.isdigit():  # epoch minutes
            return datetime.fromtimestamp(int(tok) * 60, UTC)
        if tok[0].isalpha():  # syslog "Mar  4 09:12", Apache error "Dec 04 04:47 2005"
            mon, day, hm, *year = tok.split()
            y, mo, d = int(year[0]) if year else self.years[mon], MONTHS[mon], int(day)
        elif tok[2] == "/":  # access log: "14/Mar/2026:09:12"
            y, mo, d, hm = int(tok[7:11]), MONTHS[tok[3:6]], int(tok[:2]), tok[12:]
        elif tok[6] == " ":  # HDFS: "081109 2036"
            y, mo, d = 2000 + int(tok[:2]), int(tok[2:4]), int(tok[4:6])
            hm = f"{tok[7:9]}:{tok[9:11]}"
        else:  # ISO: "2026-03-14T09:12"
            y, mo, d, hm = int(tok[:4]), int(tok[5:7]), int(tok[8:10]), tok[11:]
        naive = datetime(y, mo, d, int(hm[:2]), int(hm[3:5]))
        if not zone:
            return local(naive, self.tz)
        if zone == "Z":
            return naive.replace(tzinfo=UTC)
        sign = -1 if zone[0] == "-" else 1
        off = timedelta(hours=int(zone[1:3]), minutes=int(zone[-2:]))
        return naive.replace(tzinfo=timezone(sign * off))
