"""Chat and transcript formats: real public samples and documented shapes,
all through ``ingest`` with auto-detection."""

from __future__ import annotations

import shutil
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pipeline.formats import detect
from pipeline.ingest import IngestOptions, IngestResult, ingest
from pipeline.models import Event
from tests.conftest import real

DATA = Path(__file__).resolve().parent / "data" / "chat"
FEB8 = IngestOptions(anchor_date=date(2026, 2, 8))


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


def run(path: Path, opts: IngestOptions | None = None) -> IngestResult:
    return ingest([str(path)], opts)


def by_text(events: list[Event], needle: str) -> Event:
    hits = [e for e in events if needle in e.text]
    assert len(hits) == 1, (needle, [e.text for e in events])
    return hits[0]


# ---------------------------------------------------------------- real samples


@pytest.mark.needs_shared
def test_real_slack_export_folder() -> None:
    res = run(real("slack-export"))
    assert [f.format for f in res.files] == ["slack"]
    ev = res.events
    assert len(ev) == 14 and not res.files[0].skipped
    assert not any("has joined the channel" in e.text for e in ev)
    steve = by_text(ev, "Steve typing random stuff")
    assert steve.ts == utc(2018, 1, 20, 13, 22, 17, 93) and steve.actor == "Steve Howell"
    assert steve.ref.endswith("test_slack_importer/random/2018-01-20.json#1516454537.000093")
    upload = by_text(ev, "uploaded a file")
    assert upload.actor == "Josef K." and upload.text.startswith(
        "@Josef K. uploaded a file: dirac72.md"
    )
    assert upload.attrs["files"] == "dirac72.md"
    assert by_text(ev, "edfadfa").ts == utc(2017, 6, 25, 14, 31, 11, 279035)
    assert sum(e.text == "@channel" for e in ev) == 2
    reply = by_text(ev, "another reply")
    assert reply.attrs["reply"] == "true" and reply.attrs["channel"] == "random"
    assert reply.ref.endswith("normal_thread.json#1539868294.000007/1449868294.000007")
    assert reply.ts == utc(2015, 12, 11, 21, 11, 34, 7)
    mention = by_text(ev, "test mention")  # single message object, names from user_profile
    assert mention.actor == "Peter" and mention.ts == utc(2026, 2, 26, 13, 27, 29, 216879)


@pytest.mark.needs_shared
def test_real_mattermost() -> None:
    res = run(real("mattermost/export.json"))
    assert res.files[0].format == "mattermost" and not res.files[0].skipped
    ev = res.events
    assert not any("joined the" in e.text or "added to the channel" in e.text for e in ev)
    assert len(ev) == 13
    (hey,) = [e for e in ev if e.text == "Hey folks"]
    assert hey.actor == "Ron Weasley" and hey.ts == utc(2019, 3, 21, 11, 8, 39, 720000)
    reply = by_text(ev, "The weather is so hot!")  # nested reply
    assert reply.attrs["reply"] == "true" and reply.ts == utc(2019, 3, 21, 11, 9, 44, 976000)
    assert by_text(ev, "Hello folks").actor == "malfoy"  # no first/last name: username


@pytest.mark.needs_shared
def test_real_github_webhooks() -> None:
    comment = run(real("github/issue_comment.json"))
    assert comment.files[0].format == "github"
    (c,) = comment.events
    assert c.actor == "baxterthehacker" and c.ts == utc(2015, 5, 5, 23, 40, 28)
    assert c.text == "You are totally right! I'll get this fixed right away."
    assert c.attrs["issue"] == "#2"
    closed = run(real("github/issues__closed.json")).events
    opened, done = closed
    assert opened.kind == "message" and opened.text == "Bug related to the bot:"
    assert done.kind == "action" and done.attrs["status"] == "resolved"
    assert done.ts == utc(2026, 1, 31, 8, 11, 37) and done.actor == "Pritesh-30"


@pytest.mark.needs_shared
def test_real_zoom_vtt_anchored_by_file_name() -> None:
    vtt = real("vtt/GMT20240124-202901_Recording.transcript.vtt")
    res = run(vtt)
    assert res.files[0].format == "webvtt"
    ev = res.events
    assert len(ev) == 102
    assert ev[0].ts == utc(2024, 1, 24, 20, 29, 1, 50000) and ev[0].actor == "Srijani Ghosh"
    assert ev[0].text == "Hi!" and ev[0].ref.endswith(".vtt:4")
    assert ev[-1].ts == utc(2024, 1, 24, 20, 41, 9, 760000) and ev[-1].actor == "Conor Healy"
    assert not ev[0].ts_inferred


def test_vtt_meeting_start_option_wins(tmp_path: Path) -> None:
    start = datetime(2026, 2, 8, 15, 0, tzinfo=UTC)
    res = run(DATA / "zoom_no_start.vtt", IngestOptions(meeting_start=start))
    assert [(e.ts, e.actor) for e in res.events][:2] == [
        (utc(2026, 2, 8, 15, 0, 1), "Alice Martin"),
        (utc(2026, 2, 8, 15, 0, 4), "Bob Jones"),
    ]


def test_vtt_without_start_is_skipped_with_reason() -> None:
    res = run(DATA / "zoom_no_start.vtt")
    assert res.events == [] and res.files[0].skipped[0].reason == "needs --meeting-start"


def test_teams_vtt_voice_tags_and_unpadded_times() -> None:
    start = datetime(2026, 2, 8, 16, 0, tzinfo=UTC)
    ev = run(DATA / "teams_meeting.vtt", IngestOptions(meeting_start=start)).events
    assert [e.actor for e in ev] == ["Alice Martin", "Bob Jones", "Alice Martin"]
    assert ev[1].text == "The pool change went out at two & errors followed."
    assert ev[1].ts == utc(2026, 2, 8, 16, 0, 5, 500000)
    assert ev[2].ts == utc(2026, 2, 8, 16, 1, 2, 250000)


# ---------------------------------------------------------------- Slack fixtures


def test_slack_conversations_history() -> None:
    res = run(DATA / "slack_history.json")
    assert res.files[0].format == "slack"
    ev = res.events
    assert len(ev) == 4 and len(res.files[0].skipped) == 1  # join dropped, ts-less skipped
    first = by_text(ev, "rolled back")
    assert first.text == "rolled back deploy 42 & paging @db-oncall in #ops"
    assert (
        first.attrs["url"] == "https://deploy.example.com/r/42" and first.attrs["edited"] == "true"
    )
    bot = by_text(ev, "Triggered")
    assert bot.actor == "PagerDuty" and bot.attrs["bot"] == "true"
    assert bot.ts == utc(2026, 2, 8, 14, 3, 0, 100)  # ts fraction is microseconds
    reply = by_text(ev, "pool again")
    assert reply.text == "is it the <db> pool again?"
    assert reply.ref.endswith("#1770559380.000100/1770559440.000300")
    assert by_text(ev, "heap dump").text == "heap dump attached [files: heap-0208.hprof]"


def _check_export(res: IngestResult) -> None:
    assert [f.format for f in res.files] == ["slack"]
    ev = res.events
    assert len(ev) == 5 and len(res.files[0].skipped) == 1  # bad ts counted
    ask = by_text(ev, "throwing 502s")
    assert ask.actor == "Alice Martin" and ask.text.startswith("@bob.k checkout")
    assert ask.ts == utc(2026, 2, 8, 22, 59, 0, 100)
    edited = by_text(ev, "pool size")
    assert edited.text == "pool size is 10, should be 50" and edited.attrs["edited"] == "true"
    assert by_text(ev, "on it").attrs["reply"] == "true"
    resolved = by_text(ev, "[Resolved]")
    assert resolved.actor == "grafana" and resolved.attrs["bot"] == "true"
    assert resolved.ref.endswith("incidents/2026-02-09.json#1770595320.000500")


def test_slack_export_folder_fixture() -> None:
    _check_export(run(DATA / "slack_export"))


def test_slack_export_zip(tmp_path: Path) -> None:
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in (DATA / "slack_export").rglob("*.json"):
            zf.write(f, f.relative_to(DATA / "slack_export").as_posix())
    res = run(archive)
    _check_export(res)
    assert res.events[0].ref.startswith(f"{archive}/incidents/2026-02-0")


def test_slack_single_day_file_borrows_user_names(tmp_path: Path) -> None:
    shutil.copytree(DATA / "slack_export", tmp_path / "exp")
    res = run(tmp_path / "exp" / "incidents" / "2026-02-09.json")
    assert res.files[0].format == "slack"
    assert by_text(res.events, "post-mortem").actor == "Alice Martin"


# ---------------------------------------------------------------- other chat apps


def test_mattermost_own_export() -> None:
    res = run(DATA / "mattermost.jsonl")
    assert res.files[0].format == "mattermost" and not res.files[0].skipped
    ev = res.events
    assert not any("joined the channel" in e.text for e in ev)
    assert [e.text for e in ev] == [  # in time order, the reply after its post
        "payments-api v4.12.0 rolled out to 100%",
        "502s from payments since 14:03, rolling back to v4.11.2",
        "rollback of payments-api to v4.11.2 started",
        "error rate back under 0.1%",
    ]
    post, reply, direct = ev[1], ev[2], ev[3]
    assert post.actor == "Maya Okafor" and post.ts == utc(2026, 2, 8, 14, 5, 40, 250000)
    assert post.attrs["channel"] == "inc-payments"
    assert reply.attrs["reply"] == "true" and reply.actor == "deploybot"  # no name: username
    assert reply.ts == utc(2026, 2, 8, 14, 7, 13)
    assert direct.attrs["direct"] == "true"


def test_teams_graph_messages() -> None:
    res = run(DATA / "teams_messages.json")
    assert res.files[0].format == "teams"
    ev = res.events
    assert len(ev) == 3 and len(res.files[0].skipped) == 1
    assert any("createdDateTime" in w for w in res.files[0].warnings)
    html = by_text(ev, "checkout is down")
    assert html.text == "Jane Doe checkout is down & returning 502 see dashboard"
    assert html.actor == "Robin Kline" and html.ts == utc(2026, 2, 8, 14, 3, 0, 123000)
    system = ev[1]
    assert system.kind == "action" and system.text == "members added: Jane Doe by Robin Kline"
    bot = by_text(ev, "Alert resolved")
    assert bot.actor == "Azure Monitor" and bot.attrs["bot"] == "true"
    assert "runbook.docx" in bot.text


def test_discord_chat_exporter() -> None:
    res = run(DATA / "discord.json")
    assert res.files[0].format == "discord"
    ev = res.events
    assert len(ev) == 2 and len(res.files[0].skipped) == 1  # join dropped, null time skipped
    first = by_text(ev, "cache hit ratio")
    assert first.actor == "Carol" and first.ts == utc(2026, 2, 8, 14, 3, 0, 250000)
    assert first.text == "@Dave cache hit ratio dropped to 12% [files: graph.png]"
    assert by_text(ev, "flushing").attrs["reply_to"] == "1205123456789012346"


def test_github_rest_comments_and_issue() -> None:
    comments = run(DATA / "github_comments.json").events
    assert [(e.actor, e.ts) for e in comments] == [
        ("octocat", utc(2026, 2, 8, 14, 10)),
        ("hubot", utc(2026, 2, 8, 14, 40)),
    ]
    assert comments[0].text == "Bisected to the connection-pool change. Reverting in #1348."
    opened, closed = run(DATA / "github_issue.json").events
    assert opened.ts == utc(2026, 2, 8, 14, 2) and opened.text.startswith("Checkout returns 502")
    assert closed.kind == "action" and closed.ts == utc(2026, 2, 8, 15, 20)
    assert closed.attrs["status"] == "resolved" and closed.text.startswith("issue #1347 closed")


# ---------------------------------------------------------------- pasted transcripts


def test_transcript_24h_midnight_rollover_and_continuation() -> None:
    res = run(DATA / "paste_24h.txt", FEB8)
    assert res.files[0].format == "transcript"
    ev = res.events
    assert [e.ts for e in ev] == [
        utc(2026, 2, 8, 23, 52),
        utc(2026, 2, 8, 23, 55),
        utc(2026, 2, 8, 23, 58),
        utc(2026, 2, 9, 0, 4),
        utc(2026, 2, 9, 0, 11, 30),
    ]
    assert ev[1].text == "looking, db pool looks exhausted stack trace shows HikariPool timeouts"
    assert all(e.ts_inferred for e in ev)


def test_transcript_needs_date() -> None:
    res = run(DATA / "paste_24h.txt")
    assert res.events == []
    assert res.files[0].skipped[0].reason == "time-only transcript needs --date"


def test_transcript_12h_shapes_and_zone() -> None:
    opts = IngestOptions(anchor_date=date(2026, 2, 8), tz=ZoneInfo("America/New_York"))
    ev = run(DATA / "paste_12h.txt", opts).events
    assert [(e.actor, e.ts) for e in ev] == [
        ("alice", utc(2026, 2, 9, 4, 58)),
        ("bob", utc(2026, 2, 9, 4, 59)),
        ("alice", utc(2026, 2, 9, 5, 3)),
        ("charlie", utc(2026, 2, 9, 5, 10)),
    ]
    assert ev[1].text == "rolling back release 42"


def test_transcript_dated_lines_need_no_date() -> None:
    ev = run(DATA / "paste_dated.txt").events
    assert [(e.actor, e.ts, e.ts_inferred) for e in ev][::3] == [
        ("alice", utc(2026, 2, 8, 14, 3), True),
        ("bob", utc(2026, 2, 8, 14, 20), False),
    ]


def test_transcript_desktop_copy() -> None:
    res = run(DATA / "paste_desktop.txt", FEB8)
    assert res.files[0].format == "transcript"
    assert [(e.actor, e.ts.hour, e.ts.minute, e.text) for e in res.events] == [
        ("Alice Martin", 14, 3, "checkout is down anyone around?"),
        ("Alice Martin", 14, 4, "paging the on-call"),
        ("Bob Jones", 14, 6, "here, looking at it"),
        ("Alice Martin", 14, 15, "recovered after the restart"),
    ]


# ---------------------------------------------------------------- IRC


def test_irssi_day_markers_and_noise() -> None:
    res = run(DATA / "irssi.log")
    assert res.files[0].format == "irc" and not res.files[0].skipped
    assert [(e.actor, e.ts) for e in res.events] == [
        ("alice", utc(2026, 2, 8, 23, 51)),
        ("bob", utc(2026, 2, 8, 23, 52)),
        ("bob", utc(2026, 2, 8, 23, 58)),
        ("alice", utc(2026, 2, 9, 0, 2)),
    ]
    assert res.events[2].attrs["emote"] == "true"


def test_znc_date_from_file_name() -> None:
    res = run(DATA / "znc_#ops_20260208.log")
    assert res.files[0].format == "irc"
    assert [(e.actor, e.ts) for e in res.events][:2] == [
        ("alice", utc(2026, 2, 8, 14, 3, 22)),
        ("bob", utc(2026, 2, 8, 14, 3, 40)),
    ]
    assert len(res.events) == 4


def test_weechat_and_malformed_line_counted() -> None:
    res = run(DATA / "weechat.log")
    assert res.files[0].format == "irc"
    assert [e.actor for e in res.events] == ["alice", "bob", "bob", "bob"]
    assert res.events[0].ts == utc(2026, 2, 8, 14, 3, 30) and res.events[0].ts_inferred
    assert [(s.line, s.reason) for s in res.files[0].skipped] == [(7, "unrecognised IRC line")]


def test_iso_prefixed_irc() -> None:
    ev = run(DATA / "iso_irc.log").events
    assert [(e.actor, e.ts, e.ts_inferred) for e in ev] == [
        ("alice", utc(2026, 2, 8, 14, 3, 25), False),
        ("bob", utc(2026, 2, 8, 14, 4), False),
        ("alice", utc(2026, 2, 8, 13, 9, 10), False),
    ]


# ---------------------------------------------------------------- sniffing


@pytest.mark.parametrize(
    "line",
    [
        "2026-02-08 14:03:22 INFO app: started worker {n}",
        "[14:03:2{n}] ERROR db: connection refused",
        "Feb  8 14:03:2{n} web01 sshd[123]: Accepted publickey for deploy",
        "2026-02-08 14:03:2{n},123 [main] com.acme.Pool: timeout",
        "2026-02-08 14:03:2{n} web01 kernel: eth0 link down",
    ],
)
def test_transcript_sniffers_leave_log_lines_alone(line: str) -> None:
    head = "\n".join(line.format(n=n) for n in range(8))
    fmt = detect(head, "app.log")
    assert fmt is None or fmt.name not in {"transcript", "irc", "webvtt"}


@pytest.mark.needs_shared
def test_real_logs_not_claimed_by_chat_formats() -> None:
    root = real("loghub")
    for f in [*sorted(root.rglob("*.log")), *sorted(real("nginx").rglob("*.log"))]:
        fmt = detect(f.read_text(errors="replace")[:65536], f.name)
        assert fmt is None or fmt.kind != "chat", (f, fmt.name if fmt else None)
