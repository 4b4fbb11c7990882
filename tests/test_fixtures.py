"""The bundled incidents: each folder under fixtures/ is input only (what
``make demo`` passes to --from-logs), its answer key for bench/eval.py lives in
fixtures/_expected/, and reading a folder gives no warning at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.ingest import ingest
from tests.conftest import APPROVE, ROOT

FIXTURES = ROOT / "fixtures"
KEYS = FIXTURES / "_expected"
INCIDENTS = sorted(
    p for p in FIXTURES.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))
)
DEMO = FIXTURES / "api-latency-unindexed-query"  # the Makefile's demo


def test_every_incident_has_an_answer_key_outside_its_folder() -> None:
    assert len(INCIDENTS) >= 5
    assert sorted(p.stem for p in KEYS.glob("*.json")) == [p.name for p in INCIDENTS]
    for key in KEYS.glob("*.json"):
        assert json.loads(key.read_text())["timeline"], key
    assert not list(FIXTURES.glob("*/expected*.json"))


@pytest.mark.parametrize("folder", INCIDENTS, ids=lambda p: p.name)
def test_incident_folder_reads_without_warning(folder: Path) -> None:
    res = ingest([str(folder)])
    assert res.warnings == []
    assert res.files and all(f.format != "-" for f in res.files)  # "-": ignored
    assert not [f.path for f in res.files if "expected" in Path(f.path).name]
    assert res.events


def test_demo_run_prints_no_warning() -> None:
    r = CliRunner().invoke(
        main,
        [
            "--from-logs",
            str(DEMO),
            "--llm",
            "offline",
            "--dry-run",
            *APPROVE,
            "--reflexion",
            "pending",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "warning" not in r.stderr.lower() and "ignored" not in r.stderr
    assert "input ignored" not in r.stdout and "expected.json" not in r.stdout
