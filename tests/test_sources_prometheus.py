"""Real Prometheus and Alertmanager (Debian's ``prometheus``, ``promtool`` and
``prometheus-alertmanager``; ``.ci/run`` installs them), started on 127.0.0.1.

Prometheus serves a TSDB backfilled with ``promtool tsdb create-blocks-from
openmetrics``: a synthetic incident on 2026-02-08 (ALERTS series and an error
ratio). The end-to-end test drafts one report from it, a Loki fake and a Slack
fake."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.sources import Window, _http, alertmanager, run_one
from tests.source_fakes import loki_app, select_from, serve, slack_app
from tests.test_sources import SECRET, STREAMS, invoke, ns
from tests.test_sources_chat import CHANNEL, SLACK_TOKEN, USERS

T0 = datetime(2026, 2, 8, 14, 0, tzinfo=UTC)
EPOCH0 = int(T0.timestamp())
SINCE = ("--since", "2026-02-08T13:00:00Z", "--until", "2026-02-08T16:00:00Z")
ERROR_RATIO = "http_error_ratio ; > 0.05"


def _binary(*names: str) -> str | None:
    return next((p for n in names if (p := shutil.which(n))), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _server(exe: str, d: Path, config: str, *flags: str) -> Iterator[str]:
    """``exe`` on a free loopback port with ``config`` written to ``d``; its URL
    once ``/-/ready`` answers, and the process stopped afterwards."""
    (d / "config.yml").write_text(config)
    url = f"http://127.0.0.1:{_free_port()}"
    cmd = [exe, f"--config.file={d / 'config.yml'}", f"--web.listen-address={url[7:]}", *flags]
    log = d / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError(f"{exe} did not become ready: {log.read_text()[-500:]}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def openmetrics() -> str:
    """HighErrorRate fires 14:05:00-14:24:45 (15 s rule), DiskFillingUp twice
    (14:10-14:12, 14:30-14:33), a pending state that never counts, and the
    error ratio above 5% from 14:04 to 14:23:45."""
    rows = ["# TYPE ALERTS gauge"]

    def alerts(labels: str, start: int, end: int) -> None:
        rows.extend(
            f"ALERTS{{{labels}}} 1 {t}" for t in range(EPOCH0 + start, EPOCH0 + end + 1, 15)
        )

    alerts(
        'alertname="HighErrorRate",alertstate="firing",job="api",service="api",severity="critical"',
        300,
        1485,
    )
    alerts(
        'alertname="HighErrorRate",alertstate="pending",job="api",service="api",severity="critical"',
        240,
        285,
    )
    alerts(
        'alertname="DiskFillingUp",alertstate="firing",instance="db-0",severity="warning"', 600, 720
    )
    alerts(
        'alertname="DiskFillingUp",alertstate="firing",instance="db-0",severity="warning"',
        1800,
        1980,
    )
    rows.append("# TYPE http_error_ratio gauge")
    for t in range(EPOCH0 - 3600, EPOCH0 + 7200, 15):
        v = 0.21 if EPOCH0 + 240 <= t < EPOCH0 + 1440 else 0.01
        rows.append(f'http_error_ratio{{service="api"}} {v} {t}')
    return "\n".join(rows) + "\n# EOF\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    prom, promtool = _binary("prometheus"), _binary("promtool")
    if not (prom and promtool):
        pytest.skip("prometheus/promtool not installed (apt-get install prometheus)")
    d = tmp_path_factory.mktemp("prometheus")
    (d / "om.txt").write_text(openmetrics())
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(d / "om.txt"), str(d / "data")],
        check=True,
        capture_output=True,
    )
    with _server(
        prom,
        d,
        "global:\n  scrape_interval: 1h\n",
        f"--storage.tsdb.path={d / 'data'}",
        "--storage.tsdb.retention.time=100y",  # the incident is in the past: keep its blocks
    ) as url:
        yield url


@pytest.fixture(scope="module")
def alertmanager_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    am = _binary("prometheus-alertmanager", "alertmanager")
    if not am:
        pytest.skip("alertmanager not installed (apt-get install prometheus-alertmanager)")
    d = tmp_path_factory.mktemp("alertmanager")
    with _server(
        am,
        d,
        'route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n',
        f"--storage.path={d / 'data'}",
        "--cluster.listen-address=",  # no gossip port
    ) as url:
        yield url


def dump(*args: str) -> list[dict[str, Any]]:
    code, out, err = invoke(*args, "--dump-events")
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def by_kind(events: list[dict[str, Any]], kind: str, name: str) -> list[str]:
    return [e["ts"] for e in events if e["kind"] == kind and e["attrs"].get("alertname") == name]


def test_prometheus_alerts_and_query_summary(prometheus: str) -> None:
    events = dump("--from-prometheus", prometheus, "--prom-query", ERROR_RATIO, *SINCE)
    assert by_kind(events, "alert_firing", "HighErrorRate") == ["2026-02-08T14:05:00Z"]
    assert by_kind(events, "alert_resolved", "HighErrorRate") == ["2026-02-08T14:25:00Z"]
    assert by_kind(events, "alert_firing", "DiskFillingUp") == [
        "2026-02-08T14:10:00Z",
        "2026-02-08T14:30:00Z",
    ]
    assert by_kind(events, "alert_resolved", "DiskFillingUp") == [
        "2026-02-08T14:12:15Z",
        "2026-02-08T14:33:15Z",
    ]
    fired = next(e for e in events if e["kind"] == "alert_firing")
    assert fired["severity"] == "critical" and fired["attrs"]["service"] == "api"
    assert fired["source"] == "prometheus" and fired["ref"].startswith(prometheus + "#")
    summary = {
        e["text"].split(": ", 1)[1]: e
        for e in events
        if e["source"] == "prometheus" and e["kind"] == "log"
    }
    assert summary["peak 0.21"]["ts"] == "2026-02-08T14:04:00Z"
    assert summary["first > 0.05 (0.21)"]["ts"] == "2026-02-08T14:04:00Z"
    assert summary["back within 0.05 (0.01)"]["ts"] == "2026-02-08T14:24:00Z"
    assert summary["peak 0.21"]["attrs"]["per_minute"].startswith("13:00=0.01 13:01=0.01")


def test_prometheus_window_from_file_alerts_then_loki_window_from_all(
    prometheus: str, tmp_path: Path
) -> None:
    """No --since/--until: Prometheus is asked over the window of the alerts in
    the file, Loki over the window of every alert (file and Prometheus)."""
    webhook = {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "status": "resolved",
        "receiver": "oncall",
        "alerts": [
            {
                "status": "resolved",
                "labels": {"alertname": "HighErrorRate", "service": "api", "severity": "critical"},
                "annotations": {"summary": "5xx above 5%"},
                "startsAt": "2026-02-08T14:05:00Z",
                "endsAt": "2026-02-08T14:25:00Z",
                "fingerprint": "abc123",
            }
        ],
    }
    (tmp_path / "alerts.json").write_text(json.dumps(webhook))
    with serve(loki_app(STREAMS, select_from([]))) as loki:
        events = dump(
            "--from-logs", str(tmp_path / "alerts.json"), "--from-prometheus", prometheus,
            "--from-loki", loki.url, "--logql", '{app="api"}',
        )  # fmt: skip
    # the file's window (12:05 to 15:25) holds DiskFillingUp's second run (resolved 14:33:15)
    assert "2026-02-08T14:33:15Z" in by_kind(events, "alert_resolved", "DiskFillingUp")
    q = loki.requests[0].query
    assert int(q["start"]) == ns(datetime(2026, 2, 8, 12, 5, tzinfo=UTC))
    assert int(q["end"]) == ns(datetime(2026, 2, 8, 15, 33, 15, tzinfo=UTC)) + 1


def test_prometheus_down_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(_http, "MAX_WAIT_S", 0.05)
    url = f"http://127.0.0.1:{_free_port()}"
    code, out, err = invoke("--from-prometheus", url, *SINCE, "--dump-events")
    assert code == 0 and out == ""
    line = f"warning: unavailable: prometheus {url}: unreachable (ConnectError, no HTTP status)"
    assert err.splitlines() == [line]
    code, _, err = invoke("--from-prometheus", url, *SINCE, "--llm", "offline", "--dry-run")
    assert code == 2 and "no events found" in err  # nothing else to draft from


def test_alertmanager_alerts_and_silences(alertmanager_url: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)

    def iso(dt: datetime) -> str:
        return dt.isoformat().replace("+00:00", "Z")

    posted = [
        {
            "labels": {"alertname": "HighLatency", "service": "checkout", "severity": "critical"},
            "annotations": {"summary": "p99 above 2 s"},
            "startsAt": iso(now - timedelta(minutes=10)),
            "generatorURL": "http://prometheus.example/graph",
        },
        {
            "labels": {"alertname": "QueueBacklog", "service": "worker", "severity": "warning"},
            "startsAt": iso(now - timedelta(minutes=5)),
            "endsAt": iso(now + timedelta(minutes=30)),
        },
    ]
    httpx.post(f"{alertmanager_url}/api/v2/alerts", json=posted, timeout=5).raise_for_status()
    silence = {
        "matchers": [
            {"name": "alertname", "value": "QueueBacklog", "isRegex": False, "isEqual": True}
        ],
        "startsAt": iso(now),
        "endsAt": iso(now + timedelta(hours=1)),
        "createdBy": "alice",
        "comment": "draining the queue by hand",
    }
    httpx.post(f"{alertmanager_url}/api/v2/silences", json=silence, timeout=5).raise_for_status()
    win = Window(now - timedelta(hours=1), now + timedelta(minutes=1))
    events, report = run_one(
        "alertmanager", alertmanager_url, alertmanager.fetcher(alertmanager_url, win, 5)
    )
    assert not report.warnings and not report.skipped
    fired = {e.attrs["alertname"]: e for e in events if e.kind == "alert_firing"}
    assert fired["HighLatency"].ts == now - timedelta(minutes=10)
    assert (
        fired["HighLatency"].severity == "critical"
        and fired["HighLatency"].attrs["service"] == "checkout"
    )
    assert fired["HighLatency"].attrs["summary"] == "p99 above 2 s"
    assert fired["QueueBacklog"].ts == now - timedelta(minutes=5)
    (sil,) = [e for e in events if e.kind == "action"]
    assert sil.actor == "alice" and "alertname=QueueBacklog" in sil.text and "draining" in sil.text
    # outside the window: nothing
    old = Window(now - timedelta(days=3), now - timedelta(days=2))
    events, _ = run_one(
        "alertmanager", alertmanager_url, alertmanager.fetcher(alertmanager_url, old, 5)
    )
    assert events == []


def incident_logs() -> list[tuple[int, int, str]]:
    def at(seconds: float) -> int:
        return ns(T0 + timedelta(seconds=seconds))

    lines = [(at(120), 0, 'level=info msg="deploy api v2.14.0 rolled out"')]
    lines += [
        (at(240 + 3 * i), i % 2, f'level=error msg="upstream timeout after 5000ms" req={i}')
        for i in range(300)
    ]
    lines += [(at(1300), 0, f'level=warn msg="retrying with token {SECRET}"')]
    lines += [(at(1450), 1, 'level=info msg="rollback to v2.13.2 complete"')]
    return lines


def test_end_to_end_prometheus_loki_slack(prometheus: str, tmp_path: Path) -> None:
    def at(minutes: float) -> str:
        return f"{(T0 + timedelta(minutes=minutes)).timestamp():.6f}"

    msgs = [
        {"type": "message", "user": "U01ALICE", "text": "5xx alert on api, looking", "ts": at(6)},
        {
            "type": "message",
            "user": "U02BOB",
            "text": "v2.14.0 went out at 14:02, rolling back",
            "ts": at(12),
        },
        {
            "type": "message",
            "user": "U01ALICE",
            "text": "rollback done, errors dropping",
            "ts": at(24.5),
        },
    ]
    slack = slack_app([CHANNEL], {"C0INCIDENT": msgs}, {}, USERS, token=SLACK_TOKEN)
    out = tmp_path / "out"
    with serve(loki_app(STREAMS, select_from(incident_logs()))) as loki, serve(slack) as sl:
        env = {"SLACK_TOKEN": SLACK_TOKEN, "SLACK_API_URL": sl.url}
        code, stdout, err = invoke(
            "--from-prometheus", prometheus, "--prom-query", ERROR_RATIO,
            "--from-loki", loki.url, "--logql", '{app="api"} |= ""',
            "--from-slack", "C0INCIDENT", *SINCE, "--title", "API 5xx after v2.14.0",
            "--llm", "offline", "--reflexion", "pending",
            "--out-dir", str(out), "--json-out", str(tmp_path / "report.json"), env=env,
        )  # fmt: skip
    assert code == 0, err
    report = Path(stdout.strip())
    assert report.parent == out and report.name.startswith("2026-02-08-")
    text = report.read_text()
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["facts"]["start"]["ts"].startswith("2026-02-08T14:0")
    assert {a["name"] for a in data["facts"]["alerts"]} >= {"HighErrorRate", "DiskFillingUp"}
    sources = {e["source"] for e in data["evidence"]}
    assert {"prometheus", "loki", "slack"} <= sources, sources
    assert SECRET not in text + json.dumps(data) + err and SLACK_TOKEN not in text + err
    assert "Condensed Away" in text and "log repeats merged" in text
