"""A clone with nothing beside it: the tests of ../shared are left out with one
summary line, and none of them is skipped one by one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SUBSET = ["tests/test_formats_logs.py"]  # quick, and it holds 15+ tests of ../shared


def _pytest(shared: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DRAFT_INCIDENT_SHARED": str(shared)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUBSET]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_absent_corpus_gives_one_summary_line(tmp_path: Path) -> None:
    r = _pytest(tmp_path / "absent")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    (line,) = [x for x in r.stdout.splitlines() if "corpus not found" in x]
    m = re.fullmatch(r"real-format corpus not found: (\d+) tests skipped \(no .*\)", line)
    assert m and int(m.group(1)) >= 15, line
    assert "skipped" not in r.stdout.splitlines()[-1]  # the counts: passed, deselected
    assert "SKIPPED" not in r.stdout


@pytest.mark.slow  # a second pytest run (~10 s on a shared machine)
def test_incomplete_corpus_fails_instead_of_skipping(tmp_path: Path) -> None:
    (tmp_path / "real-formats").mkdir()  # present but empty: CI must notice
    r = _pytest(tmp_path)
    assert r.returncode == 1
    assert "corpus not found" not in r.stdout
    assert "the corpus is incomplete" in r.stdout and "SKIPPED" not in r.stdout
