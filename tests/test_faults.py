"""No fault loses work: every LLM fault ends in a complete report (the failed
section drafted offline, with a note) or a clean exit 1, and a rerun against a
healthy endpoint repeats only the model calls that had not finished.

All runs go through the CLI with ``--llm openai`` against the fake
OpenAI-compatible server of ``tests/fakes.py`` (the real ChatOpenAI client path).
The per-call timeout is made short by swapping ``pipeline.llm.PROFILES["openai"]``
for a copy with ``timeout_s=1`` (open_backend reads the profile at call time,
so no seam in the pipeline code is needed).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from pipeline import api, llm, review
from pipeline.cache import Cache
from pipeline.cli import main
from pipeline.models import ReviewDecision
from tests import fakes, mdcheck
from tests.conftest import MINI, ROOT, openai_args

# summary, timeline, the whys chain, actions, reflexion: one call each on a healthy run
CALLS = 5
# The timeline is where faults are injected (by section: the first three sections
# run at once, so arrival order is not section order): no later prompt depends on
# its answer, so a rerun must repeat exactly that one call. (A failed whys chain
# would change the prompts that quote it, and those would rightly be re-asked.)
TIMELINE = "TimelineAnswer"
TIMEOUT_S = 1.0

REFUSAL = json.dumps(
    {
        "id": "chatcmpl-refusal",
        "object": "chat.completion",
        "created": 1,
        "model": "fake",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "refusal": "I'm sorry, I can't help with that.",
                },
                "finish_reason": "stop",
            }
        ],
    }
)


@pytest.fixture(autouse=True)
def _short_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    p = dataclasses.replace(llm.PROFILES["openai"], timeout_s=TIMEOUT_S)
    monkeypatch.setitem(llm.PROFILES, "openai", p)
    # the fake server writes to sockets the client already gave up on (timeouts,
    # resets): keep socketserver's tracebacks for those out of the CLI's stderr
    monkeypatch.setattr(fakes.ThreadingHTTPServer, "handle_error", lambda *a: None)


def run(url: str, out: Path, *extra: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(
        main,
        openai_args(url, out, *extra),
        catch_exceptions=False,
    )
    return r.exit_code, r.stdout, r.stderr


def notes_of(text: str) -> list[str]:
    if "## Review Notes" not in text:
        return []
    block = text.split("## Review Notes", 1)[1].split("\n---\n", 1)[0]
    return [line for line in block.splitlines() if line.startswith("- ")]


def healthy_rerun(out: Path) -> int:
    """Rerun against a healthy server; return how many requests it needed."""
    with fakes.fake_openai_server() as srv:
        code, stdout, err = run(srv.url, out, "--force")
        assert code == 0, err
        text = Path(stdout.strip()).read_text()
        assert notes_of(text) == [], "a healthy rerun still carries fallback notes"
        return len(srv.requests)


def _timed(n: int, **kw: object) -> list[fakes.Fault]:
    return [fakes.Fault(**kw) for _ in range(n)]  # type: ignore[arg-type]


ATTEMPTS = llm.RetryPolicy().attempts  # transient faults: tries per call
ASKS = 1 + llm.RetryPolicy().reasks  # invalid answers: asks per call

# name -> (faults for the timeline call, exit code, text expected in the note or error)
PERSISTENT = {
    "429-retry-after-0": (_timed(ATTEMPTS, status=429, headers={"Retry-After": "0"}), 0, "429"),
    # a plain 500 (no word about the request shape) is retried once, not ATTEMPTS times
    "500": (_timed(2, status=500), 0, "500"),
    "503-retry-after-0": (_timed(ATTEMPTS, status=503, headers={"Retry-After": "0"}), 0, "503"),
    "connection-reset": (_timed(ATTEMPTS, reset=True), 1, "unreachable"),
    "read-timeout": (_timed(ATTEMPTS, delay=TIMEOUT_S + 1.5), 0, "timed out"),
    "truncated-json": (_timed(ASKS, content='{"entries": [{"evidence": ["E1"], "te'), 0, "invalid"),
    "schema-violation": (
        _timed(ASKS, args={"entries": [{"evidence": "E1", "text": 5}]}),
        0,
        "invalid",
    ),
    "empty-list": (_timed(ASKS, args={"entries": []}), 0, "invalid"),
    "refusal-field": (_timed(ASKS, body=REFUSAL), 0, "Refusal"),
    "declined-in-prose": (
        _timed(ASKS, content="I'm sorry, but I can't help with that request."),
        0,
        "invalid",
    ),
    "empty-answer": (_timed(ASKS, content=""), 0, "invalid"),
}


@pytest.mark.parametrize("name", list(PERSISTENT))
def test_persistent_fault_never_loses_work(tmp_path: Path, name: str) -> None:
    faults, want_code, reason = PERSISTENT[name]
    out = tmp_path / "out"
    with fakes.fake_openai_server(by_schema={TIMELINE: faults}) as srv:
        code, stdout, err = run(srv.url, out)
        sent = len(srv.requests)
    assert "Traceback" not in err
    assert code == want_code, err
    if code == 0:
        # complete report: the timeline was drafted offline and says so
        assert sent == CALLS - 1 + len(faults)
        text = Path(stdout.strip()).read_text()
        assert text.count("# Incident Report:") == 1
        for h in (
            "## Timeline (UTC)",
            "## Root Cause Analysis",
            "## Reflexion",
            "## Appendix: Evidence",
        ):
            assert h in text
        notes = notes_of(text)
        assert len(notes) == 1, notes
        assert notes[0].startswith("- timeline: drafted offline because the model failed")
        assert reason in notes[0]
        # only the failed section is asked again on a rerun
        assert healthy_rerun(out) == 1
    else:
        # a clean exit 1: one line with the reason, nothing written
        lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and reason in lines[0] and "rerun to resume" in lines[0]
        assert not out.exists() or not list(out.iterdir())
        # the whys (asked first) and the sections asked with the timeline finished
        # before the run stopped: only the timeline is asked again
        assert healthy_rerun(out) == 1


TRANSIENT_ONCE = {
    "429": fakes.Fault(status=429, headers={"Retry-After": "0"}),
    "500": fakes.Fault(status=500),
    "503": fakes.Fault(status=503, headers={"Retry-After": "0"}),
    "connection-reset": fakes.Fault(reset=True),
    "read-timeout": fakes.Fault(delay=TIMEOUT_S + 1.5),
    "truncated-json": fakes.Fault(content='{"entries": [{"evid'),
    "refusal": fakes.Fault(body=REFUSAL),
}


@pytest.mark.parametrize("name", list(TRANSIENT_ONCE))
def test_one_fault_is_retried_and_leaves_no_trace(tmp_path: Path, name: str) -> None:
    out = tmp_path / "out"
    with fakes.fake_openai_server(by_schema={TIMELINE: [TRANSIENT_ONCE[name]]}) as srv:
        code, stdout, err = run(srv.url, out)
        assert len(srv.requests) == CALLS + 1
    assert code == 0, err
    assert "Traceback" not in err
    assert notes_of(Path(stdout.strip()).read_text()) == []
    assert healthy_rerun(out) == 0


def test_retry_after_is_honoured(tmp_path: Path) -> None:
    """Retry-After: 0 means no backoff; the exponential backoff would sleep."""
    slept: list[float] = []
    orig = llm._wait

    def spy(max_wait: float):  # type: ignore[no-untyped-def]
        w = orig(max_wait)

        def wait(state):  # type: ignore[no-untyped-def]
            slept.append(w(state))
            return slept[-1]

        return wait

    mp = pytest.MonkeyPatch()
    mp.setattr(llm, "_wait", spy)
    try:
        faults = [fakes.Fault(status=429, headers={"Retry-After": "0"})] * 2 + [
            fakes.Fault(status=429, headers={"Retry-After": "1"})
        ]
        with fakes.fake_openai_server(faults) as srv:
            code, _, err = run(srv.url, tmp_path / "out")
    finally:
        mp.undo()
    assert code == 0, err
    assert sorted(slept) == [0.0, 0.0, 1.0]  # sections run at once: any order


# --- signals -------------------------------------------------------------------


def _files(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_while_drafting_writes_nothing_and_keeps_cache(tmp_path: Path, sig: int) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    out.mkdir()
    # the whys chain (asked first, alone) and the header answer; the timeline,
    # actions and reflexion (asked at once with the header) hang
    faults = [fakes.Fault(), fakes.Fault(), *[fakes.Fault(delay=30)] * 3]
    with fakes.fake_openai_server(faults) as srv:
        env = {**os.environ, "DRAFT_INCIDENT_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
        env.pop("DRAFT_INCIDENT_DEBUG", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline", *openai_args(srv.url, out)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while len(srv.requests) < CALLS and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert len(srv.requests) == CALLS, "the run never reached the hanging calls"
        time.sleep(0.2)
        proc.send_signal(sig)
        sent = time.monotonic()
        _, err = proc.communicate(timeout=60)
        waited = time.monotonic() - sent
        asked = len(srv.requests)
    # the in-flight request is abandoned, not waited for (a CPU model takes minutes)
    assert waited < 10, f"exit took {waited:.1f} s after the signal"
    assert proc.returncode != 0, err
    assert proc.returncode == 130
    assert "interrupted; nothing written" in err and "Traceback" not in err
    assert asked == CALLS, "the interrupted run went on asking the model"
    assert _files(out) == []  # no report, no .tmp left behind
    answers = cache / "answers"
    assert not [p for p in answers.rglob("*") if p.name.endswith(".tmp")]
    assert len([p for p in answers.rglob("*.json")]) == 2  # the two answers kept
    assert healthy_rerun(out) == CALLS - 2


# --- review edits --------------------------------------------------------------


class _Interrupted(Exception):
    pass


def _offline_session(out: Path) -> review.ReviewSession:
    with llm.open_backend("offline") as backend:
        prep = api.prepare([str(MINI)], api.Options())
        report = api.draft_report(
            [], backend, reviewer=lambda d: ReviewDecision(status="pending"), prepared=prep
        )
    return review.ReviewSession(
        report=report, known=prep.evidence.by_id(), write=lambda r: api.write_report(r, out)
    )


def test_review_edit_survives_an_interrupt(tmp_path: Path) -> None:
    from pipeline.review import terminal

    cache, out = Cache(tmp_path / "cache"), tmp_path / "out"
    lesson = {
        "Context": "Aggregations on the primary database.",
        "Lesson": "Unbounded scans starve the API of connections.",
        "Adjustment": "Before running an aggregation on orders, check EXPLAIN for a seq scan.",
    }
    log = io.StringIO()
    console = Console(file=log, width=100)

    def write_lesson(doc: str) -> str:
        lines = doc.splitlines()
        for key, value in lesson.items():
            lines = [
                f"- **{key}:** {value}" if ln.startswith(f"- **{key}:**") else ln for ln in lines
            ]
        return "\n".join(lines)

    def answers(*said: str) -> terminal.Ask:
        it = iter(said)

        def ask(question: str, default: str) -> str:
            try:
                return next(it)
            except StopIteration:
                raise _Interrupted() from None  # the reviewer's terminal dies here

        return ask

    s1 = _offline_session(out)
    with pytest.raises(_Interrupted):
        terminal.review(
            s1, console=console, cache=cache, ask=answers("e", "lesson"), edit=write_lesson
        )
    assert s1.report.draft.reflexion.lesson == lesson["Lesson"]
    assert s1.written is None and not out.exists()

    # the rerun starts from the saved edit: approving straight away keeps it
    s2 = _offline_session(out)
    assert review.is_placeholder(s2.report.draft.reflexion)

    def no_edit(doc: str) -> str:
        raise AssertionError("the edit was asked for twice")

    terminal.review(s2, console=console, cache=cache, ask=answers("a", "me"), edit=no_edit)
    assert "edits from an interrupted review are applied" in log.getvalue()
    assert s2.written is not None
    text = s2.written.read_text()
    assert all(f"- **{k}:** {v}" in text for k, v in lesson.items())
    assert "- **Approval:** approved by @me on " in text


# --- disk ----------------------------------------------------------------------

NAME = "2026-02-08-highlatency-on-api-gateway.md"  # the offline draft of MINI


def offline(out: Path, *extra: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(
        main,
        [
            "--from-logs",
            str(MINI),
            "--llm",
            "offline",
            "--reflexion",
            "pending",
            "--out-dir",
            str(out),
            *extra,
        ],
    )
    return r.exit_code, r.stdout, r.stderr


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("dangling", [False, True])
def test_symlink_out_of_out_dir_is_refused(tmp_path: Path, force: bool, dangling: bool) -> None:
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "elsewhere" / "precious.txt"
    outside.parent.mkdir()
    if not dangling:
        outside.write_text("keep me\n")
    (out / NAME).symlink_to(outside)
    code, _, err = offline(out, *(["--force"] if force else []))
    assert code == 2, err
    assert "symlink" in err or "exists" in err
    assert "Traceback" not in err
    if dangling:
        assert not outside.exists()
    else:
        assert outside.read_text() == "keep me\n"
    assert (out / NAME).is_symlink()
    assert [p.name for p in out.iterdir()] == [NAME]  # no temp file left


def test_no_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / NAME).write_text("edited by a human\n")
    code, _, err = offline(out)
    assert code == 2 and "exists; pass --force" in err
    assert (out / NAME).read_text() == "edited by a human\n"
    assert [p.name for p in out.iterdir()] == [NAME]
    code, stdout, err = offline(out, "--force")
    assert code == 0, err
    assert (out / NAME).read_text().startswith("# Incident Report:")


HOSTILE_TITLES = [
    "../../../../etc/passwd",
    "/etc/cron.d/evil",
    "..",
    ".",
    "a/../../b",
    "..\\..\\windows\\system32",
    "~/.ssh/authorized_keys",
    "$(rm -rf /)",
    "CON",
    "x" * 5000,
    "\u202eexe.txt",
    "日本語のタイトル",
    "line\nbreak\rreturn",
    "-rf --force",
    "# Heading <script>alert(1)</script> | a | b |",
]


@pytest.mark.parametrize("title", HOSTILE_TITLES, ids=range(len(HOSTILE_TITLES)))
def test_hostile_title_stays_inside_out_dir(tmp_path: Path, title: str) -> None:
    base = tmp_path / "deep" / "er"
    out = base / "out"
    code, stdout, err = offline(out, "--title", title)
    assert code == 0, err
    written = Path(stdout.strip())
    assert written.parent.resolve() == out.resolve()
    assert written.name.startswith("2026-02-08-") and written.name.endswith(".md")
    assert len(written.name) <= len("2026-02-08-") + 60 + 3
    assert _files(tmp_path) == [str(written.relative_to(tmp_path))]
    first = written.read_text().splitlines()[0]
    assert first.startswith("# Incident Report: ")
    # one heading, showing the title as text: any tag is escaped or inside a code span
    tokens = mdcheck.parse(first)
    assert [t.type for t in tokens] == ["heading_open", "inline", "heading_close"]
    assert not mdcheck.inline_problems(mdcheck.inline_children(tokens))
