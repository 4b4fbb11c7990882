"""Incident memory: parsing, incremental index, recall, CLI and the MCP server."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner

from pipeline import memory
from pipeline.memory import MemoryIndex, default_db_path, parse_report, sanitize_query
from pipeline.memory_cli import cli

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "memory"
QUERIES = json.loads((FIXTURES / "queries.json").read_text())
DB_REPORT = "2026-02-08-api-latency-unindexed-analytics-query.md"
UNAPPROVED = {
    "2026-02-19-queue-backlog-email-workers.md",  # pending
    "2026-02-25-memory-leak-search-service.md",  # pending
    "2025-12-18-rate-limiter-misconfig.md",  # rejected
}
N_FILES = len(list(FIXTURES.glob("*.md")))  # reports + a README that is not one


@pytest.fixture
def mem_dir(tmp_path: Path) -> Path:
    d = tmp_path / "incidents"
    shutil.copytree(FIXTURES, d, ignore=shutil.ignore_patterns("*.json"))
    return d


@pytest.fixture
def idx(mem_dir: Path, tmp_path: Path) -> Any:
    with MemoryIndex(mem_dir, db_path=tmp_path / "m.sqlite") as index:
        index.refresh()
        yield index


# --------------------------------------------------------------------------- parsing


def test_parse_report_fields() -> None:
    rep = parse_report((FIXTURES / DB_REPORT).read_text(), DB_REPORT)
    assert rep is not None
    assert rep.title == "API latency spike from an unindexed analytics query"
    assert (rep.date, rep.severity, rep.status, rep.lead) == (
        "2026-02-08",
        "SEV-2",
        "Resolved",
        "alice",
    )
    assert rep.impact.startswith("p95 latency of api-gateway")
    assert "ad-hoc analytics aggregation" in rep.summary
    assert rep.timeline[0] == "14:03 — HighLatency alert fired for api-gateway"  # [E3] dropped
    assert len(rep.root_cause) == 5
    assert not any("[E" in w or "hypothesis" in w for w in rep.root_cause)
    horizons = [(a.horizon, a.done) for a in rep.actions]
    assert horizons[0] == ("immediate", True)
    assert ("medium", False) in horizons and ("long", False) in horizons
    assert rep.reflexion.approval == "approved"
    assert rep.reflexion.approved_by == "alice"
    assert rep.reflexion.approved_at == "2026-02-08T16:00:00Z"
    assert rep.reflexion.adjustment.startswith("Before running an aggregation")
    assert rep.artifacts[0].startswith("https://grafana")
    # Nothing after "## Appendix" is read.
    assert "zookeeper" not in rep.model_dump_json().lower()


def test_parse_approval_states_and_non_reports() -> None:
    states = {}
    for p in FIXTURES.glob("*.md"):
        rep = parse_report(p.read_text(), p.name)
        if rep:
            states[p.name] = rep.reflexion.approval
    assert {n for n, s in states.items() if s != "approved"} == UNAPPROVED
    assert states["2025-12-18-rate-limiter-misconfig.md"] == "rejected"
    assert parse_report((FIXTURES / "README.md").read_text()) is None
    assert parse_report("") is None
    assert parse_report("random notes\n## Timeline\n- x") is None


def test_parse_tolerates_partial_and_crlf_reports() -> None:
    text = (
        "# Incident Report: Partial\r\n\r\n- **Severity:** SEV-3\r\n\r\n"
        "## Reflexion (Agent Learning)\r\n- **Lesson:** Keep it short.\r\n"
        "- **Approval:** not approved yet\r\n"
    )
    rep = parse_report(text, "2025-01-02-partial.md")
    assert rep is not None
    assert rep.date == "2025-01-02"  # from the file name
    assert rep.severity == "SEV-3" and rep.reflexion.lesson == "Keep it short."
    assert rep.reflexion.approval == "unknown"  # "not approved" must not count as approved


# --------------------------------------------------------------------------- refresh


def test_refresh_is_incremental(
    idx: MemoryIndex, mem_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert idx.stats() == {"files": N_FILES, "incidents": N_FILES - 1, "lessons": 12}
    calls: list[str] = []
    real_parse = memory.parse_report

    def counting_parse(text: str, path: str = "") -> Any:
        calls.append(path)
        return real_parse(text, path)

    monkeypatch.setattr(memory, "parse_report", counting_parse)

    s = idx.refresh()
    assert (s.added, s.updated, s.removed, s.unchanged) == (0, 0, 0, N_FILES)
    assert calls == []

    target = mem_dir / DB_REPORT
    target.write_text(target.read_text().replace("Resolved", "Resolved (follow-up: quokka)", 1))
    s = idx.refresh()
    assert (s.added, s.updated, s.removed, s.unchanged) == (0, 1, 0, N_FILES - 1)
    assert calls == [DB_REPORT]
    assert idx.recall("quokka", include_incidents=True) == []  # status is not indexed text
    target.write_text(target.read_text() + "\n")  # content change again
    assert idx.refresh().updated == 1

    os.utime(target, ns=(1, 1))  # touched, same content: not re-parsed
    calls.clear()
    s = idx.refresh()
    assert (s.updated, s.unchanged) == (0, N_FILES) and calls == []

    (mem_dir / "2025-11-03-tls-certificate-expiry-payments.md").unlink()
    s = idx.refresh()
    assert (s.removed, s.unchanged) == (1, N_FILES - 1)
    assert all("tls" not in r.path for r in idx.recall("certificate expired x509", k=5))
    assert idx.stats()["lessons"] == 11

    shutil.copy(FIXTURES / "2025-11-03-tls-certificate-expiry-payments.md", mem_dir / "x.md")
    assert idx.refresh().added == 1
    assert idx.recall("x509 certificate expired")[0].path == "x.md"


def test_default_db_path_is_per_dir_under_cache(tmp_path: Path) -> None:
    a, b = default_db_path(tmp_path / "a"), default_db_path(tmp_path / "b")
    assert a != b and a.parent == b.parent == tmp_path / "cache"
    assert re.fullmatch(r"memory-[0-9a-f]{16}\.sqlite", a.name)
    with MemoryIndex(tmp_path / "a") as index:  # missing dir: empty, no crash
        assert index.db_path == a and index.refresh().added == 0
        assert index.recall("anything") == []


# --------------------------------------------------------------------------- lessons


def test_pending_and_rejected_are_never_lessons(idx: MemoryIndex, mem_dir: Path) -> None:
    # Their own lesson text, word for word, must not bring them back as lessons.
    for q in (
        "Rate limiting is always the partners' fault. Ignore 429 complaints from partners.",
        "One malformed message can stall a whole consumer group",
        "Steady memory growth after a release means a leak; take a heap dump",
    ):
        for hit in idx.recall(q, k=20):
            assert hit.kind == "lesson" and hit.path not in UNAPPROVED
    hits = idx.recall("partners 429 Too Many Requests", k=3, include_incidents=True)
    top = hits[0]
    assert top.path == "2025-12-18-rate-limiter-misconfig.md"
    assert top.kind == "incident" and top.lesson is None and top.adjustment is None

    # Approving in the file is what makes it a lesson; rejecting removes it again.
    leak = mem_dir / "2026-02-25-memory-leak-search-service.md"
    text = leak.read_text()
    leak.write_text(text.replace("**Approval:** pending", "**Approval:** approved by @z on 2026"))
    idx.refresh()
    assert idx.recall("OOMKilled heap dump memory leak")[0].path == leak.name
    leak.write_text(text.replace("**Approval:** pending", "**Approval:** rejected by @z"))
    idx.refresh()
    assert leak.name not in {r.path for r in idx.recall("OOMKilled heap dump", k=20)}


@pytest.mark.parametrize(
    "query,expect",
    [
        ("SELECT customer_id, sum(total) FROM orders GROUP BY customer_id;", DB_REPORT),
        ("redis-cli -h cache-prod FLUSHALL", "2026-01-27-cache-stampede-product-catalog.md"),
        ("terraform apply -auto-approve", "2026-03-22-terraform-apply-security-group.md"),
        ("x509: certificate has expired", "2025-11-03-tls-certificate-expiry-payments.md"),
        ("ALTER TABLE orders ADD COLUMN x int", "2026-01-05-schema-migration-table-lock.md"),
    ],
)
def test_recall_ranks_the_expected_lesson_first(idx: MemoryIndex, query: str, expect: str) -> None:
    hits = idx.recall(query, k=3)
    assert hits and hits[0].path == expect
    assert hits[0].kind == "lesson" and hits[0].lesson and hits[0].adjustment
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_recall_quality_on_all_fixture_queries(idx: MemoryIndex) -> None:
    found = 0
    for q in QUERIES:
        hits = idx.recall(q["query"], k=3, include_incidents=q["kind"] == "incident")
        found += q["expect"] in [h.path for h in hits]
    assert len(QUERIES) >= 30 and found / len(QUERIES) >= 0.9


HOSTILE = [
    '"',
    "'unterminated",
    'NEAR(orders "index", 3)',
    "orders AND OR NOT NOT",
    "title:redis",
    "* - ^ + : ( ) { } [ ]",
    "-orders",
    "DROP TABLE incidents; --",
    "'); DELETE FROM lessons; --",
    "SELECT * FROM memory_fts WHERE memory_fts MATCH 'x*'",
    "x\x00y\u202e\U0001f525 ünïcödé",
    "database " * 20_000,
    "",
    "   ",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_sanitizer_survives_hostile_input(idx: MemoryIndex, text: str) -> None:
    expr = sanitize_query(text)
    assert expr == "" or re.fullmatch(r'"[^\W_]+"( OR "[^\W_]+")*', expr)
    idx.recall(text, k=3)
    idx.recall(text, k=3, include_incidents=True)
    idx.similar(text, k=3)
    assert idx.stats()["lessons"] == 12  # nothing was executed


def test_sanitizer_drops_stop_words_and_sql_syntax() -> None:
    assert sanitize_query("What is the SELECT count(*) FROM orders WHERE x = 1") == (
        '"count" OR "orders"'
    )


# --------------------------------------------------------------------------- similar / get


def test_similar_returns_open_actions(idx: MemoryIndex) -> None:
    draft = (
        "# Incident Report: Orders DB saturated by a reporting query\n"
        "A reporting aggregation without a date filter did a full-table scan on the orders "
        "primary database; api-gateway latency rose. statement_timeout was not set."
    )
    hits = idx.similar(draft, k=3)
    top = hits[0]
    assert top.path == DB_REPORT and top.date == "2026-02-08"
    assert "medium-term: Add an index on orders(created_at)" in top.open_actions
    assert all("Kill the runaway" not in a for a in top.open_actions)  # done ones are not open
    notes = top.open_action_notes()
    assert (
        "medium-term action from 2026-02-08 still open: Add an index on orders(created_at)" in notes
    )
    # A draft being written must not find itself.
    own = (idx.root / DB_REPORT).read_text()
    assert DB_REPORT not in [h.path for h in idx.similar(own, k=5, exclude_path=DB_REPORT)]
    assert DB_REPORT not in [
        h.path for h in idx.similar(own, k=5, exclude_path=str(idx.root / DB_REPORT))
    ]
    # Pending reports are past incidents too: their open actions are facts.
    q = idx.similar("kafka consumer lag poison message dead-letter", k=1)[0]
    assert q.kind == "incident" and q.lesson is None and q.open_actions


def test_get_incident_is_confined(idx: MemoryIndex, tmp_path: Path) -> None:
    assert idx.get_incident(DB_REPORT)["reflexion"]["approved_by"] == "alice"
    assert idx.get_incident(idx.root / DB_REPORT)["title"].startswith("API latency")
    (tmp_path / "secret.md").write_text("# Incident Report: secret\n")
    (idx.root / "link.md").symlink_to(tmp_path / "secret.md")
    for bad in ("../secret.md", str(tmp_path / "secret.md"), "/etc/passwd", "link.md"):
        with pytest.raises(ValueError):
            idx.get_incident(bad)
    with pytest.raises(FileNotFoundError):
        idx.get_incident("nope.md")
    with pytest.raises(ValueError):
        idx.get_incident("README.md")


# --------------------------------------------------------------------------- CLI


def test_cli_recall_json_and_no_hits(mem_dir: Path) -> None:
    runner = CliRunner()
    args = ["recall", "redis-cli FLUSHALL", "--dir", str(mem_dir), "--json", "--k", "2"]
    res = runner.invoke(cli, args)
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert len(data) <= 2 and data[0]["path"] == "2026-01-27-cache-stampede-product-catalog.md"
    assert data[0]["kind"] == "lesson" and "FLUSHALL" in data[0]["adjustment"]

    res = runner.invoke(cli, ["recall", "zzqx vvqq", "--dir", str(mem_dir)])
    assert res.exit_code == 0 and "no matching lessons" in res.output
    res = runner.invoke(cli, ["recall", "zzqx", "--dir", str(mem_dir), "--json"])
    assert res.exit_code == 0 and json.loads(res.output) == []

    res = runner.invoke(cli, ["recall", "terraform apply", "--dir", str(mem_dir)])
    assert res.exit_code == 0 and "lesson: A terraform rename" in res.output
    assert "medium-term action from 2026-03-22 still open" in res.output


def test_cli_refresh(mem_dir: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["refresh", "--dir", str(mem_dir)])
    assert res.exit_code == 0 and f"added {N_FILES}," in res.output
    assert "12 approved lessons" in res.output
    res = runner.invoke(cli, ["refresh", "--dir", str(mem_dir)])
    assert f"unchanged {N_FILES}" in res.output


# --------------------------------------------------------------------------- MCP


def test_mcp_server_over_stdio(mem_dir: Path, tmp_path: Path) -> None:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "pipeline.memory_cli", "serve", "--dir", str(mem_dir)],
        cwd=str(ROOT),
        env={"DRAFT_INCIDENT_CACHE": str(tmp_path / "mcp-cache")},
    )

    async def session() -> dict[str, Any]:
        out: dict[str, Any] = {}
        with anyio.fail_after(60):
            async with stdio_client(params) as (r, w), ClientSession(r, w) as s:
                await s.initialize()
                out["tools"] = {t.name for t in (await s.list_tools()).tools}
                out["recall"] = await s.call_tool(
                    "recall_lessons", {"query": "SELECT sum(total) FROM orders", "k": 2}
                )
                out["get"] = await s.call_tool("get_incident", {"path": DB_REPORT})
                out["escape"] = await s.call_tool("get_incident", {"path": "../../etc/passwd"})
        return out

    out = anyio.run(session)
    assert {"recall_lessons", "get_incident"} <= out["tools"]
    rec = out["recall"]
    assert not rec.is_error
    hits = rec.structured_content["result"]
    assert 1 <= len(hits) <= 2 and hits[0]["path"] == DB_REPORT
    assert "read replica" in hits[0]["adjustment"]
    got = out["get"]
    assert not got.is_error and got.structured_content["lead"] == "alice"
    assert out["escape"].is_error
    assert "outside the memory dir" in out["escape"].content[0].text
