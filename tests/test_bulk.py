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
from pipeline.ingest import IngestOptions, IngestResult, InputError, ingest
from pipeline.models import Event, iso_z
from tests.conftest import real

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


def _key(e: Event) -> str:
    return f"{e.source}|{e.severity}|{template_of(e.text)}"  # condense's template key


def _keys(events: list[Event]) -> Counter[str]:
    out: Counter[str] = Counter()
    for e in events:
        out[_key(e)] += int(e.attrs.get("count", "1"))
    return out


def _spans(events: list[Event]) -> dict[str, tuple[datetime, datetime]]:
    """First and last time of each template, from ungrouped events."""
    out: dict[str, tuple[datetime, datetime]] = {}
    for e in events:
        first, last = out.get(_key(e), (e.ts, e.ts))
        out[_key(e)] = (min(first, e.ts), max(last, e.ts))
    return out


def _both_paths(
    path: Path, opts: IngestOptions, monkeypatch: pytest.MonkeyPatch
) -> tuple[IngestResult, IngestResult]:
    """The file read line by line, then column-wise."""
    monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 10**12)
    exact = ingest([str(path)], opts)
    monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
    monkeypatch.setattr(bulk, "BULK_MIN_LINES", 0)
    return exact, ingest([str(path)], opts)


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
        exact, grouped = _both_paths(path, opts, monkeypatch)
        assert not any("count" in e.attrs for e in exact.events)
        assert all("count" in e.attrs for e in grouped.events), path.name
        assert _keys(grouped.events) == _keys(exact.events), path.name
        # first and last times of every template agree too
        spans = _spans(exact.events)
        for e in grouped.events:
            assert e.ts == spans[_key(e)][0], _key(e)
            assert _ts(e.attrs["last_ts"]) == spans[_key(e)][1], _key(e)


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


_STYLES = {
    # written zones, naive times (read in --tz), a comma fraction, no seconds,
    # epoch seconds, a minute that is none (31 Feb) and a second of 60;
    # {s} and {m} vary per copy, so that first and last are not the same line
    "app.jsonl": [
        '{{"ts":"2026-03-14T10:00:{s}.5+02:00","level":"info","msg":"cache warm"}}',
        '{{"ts":"2026-03-14 09:00:{s},250","level":"error","msg":"db timeout"}}',
        '{{"ts":"2026-03-14T10:{m}Z","level":"info","msg":"cache warm"}}',
        '{{"ts":17734824{s}.25,"level":"warn","msg":"slow query 42 ms"}}',
        '{{"ts":"2026-02-31T10:00:{s}Z","level":"error","msg":"impossible date"}}',
        '{{"ts":"2026-03-14T10:00:60Z","level":"error","msg":"leap second"}}',
        '{{"ts":"2026-03-14T07:59:{s}.999999-05:00","level":"error","msg":"db timeout"}}',
    ],
    "sys.log": [
        "Mar 14 09:00:{s} web1 sshd[12]: Accepted key for deploy",
        "Mar  4 23:59:{s} web1 kernel: eth0 link down",
        "Mar 14 09:{m}:00 web1 sshd[99]: Accepted key for deploy",
    ],
    "access.log": [
        '10.0.0.1 - - [14/Mar/2026:04:00:{s} -0500] "GET /a HTTP/1.1" 200 12 "-" "curl"',
        '10.0.0.2 - - [14/Mar/2026:09:{m}:01 +0000] "GET /a HTTP/1.1" 503 12 "-" "curl"',
        '10.0.0.3 - - [14/Mar/2026:10:30:{s} +0130] "GET /b HTTP/1.1" 200 99 "-" "curl"',
    ],
}


@pytest.mark.parametrize("name", sorted(_STYLES))
def test_times_agree_with_the_per_line_parsers(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every way a time is written gives the same UTC instants on both paths,
    naive ones read in --tz (here a zone with a different offset than UTC)."""
    from zoneinfo import ZoneInfo

    path = tmp_path / name
    copies = [(f"{10 * i:02d}", f"{5 * i:02d}") for i in range(3)]
    lines = [ln.format(s=sec, m=mi) for sec, mi in copies for ln in _STYLES[name]]
    path.write_text("\n".join(lines) + "\n")
    opts = IngestOptions(anchor_date=DAY, tz=ZoneInfo("Europe/Paris"))
    exact, grouped = _both_paths(path, opts, monkeypatch)
    assert all("count" in e.attrs for e in grouped.events)
    assert _keys(grouped.events) == _keys(exact.events)
    spans = _spans(exact.events)
    for e in grouped.events:
        assert e.ts == spans[_key(e)][0], _key(e)
        assert e.attrs["last_ts"] == iso_z(spans[_key(e)][1]), _key(e)  # to the millisecond
    if name == "app.jsonl":  # the two impossible times are counted, not lost
        (warn,) = [w for w in grouped.files[0].warnings if "without a readable" in w]
        assert warn.startswith(f"{path}: 6 lines") and "first at line 5" in warn
        spot = {e.text: e.ts for e in grouped.events}
        assert spot["db timeout"] == _ts("2026-03-14T08:00:00.250000+00:00")  # Paris, UTC+1
        assert spot["cache warm"] == _ts("2026-03-14T08:00:00.500000+00:00")
        assert spot["slow query 42 ms"] == _ts("2026-03-14T10:00:00.250000+00:00")


def test_rotated_gzip_logs_are_read_alone_in_folders_and_in_bulk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip

    src = tmp_path / "plain.log"
    gen_logs.generate(src, 3000, seed=9)
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "app.log.1.gz").write_bytes(gzip.compress(src.read_bytes()))
    (folder / "broken.log.2.gz").write_bytes(gzip.compress(src.read_bytes())[:500])
    opts = IngestOptions(anchor_date=DAY)
    plain = ingest([str(src)], opts)
    alone = ingest([str(folder / "app.log.1.gz")], opts)
    assert _keys(alone.events) == _keys(plain.events)
    assert all(e.ref.startswith(f"{folder / 'app.log.1.gz'}:") for e in alone.events)
    inside = ingest([str(folder)], opts)
    assert _keys([e for e in inside.events if "app.log.1.gz" in e.ref]) == _keys(plain.events)
    (broken,) = [f for f in inside.files if f.path.endswith("broken.log.2.gz")]
    assert broken.warnings == [f"ignored: {folder / 'broken.log.2.gz'}: damaged gzip file"]
    with pytest.raises(InputError, match=r"broken\.log\.2\.gz: damaged gzip file"):
        ingest([str(folder / "broken.log.2.gz")], opts)
    monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
    monkeypatch.setattr(bulk, "BULK_MIN_LINES", 0)
    grouped = ingest([str(folder / "app.log.1.gz")], opts)
    assert all("count" in e.attrs for e in grouped.events)
    assert _keys(grouped.events) == _keys(plain.events)


def test_many_mid_sized_files_add_up_to_the_bulk_path(tmp_path: Path) -> None:
    line = '{{"ts":"2026-03-14T10:{m:02d}:{s:02d}Z","level":"info","msg":"served {n} in {k} ms"}}\n'
    body = "".join(
        line.format(m=n // 600 % 60, s=n // 10 % 60, n=n, k=n % 97) for n in range(25_000)
    )
    folder = tmp_path / "rotated"
    folder.mkdir()
    for i in range(3):
        (folder / f"app.log.{i}").write_text(body)
    size = (folder / "app.log.0").stat().st_size
    assert bulk.BULK_SHARE_BYTES < size < bulk.BULK_MIN_BYTES < 3 * size
    opts = IngestOptions(anchor_date=DAY)
    alone = ingest([str(folder / "app.log.0")], opts)  # one file: small, exact path
    assert len(alone.events) == 25_000 and "count" not in alone.events[0].attrs
    together = ingest([str(folder)], opts)  # three: 6 MB in all, grouped
    assert len(together.events) == 3 and all(e.attrs["count"] == "25000" for e in together.events)


@pytest.mark.needs_shared
@pytest.mark.parametrize(
    "rel",
    [
        "loghub/HDFS/HDFS_2k.log",
        "loghub/BGL/BGL_2k.log",
        "loghub/Thunderbird/Thunderbird_2k.log",
        "loghub/Apache/Apache_2k.log",
        "loghub/Linux/Linux_2k.log",
        "loghub/OpenStack/OpenStack_2k.log",
        "nginx/access/test.log",
    ],
)
def test_real_samples_group_like_the_per_line_path(
    rel: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real public samples, read column-wise: every line counted, the same
    first time for every template (naive HDFS/Apache stamps read in --tz,
    BGL/Thunderbird epochs), and the same templates. The raw key deletes
    digits and lowercase hex letters, a little coarser than condense's
    template in rare cases (a 7- vs 9-digit number), so a template may absorb
    a few lines of a sibling: at least 98% of the lines are attributed as the
    per-line path does."""
    from zoneinfo import ZoneInfo

    src = real(rel)
    opts = IngestOptions(anchor_date=DAY, tz=ZoneInfo("America/Chicago"))
    exact, grouped = _both_paths(src, opts, monkeypatch)
    assert grouped.files[0].format == exact.files[0].format
    assert all("count" in e.attrs for e in grouped.events), rel
    want, got = _keys(exact.events), _keys(grouped.events)
    assert sum(got.values()) == sum(want.values()) and set(got) <= set(want)
    assert sum(min(n, got[k]) for k, n in want.items()) >= 0.98 * sum(want.values())
    spans = _spans(exact.events)
    for e in grouped.events:
        k = _key(e)
        assert e.ts == spans[k][0], k
        if got[k] == want[k]:  # no line absorbed either way
            assert e.attrs["last_ts"] == iso_z(spans[k][1]), k


def test_times_the_columns_cannot_read_keep_the_per_line_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the generic parser finds "Mar 14 10:00:00" anywhere; the columns read it
    # only at the start of a line: nothing may be lost to the faster path
    monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
    monkeypatch.setattr(bulk, "BULK_MIN_LINES", 0)
    path = tmp_path / "odd.log"
    path.write_text(
        "".join(f"host=web{i % 3} Mar 14 10:{i % 60:02d}:00 job {i} done\n" for i in range(300))
    )
    res = ingest([str(path)], IngestOptions(anchor_date=DAY))
    assert len(res.events) == 300 and "count" not in res.events[0].attrs
    assert not res.files[0].warnings


@pytest.mark.parametrize("workers", [1, 3])
def test_any_number_of_workers_counts_every_line(
    workers: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one core (one worker) or more; blocks small enough that folds happen mid-file
    monkeypatch.setattr(bulk, "WORKERS", workers)
    monkeypatch.setattr(bulk, "FOLD_BLOCKS", 2)
    monkeypatch.setattr(bulk, "_blocks", lambda f: _orig_blocks(f, size=64 * 1024))
    path = tmp_path / "mixed.log"
    truth = gen_logs.generate(path, 6000, seed=4)
    res = ingest([str(path)], IngestOptions(anchor_date=DAY))
    assert sum(int(e.attrs["count"]) for e in res.events) == truth.lines


_orig_blocks = bulk._blocks
