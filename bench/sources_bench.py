"""Benchmark: log lines paged in from Loki versus the same lines read from a file.

    .venv/bin/python bench/sources_bench.py [--sizes 100000,300000,1000000] [--json FILE]

For each size, a Loki fake (tests/source_fakes.py, in its own process so its
memory is not ours) serves N lines over two streams, 5,000 a page; the same
lines, each behind its timestamp, are written to a file. Fresh subprocesses
then run ``pipeline.api.prepare`` (ingest -> redact -> normalize -> condense ->
facts) on the file, and on ``--from-loki`` over the same window. Reported: the
Loki run's time as a ratio to the file run's (measured in the same
invocation: the machine is shared), requests made, and peak RSS, which must
stay flat from the smallest size to the largest (the pages go to a spool file
and through the column-wise path, pipeline/bulk.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

T0 = datetime(2026, 2, 8, 14, 0, tzinfo=UTC)
T0_NS = int(T0.timestamp()) * 10**9
STEP_NS = 1_000_000  # one line a millisecond
STREAMS = [{"app": "api", "pod": "api-1"}, {"app": "api", "pod": "api-2"}]
FLAT_RSS = 1.15  # peak RSS at the largest size within 15% of the smallest
MAX_RATIO = 10.0  # paged in from Loki (HTTP + JSON + a server on the same 2 cores) vs a file
DEPLOY = 'level=info msg="deploy api v2.14.0 rolled out"'


def line(i: int, n: int) -> str:
    if i == n // 2:
        return DEPLOY
    if i % 1000 == 7:
        return f'level=error msg="upstream timeout after 5000ms" req={i}'
    return f'level=info msg="GET /api/orders/{i} 200" dur_ms={i % 97}'


def _hwm_mb() -> float:
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith("VmHWM:"):
            return int(row.split()[1]) / 1024
    return 0.0


def serve(n: int, port_file: str) -> None:
    """The Loki fake, in its own process: lines computed from their index."""
    from tests.source_fakes import loki_app
    from tests.source_fakes import serve as serve_app

    def select(start: int, end: int, limit: int) -> list[tuple[int, int, str]]:
        lo = max(0, -(-(start - T0_NS) // STEP_NS))
        hi = min(n, -(-(end - T0_NS) // STEP_NS))
        return [(T0_NS + i * STEP_NS, i % 2, line(i, n)) for i in range(lo, min(hi, lo + limit))]

    with serve_app(loki_app(STREAMS, select)) as srv:
        Path(port_file).write_text(srv.url)
        while True:
            time.sleep(3600)


def window(n: int) -> tuple[str, str]:
    end = T0 + timedelta(milliseconds=n)
    return T0.isoformat(), end.isoformat()


def child(mode: str, target: str, n: int) -> dict[str, Any]:
    import polars  # noqa: F401  (one-time import costs are not per-volume work)

    from pipeline.api import Options, prepare
    from pipeline.condense import count_tokens
    from pipeline.sources import SourceSpec

    count_tokens("warm up")
    since, until = (datetime.fromisoformat(x) for x in window(n))
    t = time.perf_counter()
    if mode == "file":
        prep = prepare([target], Options(since=since, until=until))
    else:
        spec = SourceSpec(loki=target, logql='{app="api"}')
        prep = prepare([], Options(since=since, until=until, sources=spec))
    took = time.perf_counter() - t
    lines = sum(int(e.attrs.get("count", "1")) for e in prep.events if e.kind == "log")
    found = any(DEPLOY.split('"')[1] in i.text for i in prep.evidence.items)
    return {"seconds": took, "rss_mb": _hwm_mb(), "lines": lines, "deploy_found": found}


def run_child(mode: str, target: str, n: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--target", target, "--n", str(n)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def measure(n: int, tmp: Path) -> dict[str, Any]:
    path = tmp / f"loki-{n}.log"
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            ts = datetime.fromtimestamp((T0_NS + i * STEP_NS) / 1e9, UTC)
            f.write(f"{ts:%Y-%m-%dT%H:%M:%S.%f}Z {line(i, n)}\n")
    port_file = tmp / f"port-{n}"
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(n), "--port-file", str(port_file)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline:
                raise RuntimeError("the Loki fake did not start")
            time.sleep(0.1)
        url = port_file.read_text()
        file_run = run_child("file", str(path), n)
        loki_run = run_child("loki", url, n)
    finally:
        server.terminate()
        server.wait(10)
        path.unlink()
    return {
        "lines": n,
        "file_s": round(file_run["seconds"], 2),
        "loki_s": round(loki_run["seconds"], 2),
        "ratio": round(loki_run["seconds"] / file_run["seconds"], 2),
        "pages": -(-n // 5000),
        "file_rss_mb": round(file_run["rss_mb"]),
        "loki_rss_mb": round(loki_run["rss_mb"]),
        "loki_lines": loki_run["lines"],
        "deploy_found": loki_run["deploy_found"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100000,300000,1000000")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--target", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--port-file", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        serve(a.serve, a.port_file)
        return
    if a.child:
        print(json.dumps(child(a.child, a.target, a.n)))
        return
    sizes = [int(s) for s in a.sizes.split(",")]
    rows = []
    print(
        f"{'lines':>9} {'file s':>7} {'loki s':>7} {'ratio':>6} {'pages':>6} {'file MB':>8} {'loki MB':>8} deploy"
    )
    with tempfile.TemporaryDirectory(prefix="sources-bench-") as tmp:
        for n in sizes:
            r = measure(n, Path(tmp))
            rows.append(r)
            print(
                f"{n:>9} {r['file_s']:>7.1f} {r['loki_s']:>7.1f} {r['ratio']:>5.1f}x {r['pages']:>6} "
                f"{r['file_rss_mb']:>8} {r['loki_rss_mb']:>8} {'yes' if r['deploy_found'] else 'NO'}",
                flush=True,
            )
    checks = {
        "every line paged in": all(r["loki_lines"] == r["lines"] for r in rows),
        "the buried deploy found": all(r["deploy_found"] for r in rows),
        f"Loki <= {MAX_RATIO:g}x the file": all(r["ratio"] <= MAX_RATIO for r in rows),
        f"peak RSS flat ({sizes[0]} -> {sizes[-1]}, within {FLAT_RSS - 1:.0%})": rows[-1][
            "loki_rss_mb"
        ]
        <= FLAT_RSS * rows[0]["loki_rss_mb"],
    }
    for k, ok in checks.items():
        print(f"{'ok  ' if ok else 'MISS'} {k}")
    if a.json:
        a.json.write_text(json.dumps({"rows": rows, "checks": checks}, indent=2))


if __name__ == "__main__":
    main()
