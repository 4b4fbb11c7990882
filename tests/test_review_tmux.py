"""The terminal review in a real terminal: tmux runs draft-incident on a TTY,
the test reads the screen and types; $EDITOR is a script that edits a why
and the lesson (breaking the draft once, to see it reopened with the error)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import MINI, ROOT

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")

EDITOR = r"""
import re, sys
from pathlib import Path
calls, doc = Path(sys.argv[1]), Path(sys.argv[2])  # click adds the file last
n = int(calls.read_text()) + 1 if calls.exists() else 1
calls.write_text(str(n))
text = doc.read_text()
(calls.parent / f"seen-{n}.md").write_text(text)
cite = "[E999]" if n == 1 else "[E9]"  # the first save cites evidence that does not exist
text = re.sub(r"^1\. \*\*(.*?)\*\* .*$",
              lambda m: f"1. **{m[1]}** An analytics aggregation without a date filter scanned orders. {cite}",
              text, count=1, flags=re.M)
for key, value in (("Context", "Aggregations on the primary database."),
                   ("Lesson", "Unbounded scans starve the API of connections."),
                   ("Adjustment", "Check EXPLAIN for a seq scan before an aggregation.")):
    text = re.sub(rf"^- \*\*{key}:\*\* .*$", f"- **{key}:** {value}", text, flags=re.M)
doc.write_text(text)
"""


class Screen:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        assert TMUX is not None
        return subprocess.run(
            [TMUX, "-L", self.socket, *args], capture_output=True, text=True, check=False
        ).stdout

    def text(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-S", "-400", "-t", "review")

    def wait(self, needle: str, *, after: int = 0, timeout: float = 60) -> str:
        """The screen once ``needle`` appears more than ``after`` times."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            screen = self.text()
            if screen.count(needle) > after:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{needle!r} never appeared; screen:\n{self.text()}")

    def type(self, keys: str) -> None:
        self.tmux("send-keys", "-t", "review", keys, "Enter")


def test_terminal_review_edits_a_why_and_the_lesson_then_approves(tmp_path: Path) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    editor = tmp_path / "editor.py"
    editor.write_text(EDITOR)
    calls = tmp_path / "calls"
    cmd = " ".join(
        [
            "env", "-u", "COLUMNS", "-u", "LINES",  # the terminal's own size, as for a user
            f"PYTHONPATH={shlex.quote(str(ROOT))}",
            f"DRAFT_INCIDENT_CACHE={shlex.quote(str(cache))}",
            f"EDITOR={shlex.quote(f'{sys.executable} {editor} {calls}')}",
            "TERM=xterm-256color",
            shlex.quote(sys.executable), "-m", "pipeline",
            "--from-logs", shlex.quote(str(MINI)), "--llm", "offline", "--out-dir", shlex.quote(str(out)),
            f"; echo EXIT=$? > {shlex.quote(str(tmp_path / 'exit'))}; sleep 60",
        ]
    )  # fmt: skip
    screen = Screen(f"draft-incident-test-{uuid.uuid4().hex[:8]}")
    screen.tmux("new-session", "-d", "-s", "review", "-x", "100", "-y", "50", cmd)
    try:
        shown = screen.wait("Your choice")
        # the choices in full, no spinner left on the prompt line, the whole draft on screen
        assert "[a]pprove / [e]dit / [r]eject / [p]ending" in shown
        assert "drafting" not in shown.splitlines()[-1]
        for part in ("HighLatency on api-gateway", "SEV-2", "Impact", "Summary", "Timeline (UTC)",
                     "14:25", "5 whys", "Corrective actions", "Lesson"):  # fmt: skip
            assert part in shown, part
        assert "[x] killed the query (pid 4242)" in shown  # brackets are text, not markup
        assert 90 <= max(len(line) for line in shown.splitlines()) <= 100  # uses, and fits, 100

        screen.type("a")  # the placeholder lesson cannot be approved
        screen.wait("cannot be approved")
        screen.type("e")
        screen.wait("Section to edit")
        screen.type("all")
        # the first save was broken: the editor opened again with the error on top
        shown = screen.wait("Your choice", after=2)
        assert "is not valid: why 1 cites E999, which is not in the evidence" in shown
        assert calls.read_text() == "2"
        second = (tmp_path / "seen-2.md").read_text()
        assert second.startswith("<!-- error: why 1 cites E999, which is not in the evidence -->")
        assert "Unbounded scans starve the API" in second  # the reviewer's text was kept
        assert "Unbounded scans starve the API of connections." in shown
        screen.type("a")
        screen.wait("Your name")
        screen.type("alice")
        end = time.monotonic() + 30
        while not (tmp_path / "exit").exists() and time.monotonic() < end:
            time.sleep(0.2)
        assert (tmp_path / "exit").read_text().strip() == "EXIT=0", screen.text()
    finally:
        socket_path = screen.tmux("display", "-p", "#{socket_path}").strip()
        screen.tmux("kill-server")
        if socket_path:
            Path(socket_path).unlink(missing_ok=True)
    (report,) = out.glob("*.md")
    text = report.read_text()
    assert re.search(
        r"^1\. \*\*.+\*\* An analytics aggregation without a date filter scanned orders\. \[E9\]$",
        text,
        flags=re.M,
    )
    assert "- **Lesson:** Unbounded scans starve the API of connections." in text
    assert "- **Context:** Aggregations on the primary database." in text
    assert "- **Approval:** approved by @alice on " in text
