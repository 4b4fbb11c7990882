"""Chat and on-call sources against loopback fakes: Slack (history, threads,
names, errors, tokens) and PagerDuty (offset paging, refusals)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.sources import pagerduty, run_one, slack
from tests.conftest import MINI
from tests.fakes import Fault
from tests.source_fakes import pagerduty_app, serve, slack_app
from tests.test_sources import SECRET, T0, WIN, _fast_retries, invoke, unavailable

__all__ = ["_fast_retries"]  # the autouse fixture, shared

# --- Slack --------------------------------------------------------------------------

SLACK_TOKEN = "plain-test-credential-42"  # nothing a redactor would mask: a leak would show
CHANNEL = {"id": "C0INCIDENT", "name": "incident-42"}
USERS = {
    "U01ALICE": {"id": "U01ALICE", "name": "alice", "real_name": "Alice Doe"},
    "U02BOB": {"id": "U02BOB", "name": "bob", "real_name": "Bob Roe"},
}


def slack_world() -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    def at(minutes: float) -> str:
        return f"{(T0 + timedelta(minutes=minutes)).timestamp():.6f}"

    msgs = [
        {
            "type": "message",
            "user": "U01ALICE" if i % 2 else "U02BOB",
            "text": f"checking dashboard {i}",
            "ts": at(i),
        }
        for i in range(1, 30)
    ]
    parent = {
        "type": "message",
        "user": "U01ALICE",
        "text": "rolling back the deploy, <@U02BOB> please watch",
        "ts": at(45),
        "thread_ts": at(45),
        "reply_count": 3,
    }
    msgs += [parent, {"type": "message", "user": "U02BOB", "text": "too early", "ts": at(-300)}]
    replies = [parent] + [
        {
            "type": "message",
            "user": "U02BOB",
            "text": f"error rate {r}% now",
            "ts": at(45 + r),
            "thread_ts": parent["ts"],
        }
        for r in (1, 2, 3)
    ]
    return msgs, {parent["ts"]: replies}


def test_slack_history_replies_and_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_TOKEN", SLACK_TOKEN)
    msgs, replies = slack_world()
    app = slack_app([CHANNEL], {"C0INCIDENT": msgs}, replies, USERS, token=SLACK_TOKEN, page=7)
    with serve(app) as srv:
        monkeypatch.setenv("SLACK_API_URL", srv.url)
        events, report = run_one(
            "slack", slack.display("#incident-42"), slack.fetcher("#incident-42", WIN, 5)
        )
    assert not report.warnings
    texts = {e.text for e in events}
    assert len(events) == 33 and "too early" not in texts  # 29 + thread parent + 3 replies
    assert "rolling back the deploy, @Bob Roe please watch" in texts
    assert {e.actor for e in events} == {"Alice Doe", "Bob Roe"}
    reply = next(e for e in events if e.text == "error rate 2% now")
    assert reply.attrs["reply"] == "true" and reply.attrs["channel"] == "incident-42"
    hist = [r for r in srv.requests if r.path == "/conversations.history"]
    assert len(hist) == 5  # 30 messages, 7 a page
    assert hist[0].query["oldest"] == f"{WIN.start.timestamp():.6f}"
    assert hist[0].query["latest"] == f"{WIN.end.timestamp():.6f}"
    assert hist[1].query["cursor"] == "7"
    assert len([r for r in srv.requests if r.path == "/users.info"]) == 2


def test_slack_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    msgs, replies = slack_world()
    app = slack_app([CHANNEL], {"C0INCIDENT": msgs}, replies, USERS, token=SLACK_TOKEN)
    with serve(app) as srv:
        monkeypatch.setenv("SLACK_API_URL", srv.url)
        _, report = run_one("slack", "slack:x", slack.fetcher("C0INCIDENT", WIN, 5))
        assert unavailable(report) == [
            "unavailable: slack C0INCIDENT: set SLACK_TOKEN or SLACK_TOKEN_FILE"
        ]
        monkeypatch.setenv("SLACK_TOKEN", "wrong")
        _, report = run_one("slack", "slack:x", slack.fetcher("C0INCIDENT", WIN, 5))
        assert "failed with 'invalid_auth' (token refused) (HTTP 200)" in unavailable(report)[0]
        monkeypatch.setenv("SLACK_TOKEN", SLACK_TOKEN)
        _, report = run_one("slack", "slack:x", slack.fetcher("#nope", WIN, 5))
        assert "no channel named 'nope'" in unavailable(report)[0]
        n = len(srv.requests)
        srv.faults.append(
            Fault(
                status=429, headers={"Retry-After": "0"}, body={"ok": False, "error": "ratelimited"}
            )
        )
        events, report = run_one("slack", "slack:x", slack.fetcher("C0INCIDENT", WIN, 5))
        assert len(events) == 33 and not unavailable(report)
        assert (
            len(srv.requests) - n == 2 + 1 + 1 + 2
        )  # info and its retry, history, replies, 2 users


def test_slack_e2e_secret_and_token_never_in_output(tmp_path: Path) -> None:
    msgs, replies = slack_world()
    msgs[3]["text"] = f"use {SECRET} to log in, password=hunter2hunter2"
    token_file = tmp_path / "slack.token"
    token_file.write_text(SLACK_TOKEN + "\n")
    app = slack_app([CHANNEL], {"C0INCIDENT": msgs}, replies, USERS, token=SLACK_TOKEN)
    cache = tmp_path / "cache"
    with serve(app) as srv:
        env = {
            "SLACK_API_URL": srv.url,
            "SLACK_TOKEN_FILE": str(token_file),
            "DRAFT_INCIDENT_CACHE": str(cache),
        }
        code, out, err = invoke(
            "--from-logs", str(MINI), "--from-slack", "C0INCIDENT", "--llm", "offline",
            "--reflexion", "pending", "--out-dir", str(tmp_path / "out"),
            "--json-out", str(tmp_path / "r.json"), env=env,
        )  # fmt: skip
    assert code == 0, err
    written = [Path(out.strip()), tmp_path / "r.json", *cache.rglob("*")]
    blob = out + err + "".join(p.read_text() for p in written if p.is_file())
    assert SECRET not in blob and "hunter2hunter2" not in blob and SLACK_TOKEN not in blob
    assert "rolling back the deploy" in json.dumps(json.loads((tmp_path / "r.json").read_text()))


# --- PagerDuty ----------------------------------------------------------------------

PD_TOKEN = "plain-pd-credential-7"


def pd_entries(n: int) -> list[dict[str, Any]]:
    inc = {"id": "Q1ABC", "type": "incident_reference", "summary": "[#42] API 5xx above 5%"}
    kinds = ["trigger", "notify", "acknowledge"] + ["annotate"] * (n - 4) + ["resolve"]
    return [
        {
            "id": f"R{i:04d}",
            "type": f"{k}_log_entry",
            "summary": f"{k} {i}",
            "created_at": (T0 + timedelta(seconds=30 * i)).isoformat().replace("+00:00", "Z"),
            "agent": {"type": "user_reference", "summary": "Alice Doe"}
            if k != "trigger"
            else {"type": "service_reference", "summary": "API"},
            "channel": {"type": "note", "summary": f"note {i}"}
            if k == "annotate"
            else {"type": "auto"},
            "incident": inc,
            "service": {"id": "PSVC", "summary": "API"},
        }
        for i, k in enumerate(kinds)
    ]


def test_pagerduty_offset_paging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGERDUTY_TOKEN", PD_TOKEN)
    with serve(pagerduty_app("Q1ABC", pd_entries(250), token=PD_TOKEN)) as srv:
        monkeypatch.setenv("PAGERDUTY_API_URL", srv.url)
        events, report = run_one(
            "pagerduty", pagerduty.display("Q1ABC"), pagerduty.fetcher("Q1ABC", 5)
        )
    assert not report.warnings and len(events) == 250
    assert [r.query["offset"] for r in srv.requests] == ["0", "100", "200"]
    kinds = [e.kind for e in sorted(events, key=lambda e: e.ts)]
    assert kinds[0] == "alert_firing" and kinds[2] == "alert_ack" and kinds[-1] == "alert_resolved"
    assert events[2].actor == "Alice Doe" and events[0].attrs["service"] == "API"


def test_pagerduty_refused_and_missing_token(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(pagerduty_app("Q1ABC", pd_entries(5), token=PD_TOKEN)) as srv:
        monkeypatch.setenv("PAGERDUTY_API_URL", srv.url)
        _, report = run_one("pagerduty", "pd", pagerduty.fetcher("Q1ABC", 5))
        assert unavailable(report) == [
            "unavailable: pagerduty incident Q1ABC: set PAGERDUTY_TOKEN or PAGERDUTY_TOKEN_FILE"
        ]
        monkeypatch.setenv("PAGERDUTY_TOKEN", "wrong")
        _, report = run_one("pagerduty", "pd", pagerduty.fetcher("Q1ABC", 5))
        assert unavailable(report) == [
            "unavailable: pagerduty incident Q1ABC: HTTP 401 (token refused): Unauthorized"
        ]
        assert len(srv.requests) == 1


def test_slack_many_users_resolved_with_one_paged_users_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_TOKEN", SLACK_TOKEN)
    monkeypatch.setattr(slack, "MAX_LOOKUPS", 1)
    msgs, replies = slack_world()
    app = slack_app([CHANNEL], {"C0INCIDENT": msgs}, replies, USERS, token=SLACK_TOKEN, page=1)
    with serve(app) as srv:
        monkeypatch.setenv("SLACK_API_URL", srv.url)
        events, _ = run_one("slack", "slack:x", slack.fetcher("C0INCIDENT", WIN, 5))
    assert {e.actor for e in events} == {"Alice Doe", "Bob Roe"}
    assert srv.paths("/users.") == ["/users.list", "/users.list"]  # a page a user


def test_pagerduty_incident_gives_the_window_to_loki(monkeypatch: pytest.MonkeyPatch) -> None:
    """No --since/--until and no files: PagerDuty needs no window, and its trigger
    and resolve entries give the window Loki is asked for."""
    from pipeline.ingest import IngestResult
    from pipeline.sources import SourceSpec, fetch_all
    from tests.source_fakes import loki_app, select_from
    from tests.test_sources import STREAMS, ns

    monkeypatch.setenv("PAGERDUTY_TOKEN", PD_TOKEN)
    entries = pd_entries(10)  # trigger at T0, resolve at T0 + 4.5 min
    with (
        serve(pagerduty_app("Q1ABC", entries, token=PD_TOKEN)) as pd,
        serve(loki_app(STREAMS, select_from([(ns(T0), 0, "level=error msg=boom")]))) as lk,
    ):
        monkeypatch.setenv("PAGERDUTY_API_URL", pd.url)
        result = IngestResult([], [])
        fetch_all(SourceSpec(pagerduty="Q1ABC", loki=lk.url, logql='{app="api"}'), result)
    assert [f.format for f in result.files] == ["pagerduty", "loki"]
    assert not any(w.startswith("unavailable:") for f in result.files for w in f.warnings)
    q = lk.requests[0].query
    assert int(q["start"]) == ns(T0 - timedelta(hours=2))
    assert int(q["end"]) == ns(T0 + timedelta(seconds=270) + timedelta(hours=1)) + 1
    assert any(e.text == "boom" for e in result.events)
