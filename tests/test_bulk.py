"""The bulk path (pipeline/bulk.py): big or mixed line logs grouped column-wise."""

from __future__ import annotations

import io
import sys
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pytest

from pipeline import bulk
from pipeline.api import Options, prepare
from pipeline.condense import template_of
from pipeline.ingest import IngestOptions, ingest
from pipeline.models import Event

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import gen_logs  # noqa: E402

DAY = date(2026, 3, 14)


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, gen_logs.Truth]:
    path = tmp_path_factory.mktemp("bulk") / "mixed.log"
    truth = gen_logs.generate(path, 60_000)
    assert path.stat().st_size > bulk.BULK_MIN_BYTES  # routed by size, not by mixing
    return path, truth


def test_big_mixed_file_gives_bounded_pack_with_the_incident(
    big: tuple[Path, gen_logs.Truth],
) -> None:
    path, truth = big
    prep = prepare([str(path)], Options(anchor_date=DAY), budget_tokens=3000)
    ev = prep.evidence
    assert ev.tokens <= 3000
    assert sum(int(e.attrs.get("count", "1")) for e in prep.events) == truth.lines
    items = ev.items
    pool = next(i for i in items if gen_logs.POOL_MARK in i.text)
    assert pool.count == truth.pool_count
    assert pool.ts == _ts(truth.pool_first) and pool.last_ts == _ts(truth.pool_last)
    assert pool.severity == "error" and pool.source == "jsonlog"
    deploy = next(i for i in items if gen_logs.DEPLOY_MARK in i.text)
    assert deploy.ts == _ts(truth.deploy_ts) and deploy.count == 1
    assert deploy.ref == f"{path}:{truth.deploy_line}" and deploy.source == "syslog"
    oom = next(i for i in items if gen_logs.OOM_MARK in i.text)
    assert oom.ts == _ts(truth.oom_ts) and oom.ref == f"{path}:{truth.oom_line}"
    spike = next(i for i in items if gen_logs.SPIKE_MARK in i.text)
    assert spike.count == truth.spike_count and spike.severity == "error"
    assert int(spike.attrs["peak_per_min"]) >= truth.spike_count // 5


def _keys(events: list[Event]) -> Counter[str]:
    out: Counter[str] = Counter()
    for e in events:
        out[f"{e.source}|{e.severity}|{template_of(e.text)}"] += int(e.attrs.get("count", "1"))
    return out


def _split_by_format(src: Path, out: Path) -> list[Path]:
    """The mixed file cut into one homogeneous file per format."""
    parts: dict[str, list[str]] = {"json": [], "syslog": [], "access": []}
    for line in src.read_text().splitlines(keepends=True):
        kind = "json" if line.startswith("{") else "access" if " - - [" in line else "syslog"
        parts[kind].append(line)
    paths = []
    for kind, lines in parts.items():
        p = out / f"{kind}.log"
        p.write_text("".join(lines))
        paths.append(p)
    return paths


def test_same_templates_and_counts_as_the_per_line_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "mixed.log"
    gen_logs.generate(src, 6000, seed=3)
    opts = IngestOptions(anchor_date=DAY)
    for path in _split_by_format(src, tmp_path):
        monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 10**12)
        exact = ingest([str(path)], opts)
        assert not any("count" in e.attrs for e in exact.events)
        monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
        monkeypatch.setattr(bulk, "BULK_MIN_LINES", 0)
        grouped = ingest([str(path)], opts)
        assert all("count" in e.attrs for e in grouped.events), path.name
        assert _keys(grouped.events) == _keys(exact.events), path.name
        # first and last times of every template agree too
        firsts: dict[str, datetime] = {}
        lasts: dict[str, datetime] = {}
        for e in exact.events:
            k = f"{e.source}|{e.severity}|{template_of(e.text)}"
            firsts[k] = min(firsts.get(k, e.ts), e.ts)
            lasts[k] = max(lasts.get(k, e.ts), e.ts)
        for e in grouped.events:
            k = f"{e.source}|{e.severity}|{template_of(e.text)}"
            assert e.ts == firsts[k], k
            assert _ts(e.attrs["last_ts"]) == lasts[k], k


def test_crlf_lines_group_like_lf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
    monkeypatch.setattr(bulk, "BULK_MIN_LINES", 0)
    lf = tmp_path / "lf.log"
    gen_logs.generate(lf, 3000, seed=5)
    crlf = tmp_path / "crlf.log"
    crlf.write_bytes(lf.read_bytes().replace(b"\n", b"\r\n"))
    opts = IngestOptions(anchor_date=DAY)
    a, b = ingest([str(lf)], opts), ingest([str(crlf)], opts)
    assert all("count" in e.attrs for e in b.events)
    assert _keys(a.events) == _keys(b.events)
    assert not any("\r" in e.text for e in b.events)
    assert sorted(e.ref.rsplit(":", 1)[1] for e in a.events) == sorted(
        e.ref.rsplit(":", 1)[1] for e in b.events
    )


def test_huge_single_line_does_not_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
    monkeypatch.setattr(bulk, "BULK_MIN_LINES", 0)
    head = '{"ts":"2026-03-14T10:00:00Z","level":"info","msg":"before"}\n'
    huge = (
        '{"ts":"2026-03-14T10:00:01Z","level":"info","msg":"'
        + "x" * (3 * bulk.BLOCK_BYTES)
        + '"}\n'
    )
    tail = '{"ts":"2026-03-14T10:00:02Z","level":"info","msg":"deploy checkout v2.14.0"}\n'
    path = tmp_path / "huge.log"
    path.write_text(head + huge + tail)
    res = ingest([str(path)], IngestOptions(anchor_date=DAY))
    assert all("count" in e.attrs for e in res.events)
    refs = {e.text[:6]: e.ref for e in res.events}
    assert refs["before"] == f"{path}:1"
    assert refs["deploy"] == f"{path}:3"  # line numbers survive the skipped bytes


def test_blocks_align_to_lines_and_cut_huge_ones() -> None:
    data = b"a\nbb\n" + b"x" * 100 + b"\nccc\nlast-without-newline"
    got = list(bulk._blocks(io.BytesIO(data), size=16))
    lines = [
        (no, ln) for _, first, blk in got for no, ln in enumerate(blk.split(b"\n")[:-1], first + 1)
    ]
    assert [n for n, _ in lines] == [1, 2, 3, 4, 5]
    assert lines[2][1].startswith(b"x") and lines[3][1] == b"ccc"
    for off, _first, blk in got:  # offsets point at the block's first byte in the file
        first_line = blk.split(b"\n", 1)[0]
        assert data[off : off + len(first_line)] == first_line[: len(first_line)]


def test_small_single_format_file_keeps_the_per_line_path(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text(
        '{"ts":"2026-03-14T10:00:00Z","level":"info","msg":"a"}\n'
        '{"ts":"2026-03-14T10:00:01Z","level":"error","msg":"b"}\n'
    )
    res = ingest([str(path)], IngestOptions())
    assert res.files[0].format == "jsonlog"
