from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "tests" / "data" / "mini"
REAL = ROOT / ".." / "shared" / "real-formats"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees a real endpoint, the user's cache or the user's model."""
    monkeypatch.setenv("DRAFT_INCIDENT_CACHE", str(tmp_path / "cache"))
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DRAFT_INCIDENT_MODEL"):
        monkeypatch.delenv(var, raising=False)


def real(*parts: str) -> Path:
    p = REAL.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real-format samples not found at {REAL} (../shared is absent in this checkout)")
    return p
