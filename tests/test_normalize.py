"""Normalization (pipeline/normalize.py): order, duplicates, windows, clock skew."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import main
from pipeline.models import Event
from pipeline.normalize import incident_window, normalize

T0 = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)


def _ev(minutes: float, kind: str, text: str, **attrs: str) -> Event:
    return Event(
        id="E0",
        ref=f"in:{int(minutes * 60)}",
        ts=T0 + timedelta(minutes=minutes),
        kind=kind,  # type: ignore[arg-type]
        source=attrs.pop("source", "app"),
        text=text,
        attrs=attrs,
    )


def _incident() -> list[Event]:
    return [
        _ev(-200, "log", "nightly backup done"),  # before first alert - 2 h
        _ev(-200, "message", "unrelated chat from this morning"),  # chat is never cut
        _ev(-100, "log", "deploy checkout v2.14.0"),  # inside the margin
        _ev(-150, "log", "worker heartbeat", count="900", last_ts="2026-03-14T11:00:00+00:00"),
        _ev(0, "alert_firing", "HighLatency firing", alertname="HighLatency"),
        _ev(40, "alert_resolved", "HighLatency resolved", alertname="HighLatency"),
        _ev(90, "log", "cache warm"),  # inside the 1 h after
        _ev(130, "log", "evening batch started"),  # after
        _ev(300, "message", "root cause: the missing index", source="slack"),
    ]


def test_logs_cut_to_the_detected_incident_window_with_margins() -> None:
    norm = normalize(_incident())
    texts = [e.text for e in norm.events]
    assert "nightly backup done" not in texts and "evening batch started" not in texts
    assert {"deploy checkout v2.14.0", "cache warm", "worker heartbeat"} <= set(texts)
    assert "unrelated chat from this morning" in texts and "root cause: the missing index" in texts
    assert norm.outside_incident == 2
    assert norm.window == (T0 - timedelta(hours=2), T0 + timedelta(minutes=40, hours=1))
    assert [e.id for e in norm.events] == [f"E{i}" for i in range(1, len(texts) + 1)]


def test_window_is_open_while_an_alert_still_fires_and_absent_without_alerts() -> None:
    events = [*_incident(), _ev(60, "alert_firing", "DiskFull firing", alertname="DiskFull")]
    assert incident_window(events) == (T0 - timedelta(hours=2), None)
    assert incident_window([e for e in events if not e.kind.startswith("alert")]) is None
    assert "evening batch started" in [e.text for e in normalize(events).events]


def test_explicit_bounds_or_no_window_keep_every_log() -> None:
    assert normalize(_incident(), auto_window=False).outside_incident == 0
    assert len(normalize(_incident(), auto_window=False).events) == len(_incident())
    norm = normalize(_incident(), since=T0 - timedelta(hours=5))
    assert norm.outside_incident == 0 and norm.window is None
    assert "evening batch started" in [e.text for e in norm.events]


def test_same_alert_in_two_tools_minutes_apart_is_clock_skew() -> None:
    events = [
        _ev(0, "alert_firing", "HighLatency", alertname="HighLatency", source="alertmanager"),
        _ev(3.5, "alert_firing", "HighLatency", alertname="highlatency", source="pagerduty"),
        _ev(0, "alert_firing", "DiskFull", alertname="DiskFull", source="alertmanager"),
        _ev(1, "alert_firing", "DiskFull", alertname="DiskFull", source="pagerduty"),
    ]
    (warning,) = normalize(events).warnings
    assert warning == (
        "clock skew: alert 'highlatency' first seen at 12:00:00Z in alertmanager "
        "and 12:03:30Z in pagerduty (210 s apart)"
    )


def test_cli_ledger_names_the_window_and_no_window_keeps_all(tmp_path: Path) -> None:
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "api-latency-unindexed-query"
    early = tmp_path / "early.log"
    early.write_text('{"ts":"2020-01-01T00:00:00Z","level":"error","msg":"ancient failure"}\n')
    args = ["--from-logs", str(fixture), "--from-logs", str(early), "--llm", "offline"]
    runner = CliRunner()
    cut = runner.invoke(main, [*args, "--dump-events"])
    assert cut.exit_code == 0, cut.output
    assert "ancient failure" not in cut.output
    kept = runner.invoke(main, [*args, "--dump-events", "--no-window"])
    assert kept.exit_code == 0, kept.output
    assert "ancient failure" in kept.output
    out = tmp_path / "out"
    res = runner.invoke(main, [*args, "--reflexion", "pending", "--out-dir", str(out)])
    assert res.exit_code == 0, res.output
    (report,) = out.glob("*.md")
    text = report.read_text()
    appendix = text[text.index("## Appendix: Condensed Away") :]
    assert "log lines outside the detected incident window" in appendix
    assert "first alert - 2 h, last resolution + 1 h" in appendix
