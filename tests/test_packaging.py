"""The wheel carries the prompt files, so an installed tool finds them anywhere."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_prompts_and_finds_them_outside_the_checkout(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    wheel = next(tmp_path.glob("draft_incident-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for p in sorted((ROOT / "prompts").glob("*.md")):
        assert f"pipeline/prompts/{p.name}" in names
    for asset in ("index.html", "app.js", "app.css"):  # the review page works offline, installed
        assert f"pipeline/review/static/{asset}" in names
    # unpack and import from elsewhere: prompt_dir() must find the packaged copy
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "from pipeline import prompts; d = prompts.prompt_dir(); print(d); prompts.load('system')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == str(site / "pipeline" / "prompts")
