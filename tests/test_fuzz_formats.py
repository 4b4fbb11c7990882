"""Property-based fuzzing of every registered input format.

Each format is fed mutations of small valid seeds (``tests/data/**``, which has
one for every format, and, when present, ``../shared/real-formats/``): truncated
text, inserted random bytes and unicode, dropped/duplicated lines, digits
replaced by impossible dates, JSON values swapped for wrong types, huge or non-finite numbers, deep nesting,
plus wholly random payloads. ``fmt.parse`` must never raise (bad records go
through ``ctx.skip``) and every Event it yields must be valid, in UTC.

Examples per format: ``FUZZ_EXAMPLES`` (quick test: default 300; the slow
test: default 10,000, the figure the issue asks for).
"""

from __future__ import annotations

import copy
import json
import os
import re
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pipeline.formats import Format, ParseContext, Source, detect, load_all
from pipeline.models import Event
from tests.conftest import REAL, ROOT

FORMATS = load_all()
QUICK = int(os.environ.get("FUZZ_EXAMPLES", "300"))
SLOW = int(os.environ.get("FUZZ_EXAMPLES", "10000"))
MAX_LINES = 8  # small seeds keep each example cheap
MAX_SEEDS = 3
OWN = ROOT / "tests" / "data"  # the project's own samples: one per format at least


# --- seeds ---------------------------------------------------------------------


def _small(text: str) -> str:
    try:
        json.loads(text)
        return text  # whole, valid JSON documents (truncation is a mutation)
    except ValueError:
        pass
    lines = text.splitlines(keepends=True)
    if len(lines) <= MAX_LINES:
        return text
    if text.lstrip().startswith("WEBVTT"):
        return "".join(lines[: MAX_LINES * 2])
    return "".join(lines[:MAX_LINES])


@cache
def _seeds_under(root: Path) -> dict[str, list[tuple[int, str]]]:
    found: dict[str, list[tuple[int, str]]] = defaultdict(list)
    if not root.is_dir():
        return found
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.suffix in (".csv", ".md", ".py") or p.name.startswith("LICENSE"):
            continue
        try:
            text = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        fmt = detect(text[:65536], p.name)
        if fmt is not None:
            small = _small(text)
            ctx = ParseContext(path="seed", anchor_date=date(2026, 2, 8), meeting_start=_START[1])
            if not list(fmt.parse(Source(path="seed", text=small), ctx)):
                small = text  # the cut-down sample lost every event (users before posts)
            found[fmt.name].append((len(small), small))
    return found


@cache
def seeds() -> dict[str, list[str]]:
    """Up to MAX_SEEDS small samples per format: the project's own (tests/data)
    and, when present, the real-format corpus."""
    found: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for root in (OWN, REAL):
        for name, pool in _seeds_under(root).items():
            found[name] += pool
    return {k: [t for _, t in sorted(v)[:MAX_SEEDS]] for k, v in found.items()}


def test_every_format_has_a_seed() -> None:
    """Every format has a sample the project wrote itself: the fuzz suite must
    not depend on ../shared, which a fresh clone does not have."""
    missing = sorted(set(FORMATS) - set(_seeds_under(OWN)))
    assert not missing, f"no seed sample under {OWN} for {missing}"


# --- mutations -----------------------------------------------------------------

NASTY_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    2**64,
    -(2**63) - 1,
    10**30,
    1e308,
    -1e308,
    float("nan"),
    float("inf"),
    "",
    " ",
    "null",
    "0",
    "-1",
    "1e999",
    "99999999999999999999",
    "2026-13-45T99:99:99Z",
    "2026-02-30T12:00:00Z",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "0000-00-00 00:00:00",
    "2026-02-08T14:03:00+25:00",
    "Mon, 32 Foo 2026 25:61:61 +9999",
    "1770559380000000000",
    "-62135596801",
    "\x00",
    "\ud800",
    "\u202e",
    "日本語",
    [],
    {},
    [[[]]],
    {"a": {"b": None}},
    [None],
    [1, "x"],
]
NASTY_TEXT = [
    "2026-02-30 25:61",
    "99:99:99",
    "9999-99-99T99:99:99Z",
    "0000-00-00",
    "-",
    "\x00",
    "\r",
    "\ufeff",
    "\u2028",
    "{",
    "}",
    "[",
    "]",
    '"',
    "\\",
    "<",
    ">",
    "|",
    "\t",
    "1e999",
    "-0",
    "+14:00",
    "Z",
    "AM",
    "PM",
    "12:00 PM",
    "24:00",
    "T",
    ":",
    "\ud800",
]
DATES = re.compile(r"\d+")

_TZ = [UTC, ZoneInfo("Europe/Paris"), ZoneInfo("America/St_Johns"), ZoneInfo("Pacific/Kiritimati")]
_ANCHOR = [None, date(2026, 2, 8), date(1, 1, 1), date(9999, 12, 31)]
_START = [None, datetime(2026, 2, 8, 14, 0, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC)]
_MTIME = [None, datetime(2026, 2, 8, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC)]


def _nodes(obj: Any, out: list[tuple[Any, Any]], depth: int = 0) -> list[tuple[Any, Any]]:
    """(container, key) pairs of every value in a JSON tree."""
    if depth > 50:
        return out
    if isinstance(obj, dict):
        for k in list(obj):
            out.append((obj, k))
            _nodes(obj[k], out, depth + 1)
    elif isinstance(obj, list):
        for i in range(len(obj)):
            out.append((obj, i))
            _nodes(obj[i], out, depth + 1)
    return out


def _json_mutate(doc: Any, op: int, pos: int, payload: str) -> str:
    doc = copy.deepcopy(doc)
    nodes = _nodes(doc, [])
    if op == 12 or not nodes:  # deep nesting
        depth = pos % 3000
        return "[" * depth + json.dumps(doc) + "]" * depth
    parent, key = nodes[pos % len(nodes)]
    if op == 8:
        parent[key] = NASTY_VALUES[pos % len(NASTY_VALUES)]
    elif op == 9:
        parent[key] = payload
    elif op == 10:
        del parent[key]
    else:  # 11: nest the value deeply
        v = parent[key]
        for _ in range(pos % 200):
            v = [v] if pos % 2 else {"x": v}
        parent[key] = v
    return json.dumps(doc, ensure_ascii=bool(pos % 2))


def _text_mutate(text: str, op: int, pos: int, payload: str) -> str:
    lines = text.splitlines(keepends=True) or [""]
    i = pos % len(lines)
    if op == 0:
        return text[: pos % (len(text) + 1)]
    if op == 1:
        at = pos % (len(text) + 1)
        return text[:at] + payload + text[at:]
    if op == 2:
        lines[i] = payload + "\n"
    elif op == 3:
        del lines[i]
    elif op == 4:
        lines.insert(i, lines[i])
    elif op == 5:
        digits = payload if payload.isdigit() else str(pos)
        lines[i] = DATES.sub(lambda m: digits if (pos + m.start()) % 3 else m.group() * 3, lines[i])
    elif op == 6:
        return payload * (1 + pos % 5)
    elif op == 7:
        times = min(2 + pos % 200, 2 + 64_000 // (len(lines[i]) + 1))  # a long line, ~64 KB at most
        lines[i] = lines[i].rstrip("\n") * times + "\n"
    return "".join(lines)


@cache
def _parsed(seed: str) -> Any:
    try:
        return json.loads(seed)
    except ValueError:
        return None


def mutate(seed: str, muts: list[tuple[int, int, str]]) -> str:
    text = seed
    for op, pos, payload in muts:
        doc = _parsed(text) if op >= 8 and text is seed else None
        if op >= 8 and doc is not None:
            text = _json_mutate(doc, op, pos, payload)
        else:
            text = _text_mutate(text, op % 8, pos, payload)
    return text


# --- the property ----------------------------------------------------------------


def check_parse(fmt: Format, text: str, ctx: ParseContext) -> None:
    events = []
    for e in fmt.parse(Source(path=ctx.path, text=text), ctx):
        assert isinstance(e, Event), type(e)
        events.append(e)
    for e in events:
        assert e.ts.tzinfo is not None and e.ts.utcoffset() == timedelta(0), e.ts
        assert isinstance(e.text, str) and isinstance(e.ref, str) and e.source
        Event.model_validate(e.model_dump())  # nothing built around the validators
        for k, v in e.attrs.items():
            assert isinstance(k, str) and isinstance(v, str)


def _payload(chunk: bytes) -> str:
    """Random text from genome bytes: latin-1 bytes, UTF-8 with replacement,
    raw code points (lone surrogates included) or one of the nasty tokens."""
    kind, rest = chunk[0] % 4, chunk[1:]
    if kind == 0:
        return NASTY_TEXT[rest[0] % len(NASTY_TEXT)] if rest else ""
    if kind == 1:
        return rest.decode("latin-1")
    if kind == 2:
        return rest.decode("utf-8", "replace")
    return "".join(
        chr(int.from_bytes(rest[i : i + 3], "big") % 0x110000) for i in range(0, len(rest) - 2, 3)
    )


def decode_genome(genome: bytes) -> tuple[int, int, bool, list[tuple[int, int, str]]]:
    """One cheap hypothesis draw (bytes) drives everything, so 10,000 examples
    per format fit in CI; hypothesis still shrinks a failure to a small genome."""
    g = genome + bytes(4)
    head, body = g[:4], g[4:]
    seed_i, ctx_i = head[0], int.from_bytes(head[1:3], "big")
    random_only = head[3] % 8 == 0
    muts = []
    for i in range(0, min(len(body), 3 * 12), 12):
        c = body[i : i + 12]
        if len(c) < 5:
            break
        muts.append((c[0] % 14, int.from_bytes(c[1:4], "big"), _payload(c[4:])))
    return seed_i, ctx_i, random_only, muts


def _context(ctx_i: int) -> ParseContext:
    tz, rest = _TZ[ctx_i % len(_TZ)], ctx_i // len(_TZ)
    anchor, rest = _ANCHOR[rest % len(_ANCHOR)], rest // len(_ANCHOR)
    start, rest = _START[rest % len(_START)], rest // len(_START)
    mtime = _MTIME[rest % len(_MTIME)]
    return ParseContext(
        path="fuzz.txt", tz=tz, anchor_date=anchor, meeting_start=start, mtime=mtime
    )


def _run(name: str, examples: int) -> None:
    fmt = FORMATS[name]
    pool = seeds().get(name) or [""]

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    @given(st.binary(min_size=4, max_size=40))
    def prop(genome: bytes) -> None:
        seed_i, ctx_i, random_only, muts = decode_genome(genome)
        if random_only:
            text = "".join(p for _, _, p in muts) * (1 + ctx_i % 50)
        else:
            text = mutate(pool[seed_i % len(pool)], muts)
        check_parse(fmt, text, _context(ctx_i))

    started = time.monotonic()
    prop()
    TIMES[name] = time.monotonic() - started


TIMES: dict[str, float] = {}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_fuzz_quick(name: str) -> None:
    _run(name, QUICK)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FORMATS))
def test_fuzz_10k(name: str) -> None:
    _run(name, SLOW)


def test_seeds_parse_cleanly() -> None:
    """The unmutated seeds are valid input: each yields events."""
    for name, pool in seeds().items():
        for text in pool:
            ctx = ParseContext(path="seed", anchor_date=date(2026, 2, 8), meeting_start=_START[1])
            events = list(FORMATS[name].parse(Source(path="seed", text=text), ctx))
            assert events or ctx.skipped, name
