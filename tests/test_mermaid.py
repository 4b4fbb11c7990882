"""Every ```mermaid block a report can contain is accepted by the real Mermaid parser.

The check runs ``mermaid.parse()`` in Node (tests/mermaid/check.mjs, mermaid pinned in
tests/mermaid/package-lock.json) once for the whole module: all diagrams are built first,
sent in one JSON array, and each test looks up its own result.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline import api, llm
from pipeline.journey import CONFIG, LABEL_CHARS, SECTIONS, journey, section_of
from pipeline.models import Report, ReviewDecision, TimedFact
from pipeline.render import render
from tests import fakes
from tests.conftest import MINI, ROOT, isolate

CHECKER = ROOT / "tests" / "mermaid"
FIXTURES = sorted(
    p for p in (ROOT / "fixtures").iterdir() if p.is_dir() and not p.name.startswith(("_", "."))
)
FENCE = re.compile(r"^```mermaid\n(.*?)^```$", re.M | re.S)

HOSTILE = {
    "double-quotes": 'Ops said "rollback now" and "done"',
    "single-quotes": "it's the db's fault",
    "brackets": "pool [db-primary] (replica) {shard-3} <tag>",
    "close-label": '"] --> evil["pwned',
    "arrows": "a --> b --- c ==> d -.-> e -- text --> f",
    "semicolons": "step one; step two;; end;",
    "hash": "#1 #quot; &#35; #35; # issue #42",
    "colons": "14:03:22 error: upstream: timeout: 30s",
    "backticks": "ran `kubectl rollout undo` and ```fenced```",
    "script": "<script>alert('x')</script><img src=x onerror=alert(1)>",
    "ampersand": "A & B && C &amp; D &lt;",
    "pipes": "p99 |> 2s | edge |label| text",
    "percent": "%% not a comment %%{init: {'theme':'dark'}}%%",
    "keywords": "end subgraph click style classDef linkStyle graph TD",
    "backslash": r"C:\path\to\file \n \" \\",
    "unicode": "Überlast — 数据库 🔥 ✅ ñ ü 𝔘 \u200b zero-width",
    "rtl-and-combining": "שלום مرحبا e\u0301 a\u0308",
    "line-separators": "one\u2028two\u2029three\r\nfour\tfive\x0bsix",
    "control-chars": "bell\x07 nul\x00 esc\x1b[31m red",
    "long": "x" * 40 + " " + "a very long timeline entry that goes well past the seventy char cap",
    "long-entity-at-cut": "y" * 68 + '"<>&`',
    "empty": "",
    "whitespace-only": "   \t  ",
    "markdown": "**bold** _it_ [link](http://x) # heading\n- list",
    "html-entities": "&quot; &#quot; #lt;b#gt; &#60;",
    "braces-only": "{}{}[][]()()",
    "journey-grammar": "fix: 5: alice, bob\n      section Pwned\n      evil: 1: mallory",
    "journey-keywords": "title hijack section Owned accTitle: x accDescr: y",
    "directive": '%%{init: {"theme": "forest", "securityLevel": "loose"}}%% done',
    "comment-start": "%% hidden",
}
# actor names and titles come from evidence too
HOSTILE_ACTORS = ["eve, mallory: 5: x", "bob; #1", "%%{init}%%", "", "a" * 80]
HOSTILE_TITLE = "HighLatency; section X # y: 5: z %%{init: {}}%%"
RATIO = "\u2236"  # what a ":" becomes in a journey label
TIME = rf"(?:\d\d-\d\d )?\d\d{RATIO}\d\d "


def approve(_d: object) -> ReviewDecision:
    return ReviewDecision(status="approved", approver="tester")


def blocks(markdown: str) -> list[str]:
    return FENCE.findall(markdown)


def _with_timeline(report: Report, texts: list[str]) -> Report:
    base = report.draft.timeline
    assert base, "the mini incident must have a timeline to mutate"
    # cite a chat or log line: an alert step is labelled with the alert's name instead
    other = [e.id for e in report.evidence if not e.kind.startswith("alert")]
    assert other, "the mini incident must have non-alert evidence"
    entries = [
        base[i % len(base)].model_copy(update={"text": t, "evidence": other[:1]})
        for i, t in enumerate(texts)
    ]
    entries.sort(key=lambda e: e.ts)
    return report.model_copy(
        update={"draft": report.draft.model_copy(update={"timeline": entries})}
    )


def _with_hostile_names(report: Report) -> Report:
    """The title and every cited evidence item's actor replaced by hostile text."""
    evidence = [
        e.model_copy(update={"actor": HOSTILE_ACTORS[k % len(HOSTILE_ACTORS)], "kind": "message"})
        for k, e in enumerate(report.evidence)
    ]
    draft = report.draft.model_copy(update={"title": HOSTILE_TITLE})
    return report.model_copy(update={"draft": draft, "evidence": evidence})


def _node_ready() -> str | None:
    """The reason to skip, or None when node and the pinned mermaid are usable."""
    node = shutil.which("node")
    if node is None:
        return "node is not installed: cannot run the real Mermaid parser"
    if (CHECKER / "node_modules" / "mermaid").is_dir() and (
        CHECKER / "node_modules" / "jsdom"
    ).is_dir():
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "tests/mermaid/node_modules is missing and npm is not installed (run: npm ci --prefix tests/mermaid)"
    try:
        subprocess.run(
            [npm, "ci", "--prefix", str(CHECKER), "--no-audit", "--no-fund"],
            check=True, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    except (subprocess.SubprocessError, OSError) as e:
        return (
            f"tests/mermaid/node_modules is missing and `npm ci --prefix tests/mermaid` failed: {e}"
        )
    return None


def run_checker(diagrams: list[str]) -> tuple[int, list[dict[str, Any]], str]:
    proc = subprocess.run(
        ["node", str(CHECKER / "check.mjs")],
        input=json.dumps(diagrams), capture_output=True, text=True, timeout=300, cwd=CHECKER,
    )  # fmt: skip
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return proc.returncode, results, proc.stderr


def _cases(tmp: Path) -> tuple[dict[str, str], Report]:
    """case name -> full rendered report (markdown), and the offline mini report."""
    reports: dict[str, str] = {}
    opts = api.Options(cache_dir=tmp / "cache")
    with llm.open_backend("offline") as offline:
        mini = api.draft_report([str(MINI)], offline, reviewer=approve, options=opts)
        reports["offline:mini"] = render(mini)
        for fx in FIXTURES:
            r = api.draft_report([str(fx)], offline, reviewer=approve, options=opts)
            reports[f"offline:{fx.name}"] = render(r)
    fake = api.draft_report(
        [str(MINI)], llm.fake_backend(fakes.ScriptedChat()), reviewer=approve,
        options=api.Options(cache_dir=tmp / "cache-fake"),
    )  # fmt: skip
    reports["fake:mini"] = render(fake)
    for name, text in HOSTILE.items():
        reports[f"hostile:{name}"] = render(_with_timeline(mini, [text, "next step"]))
    reports["hostile:all-in-one"] = render(_with_timeline(mini, list(HOSTILE.values())))
    reports["hostile:names"] = render(_with_hostile_names(mini))
    return reports, mini


BROKEN = {
    # a label whose quote is not escaped ends the label early: must be rejected
    "negative:raw-quote": 'flowchart TD\n    t0["14:03 said "hi" loudly"]\n    t0 --> t1\n',
    "negative:dangling-arrow": 'flowchart TD\n    t0["a"] -->\n',
    "negative:not-a-diagram": "this is not mermaid at all",
    # journey's grammar has no quoting: ";" and "#" in a task end it
    "negative:journey-semicolon": "journey\n    section A\n      14:03 a; b: 5: me\n",
    "negative:journey-hash": "journey\n    section A\n      a # b: 5: me\n",
}
# parses, but as something else: the time's colon split the task (task "14", score "03 a")
MISREAD = "journey\n    title t\n    section Detection\n      14:03 alert fired: 1: Alertmanager\n"


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    reason = _node_ready()
    if reason:
        pytest.skip(reason)
    with pytest.MonkeyPatch.context() as mp:  # same isolation as conftest._isolated
        tmp = tmp_path_factory.mktemp("mermaid")
        isolate(mp, tmp / "env-cache")
        reports, mini = _cases(tmp)
    names: list[str] = []
    diagrams: list[str] = []
    per_case: dict[str, list[int]] = {}
    for case, md in reports.items():
        per_case[case] = []
        for b in blocks(md):
            per_case[case].append(len(diagrams))
            names.append(case)
            diagrams.append(b)
    for case, text in [*BROKEN.items(), ("misread", MISREAD)]:
        per_case[case] = [len(diagrams)]
        names.append(case)
        diagrams.append(text)
    code, results, stderr = run_checker(diagrams)
    assert len(results) == len(diagrams), (
        f"checker printed {len(results)} results for {len(diagrams)} diagrams: {stderr}"
    )
    return {
        "code": code,
        "results": results,
        "per_case": per_case,
        "diagrams": diagrams,
        "mini": mini,
    }


REPORT_CASES = ["offline:mini", *(f"offline:{fx.name}" for fx in FIXTURES), "fake:mini"]
HOSTILE_CASES = [f"hostile:{n}" for n in HOSTILE] + ["hostile:all-in-one", "hostile:names"]


def journey_problems(result: dict[str, Any]) -> list[str]:
    """What is wrong with a parsed journey: each task a time and a label, a score
    of 1-5, at least one actor, our sections in order."""
    if result.get("type") != "journey":
        return [f"not a journey: {result.get('type')}"]
    tasks = result["journey"]["tasks"]
    problems = [] if tasks else ["no tasks"]
    for t in tasks:
        if not re.match(TIME + r"\S", t["task"]):
            problems.append(f"task without its time: {t['task']!r}")
        if t["score"] not in (1, 2, 3, 4, 5):
            problems.append(f"score {t['score']!r} in {t['task']!r}")
        if not t["people"] or not all(p.strip() for p in t["people"]):
            problems.append(f"no actor for {t['task']!r}")
    sections = [t["section"] for t in tasks]
    order = [SECTIONS.index(x) if x in SECTIONS else -1 for x in sections]
    if -1 in order or order != sorted(order):
        problems.append(f"sections {sections}")
    return problems


def _assert_parsed(checked: dict[str, Any], case: str) -> dict[str, Any]:
    idx = checked["per_case"][case]
    assert len(idx) == 1, f"{case}: expected exactly one mermaid block, found {len(idx)}"
    r: dict[str, Any] = checked["results"][idx[0]]
    assert r["ok"], f"{case}: mermaid rejected\n{checked['diagrams'][idx[0]]}\n{r.get('error')}"
    assert not journey_problems(r), (journey_problems(r), checked["diagrams"][idx[0]])
    return r


@pytest.mark.parametrize("case", REPORT_CASES)
def test_report_diagram_parses(checked: dict[str, Any], case: str) -> None:
    _assert_parsed(checked, case)


@pytest.mark.parametrize("case", HOSTILE_CASES)
def test_hostile_timeline_text_parses(checked: dict[str, Any], case: str) -> None:
    _assert_parsed(checked, case)


def test_hostile_labels_stay_inside_their_task(checked: dict[str, Any]) -> None:
    """The parser accepting it is not enough: no label may add tasks, sections or
    directives, and each task keeps its time and the start of its text."""
    r = _assert_parsed(checked, "hostile:all-in-one")
    tasks = r["journey"]["tasks"]
    mini: Report = checked["mini"]
    assert len(tasks) == len(HOSTILE)
    assert r["journey"]["title"] == f"{mini.draft.title} (UTC)"
    assert {t["section"] for t in tasks} <= set(SECTIONS)
    diagram = checked["diagrams"][checked["per_case"]["hostile:all-in-one"][0]]
    # the only directive is ours, first; no HTML-ish brackets reach the labels
    assert diagram.startswith(CONFIG + "\n") and diagram.count("%%{") == 1
    assert "<" not in diagram and ">" not in diagram
    assert [ln.strip() for ln in diagram.splitlines() if ln.strip().startswith("section")] == [
        f"section {s}" for s in dict.fromkeys(t["section"] for t in tasks)
    ]
    shown = [re.sub("^" + TIME, "", t["task"]) for t in tasks]
    # each label is the start of its own text (cut at a word, with "…")
    assert "fix: 5: alice, bob…".replace(":", RATIO) in shown, shown
    assert "14:03:22 error:…".replace(":", RATIO) in shown, shown
    assert all(len(t["task"]) <= LABEL_CHARS for t in tasks), tasks


def test_hostile_actors_and_title_stay_in_their_place(checked: dict[str, Any]) -> None:
    r = _assert_parsed(checked, "hostile:names")
    mini: Report = checked["mini"]
    tasks = r["journey"]["tasks"]
    assert len(tasks) == len(mini.draft.timeline)
    title = r["journey"]["title"]
    assert title.startswith("HighLatency, section X") and title.endswith("(UTC)")
    people = {p for t in tasks for p in t["people"]}
    assert all(len(p) <= 28 and not set(p) & set(",:;#") and "%%" not in p for p in people)
    assert "eve mallory 5 x" in people, people


def test_misread_journey_is_caught(checked: dict[str, Any]) -> None:
    """A time with a raw colon parses, but the structure check sees the split task."""
    (i,) = checked["per_case"]["misread"]
    r = checked["results"][i]
    assert r["ok"] and r["journey"]["tasks"][0]["task"] == "14"
    assert journey_problems(r)


@pytest.mark.parametrize("case", list(BROKEN))
def test_negative_control_is_rejected(checked: dict[str, Any], case: str) -> None:
    """Proves the check can fail: a broken diagram must come back not ok, and the exit code says so."""
    (i,) = checked["per_case"][case]
    r = checked["results"][i]
    assert r["ok"] is False and r["error"], r
    assert checked["code"] == 1


@pytest.mark.slow  # a second node process (mermaid import costs seconds); the module batch uses one
def test_checker_exit_zero_when_all_parse() -> None:
    if reason := _node_ready():
        pytest.skip(reason)
    code, results, stderr = run_checker(
        ['flowchart TD\n    t0["14:03 ok"]\n    t1["14:05 ok"]\n    t0 --> t1\n']
    )
    assert code == 0, stderr
    assert results == [{"index": 0, "source": "<stdin>[0]", "ok": True, "type": "flowchart-v2"}]


def test_no_timeline_means_no_diagram(checked: dict[str, Any]) -> None:
    mini: Report = checked["mini"]
    assert blocks(render(mini))
    empty = mini.model_copy(update={"draft": mini.draft.model_copy(update={"timeline": []})})
    assert "```mermaid" not in render(empty)


# --- sections and scores from the facts (no node needed) ------------------------


@pytest.fixture(scope="module")
def mini_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    with pytest.MonkeyPatch.context() as mp:
        tmp = tmp_path_factory.mktemp("journey")
        isolate(mp, tmp / "env-cache")
        with llm.open_backend("offline") as offline:
            return api.draft_report(
                [str(MINI)], offline, reviewer=approve, options=api.Options(cache_dir=tmp / "c")
            )


def _at(report: Report, minutes: list[int], **facts: int | None) -> Report:
    """The report with timeline entries at base+minutes and facts at base+offsets."""
    base = report.draft.timeline[0].ts.replace(hour=14, minute=0)
    entry = report.draft.timeline[0]
    tl = [entry.model_copy(update={"ts": base + timedelta(minutes=m)}) for m in minutes]
    fields = {
        k: TimedFact(ts=None if v is None else base + timedelta(minutes=v), formula="test")
        for k, v in facts.items()
    }
    return report.model_copy(
        update={
            "draft": report.draft.model_copy(update={"timeline": tl}),
            "facts": report.facts.model_copy(update=fields),
        }
    )


def _steps(report: Report) -> list[tuple[str, str, int]]:
    """(section, time, score) of each step in the rendered journey."""
    out, section = [], ""
    for line in journey(report):
        if line.strip().startswith("section "):
            section = line.strip().removeprefix("section ")
        elif m := re.match(rf"      ({TIME.strip()}) .*: (\d): .+$", line):
            out.append((section, m.group(1).replace(RATIO, ":"), int(m.group(2))))
    return out


def test_sections_follow_the_facts(mini_report: Report) -> None:
    r = _at(mini_report, [0, 5, 7, 12, 30, 41, 50],
            detected=5, acknowledged=7, mitigated=30, resolved=41)  # fmt: skip
    assert _steps(r) == [
        ("Detection", "14:00", 1),
        ("Detection", "14:05", 1),
        ("Detection", "14:07", 1),  # the acknowledgement closes detection
        ("Response", "14:12", 2),
        ("Remediation", "14:30", 4),  # from the mitigation on
        ("Remediation", "14:41", 5),  # resolved
        ("Remediation", "14:50", 5),
    ]
    lines = journey(r)
    assert lines[:4] == ["```mermaid", CONFIG, "journey", f"    title {r.draft.title} (UTC)"]
    assert [ln.strip() for ln in lines if "section" in ln] == [f"section {s}" for s in SECTIONS]


def test_sections_without_ack_or_mitigation(mini_report: Report) -> None:
    # no acknowledgement: detection ends at the first alert; no mitigation: the resolution starts remediation
    r = _at(mini_report, [0, 5, 6, 20, 25],
            detected=5, acknowledged=None, mitigated=None, resolved=25)  # fmt: skip
    assert [(s, sc) for s, _t, sc in _steps(r)] == [
        ("Detection", 1), ("Detection", 1), ("Response", 2), ("Response", 2), ("Remediation", 5),
    ]  # fmt: skip
    # nothing known: all response, and empty sections are left out
    r = _at(mini_report, [0, 5], detected=None, acknowledged=None, mitigated=None, resolved=None)
    assert [s for s, _t, _sc in _steps(r)] == ["Response", "Response"]
    assert not [ln for ln in journey(r) if "section Detection" in ln]


def test_sections_never_go_back(mini_report: Report) -> None:
    # a page acknowledged after the mitigation must not pull it back into Detection
    r = _at(mini_report, [0, 10, 20], detected=0, acknowledged=20, mitigated=10, resolved=None)
    assert [section_of(t.ts, r) for t in r.draft.timeline] == [0, 2, 2]
    assert [s for s, _t, _sc in _steps(r)] == ["Detection", "Remediation", "Remediation"]


def test_multi_day_steps_carry_the_date(mini_report: Report) -> None:
    r = _at(mini_report, [0, 60 * 11], detected=0)
    assert [t for _s, t, _sc in _steps(r)] == [
        f"{r.draft.timeline[0].ts:%m-%d} 14:00",
        f"{r.draft.timeline[1].ts:%m-%d} 01:00",
    ]


def test_labels_are_short_and_actors_come_from_the_evidence(mini_report: Report) -> None:
    lines = [ln.strip().replace(RATIO, ":") for ln in journey(mini_report)]
    # an alert step names the alert and what it did; the alerting system is the actor
    assert "14:03 HighLatency fired: 1: Alertmanager" in lines
    assert any(ln.endswith("HighLatency resolved: 5: Alertmanager") for ln in lines)
    # a chat step: its words (the speaker is the actor), cut at a word with "…"
    assert "14:05 ack, looking at the…: 1: alice" in lines
    # a log line without a service: the file it came from
    assert any(ln.endswith(": 1: app.log") for ln in lines)
    tasks = [ln.rsplit(": ", 2)[0] for ln in lines if re.match(r"\d\d:\d\d ", ln)]
    assert tasks and all(len(t) <= LABEL_CHARS for t in tasks), tasks
    # the offline drafter writes "alice in chat: “...”": the label drops the speaker
    entry = mini_report.draft.timeline[0]
    chat = next(e for e in mini_report.evidence if e.actor == "alice")
    said = entry.model_copy(update={"text": "alice in chat: “rolled back”", "evidence": [chat.id]})
    r = mini_report.model_copy(
        update={"draft": mini_report.draft.model_copy(update={"timeline": [said]})}
    )
    assert any(ln.strip().endswith(" rolled back: 1: alice") for ln in journey(r))
