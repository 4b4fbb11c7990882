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
    assert len(report.draft.whys) == 5
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
        if schema == "WhyAnswer":
            step = int(re.search(r"step (\d) of 5", prompt).group(1))  # type: ignore[union-attr]
            return {
                "question": f"Why {step}?",
                "answer": f"Cosmic rays flipped bit {step}",
                "evidence": ["E1"],
            }
        return fakes.answer_for(schema, prompt)

    report = run(fakes.ScriptedChat(responder=responder), tmp_path)
    assert report.verification.unverified_timeline == 1
    assert not report.draft.timeline[0].verified
    assert report.verification.hypotheses == 5
    text = render(report)
    assert "*(unverified)*" in text and "*(hypothesis — confirm)*" in text


def test_repeated_why_is_reasked(tmp_path: Path) -> None:
    seen: list[str] = []

    def responder(schema: str, prompt: str, n: int) -> object:
        if schema == "WhyAnswer":
            seen.append(prompt)
            return {
                "question": "Why?",
                "answer": "The analytics query scanned the whole orders table",
                "evidence": ["E9"],
            }
        return fakes.answer_for(schema, prompt)

    report = run(fakes.ScriptedChat(responder=responder), tmp_path)
    # step 1 is accepted; later identical answers are re-asked, then fall back offline with a note
    assert any("repeats step 1" in p for p in seen)
    assert any("why 2/5" in n for n in report.draft.notes)


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
    assert first >= 9
    run(fakes.ScriptedChat(), tmp_path)
    assert len(fakes.LOG) == first


def test_offline_backend_is_complete(tmp_path: Path) -> None:
    with llm.open_backend("offline") as backend:
        report = api.draft_report([str(MINI)], backend, reviewer=approve)
    text = render(report)
    for h in HEADINGS:
        assert h in text
    assert "To be answered by the reviewer" in text
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
