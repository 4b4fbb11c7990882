"""The eval's scoring functions on hand-made reports, and one real offline run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.models import Draft as DraftModel
from pipeline.models import (
    EvidenceItem,
    Facts,
    Metric,
    Reflexion,
    Report,
    ReviewDecision,
    TimedFact,
    TimelineEntry,
    Verification,
    Why,
)
from tests.conftest import ROOT, load_script

ev = load_script(ROOT / "bench" / "eval.py")
T0 = datetime(2026, 2, 10, 14, 0, 0, tzinfo=UTC)
SECRET = "Sup3rS3cret!"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def item(id_: str, minutes: float, text: str) -> EvidenceItem:
    return EvidenceItem(
        id=id_, ts=at(minutes), source="test", kind="log", text=text, ref=f"x.log:{id_[1:]}"
    )


def entry(minutes: float, text: str, *ids: str) -> TimelineEntry:
    return TimelineEntry(ts=at(minutes), text=text, evidence=list(ids))


def report(
    timeline: list[TimelineEntry],
    evidence: list[EvidenceItem],
    *,
    summary: str = "Latency spike.",
    whys: list[Why] | None = None,
    severity: str = "SEV-2",
) -> Report:
    fact = TimedFact(ts=T0, formula="test")
    metric = Metric(minutes=1.0, formula="test")
    facts = Facts(
        start=fact,
        detected=fact,
        acknowledged=fact,
        mitigated=fact,
        resolved=fact,
        time_to_detect=metric,
        time_to_acknowledge=metric,
        time_to_mitigate=metric,
        time_to_resolve=metric,
        alerts=[],
        participants=[],
        services=["api-gateway"],
        severity=severity,
        status="Resolved",
        lead=None,
        artifacts=[],
        action_hints=[],
    )
    draft = DraftModel(
        title="Test incident",
        slug="test-incident",
        date="2026-02-10",
        status="Resolved",
        severity=severity,
        lead="alice",
        impact="Slow API.",
        summary=summary,
        timeline=timeline,
        whys=whys or [],
        actions=[],
        reflexion=Reflexion(context="c", lesson="l", adjustment="a"),
        artifacts=[],
        generated_by="test",
    )
    return Report(
        draft=draft,
        facts=facts,
        review=ReviewDecision(status="approved", approver="eval"),
        evidence=evidence,
        ledger=[],
        verification=Verification(),
        tool_version="test",
    )


REFS = [
    {"ts": "2026-02-10T14:00:00Z", "keywords": ["analytics", "query"]},
    {"ts": "2026-02-10T14:27:38Z", "keywords": ["48213", "terminat"]},
]
EVIDENCE = [
    item("E1", 0, "analytics report cohort_revenue_weekly started"),
    item("E2", 27.5, "FATAL: terminating connection due to administrator command [48213]"),
    item("E3", 40, "kube-probe healthcheck ok"),
]


def test_matched_entry_counts_for_recall_and_precision() -> None:
    r = report([entry(0, "Analytics report started", "E1")], EVIDENCE)
    assert ev.timeline_recall(r, REFS) == (1, 2)
    assert ev.timeline_precision(r, REFS) == (1, 1, 1)
    assert ev.grounding(r) == (1, 1)
    assert ev.invented_timestamps(r) == 0


def test_keyword_in_cited_evidence_text_is_enough_and_stems_match() -> None:
    # the entry's own words miss the keywords; the cited item has "terminating"
    r = report([entry(27.5, "Bob killed the backend", "E2")], EVIDENCE)
    assert ev.timeline_recall(r, REFS) == (1, 2)


def test_entry_outside_the_window_does_not_match() -> None:
    far = item("E9", 6, "analytics query still running")  # 6 min after the 14:00 reference
    r = report([entry(6, "Analytics query still running", "E9")], [far])
    assert ev.timeline_recall(r, REFS) == (0, 2)
    correct, on_ref, total = ev.timeline_precision(r, REFS)
    assert (on_ref, total) == (0, 1)
    assert correct == 1  # still correct: supported by the evidence it cites
    inside = item("E8", 5, "analytics query still running")  # exactly 5 min: inside
    assert ev.timeline_recall(report([entry(5, "x", "E8")], [inside]), REFS) == (1, 2)


def test_wrong_keywords_do_not_match_and_unsupported_text_is_imprecise() -> None:
    r = report([entry(40, "Database failover completed on the replica", "E3")], EVIDENCE)
    assert ev.timeline_recall(r, REFS) == (0, 2)
    assert ev.timeline_precision(r, REFS) == (0, 0, 1)  # text shares no words with E3
    disk = item("E3", 0, "disk full")
    near = report([entry(0, "Disk filled on logs node", "E3")], [*EVIDENCE[:2], disk])
    assert ev.timeline_recall(near, REFS) == (0, 2)  # right time, wrong words


def test_one_entry_cannot_match_two_reference_events() -> None:
    refs = [{"ts": "2026-02-10T14:00:00Z", "keywords": ["analytics"]}] * 2
    r = report([entry(0, "Analytics report started", "E1")], EVIDENCE)
    assert ev.timeline_recall(r, refs) == (1, 2)


def test_invented_timestamp_and_ungrounded_ids_are_detected() -> None:
    moved = entry(3, "Analytics report started", "E1")  # E1 is at 14:00, not 14:03
    dangling = entry(27.5, "Query terminated", "E2", "E77")  # E77 is not in the appendix
    uncited = entry(40, "Healthcheck ok")
    r = report([moved, dangling, uncited], EVIDENCE)
    assert ev.invented_timestamps(r) == 2  # moved, and uncited (no cited item has its time)
    assert ev.grounding(r) == (1, 3)  # only "moved": its id resolves, its time is wrong
    row = ev.score(r, {"timeline": REFS}, incident="t", backend="test")
    assert row.invented_ts == 2
    assert ev.violations([row]) == ["t/test: 2 invented timestamp(s)"]


def test_secret_leak_detected_in_report_and_in_escaped_markdown() -> None:
    clean = report([entry(0, "Analytics report started", "E1")], EVIDENCE)
    assert ev.leaked_secrets(clean, [SECRET]) == []
    leaky_ev = [*EVIDENCE, item("E4", 1, f"DATABASE_URL=postgres://analytics:{SECRET}@db")]
    leaky = report([entry(1, "Worker config", "E4")], leaky_ev)
    assert ev.leaked_secrets(leaky, [SECRET, "not-planted"]) == [SECRET]
    # Markdown escaping ("!" -> "\!") does not hide a secret from the check
    assert ev.leaked_secrets(clean, [SECRET], md="password Sup3rS3cret\\! in chat") == [SECRET]
    row = ev.score(leaky, {"planted_secrets": [SECRET]}, incident="t", backend="test")
    assert row.secrets_leaked == 1 and ev.violations([row])


def test_root_cause_recall_and_severity() -> None:
    whys = [Why(question="Why slow?", answer="A Seq Scan on orders from the analytics job")]
    r = report([], EVIDENCE, summary="Primary Postgres overloaded.", whys=whys, severity="SEV-2")
    keywords = ["analytics", "seq scan", "orders", "created_at", "primary"]
    assert ev.root_cause_recall(r, keywords) == (4, 5)
    assert ev.severity_match(r, "sev-2") and not ev.severity_match(r, "SEV-1")


def test_placeholder_whys_are_counted() -> None:
    whys = [
        Why(
            question="Why slow?", answer="“db pool exhausted” (quoted, to confirm)", evidence=["E1"]
        ),
        Why(question="Why?", answer="To be answered by the reviewer (no model drafted this step)."),
    ]
    row = ev.score(report([], EVIDENCE, whys=whys), {}, incident="t", backend="test")
    assert (row.placeholder_whys, row.whys) == (1, 2)


def test_totals_are_micro_averages() -> None:
    a = ev.Row("a", "b", ref_matched=1, ref_events=2, entries=4, grounded=4, wall_s=1.5)
    b = ev.Row("c", "b", ref_matched=3, ref_events=8, entries=6, grounded=3, wall_s=2.0)
    total = ev.totals([a, b], "b")
    assert total.ratios()["recall"] == 0.4 and total.ratios()["grounding"] == 0.7
    assert total.wall_s == 3.5 and ev.extra_rows() == []


def test_whole_eval_offline_on_one_fixture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval" / "results.json"
    args = ["--backends", "offline", "--incidents", "api-latency-unindexed-query"]
    assert ev.main([*args, "--json-out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    row = next(r for r in rows if r["incident"] == "api-latency-unindexed-query")
    assert row["error"] is None
    assert row["invented_ts"] == 0 and row["secrets_leaked"] == 0
    assert row["grounding"] == 1.0 and row["entries"] > 0
    assert row["placeholder_whys"] == 0 and row["whys"] > 0  # whys drawn from the evidence
    assert rows[-1]["incident"] == "TOTAL"
    assert "api-latency-unindexed-query" in capsys.readouterr().out
