"""Secrets never reach the model or any output: the planted-secret corpus goes
through the real CLI and ChatOpenAI client to a fake server that records
every request; then every request, output file and cache file is searched."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import main
from tests import fakes

CORPUS = Path(__file__).parent / "data" / "redaction" / "corpus.jsonl"


def _incident(tmp: Path) -> list[str]:
    """Each corpus text becomes a chat message (a pasted transcript) and a log
    line (JSON lines), around one alert, so it lands in the evidence pack."""
    records = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    planted = [s for r in records for s in r.get("secrets", [])]
    t0 = datetime(2026, 2, 8, 14, 0, tzinfo=UTC)
    logs, chat = [], []
    for n, r in enumerate(r for r in records if r.get("secrets")):
        ts = t0 + timedelta(seconds=20 * n)
        logs.append(
            json.dumps({"ts": ts.timestamp(), "level": "error", "msg": r["text"], "service": "api"})
        )
        one_line = r["text"].replace("\n", "\\n")
        chat.append(f"{ts:%Y-%m-%d %H:%M} alice: {one_line}")
    alert = {
        "version": "4",
        "status": "firing",
        "receiver": "pager",
        "groupKey": "k",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "SecretLeak", "severity": "critical", "service": "api"},
                "annotations": {"summary": "leak drill"},
                "startsAt": t0.isoformat(),
                "endsAt": "0001-01-01T00:00:00Z",
            }
        ],
    }
    (tmp / "app.jsonl").write_text("\n".join(logs) + "\n")
    (tmp / "chat.txt").write_text("\n".join(chat) + "\n")
    (tmp / "alerts.json").write_text(json.dumps(alert))
    return planted


def test_no_planted_secret_reaches_the_model_or_any_output(tmp_path: Path, monkeypatch) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    planted = _incident(inputs)
    assert len(planted) >= 200
    cache = tmp_path / "cache"
    monkeypatch.setenv("DRAFT_INCIDENT_CACHE", str(cache))
    out = tmp_path / "out"
    with fakes.fake_openai_server() as srv:
        r = CliRunner().invoke(
            main,
            [
                "--from-logs",
                str(inputs),
                "--llm",
                "openai",
                "--base-url",
                srv.url,
                "--budget-tokens",
                "60000",
                "--approve-reflexion",
                "--approver",
                "me",
                "--out-dir",
                str(out),
                "--json-out",
                str(tmp_path / "r.json"),
            ],
        )
        assert r.exit_code == 0, r.stderr
        sent = json.dumps(srv.requests)
    assert srv.requests and "[REDACTED:" in sent
    outputs = [p for p in [*out.rglob("*"), tmp_path / "r.json", *cache.rglob("*")] if p.is_file()]
    texts = {str(p): p.read_text(errors="replace") for p in outputs}
    texts["stdout"] = r.stdout
    texts["stderr"] = r.stderr
    leaks = [
        (s[:12], where)
        for s in planted
        for where, t in [("requests", sent), *texts.items()]
        if s in t
    ]
    assert leaks == [], f"{len(leaks)} planted secrets leaked, e.g. {leaks[:5]}"
    assert "redacted" in r.stderr  # the run prints a redaction summary


def test_dump_events_is_redacted_too(tmp_path: Path) -> None:
    planted = _incident(tmp_path)
    r = CliRunner().invoke(main, ["--from-logs", str(tmp_path / "app.jsonl"), "--dump-events"])
    assert r.exit_code == 0
    assert not [s for s in planted if s in r.stdout]
