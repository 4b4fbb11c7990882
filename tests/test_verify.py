"""Verifier units: lexical support, invented terms, blameless language."""

from __future__ import annotations

from pipeline import api, llm, verify
from pipeline.models import ReviewDecision
from tests.conftest import MINI


def _prep():
    return api.prepare([str(MINI)], api.Options())


def test_supported_needs_a_shared_content_word() -> None:
    prep = _prep()
    ids = prep.evidence.by_id()
    kill = next(i for i in ids.values() if "killed the query" in i.text)
    assert verify.supported("Engineer killed the runaway query", [kill])
    assert not verify.supported("Database failover completed", [kill])


def test_novel_terms_flag_copied_examples() -> None:
    prep = _prep()
    ids = prep.evidence.by_id()
    text = "A deploy of checkout v2.14.0 crashed; rolled back to v2.13.2 after 48.8 min (pid 4242)."
    found = verify.novel_terms(text, prep.facts, ids)
    assert "v2.14.0" in found and "v2.13.2" in found
    assert "4242" not in found  # in the evidence
    assert "48.8" not in found  # a computed fact


def test_blame_becomes_roles_and_is_flagged() -> None:
    with llm.open_backend("offline") as b:
        report = api.draft_report(
            [str(MINI)], b, reviewer=lambda d: ReviewDecision(status="pending")
        )
    d = report.draft.model_copy(update={"summary": "bob forgot to add the index. It was careless."})
    fixed, flags = verify.blameless(d, ["alice", "bob"])
    assert "bob" not in fixed.summary and "an engineer forgot" in fixed.summary
    assert len(flags) == 2
