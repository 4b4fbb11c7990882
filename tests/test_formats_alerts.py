"""Alert formats: real public samples, documented-shape fixtures, and bad input."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.formats import REGISTRY, ParseContext, Source, detect, load_all
from pipeline.ingest import IngestOptions, IngestResult, InputError, ingest
from pipeline.models import Event
from tests.conftest import real

DATA = Path(__file__).resolve().parent / "data" / "alerts"
ALERT_FORMATS = (
    "alertmanager",
    "grafana",
    "pagerduty",
    "pagerduty_log_entries",
    "opsgenie",
    "datadog",
    "cloudwatch_sns",
    "cloudwatch_eventbridge",
)


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def run(path: str | Path, **opts: object) -> IngestResult:
    return ingest([str(path)], IngestOptions(**opts))  # type: ignore[arg-type]


def line_with(path: str | Path, needle: str) -> int:
    for n, text in enumerate(Path(path).read_text().splitlines(), 1):
        if needle in text:
            return n
    raise AssertionError(f"{needle!r} not in {path}")


def check_common(events: list[Event], source: str) -> None:
    for e in events:
        assert e.source == source
        assert e.ts.tzinfo is not None and e.ts.utcoffset() == UTC.utcoffset(None)
        assert e.text and "\n" not in e.text
        assert "alertname" in e.attrs and "status" in e.attrs
        assert all(isinstance(v, str) for v in e.attrs.values())


def test_all_alert_formats_registered() -> None:
    formats = load_all()
    for name in ALERT_FORMATS:
        assert formats[name].kind == "alert"


# ---------------------------------------------------------------- real samples


@pytest.mark.needs_shared
def test_alertmanager_real_two_alerts_go_zero_end() -> None:
    path = real("alertmanager/alert.json")
    res = run(path)
    assert res.files[0].format == "alertmanager" and not res.files[0].skipped
    assert [e.kind for e in res.events] == ["alert_firing", "alert_firing"]
    check_common(res.events, "alertmanager")
    for e in res.events:
        # 00:17:58.432911368Z: nanoseconds truncated to microseconds
        assert e.ts == at("2020-02-06T00:17:58.432911Z")
        assert e.actor is None and e.severity == "critical"
        assert e.attrs["alertname"] == "High CPU Temperature"
        assert e.attrs["status"] == "firing"
        assert e.attrs["url"].startswith("http://cobalt:9090/graph?")
    assert [e.attrs["fingerprint"] for e in res.events] == ["a1bc48475b20e73d", "c2ea85182f28cbd9"]
    assert "34.75C" in res.events[0].text and "17.625C" in res.events[1].text
    # each alert of the pretty-printed payload points at its own lines
    assert res.events[0].ref == f"{path}:{line_with(path, 'a1bc48475b20e73d')}"
    assert res.events[1].ref == f"{path}:{line_with(path, 'c2ea85182f28cbd9')}"


@pytest.mark.needs_shared
def test_alertmanager_real_resolved_without_end_time() -> None:
    res = run(real("alertmanager/single_alert.json"))
    (e,) = res.events  # endsAt is Go's zero time: no resolve event can be dated
    assert e.kind == "alert_firing" and e.attrs["status"] == "resolved"
    assert e.ts == at("2020-02-06T00:17:58.432911Z")
    assert any("resolved without endsAt" in w for w in res.files[0].warnings)


@pytest.mark.needs_shared
def test_alertmanager_real_no_generator_url_falls_back_to_external() -> None:
    (e,) = run(real("alertmanager/single_alert_no_url.json")).events
    assert e.attrs["url"] == "http://ops1:9093"


@pytest.mark.needs_shared
def test_grafana_real_v8_resolved_pair() -> None:
    res = run(real("grafana/alert_v8.json"))
    assert res.files[0].format == "grafana"
    check_common(res.events, "grafana")
    fired, resolved = res.events
    assert (fired.kind, resolved.kind) == ("alert_firing", "alert_resolved")
    assert fired.ts == at("2022-08-31T05:54:04.522893Z")
    assert resolved.ts == at("2022-08-31T10:30:00.522884Z")
    assert fired.attrs["alertname"] == "TestAlert" and fired.attrs["service"] == "Grafana"
    assert fired.text == "TestAlert: Notification test"


@pytest.mark.needs_shared
def test_grafana_real_v11_values_and_urls() -> None:
    res = run(real("grafana/alert_values_v11.json"))
    (e,) = res.events
    assert e.kind == "alert_firing" and e.ts == at("2024-03-01T02:09:00Z")
    assert e.attrs["alertname"] == "Memory (copy)"
    assert e.attrs["receiver"] == "Debug webhook"
    assert e.attrs["values"] == "A=2473545728, B=0, C=1, minute=9"
    assert e.attrs["panel_url"].endswith("viewPanel=2")
    assert e.text == "Memory (copy): High memory usage"


@pytest.mark.needs_shared
@pytest.mark.parametrize(
    ("name", "kind", "ts", "number", "title"),
    [
        ("triggered_v3.json", "alert_firing", "2021-06-04T13:35:29.781Z", "9", "Test Incident 3"),
        ("acknowledged_v3.json", "alert_ack", "2021-06-04T13:55:30.394Z", "10", "Test Incident"),
        ("resolved_v3.json", "alert_resolved", "2021-06-04T13:16:53.816Z", "6", "Test Incident"),
    ],
)
def test_pagerduty_real_v3(name: str, kind: str, ts: str, number: str, title: str) -> None:
    res = run(real(f"pagerduty/{name}"))
    assert res.files[0].format == "pagerduty"
    check_common(res.events, "pagerduty")
    (e,) = res.events
    assert (e.kind, e.ts, e.actor) == (kind, at(ts), "PIG 208")
    assert e.severity == "high"  # priority is null: urgency stands in
    assert e.attrs["alertname"] == title and e.attrs["incident_number"] == number
    assert e.attrs["service"] == "pig208"
    assert e.attrs["url"].startswith("https://pig208.pagerduty.com/incidents/")
    assert e.text.startswith(f"Incident #{number} ")


@pytest.mark.needs_shared
def test_pagerduty_real_v2_messages() -> None:
    res = run(real("pagerduty/trigger_v2.json"))
    (e,) = res.events
    assert (e.kind, e.ts, e.actor) == ("alert_firing", at("2017-09-26T15:14:36Z"), "Laura Haley")
    assert e.attrs["alertname"] == "My new incident"
    assert e.attrs["service"] == "Production XDB Cluster"
    assert e.attrs["status"] == "triggered"
    assert e.text == "Incident #33 triggered: My new incident"


@pytest.mark.needs_shared
@pytest.mark.parametrize(
    ("name", "kind", "ts", "actor"),
    [
        ("create.json", "alert_firing", "2017-08-14T11:25:56.288Z", "test@example.com"),
        ("acknowledge.json", "alert_ack", "2015-01-05T10:03:44.764Z", "fili@ifountain.com"),
        ("addnote.json", "action", "2015-01-05T10:04:35.002Z", "fili@ifountain.com"),
        ("close.json", "alert_resolved", "2015-01-05T10:06:14.669Z", "fili@ifountain.com"),
    ],
)
def test_opsgenie_real(name: str, kind: str, ts: str, actor: str) -> None:
    res = run(real(f"opsgenie/{name}"))
    assert res.files[0].format == "opsgenie"
    check_common(res.events, "opsgenie")
    (e,) = res.events
    assert (e.kind, e.actor) == (kind, actor)
    # updatedAt is epoch nanoseconds: float division may shift the last microsecond
    assert abs((e.ts - at(ts)).total_seconds()) < 1e-3


@pytest.mark.needs_shared
def test_opsgenie_real_details() -> None:
    create = run(real("opsgenie/create.json")).events[0]
    assert create.severity == "P3" and create.attrs["alertname"] == "another alert"
    note = run(real("opsgenie/addnote.json")).events[0]
    assert "note to test alert" in note.text and note.attrs["alias"] == "aliastest"


@pytest.mark.needs_shared
def test_real_folders_detect_each_file() -> None:
    folders = [str(real(d)) for d in ("alertmanager", "grafana", "pagerduty", "opsgenie")]
    res = ingest(folders)
    formats = {Path(f.path).parent.name: f.format for f in res.files}
    assert formats == {
        "alertmanager": "alertmanager",
        "grafana": "grafana",
        "pagerduty": "pagerduty",
        "opsgenie": "opsgenie",
    }
    assert len(res.files) == 13 and all(not f.skipped for f in res.files)


# ---------------------------------------------------------------- documented-shape fixtures


def test_alertmanager_nanoseconds_offsets_and_zero_end() -> None:
    res = run(DATA / "alertmanager_offsets.json")
    check_common(res.events, "alertmanager")
    kinds = [(e.kind, e.attrs["alertname"]) for e in res.events]
    assert kinds == [
        # the resolved notification repeats the same start: one firing event, not two
        ("alert_firing", "CheckoutErrorRate"),
        ("alert_resolved", "CheckoutErrorRate"),
        ("alert_firing", "CheckoutLatencyHigh"),  # resolved, but endsAt is the Go zero time
    ]
    first, resolved, latency = res.events
    assert first.ts == at("2026-02-08T14:03:00.123456Z")  # 16:03:00.123456789+02:00
    assert resolved.ts == at("2026-02-08T14:41:30.987654Z")  # 09:41:30.987654321-05:00
    assert first.severity == "critical"  # "Critical" lowercased
    assert first.attrs["service"] == "checkout" and latency.attrs["service"] == "checkout-api"
    assert latency.severity == "warning" and latency.ts == at("2026-02-08T14:10:00Z")
    assert not any(e.ts_inferred for e in res.events)
    assert len(res.files[0].warnings) == 1


def test_grafana_legacy_uses_file_time(tmp_path: Path) -> None:
    path = tmp_path / "grafana_legacy.json"
    path.write_text((DATA / "grafana_legacy.json").read_text())
    mtime = datetime(2026, 2, 8, 14, 7, 0, tzinfo=UTC)
    os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    res = run(path)
    assert res.files[0].format == "grafana"
    (e,) = res.events
    assert e.ts == mtime and e.ts_inferred
    assert e.kind == "alert_firing" and e.severity == "warning"
    assert e.attrs["alertname"] == "Load peaking!" and e.attrs["service"] == "api-gateway"
    assert "requests=122" in e.text
    assert any("no timestamp" in w for w in res.files[0].warnings)


def test_grafana_legacy_ok_state_resolves() -> None:
    src = Source("g.json", text=json.dumps({"ruleName": "Disk", "state": "ok", "evalMatches": []}))
    ctx = ParseContext(path="g.json", mtime=at("2026-02-08T15:00:00Z"))
    (e,) = REGISTRY["grafana"].parse(src, ctx)
    assert e.kind == "alert_resolved" and e.ts == at("2026-02-08T15:00:00Z") and e.ts_inferred


def test_pagerduty_log_entries() -> None:
    path = DATA / "pagerduty_log_entries.json"
    res = run(path)
    assert res.files[0].format == "pagerduty_log_entries"
    check_common(res.events, "pagerduty_log_entries")
    got = [(e.kind, e.ts, e.actor) for e in res.events]
    assert got == [
        ("alert_firing", at("2026-02-08T14:04:10Z"), None),  # agent is a service, not a person
        ("action", at("2026-02-08T14:04:12Z"), None),
        ("alert_ack", at("2026-02-08T14:09:45Z"), "Dana Ruiz"),
        ("action", at("2026-02-08T14:21:03Z"), "Dana Ruiz"),
        ("alert_resolved", at("2026-02-08T14:42:30Z"), "Dana Ruiz"),  # 15:42:30+01:00
    ]
    assert res.events[0].attrs["service"] == "Checkout API"
    assert "Rolled back checkout to v2.14.1" in res.events[3].text
    assert res.events[2].ref == f"{path}:{line_with(path, 'R4ACK0000')}"


def test_pagerduty_v3_and_v2_own_samples() -> None:
    path = DATA / "pagerduty_v3_triggered.json"
    (fired,) = run(path).events
    check_common([fired], "pagerduty")
    assert (fired.kind, fired.ts) == ("alert_firing", at("2026-02-08T14:03:31.204Z"))
    assert fired.actor is None  # the agent is a service, not a person
    assert fired.severity == "high"  # priority null: urgency stands in
    assert fired.attrs["alertname"] == "Payments API error rate above 5%"
    assert fired.attrs["incident_number"] == "1284" and fired.attrs["service"] == "payments-api"
    assert fired.ref == f"{path}:{line_with(path, '01HQ8Z3F4K2M5N7P9R1T3V5X7Z')}"
    later = run(DATA / "pagerduty_v3.jsonl").events  # one webhook per JSON line
    assert [(e.kind, e.actor, e.severity) for e in later] == [
        ("alert_ack", "Maya Okafor", "P1"),
        ("alert_resolved", "Maya Okafor", "P1"),
    ]
    assert later[1].ts == at("2026-02-08T14:12:30.550Z")
    (v2,) = run(DATA / "pagerduty_v2_messages.json").events  # messages[] envelope
    assert (v2.kind, v2.ts, v2.actor) == ("alert_firing", at("2026-02-08T14:03:31Z"), "Deploy Bot")
    assert v2.text == "Incident #1285 triggered: Checkout 5xx above SLO"
    assert v2.attrs["service"] == "checkout-web" and v2.attrs["status"] == "triggered"


def test_opsgenie_own_lifecycle() -> None:
    (create,) = run(DATA / "opsgenie_create.json").events
    check_common([create], "opsgenie")
    # Create is dated by createdAt (epoch ms), the later actions by updatedAt (epoch ns)
    assert (create.kind, create.ts) == ("alert_firing", at("2026-02-08T14:03:22.318Z"))
    assert create.severity == "P2" and create.attrs["alias"] == "checkout-latency-p99"
    assert create.attrs["alertname"] == "checkout p99 latency above 2s"
    res = run(DATA / "opsgenie_lifecycle.jsonl")
    assert res.files[0].format == "opsgenie" and not res.files[0].skipped
    ack, note, close = res.events
    assert [e.kind for e in (ack, note, close)] == ["alert_ack", "action", "alert_resolved"]
    assert {e.actor for e in res.events} == {"maya.okafor@shop.example.com"}
    assert abs((ack.ts - at("2026-02-08T14:07:13.412Z")).total_seconds()) < 1e-3
    assert note.text.endswith("rolled back payments-api to v4.11.2, watching p99")
    assert close.attrs["status"] == "closed" and close.attrs["tags"] == "checkout,sev2"


def test_datadog_monitor_webhook() -> None:
    res = run(DATA / "datadog_monitor.json")
    assert res.files[0].format == "datadog"
    check_common(res.events, "datadog")
    trig, rec, warn = res.events
    assert (trig.kind, trig.ts, trig.severity) == ("alert_firing", at("2026-02-08T14:05:00Z"), "P1")
    assert (rec.kind, rec.ts) == ("alert_resolved", at("2026-02-08T14:47:12Z"))
    assert (warn.kind, warn.ts, warn.severity) == (
        "alert_firing",
        at("2026-02-08T14:06:00Z"),
        "warning",
    )
    assert trig.attrs["alertname"] == rec.attrs["alertname"] == "Checkout 5xx rate high"
    assert trig.attrs["service"] == "checkout" and warn.attrs["service"] == "postgres"
    assert warn.attrs["status"] == "Warn"  # from the "[Warn on {host:db-1}]" title
    assert (
        trig.text
        == "Checkout 5xx rate high: 5xx rate on checkout is 12.4%, above the 5% threshold."
    )
    for e in res.events:
        assert "%%%" not in e.text and "**" not in e.text and "@webhook" not in e.text
    (skip,) = res.files[0].skipped
    assert skip.line == line_with(DATA / "datadog_monitor.json", '"id": "broken"') - 1


def test_cloudwatch_sns() -> None:
    res = run(DATA / "cloudwatch_sns.jsonl")
    assert res.files[0].format == "cloudwatch_sns"
    check_common(res.events, "cloudwatch_sns")
    alarm, ok = res.events
    assert (alarm.kind, alarm.ts) == ("alert_firing", at("2026-02-08T14:03:00.123Z"))
    assert (ok.kind, ok.ts) == ("alert_resolved", at("2026-02-08T14:44:00.456Z"))
    assert alarm.attrs["alertname"] == "checkout-5xx-high" and alarm.attrs["status"] == "ALARM"
    assert alarm.attrs["service"] == "checkout"
    assert alarm.attrs["metric"] == "HTTPCode_Target_5XX_Count"
    assert alarm.text.startswith("checkout-5xx-high: ALARM (from OK): Threshold Crossed")
    assert [s.line for s in res.files[0].skipped] == [2]  # Message that is not JSON
    assert ok.ref.endswith("cloudwatch_sns.jsonl:3")


def test_cloudwatch_sns_lambda_records() -> None:
    res = run(DATA / "cloudwatch_sns_lambda.json")
    (e,) = res.events
    assert e.kind == "alert_firing" and e.ts == at("2026-02-08T14:03:00.123Z")


def test_cloudwatch_states_without_recovery(tmp_path: Path) -> None:
    lines = [
        {"AlarmName": "q-depth", "NewStateValue": "OK", "OldStateValue": "INSUFFICIENT_DATA",
         "StateChangeTime": "2026-02-08T14:00:00.000+0000"},
        {"AlarmName": "q-depth", "NewStateValue": "INSUFFICIENT_DATA", "OldStateValue": "OK",
         "StateChangeTime": "2026-02-08T14:30:00.000+0000"},
    ]  # fmt: skip
    path = tmp_path / "alarms.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines))
    res = run(path)
    assert res.files[0].format == "cloudwatch_sns"
    assert [e.kind for e in res.events] == ["log", "log"]


def test_cloudwatch_eventbridge() -> None:
    res = run(DATA / "cloudwatch_eventbridge.json")
    assert res.files[0].format == "cloudwatch_eventbridge"
    check_common(res.events, "cloudwatch_eventbridge")
    alarm, ok = res.events
    assert (alarm.kind, alarm.ts) == ("alert_firing", at("2026-02-08T14:12:40.985Z"))
    assert (ok.kind, ok.ts) == ("alert_resolved", at("2026-02-08T14:58:02.511Z"))
    assert alarm.attrs["alertname"] == "orders-db-cpu-high"
    assert alarm.attrs["namespace"] == "AWS/RDS" and alarm.attrs["region"] == "eu-west-1"
    (skip,) = res.files[0].skipped  # the EC2 event in the same archive
    assert "EC2 Instance State-change" in skip.reason


def test_eventbridge_inside_sns(tmp_path: Path) -> None:
    event = json.loads((DATA / "cloudwatch_eventbridge.json").read_text())[0]
    path = tmp_path / "sns.json"
    path.write_text(json.dumps({"Type": "Notification", "Message": json.dumps(event)}))
    res = run(path)
    assert res.files[0].format == "cloudwatch_sns"
    assert [(e.kind, e.ts) for e in res.events] == [
        ("alert_firing", at("2026-02-08T14:12:40.985Z"))
    ]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("alertmanager_offsets.json", "alertmanager"),
        ("alertmanager_bad.jsonl", "alertmanager"),
        ("grafana_legacy.json", "grafana"),
        ("pagerduty_log_entries.json", "pagerduty_log_entries"),
        ("datadog_monitor.json", "datadog"),
        ("cloudwatch_sns.jsonl", "cloudwatch_sns"),
        ("cloudwatch_sns_lambda.json", "cloudwatch_sns"),
        ("cloudwatch_eventbridge.json", "cloudwatch_eventbridge"),
    ],
)
def test_sniff_by_content_not_name(name: str, fmt: str) -> None:
    fmt_found = detect((DATA / name).read_text()[:65536], "upload.txt")
    assert fmt_found is not None and fmt_found.name == fmt


# ---------------------------------------------------------------- bad input


def test_malformed_records_skipped_and_counted() -> None:
    res = run(DATA / "alertmanager_bad.jsonl")
    assert [e.attrs["fingerprint"] for e in res.events] == ["aa01", "aa03"]
    skipped = res.files[0].skipped
    assert [s.line for s in skipped] == [2, 3]
    assert "invalid JSON" in skipped[0].reason and "startsAt" in skipped[1].reason
    assert res.events[1].ref.endswith("alertmanager_bad.jsonl:4")


def test_strict_aborts_on_first_bad_record() -> None:
    with pytest.raises(InputError, match=r"alertmanager_bad\.jsonl:2: invalid JSON"):
        run(DATA / "alertmanager_bad.jsonl", strict=True)


def test_wrong_types_do_not_crash() -> None:
    res = run(DATA / "alertmanager_wrong_types.json")
    assert [(e.attrs["alertname"], e.ts) for e in res.events] == [
        ("StillOk", at("2026-02-08T14:20:00Z")),
        ("BadEnd", at("2026-02-08T14:21:00Z")),
    ]
    reasons = [s.reason for s in res.files[0].skipped]
    assert len(reasons) == 5  # 42, "not an alert", numeric startsAt, bad endsAt, startsAt true
    assert any("endsAt" in r for r in reasons)
    assert res.events[0].attrs["status"] == "active"  # API v2 {"state": ...}


GARBAGE = [
    1,  # (a first line "[]" would make the whole file one JSON array)
    [],
    "x",
    None,
    {"alerts": 5, "groupKey": 1},
    {"alerts": [{"labels": [], "startsAt": {}}]},
    {"event": 5},
    {"event": {"event_type": 5, "occurred_at": [], "data": "x", "agent": 3}},
    {"event": {"event_type": "incident.triggered", "occurred_at": "2026-02-08T14:00:00Z",
               "data": [], "agent": "bob"}},
    {"messages": {"a": 1}},
    {"messages": [1, {"event": "incident.trigger"}, {"event": [], "created_on": 5}]},
    {"log_entries": "x"},
    {"log_entries": [None, {"type": 5}, {"type": "trigger_log_entry", "created_at": None}]},
    {"action": 5, "alert": []},
    {"action": "Create", "alert": {"createdAt": "x", "priority": True, "tags": "a"}},
    {"date": {}, "title": 5, "tags": 7, "body": ["%%%"]},
    {"date": "1770559500000", "alert_transition": 5, "title": None, "tags": [{"a": 1}]},
    {"Type": "Notification", "Message": 5},
    {"Type": "Notification", "Message": "{\"AlarmName\": 1}"},
    {"Records": 5},
    {"Records": [5, {"Sns": "x"}]},
    {"detail-type": "CloudWatch Alarm State Change", "detail": 5},
    {"detail-type": "CloudWatch Alarm State Change", "detail": {"state": "ALARM"}, "time": 5},
    {"ruleName": ["x"], "evalMatches": 5, "state": 3},
]  # fmt: skip


@pytest.mark.parametrize("fmt", ALERT_FORMATS)
def test_every_format_survives_garbage(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "garbage.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in GARBAGE) + "\n{not json\n")
    res = ingest([str(path)], IngestOptions(force_format=fmt))
    report = res.files[0]
    assert report.skipped  # bad records are counted, never raised
    assert all(s.line for s in report.skipped)
    check_common(res.events, fmt)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=3)
    | st.dictionaries(
        st.sampled_from(["alerts", "labels", "startsAt", "endsAt", "status", "event", "data",
                         "event_type", "occurred_at", "messages", "log_entries", "type",
                         "created_at", "action", "alert", "createdAt", "date", "title", "tags",
                         "Message", "Records", "Sns", "detail", "detail-type", "state", "time",
                         "AlarmName", "NewStateValue", "ruleName", "evalMatches"]),
        kids,
        max_size=5,
    ),
    max_leaves=12,
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=_json, fmt=st.sampled_from(ALERT_FORMATS))
def test_parsers_never_raise(doc: object, fmt: str) -> None:
    ctx = ParseContext(path="fuzz.json", mtime=at("2026-02-08T00:00:00Z"))
    events = list(REGISTRY[fmt].parse(Source("fuzz.json", text=json.dumps(doc)), ctx))
    assert all(isinstance(e, Event) for e in events)
