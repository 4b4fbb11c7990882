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
from pathlib import Path
from typing import Any

import pytest

from pipeline import api, llm
from pipeline.models import Report, ReviewDecision
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
}


def approve(_d: object) -> ReviewDecision:
    return ReviewDecision(status="approved", approver="tester")


def blocks(markdown: str) -> list[str]:
    return FENCE.findall(markdown)


def _with_timeline(report: Report, texts: list[str]) -> Report:
    base = report.draft.timeline
    assert base, "the mini incident must have a timeline to mutate"
    entries = [base[i % len(base)].model_copy(update={"text": t}) for i, t in enumerate(texts)]
    return report.model_copy(
        update={"draft": report.draft.model_copy(update={"timeline": entries})}
    )


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
    return reports, mini


BROKEN = {
    # a label whose quote is not escaped ends the label early: must be rejected
    "negative:raw-quote": 'flowchart TD\n    t0["14:03 said "hi" loudly"]\n    t0 --> t1\n',
    "negative:dangling-arrow": 'flowchart TD\n    t0["a"] -->\n',
    "negative:not-a-diagram": "this is not mermaid at all",
}


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
    for case, text in BROKEN.items():
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
HOSTILE_CASES = [f"hostile:{n}" for n in HOSTILE] + ["hostile:all-in-one"]


def _assert_parsed(checked: dict[str, Any], case: str) -> None:
    idx = checked["per_case"][case]
    assert len(idx) == 1, f"{case}: expected exactly one mermaid block, found {len(idx)}"
    for i in idx:
        r = checked["results"][i]
        assert r["ok"], f"{case}: mermaid rejected\n{checked['diagrams'][i]}\n{r.get('error')}"
        assert r["type"].startswith("flowchart"), r


@pytest.mark.parametrize("case", REPORT_CASES)
def test_report_diagram_parses(checked: dict[str, Any], case: str) -> None:
    _assert_parsed(checked, case)


@pytest.mark.parametrize("case", HOSTILE_CASES)
def test_hostile_timeline_text_parses(checked: dict[str, Any], case: str) -> None:
    _assert_parsed(checked, case)


def test_hostile_labels_stay_inside_their_node(checked: dict[str, Any]) -> None:
    """The parser accepting it is not enough: no label may add nodes or edges."""
    i = checked["per_case"]["hostile:all-in-one"][0]
    lines = checked["diagrams"][i].splitlines()
    n = len(HOSTILE)
    assert lines[0] == "flowchart TD"
    assert len(lines) == n + 2, lines
    for k, line in enumerate(lines[1:-1]):
        assert re.fullmatch(rf'    t{k}\["\d\d:\d\d [^"]*"\]', line), line
    assert lines[-1] == "    " + " --> ".join(f"t{k}" for k in range(n))


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
