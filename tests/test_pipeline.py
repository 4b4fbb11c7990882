"""The whole path through the Python API, with the fake chat model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage

from pipeline import api, llm
from pipeline.models import ReviewDecision
from pipeline.render import render
from tests import fakes
from tests.conftest import MINI

HEADINGS = [
    "# Incident Report: ",
    "## Executive Summary",
    "## Timeline (UTC)",
    "## Root Cause Analysis (The 5 Whys)",
    "## Corrective Actions",
    "### Immediate Term",
    "### Medium Term",
    "### Long Term",
    "## Reflexion (Agent Learning)",
    "## Artifacts",
]


def approve(_d: object) -> ReviewDecision:
    return ReviewDecision(status="approved", approver="tester")


def run(chat: fakes.ScriptedChat, tmp_path: Path) -> api.Report:
    backend = llm.fake_backend(chat)
    return api.draft_report(
        [str(MINI)], backend, reviewer=approve, options=api.Options(cache_dir=tmp_path / "c")
    )


def test_fake_model_draft_is_complete_and_grounded(tmp_path: Path) -> None:
    report = run(fakes.ScriptedChat(), tmp_path)
    text = render(report)
    for h in HEADINGS:
        assert h in text
    ids = {e.id: e for e in report.evidence}
    assert report.draft.timeline
    for entry in report.draft.timeline:
        assert entry.evidence and all(i in ids for i in entry.evidence)
        # code owns the clock: the entry time is the earliest cited event time
        assert entry.ts == min(ids[i].ts for i in entry.evidence)
    # the fake answers four steps (the schema's bound); code completes from the causes
    assert 4 <= len(report.draft.whys) <= 5
    assert report.draft.generated_by == "fake"
    assert report.facts.detected.ts is not None and f"{report.facts.detected.ts:%H:%M}" == "14:03"
    assert report.facts.time_to_resolve.minutes is not None
    # every citation in the report resolves in the appendix
    appendix = text.split("## Appendix: Evidence", 1)[1]
    for cited in re.findall(r"\[(E\d+(?:, E\d+)*)\]", text.split("## Appendix", 1)[0]):
        for i in cited.split(", "):
            assert f"| {i} |" in appendix


def test_unknown_ids_are_reasked_then_accepted(tmp_path: Path) -> None:
    calls: list[str] = []

    def responder(schema: str, prompt: str, n: int) -> object:
        calls.append(schema)
        if schema == "TimelineAnswer" and calls.count("TimelineAnswer") == 1:
            return {"entries": [{"evidence": ["E999"], "text": "invented event"}]}
        return fakes.answer_for(schema, prompt)

    report = run(fakes.ScriptedChat(responder=responder), tmp_path)
    assert calls.count("TimelineAnswer") == 2
    assert "E999" in fakes.LOG[-1][1] or any("E999" in p for _, p in fakes.LOG)
    assert all("E999" not in t.evidence for t in report.draft.timeline)


def test_wrong_and_unsupported_citations_are_marked(tmp_path: Path) -> None:
    def responder(schema: str, prompt: str, n: int) -> object:
        if schema == "TimelineAnswer":
            # E1 is a healthy request log: it cannot support a claim about a rollback
            return {
                "entries": [
                    {"evidence": ["E1"], "text": "Database failover completed successfully"}
                ]
            }
        if schema == "WhysAnswer":
            return {
                "whys": [
                    {
                        "question": f"Why {n}?",
                        "answer": f"Cosmic rays flipped bit {n}",
                        "evidence": ["E1"],
                    }
                    for n in range(1, 5)
                ]
            }
        return fakes.answer_for(schema, prompt)

    report = run(fakes.ScriptedChat(responder=responder), tmp_path)
    assert report.verification.unverified_timeline == 1
    assert not report.draft.timeline[0].verified
    # unsupported steps are hypotheses, or gave way to the causal statements of the evidence
    assert report.verification.hypotheses >= 1
    assert all(w.hypothesis or "to confirm" in w.answer for w in report.draft.whys)
    text = render(report)
    assert "*(unverified)*" in text and "*(hypothesis — confirm)*" in text


def test_repeated_whys_are_replaced_by_causal_statements(tmp_path: Path) -> None:
    def responder(schema: str, prompt: str, n: int) -> object:
        if schema == "WhysAnswer":
            step = {
                "question": "Why?",
                "answer": "The analytics query scanned the whole orders table",
                "evidence": ["E9"],
            }
            return {"whys": [step] * 4}
        return fakes.answer_for(schema, prompt)

    report = run(fakes.ScriptedChat(responder=responder), tmp_path)
    whys = report.draft.whys
    answers = [w.answer for w in whys]
    # the repeats are gone, the chain goes on from the causal statements, no placeholder
    said = "The analytics query scanned the whole orders table"
    assert sum(a.startswith(said) for a in answers) == 1
    assert len(whys) >= 2
    assert not any("To be answered by the reviewer" in a for a in answers)
    assert all(w.evidence for w in whys[1:]) and "to confirm" in whys[1].answer


def test_failed_whys_fall_back_to_quoted_statements(tmp_path: Path) -> None:
    def responder(schema: str, prompt: str, n: int) -> object:
        if schema == "WhysAnswer":
            return AIMessage(content="I cannot help with that.")
        return fakes.answer_for(schema, prompt)

    report = run(fakes.ScriptedChat(responder=responder), tmp_path)
    assert any(n.startswith("whys: drafted offline") for n in report.draft.notes)
    assert report.draft.whys and all(w.evidence and not w.hypothesis for w in report.draft.whys)
    assert not any("To be answered" in w.answer for w in report.draft.whys)


def test_model_failure_falls_back_per_section(tmp_path: Path) -> None:
    def responder(schema: str, prompt: str, n: int) -> object:
        if schema == "ActionsAnswer":
            return AIMessage(content="I cannot help with that.")
        return fakes.answer_for(schema, prompt)

    report = run(fakes.ScriptedChat(responder=responder), tmp_path)
    assert any(n.startswith("actions: drafted offline") for n in report.draft.notes)
    assert "## Review Notes" in render(report)


def test_cache_means_no_second_call(tmp_path: Path) -> None:
    fakes.LOG.clear()
    run(fakes.ScriptedChat(), tmp_path)
    first = len(fakes.LOG)
    assert first == 5  # header, timeline, whys chain, actions, reflexion
    run(fakes.ScriptedChat(), tmp_path)
    assert len(fakes.LOG) == first


def test_offline_backend_is_complete(tmp_path: Path) -> None:
    with llm.open_backend("offline") as backend:
        report = api.draft_report([str(MINI)], backend, reviewer=approve)
    text = render(report)
    for h in HEADINGS:
        assert h in text
    # whys are the causal statements, quoted and cited, not questions
    assert "To be answered by the reviewer" not in text
    assert "(quoted from the evidence, to confirm)" in text
    assert all(w.evidence for w in report.draft.whys)
    assert "- [x] killed the query" in text
    assert "we should add an index" in text


@pytest.mark.parametrize("title", ["../../etc/passwd", "a/b\\c", "..", "", "日本語 only"])
def test_hostile_titles_stay_inside(tmp_path: Path, title: str) -> None:
    with llm.open_backend("offline") as backend:
        report = api.draft_report(
            [str(MINI)], backend, reviewer=approve, options=api.Options(title=title or None)
        )
    out = tmp_path / "out"
    path = api.write_report(report, out)
    assert path.parent.resolve() == out.resolve()
    assert ".." not in path.name
