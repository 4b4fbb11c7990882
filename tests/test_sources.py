"""Sources against loopback fakes (Loki, Elasticsearch/OpenSearch, Slack,
PagerDuty): paging, retries, failures, redaction and token handling.
The real Prometheus and Alertmanager are in test_sources_prometheus.py."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.models import Event, raw_count
from pipeline.sources import Window, _http, elastic, loki, run_one
from tests.conftest import MINI
from tests.fakes import Fault
from tests.source_fakes import es_app, loki_app, select_from, serve

T0 = datetime(2026, 2, 8, 14, 0, tzinfo=UTC)
WIN = Window(T0 - timedelta(hours=1), T0 + timedelta(hours=2))
SECRET = "ghp_" + "a1B2" * 9  # a GitHub-token shape the redactor must catch
SINCE = ("--since", "2026-02-08T13:00:00Z", "--until", "2026-02-08T16:00:00Z")


def ns(dt: datetime) -> int:
    return int(dt.timestamp()) * 10**9 + dt.microsecond * 1000


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_http, "MAX_WAIT_S", 0.05)  # backoff waits; Retry-After tests set their own
    for var in ("SLACK_TOKEN", "PAGERDUTY_TOKEN", "LOKI_TOKEN", "ELASTICSEARCH_API_KEY"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(f"{var}_FILE", raising=False)


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def unavailable(report: Any) -> list[str]:
    return [w for w in report.warnings if w.startswith("unavailable:")]


# --- Loki ---------------------------------------------------------------------------

STREAMS = [
    {"app": "api", "pod": "api-1"},
    {"app": "api", "pod": "api-2"},
    {"app": "db", "pod": "db-0"},
]


def crowded(n: int) -> list[tuple[int, int, str]]:
    """``n`` lines, 7 per millisecond over 3 streams: page boundaries fall inside runs
    of equal timestamps, including equal (time, stream) pairs."""
    return [
        (ns(T0) + (i // 7) * 1_000_000, i % 3, f'level=info msg="request {i} done" status=200')
        for i in range(n)
    ]


def fetch_loki(url: str, logql: str = '{app=~".+"}') -> tuple[list[Event], Any]:
    return run_one("loki", url, loki.fetcher(url, logql, WIN, 5))


def test_loki_pages_forward_no_line_twice_none_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loki, "LIMIT", 50)
    with serve(loki_app(STREAMS, select_from(crowded(1000)))) as srv:
        events, report = fetch_loki(srv.url)
    assert not report.warnings and not report.skipped
    ids = sorted(int(e.text.split()[1]) for e in events)
    assert ids == list(range(1000))  # each line once
    assert 20 <= len(srv.requests) <= 25  # 50 a page, a few re-read at boundaries
    first = srv.requests[0].query
    assert (first["start"], first["end"]) == (str(ns(WIN.start)), str(ns(WIN.end) + 1))
    assert all(r.query["limit"] == "50" and r.query["direction"] == "forward" for r in srv.requests)
    e = next(e for e in events if e.text.startswith("request 4 "))
    assert e.attrs["pod"] == "api-2" and e.attrs["app"] == "api" and e.source == "loki"
    assert e.ts == T0 and e.ref.startswith(srv.url)


def test_loki_more_lines_at_one_instant_than_a_page_is_said(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(loki, "LIMIT", 50)
    same = [(ns(T0), 0, f"burst line {i}") for i in range(60)]
    later = [(ns(T0) + 10**9, 1, f"after line {i}") for i in range(10)]
    with serve(loki_app(STREAMS, select_from(same + later))) as srv:
        events, report = fetch_loki(srv.url)
    assert len(events) == 60  # the first page of the burst, then everything after it
    assert sum(e.text.startswith("after line") for e in events) == 10
    assert any("more than 50 lines at" in w for w in report.warnings)
    assert len(srv.requests) == 3


def test_loki_big_result_goes_column_wise_with_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loki, "LIMIT", 500)
    monkeypatch.setattr(loki, "BULK_LINES", 100)
    lines = [
        (ns(T0) + i * 10**8, i % 3, f"GET /api/orders/{i} 200 in {i % 90} ms")
        if i % 50
        else (ns(T0) + i * 10**8, 2, f'level=error msg="pool exhausted after {i} waits"')
        for i in range(3000)
    ]
    with serve(loki_app(STREAMS, select_from(lines))) as srv:
        events, report = fetch_loki(srv.url)
    assert sum(raw_count(e) for e in events) == 3000 == report.events
    assert len(events) < 20  # grouped templates, not 3000 events
    err = next(e for e in events if "pool exhausted" in e.text)
    assert err.severity == "error" and err.attrs["pod"] == "db-0" and raw_count(err) == 60
    assert err.ts == T0  # the first occurrence


def test_loki_retry_after_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_http, "MAX_WAIT_S", 5.0)
    faults = [Fault(status=429, headers={"Retry-After": "1"}, body={"status": "error"})]
    with serve(loki_app(STREAMS, select_from(crowded(10))), faults) as srv:
        started = time.monotonic()
        events, report = fetch_loki(srv.url)
        took = time.monotonic() - started
    assert len(events) == 10 and not unavailable(report)
    assert len(srv.requests) == 2 and took >= 0.95


@pytest.mark.parametrize(
    ("faults", "said", "requests"),
    [
        ([Fault(status=401, body="no org id\n")], "HTTP 401 (token refused): no org id", 1),
        (
            [Fault(status=503, body="busy\n")] * 4,
            "HTTP 503 (Service Unavailable) after 4 attempts",
            4,
        ),
        ([Fault(body="<html>login</html>")], "not JSON (starts '<html>login</html>')", 1),
        (
            [Fault(body={"status": "success", "data": {"resultType": "matrix", "result": []}})],
            "--logql must be a log query",
            1,
        ),
    ],
)
def test_loki_failures_are_one_line_naming_source_and_status(
    faults: list[Fault], said: str, requests: int
) -> None:
    with serve(loki_app(STREAMS, select_from(crowded(10))), faults) as srv:
        events, report = fetch_loki(srv.url)
    (line,) = unavailable(report)
    assert line.startswith(f"unavailable: loki {srv.url}: ") and said in line
    assert "\n" not in line and events == [] and len(srv.requests) == requests


def test_loki_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_http, "ATTEMPTS", 2)
    with serve(loki_app(STREAMS, select_from(crowded(10))), [Fault(delay=1.0)] * 2) as srv:
        events, report = run_one("loki", srv.url, loki.fetcher(srv.url, '{app="api"}', WIN, 0.3))
    (line,) = unavailable(report)
    assert "timed out after 2 attempts (no HTTP status)" in line and not events


def test_loki_failure_mid_way_keeps_what_was_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loki, "LIMIT", 50)
    app = loki_app(STREAMS, select_from(crowded(200)))
    calls = {"n": 0}

    def flaky(req: Any) -> Any:
        calls["n"] += 1
        return (500, "boom\n") if calls["n"] > 2 else app(req)

    with serve(flaky) as srv:
        events, report = fetch_loki(srv.url)
    (line,) = unavailable(report)
    assert "HTTP 500" in line and "kept" in line and 90 <= len(events) <= 100


def test_loki_secret_in_a_line_never_reaches_output() -> None:
    lines = [(ns(T0), 0, f"deploy token {SECRET} password=hunter2hunter2 failed")]
    with serve(loki_app(STREAMS, select_from(lines))) as srv:
        code, out, err = invoke(
            "--from-loki", srv.url, "--logql", '{app="api"}', *SINCE, "--dump-events"
        )
    assert code == 0, err
    assert SECRET not in out + err and "hunter2hunter2" not in out + err
    assert "[REDACTED:github_token]" in out and '"pod": "api-1"' in out


def test_source_failure_is_one_stderr_line_and_in_the_ledger(tmp_path: Path) -> None:
    with serve(loki_app(STREAMS, select_from([])), [Fault(status=401, body="")]) as srv:
        code, out, err = invoke(
            "--from-logs", str(MINI), "--from-loki", srv.url, "--logql", '{app="api"}',
            "--llm", "offline", "--dry-run", "--out-dir", str(tmp_path),
        )  # fmt: skip
    assert code == 0, err
    lines = [ln for ln in err.splitlines() if "loki" in ln]
    assert lines == [f"warning: unavailable: loki {srv.url}: HTTP 401 (token refused)"]
    ledger = out.split("## Appendix: Condensed Away", 1)[1]
    assert f"source unavailable or incomplete: unavailable: loki `{srv.url}`: HTTP 401" in ledger


def test_usage_errors_exit_2() -> None:
    assert invoke("--from-loki", "http://127.0.0.1:1")[0] == 2
    code, _, err = invoke("--from-elasticsearch", "http://127.0.0.1:1")
    assert code == 2 and "--index" in err
    assert invoke("--from-prometheus", "ftp://x")[0] == 2


def test_loki_spool_keeps_multiline_and_backslashes() -> None:
    body = 'panic: boom\n\tat main.go:12\r\npath C:\\tmp\\new "quoted" \\n literal'
    with serve(loki_app(STREAMS, select_from([(ns(T0), 0, body)]))) as srv:
        events, _ = fetch_loki(srv.url)
    with loki.Spool() as spool:
        spool.stream(STREAMS[0])
        spool.write([(ns(T0), 0, body)])
        spool._f.close()
        (raw,) = spool.path.read_text().splitlines()
        assert spool._read(raw) == (ns(T0), 0, body)
    assert events[0].text.startswith("panic: boom")


def test_loki_malformed_values_are_skipped_and_counted() -> None:
    good = [str(ns(T0)), "level=info msg=ok"]
    doc = {
        "status": "success",
        "data": {
            "resultType": "streams",
            "result": [
                {"stream": {"app": "api"}, "values": [good, ["soon", "bad time"], [str(ns(T0))]]},
                {"stream": {"app": "db"}, "values": "not a list"},
            ],
        },
    }
    with serve(lambda req: doc) as srv:
        events, report = fetch_loki(srv.url)
    assert [e.text for e in events] == ["ok"]
    assert len(report.skipped) == 3 and "not a [time, line] pair" in report.skipped[0].reason


# --- Elasticsearch / OpenSearch -----------------------------------------------------


def ecs_docs(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        ts = T0 + timedelta(milliseconds=(i // 3) * 10)  # ties: 3 documents per instant
        svc = "api" if i % 4 else "worker"
        out.append(
            {
                "@timestamp": ts.isoformat().replace("+00:00", "Z"),
                "log": {"level": "error" if i % 100 == 1 else "info"},
                "message": f"job {i} finished",
                "service": {"name": svc},
                "host": {"name": f"node-{i % 2}"},
            }
        )
    return out


@pytest.mark.parametrize(
    ("dist", "version", "pit_path", "tiebreak"),
    [
        ("elasticsearch", "8.11.1", "/logs-*/_pit", "_shard_doc"),
        ("opensearch", "2.11.0", "/logs-*/_search/point_in_time", "_id"),
    ],
)
def test_es_pit_and_search_after(
    monkeypatch: pytest.MonkeyPatch, dist: str, version: str, pit_path: str, tiebreak: str
) -> None:
    monkeypatch.setattr(elastic, "PAGE", 100)
    app = es_app(ecs_docs(1000), dist=dist, version=version)
    with serve(app) as srv:
        events, report = run_one(
            "elasticsearch", srv.url, elastic.fetcher(srv.url, "logs-*", "service.name:api", WIN, 5)
        )
    assert not report.warnings
    assert len(events) == 750  # the api documents, each once
    assert len({e.text for e in events}) == 750
    posts = [r for r in srv.requests if r.method == "POST"]
    assert posts[0].path == pit_path
    searches = [r for r in posts if r.path == "/_search"]
    assert len(searches) == 8 and all("pit" in r.body for r in searches)
    assert searches[0].body["sort"][1] == {tiebreak: "asc"}
    assert searches[1].body["pit"]["id"].endswith("+")  # the newest id is used
    assert app.state["closed"]  # type: ignore[attr-defined]
    e = next(e for e in events if e.text == "job 101 finished")
    assert e.severity == "error" and e.actor == "api" and e.attrs["host"] == "node-1"


def test_es_without_pit_falls_back_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(elastic, "PAGE", 100)
    with serve(es_app(ecs_docs(250), version="7.9.3")) as srv:
        events, report = run_one(
            "elasticsearch", srv.url, elastic.fetcher(srv.url, "logs-*", None, WIN, 5)
        )
    assert len(events) == 250 and any("no point in time" in w for w in report.warnings)
    assert {r.path for r in srv.requests if r.method == "POST"} == {"/logs-*/_search"}


def test_es_refused() -> None:
    fault = Fault(status=401, body={"error": {"reason": "unable to authenticate user"}})
    with serve(es_app([]), [fault]) as srv:
        _, report = run_one(
            "elasticsearch", srv.url, elastic.fetcher(srv.url, "logs-*", None, WIN, 5)
        )
    (line,) = unavailable(report)
    assert line.endswith("HTTP 401 (token refused): unable to authenticate user")


def test_action_passes_sources_as_flags_and_tokens_only_through_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pipeline import action

    monkeypatch.setenv("INPUT_LOKI_URL", "https://bot:pw-in-url@loki.example:3100")
    monkeypatch.setenv("INPUT_LOGQL", '{app="api"}')
    monkeypatch.setenv("INPUT_PROMETHEUS_URL", "http://prometheus:9090")
    monkeypatch.setenv("INPUT_PROM_QUERIES", "up == 0\n\nerrors ; > 5\n")
    monkeypatch.setenv("INPUT_SLACK_CHANNEL", "incident-room")
    monkeypatch.setenv("SLACK_TOKEN", "plain-test-credential-42")
    args = action.source_args()
    assert args == [
        "--from-prometheus", "http://prometheus:9090",
        "--from-loki", "https://bot:pw-in-url@loki.example:3100", "--logql", '{app="api"}',
        "--from-slack", "incident-room",
        "--prom-query", "up == 0", "--prom-query", "errors ; > 5",
    ]  # fmt: skip
    assert "plain-test-credential-42" not in " ".join(args)
    shown = action._USERINFO.sub(r"\1***@", " ".join(args))
    assert "pw-in-url" not in shown and "https://***@loki.example:3100" in shown
