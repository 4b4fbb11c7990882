"""The review package's shared parts: edits validated one way for both front
ends, the $EDITOR document read back, a written report read back exactly,
and one rule everywhere: a placeholder lesson is never approved nor recalled."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.memory import MemoryIndex
from pipeline.render import render
from pipeline.review import EditError, apply_edits, editdoc, edits_of, load
from tests.conftest import MINI
from tests.test_review_api import LESSON, live_session, pending_report

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_editor_document_round_trips_and_applies(tmp_path: Path) -> None:
    s = live_session(tmp_path)
    d = s.report.draft
    doc = editdoc.to_markdown(d)
    edits = editdoc.from_markdown(doc)
    assert edits is not None
    assert apply_edits(d, edits, s.known) == d  # nothing changed, nothing moved
    # one section at a time
    for section in editdoc.SECTIONS:
        part = editdoc.to_markdown(d, section)
        got = editdoc.from_markdown(part, section)
        assert got is not None and apply_edits(d, got, s.known) == d, section
    assert editdoc.from_markdown("<!-- only a comment -->\n\n") is None  # emptied: cancel


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t.replace("## Timeline (UTC)", "## Timeline"),
            "heading missing: ## Timeline (UTC)",
        ),
        (
            lambda t: t.replace("- **Lesson:**", "- Lesson:"),
            "'- **Lesson:**' line of the Reflexion is missing",
        ),
        (
            lambda t: t.replace("[E1]", "[E404]", 1),
            "timeline entry 1 cites E404, which is not in the evidence",
        ),
        (lambda t: t.replace("### Long Term", "### Someday"), "unknown heading '### Someday'"),
        (lambda t: t + "\n## Notes\n\nmine\n", "unexpected heading '## Notes'"),
        (
            lambda t: re.sub(r"^1\. \*\*(.*?)\*\*", r"1. \1", t, count=1, flags=re.M),
            "why 1: expected",
        ),
    ],
)
def test_broken_editor_documents_name_the_problem(
    tmp_path: Path, change: object, message: str
) -> None:
    s = live_session(tmp_path)
    doc = change(editdoc.to_markdown(s.report.draft))  # type: ignore[operator]
    with pytest.raises(EditError, match=None) as e:
        edits = editdoc.from_markdown(doc)
        assert edits is not None
        s.edit(edits)
    assert message in str(e.value)


def test_timeline_times_come_from_the_cited_evidence(tmp_path: Path) -> None:
    s = live_session(tmp_path)
    edits = edits_of(s.report.draft)
    assert edits.timeline is not None
    edits.timeline[0].evidence = ["E16"]  # re-cited: the entry moves to E16's time
    d = apply_edits(s.report.draft, edits, s.known)
    moved = next(
        t for t in d.timeline if t.evidence == ["E16"] and t.text == edits.timeline[0].text
    )
    assert moved.ts == s.known["E16"].ts
    assert [t.ts for t in d.timeline] == sorted(t.ts for t in d.timeline)


@pytest.mark.parametrize("fixture", ["mini", "deploy-regression-checkout", "dns-resolution-outage"])
def test_written_reports_read_back_exactly(tmp_path: Path, fixture: str) -> None:
    src = MINI if fixture == "mini" else FIXTURES / fixture
    r = CliRunner().invoke(
        main,
        [
            "--from-logs",
            str(src),
            "--llm",
            "offline",
            "--out-dir",
            str(tmp_path),
            "--reflexion",
            "pending",
        ],
    )
    assert r.exit_code == 0, r.stderr
    path = Path(r.stdout.strip())
    report, name = load.parse(path, path.read_text())
    assert render(report, file_name=name) == path.read_text()
    assert load.session(path).warnings == []


def test_a_file_that_is_not_a_report_is_one_line(tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n\nnothing here\n")
    r = CliRunner().invoke(main, ["review", str(notes), "--no-browser"])
    assert r.exit_code == 2 and r.stderr.strip() == f"error: {notes}:1: not a draft-incident report"
    r = CliRunner().invoke(main, ["review", str(tmp_path / "missing.md"), "--no-browser"])
    assert r.exit_code == 2 and "cannot read" in r.stderr and "Traceback" not in r.stderr


def test_hand_edits_outside_the_template_are_announced(tmp_path: Path) -> None:
    path, _ = pending_report(tmp_path)
    text = path.read_text().replace(
        "## Corrective Actions\n", "## Corrective Actions\n\nSee the RFC.\n"
    )
    path.write_text(text)
    s = load.session(path)
    assert len(s.warnings) == 1 and "'See the RFC.'" in s.warnings[0]


def test_json_sidecar_must_describe_the_same_report(tmp_path: Path) -> None:
    path, json_path = pending_report(tmp_path)
    s = load.session(path, json_path=json_path)
    assert s.facts_known and s.report.facts.alerts
    other = tmp_path / "other.md"
    other.write_text(path.read_text())
    with pytest.raises(load.LoadError, match="not other.md"):
        load.session(other, json_path=json_path)


# --- one rule everywhere: a placeholder lesson is not a lesson ----------------------


def test_memory_never_indexes_placeholder_lessons_or_actions(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    path, _ = pending_report(tmp_path)
    # a file from before the rule: "approved" written over the placeholder
    text = path.read_text()
    pending = next(ln for ln in text.splitlines() if ln.startswith("- **Approval:**"))
    docs.mkdir()
    (docs / path.name).write_text(
        text.replace(pending, "- **Approval:** approved by @me on 2026-02-08T15:00:00Z")
    )
    index = MemoryIndex(docs, db_path=tmp_path / "m.sqlite")
    index.refresh()
    assert index.stats()["lessons"] == 0
    assert index.recall("what did this incident teach", k=3) == []
    hits = index.recall("HighLatency api-gateway", k=3, include_incidents=True)
    assert hits and all(h.lesson is None for h in hits)
    assert not any("None proposed" in a for h in hits for a in h.open_actions)
    assert any("for the analytics role" in a for h in hits for a in h.open_actions)

    # the same report with a written lesson is memory
    for key, value in LESSON.items():
        line = next(ln for ln in text.splitlines() if ln.startswith(f"- **{key.title()}:**"))
        text = text.replace(line, f"- **{key.title()}:** {value}")
    (docs / path.name).write_text(
        text.replace(pending, "- **Approval:** approved by @me on 2026-02-08T15:00:00Z")
    )
    index.refresh()
    (hit,) = index.recall("unbounded scans starve connections", k=1)
    assert hit.lesson == LESSON["lesson"]


def test_review_command_in_the_terminal(tmp_path: Path) -> None:
    path, _ = pending_report(tmp_path)
    editor = tmp_path / "editor.py"
    fields = {k.title(): v for k, v in LESSON.items()}
    editor.write_text(
        "import re, sys\n"
        "from pathlib import Path\n"
        "p = Path(sys.argv[1]); t = p.read_text()\n"
        f"for k, v in {fields!r}.items():\n"
        "    t = re.sub(rf'^- \\*\\*{k}:\\*\\* .*$', f'- **{k}:** {v}', t, flags=re.M)\n"
        "p.write_text(t)\n"
    )
    r = CliRunner().invoke(
        main,
        ["review", str(path), "--terminal"],
        input="e\nlesson\na\noctocat\n",
        env={"EDITOR": f"{sys.executable} {editor}"},
    )
    assert r.exit_code == 0, r.stderr
    assert "[a]pprove / [e]dit / [r]eject / [p]ending" in r.stderr
    text = path.read_text()
    assert f"- **Lesson:** {LESSON['lesson']}" in text
    assert "- **Approval:** approved by @octocat on " in text
    # end of input before a decision: exit 3, the file as it was
    before = path.read_text()
    r = CliRunner().invoke(main, ["review", str(path), "--terminal"], input="")
    assert r.exit_code == 3 and "without a decision" in r.stderr and path.read_text() == before


def test_an_approved_file_can_be_put_back_to_pending(tmp_path: Path) -> None:
    path, _ = pending_report(tmp_path)
    s = load.session(path)
    edits = edits_of(s.report.draft)
    edits.reflexion = edits.reflexion.model_copy(update=LESSON) if edits.reflexion else None
    assert s.decide("approved", approver="octocat", edits=edits) == path
    assert "approved by @octocat" in path.read_text()
    again = load.session(path)
    assert again.report.review.status == "approved" and again.warnings == []
    again.decide("pending")
    text = path.read_text()
    assert "- **Approval:** pending" in text and LESSON["lesson"] in text
    assert (
        f"`draft-incident approve {path} --approver NAME`" in text
    )  # the name it was written with


@pytest.mark.parametrize(
    "gen, sections",
    [
        ("offline", [("summary", "offline", None, False)]),
        (
            "openai:qwen-local",
            [("summary", "offline fallback: endpoint refused structured output", None, False),
             ("why 1/5", "offline fallback: endpoint refused structured output", None, False)],
        ),
        ("openai:gpt", [("summary", "openai:gpt", "tools", False),
                        ("reflexion", "openai:gpt", "tools", False)]),
        (
            "openai:qwen-local",
            [("summary", "openai:qwen-local", "json_schema", False),
             ("why 2/5", "offline fallback: repeated answer", None, False),
             ("reflexion", "openai:qwen-local", "json_schema", True)],
        ),
    ],
)  # fmt: skip
def test_the_footer_reads_back_to_the_same_line(
    tmp_path: Path, gen: str, sections: list[tuple[str, str, str | None, bool]]
) -> None:
    from pipeline.models import SectionSource
    from pipeline.provenance import footer, parse_footer

    prov = [
        SectionSource(section=s, by=b, method=m, edited_by_reviewer=e) for s, b, m, e in sections
    ]
    d = live_session(tmp_path).report.draft.model_copy(
        update={"generated_by": gen, "provenance": prov}
    )
    line = footer(d, "draft-incident 0.1.0")
    parsed = parse_footer(line)
    assert parsed is not None
    tool, gen2, prov2 = parsed
    again = d.model_copy(update={"generated_by": gen2, "provenance": prov2})
    assert tool == "draft-incident 0.1.0" and footer(again, tool) == line
