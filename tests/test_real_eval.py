"""bench/real_eval.py: its scoring helpers, and an offline run on the shared real
incidents when ../shared/real-incidents is present."""

from __future__ import annotations

import importlib
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.models import Event, EventKind

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))  # bench/ holds scripts, not a package
real_eval = importlib.import_module("real_eval")
sys.path.remove(str(ROOT / "bench"))


def _event(kind: EventKind, actor: str | None, minute: int) -> Event:
    ts = datetime(2026, 2, 8, 14, minute, tzinfo=UTC)
    return Event(ts=ts, source="x", kind=kind, actor=actor, text="t", ref=f"x:{minute}")


def test_speakers_count_chat_messages_only() -> None:
    events = [_event("message", "alice", 1), _event("message", None, 2), _event("note", None, 3)]
    assert real_eval.speakers(events) == (1, 2)


def test_coverage_within_ten_minutes() -> None:
    refs = [{"utc": "2026-02-08T14:10:00Z"}, {"utc": "2026-02-08T15:00:00Z"}]
    assert real_eval.coverage([_event("message", "a", 1)], refs) == (1, 2)


@pytest.mark.needs_shared("real-incidents")
def test_offline_run_on_the_shared_real_incidents(tmp_path: Path) -> None:
    folders = real_eval.folders()
    assert folders, "../shared/real-incidents holds no truth.json"
    from pipeline.llm import open_backend

    with open_backend("offline") as backend:
        rows = [real_eval.eval_incident(f, backend, tmp_path) for f in folders]
    for r in rows:
        assert r.error is None and r.detected, r
        assert r.covered == r.refs, r  # every in_input reference event has an event ±10 min
        assert r.with_speaker >= 0.95 * r.messages > 0, r
        assert r.invented == 0, r
