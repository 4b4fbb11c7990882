"""Pasted chat and incident notes: the shapes people copy out of chat apps and
the notes documents kept during a call (synthetic samples in tests/data/chat/paste,
plus the shared real incidents when ../shared is present)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.condense import condense
from pipeline.facts import compute
from pipeline.formats import ParseContext, Source, detect, load_all
from pipeline.ingest import IngestOptions, IngestResult, InputError, ingest
from pipeline.models import Event
from pipeline.normalize import normalize
from tests.conftest import shared

DATA = Path(__file__).resolve().parent / "data"
PASTE = DATA / "chat" / "paste"


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def run(name: str, day: date | None = None, tz: str = "UTC") -> IngestResult:
    return ingest([str(PASTE / name)], IngestOptions(anchor_date=day, tz=ZoneInfo(tz)))


def rows(events: list[Event]) -> list[tuple[datetime, str | None, str]]:
    return [(e.ts, e.actor, e.text) for e in events]


# ---------------------------------------------------------------- Slack desktop copy


def test_slack_copy_relative_stamp_edited_reactions_replies() -> None:
    res = run("slack_relative.txt", date(2026, 2, 8))
    assert res.files[0].format == "transcript"
    assert [(s.line, s.reason) for s in res.files[0].skipped] == [
        (1, "text before the first timestamped message")
    ]
    ev = res.events
    assert rows(ev) == [
        (
            utc(2026, 2, 8, 9, 18),
            "alice",
            "checkout is failing for card payments anyone seeing this?",
        ),
        (utc(2026, 2, 8, 9, 18), "bob", "looking now"),  # "[3 hours ago]": the previous time
        (utc(2026, 2, 8, 9, 40), "carol", "rolled back the payments deploy"),
        (utc(2026, 2, 8, 9, 41), "carol", "errors are going down"),  # "[9:41 AM] ..." follow-up
        (utc(2026, 2, 8, 10, 2), "alice", "confirmed fixed"),
        (utc(2026, 2, 8, 10, 5), "dana lee", "thanks all, closing"),  # lowercase, bracketed
    ]
    assert ev[1].ts_inferred and ev[1].attrs["time_written"] == "relative"
    assert ev[1].attrs["edited"] == "true"  # "(edited)" is a marker, not text


def test_slack_messy_copy_code_block_thread_chrome_and_short_times() -> None:
    res = run("slack_messy.txt", date(2026, 2, 8), "Europe/Berlin")
    ev = res.events
    assert [(e.ts, e.actor) for e in ev] == [
        (utc(2026, 2, 8, 20, 2), "Jo Bauer"),  # "Jo Bauer  9:02 PM", Berlin
        (utc(2026, 2, 8, 20, 5), "Kim Lee"),
        (utc(2026, 2, 8, 20, 6), "Kim Lee"),  # a lone "9:06" under a PM message: 21:06
        (utc(2026, 2, 8, 20, 30), "Jo Bauer"),
        (utc(2026, 2, 8, 22, 52), "Kim Lee"),
        (utc(2026, 2, 8, 23, 55), "Kim Lee"),  # "Today" after 11:52 PM: the next day
    ]
    first = ev[0].text
    assert "payments-api: upstream timeout" in first  # a log line in ``` is message text
    assert not any(w in first for w in ("replies", "View thread", "Last reply", ":eyes: 3"))
    assert {e.attrs["channel"] for e in ev} == {"#inc-2231-payments"}


def test_slack_quoted_paste_of_three_channels() -> None:
    ev = run("slack_quoted_channels.txt", date(2019, 3, 26), "America/Los_Angeles").events
    assert [(e.ts.strftime("%H:%M"), e.actor, e.attrs["channel"]) for e in ev] == [
        ("13:27", "lena", "#sig-testing chat log"),
        ("13:27", "lena", "#sig-testing chat log"),
        ("14:16", "Omar", "#sig-testing chat log"),  # "[07:16 AM]", quote marker gone
        ("14:21", "Omar", "#sig-testing chat log"),
        ("14:21", "Omar", "#sig-testing chat log"),  # "[3 hours ago]"
        ("14:22", "Omar", "#testing-ops chat log"),
        ("14:37", "lena", "#testing-ops chat log"),  # "joined #testing-ops along with ..." dropped
        ("15:10", "Omar", "#testing-ops chat log"),
        ("15:23", "fejta", "#testing-ops postmortem thread"),
    ]
    assert ev[0].attrs["edited"] == "true" and ev[0].text.endswith("related to the id change?")
    assert '"level":"fatal"' in ev[5].text


def test_slack_day_dividers_today_yesterday_and_named_day() -> None:
    ev = run("slack_days.txt", date(2024, 3, 26)).events
    assert [(e.ts, e.actor) for e in ev] == [
        (utc(2024, 3, 26, 22, 50), "Mira Chen"),  # "Yesterday" is --date: the first message's day
        (utc(2024, 3, 26, 23, 5), "Jon Park"),  # a status emoji after the name
        (utc(2024, 3, 27, 1, 10), "Mira Chen"),  # "Today"
        (utc(2024, 3, 27, 9, 0), "Jon Park"),  # "Wednesday, March 27th"
    ]


# ---------------------------------------------------------------- Discord


def test_discord_handles_multiline_and_date_separators() -> None:
    res = run("discord_multiday.txt", date(2023, 3, 27), "America/Los_Angeles")
    ev = res.events
    assert [(e.ts, e.actor, e.attrs.get("handle")) for e in ev] == [
        (utc(2023, 3, 28, 5, 58), "Ana Ruiz", "anar"),
        (utc(2023, 3, 28, 6, 20), "Bo", "bo_ops"),
        (utc(2023, 3, 28, 6, 20), "Ana Ruiz", "anar"),  # untimed "Name (handle): text"
        (utc(2023, 3, 28, 6, 51), "Ana Ruiz", "anar"),
        (utc(2023, 3, 28, 16, 5), "Bo", "bo_ops"),  # "--- March 28, 2023 ---"
        (utc(2023, 3, 28, 16, 30), "Ana Ruiz", "anar"),
    ]
    assert ev[0].text == "build farm is flagging the windows zip as a trojan, users report it too"
    assert ev[2].text == "thanks, I will tell the users" and ev[2].ts_inferred


def test_discord_today_yesterday_and_dated_headers() -> None:
    ev = run("discord_today.txt", date(2023, 3, 27)).events
    assert rows(ev) == [
        (utc(2023, 3, 27, 23, 58), "Ana Ruiz", "disk on db1 at 95%"),
        (utc(2023, 3, 28, 0, 10), "Bo", "cleaned old WAL files, at 60% now still watching it"),
        (utc(2023, 3, 29, 8, 15), "Ana Ruiz", "stable overnight, closing"),
    ]


def test_clock_jumping_back_hours_is_the_next_day_never_before_anchor(tmp_path: Path) -> None:
    ev = run("discord_multiday.txt", date(2023, 3, 27)).events
    assert min(e.ts for e in ev).date() == date(2023, 3, 27)
    text = "[8:40 PM]a: one\n[10:34 AM]b: two\n[10:20 AM]a: three\n[9:00 AM]b: four\n"
    path = tmp_path / "rollover.txt"
    path.write_text(text)
    got = ingest([str(path)], IngestOptions(anchor_date=date(2023, 3, 27))).events
    # 10:34 after 8:40 PM: next day; 10:20 after 10:34 is only minutes back: same day
    assert [e.ts for e in got] == [
        utc(2023, 3, 27, 20, 40),
        utc(2023, 3, 28, 10, 34),
        utc(2023, 3, 28, 10, 20),
        utc(2023, 3, 28, 9, 0),
    ]


# ---------------------------------------------------------------- other apps


def test_teams_copy() -> None:
    ev = run("teams_copy.txt", date(2023, 3, 27)).events
    assert [(e.ts, e.actor) for e in ev] == [
        (utc(2023, 3, 27, 13, 4), "Greta Lind"),
        (utc(2023, 3, 27, 13, 6), "Omar Said"),
        (utc(2023, 3, 27, 13, 15), "Greta Lind"),
    ]


def test_google_chat_mattermost_zulip_plain_and_irc_in_one_paste() -> None:
    ev = run("mixed_apps.txt", date(2026, 2, 8)).events
    assert [(e.ts.strftime("%H:%M"), e.actor, e.text, e.attrs["channel"]) for e in ev] == [
        ("14:03", "Priya Nair", "queue backlog is growing on the email workers", "incident-gchat"),
        ("14:05", "Sam Ortiz", "scaling workers to 12", "incident-gchat"),
        ("14:10", "priya.nair", "backlog draining", "incident-mattermost"),
        ("14:20", "sam.ortiz", "back to normal, closing", "incident-mattermost"),
        ("14:30", "Priya Nair", "writing the retro doc", "incident-zulip"),
        ("14:40", "sam", "retro scheduled for friday", "incident-plain"),
        ("14:41", "priya", "thanks all", "incident-plain"),
    ]


def test_zulip_archive_and_whatsapp_dated_stamps() -> None:
    ev = run("zulip_archive.md").events
    assert [(e.ts, e.actor) for e in ev][::2] == [
        (utc(2024, 2, 26, 18, 21), "Simon Hudon"),
        (utc(2024, 2, 26, 18, 40), "Simon Hudon"),
    ]
    assert ev[0].attrs["channel"] == "Topic: db failover"
    wa = run("whatsapp.txt").events  # the date is written: no --date needed
    assert [(e.ts, e.actor) for e in wa] == [
        (utc(2023, 3, 27, 22, 4), "Nora"),
        (utc(2023, 3, 27, 22, 6), "Karl Weber"),
        (utc(2023, 3, 27, 22, 31), "Karl Weber"),
    ]


# ---------------------------------------------------------------- sections


def test_two_channels_each_clock_starts_from_the_anchor() -> None:
    res = run("two_channels.txt", date(2026, 2, 8))
    ev = res.events
    assert [(e.ts, e.attrs["channel"]) for e in ev] == [
        (utc(2026, 2, 8, 21, 50), "#ops"),
        (utc(2026, 2, 8, 23, 40), "#ops"),
        (utc(2026, 2, 8, 13, 5), "#incident-war-room"),  # not moved to the next day
        (utc(2026, 2, 8, 13, 20), "#incident-war-room"),
    ]


# ---------------------------------------------------------------- detection


@pytest.mark.parametrize(
    "name",
    [
        "slack_relative.txt",
        "slack_days.txt",
        "slack_messy.txt",
        "slack_quoted_channels.txt",
        "discord_multiday.txt",
        "discord_today.txt",
        "teams_copy.txt",
        "mixed_apps.txt",
        "two_channels.txt",
        "whatsapp.txt",
        "zulip_archive.md",
    ],
)
def test_pastes_detected_as_chat_despite_titles_and_sections(name: str) -> None:
    fmt = detect((PASTE / name).read_text(), name)
    assert fmt is not None and fmt.name == "transcript"


def test_title_and_stray_lines_before_the_first_message() -> None:
    body = "\n".join(f"[1:{m:02d} PM]Ana (ana): step {m}" for m in range(10, 16))
    head = (
        "# Incident 42 raw chat\n\ncopied from the app by Bo\nsee below\n\n# channel: #ops\n" + body
    )
    fmt = detect(head, "paste.txt")
    assert fmt is not None and fmt.name == "transcript"


@pytest.mark.parametrize(
    "line",
    [
        "14:03:2{n} web01 kernel: eth0 link down",
        "2026-02-08 14:03:2{n} app.worker: job {n} done",
        "2026-02-08 14:03:2{n},123 ERROR Pool: timeout after 30s, the request was dropped",
    ],
)
def test_log_lines_are_neither_chat_nor_notes(line: str) -> None:
    head = "\n".join(line.format(n=n) for n in range(8)) + "\n"
    fmt = detect(head, "app.log")
    assert fmt is None or fmt.name not in ("transcript", "notes")


def test_notes_steal_neither_logs_nor_chat() -> None:
    for p in sorted((DATA / "logs").rglob("*")):
        if p.is_file() and p.suffix not in (".gz", ".zip", ".md"):
            fmt = detect(p.read_text(errors="replace")[:65536], p.name)
            assert fmt is None or fmt.name != "notes", p
    for p in sorted(PASTE.glob("notes_*.txt")):
        fmt = detect(p.read_text(), p.name)
        assert fmt is not None and fmt.name == "notes", p


def test_no_timestamps_one_line_naming_file_and_what_was_tried(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        ingest([str(PASTE / "no_times.txt")])
    msg = str(err.value)
    assert "\n" not in msg and "no_times.txt" in msg
    assert "tried" in msg and "pasted chat" in msg and "notes" in msg and "--as" in msg
    got = CliRunner().invoke(main, ["--chat", str(PASTE / "no_times.txt"), "--llm", "offline"])
    assert got.exit_code == 2 and "Traceback" not in got.output


# ---------------------------------------------------------------- notes


def test_notes_document_times_zones_and_untimed_paragraphs() -> None:
    res = run("notes_update.txt", date(2026, 2, 8))
    assert res.files[0].format == "notes"
    ev = res.events
    assert all(e.kind == "note" and e.source == "notes" for e in ev)
    assert [(e.ts, e.ts_inferred) for e in ev] == [
        (utc(2026, 2, 8, 18, 14), False),  # "Update 18:14 UTC:"
        (utc(2026, 2, 8, 18, 14), True),  # untimed paragraph: the previous time, inferred
        (utc(2026, 2, 8, 18, 32), False),
        (utc(2026, 2, 8, 19, 5), False),  # "- 19:05 UTC - ..."
        (utc(2026, 2, 9, 6, 27), False),  # "at 23:27 PDT": the written zone wins over --tz
        (utc(2026, 2, 9, 0, 30), True),  # "- 00:30 -": back past midnight, next day, --tz
        (utc(2026, 2, 9, 0, 30), True),
    ]
    assert ev[0].attrs == {"section": "Timeline", "time_written": "18:14 UTC"}
    assert ev[1].text.startswith("The error started right after the 18:05 deploy")
    assert ev[-1].attrs["section"] == "Follow-ups"
    assert [s.line for s in res.files[0].skipped] == [3]  # preamble before any time


def test_notes_dated_times_and_document_zone() -> None:
    ev = run("notes_dated.txt", tz="America/New_York").events  # "All times are in CET"
    assert [(e.ts, e.ts_inferred) for e in ev] == [
        (utc(2017, 1, 31, 22, 0), False),
        (utc(2017, 1, 31, 22, 27), False),
        (utc(2017, 1, 31, 23, 30), False),
    ]
    assert "wrong host" in ev[1].text and "data loss" in ev[1].text


def test_notes_day_headings_br_breaks_and_ambiguous_document_zone() -> None:
    ev = run("notes_days.txt", date(2023, 3, 26), "America/Los_Angeles").events
    assert [(e.ts, e.attrs.get("time_written")) for e in ev] == [
        (utc(2023, 3, 26, 20, 2), "13:02"),  # "PST/PDT" names no one zone: --tz (PDT here)
        (utc(2023, 3, 27, 3, 57), "20:57"),  # "<br>" separates entries
        (utc(2023, 3, 27, 5, 10), "22:10"),
        (utc(2023, 3, 27, 15, 5), "08:05"),  # "### 2023-03-27"
        (utc(2023, 3, 27, 20, 4), "13:04"),
        (utc(2023, 3, 27, 20, 4), None),  # "## Lessons" paragraph: previous time, inferred
    ]
    assert "at 10:42 in some other zone" in ev[1].text  # a time inside a sentence stays in it
    assert all(e.ts_inferred for e in ev) and "---" not in [e.text for e in ev]


def test_notes_and_pastes_need_a_day() -> None:
    res = run("teams_copy.txt")
    assert (
        res.events == [] and res.files[0].skipped[0].reason == "time-only transcript needs --date"
    )
    res = run("notes_update.txt")
    assert res.events == [] and res.files[0].skipped[0].reason.endswith("need --date")
    args = ["--chat", str(PASTE / "notes_update.txt"), "--dry-run", "--llm", "offline"]
    got = CliRunner().invoke(main, args)
    assert got.exit_code == 2 and "need --date" in got.output  # the reason, in one line


def test_notes_flow_through_condense_and_facts() -> None:
    ev = normalize(run("notes_update.txt", date(2026, 2, 8)).events).events
    evidence = condense(ev)
    assert {i.kind for i in evidence.items} == {"note"} and len(evidence.items) == len(ev)
    facts = compute(evidence)
    assert facts.mitigated.ts == utc(2026, 2, 8, 18, 32)  # "rolled back" note


# ---------------------------------------------------------------- shared real incidents


def _real(folder: str) -> Path:
    return shared("real-incidents", folder)


@pytest.mark.needs_shared("real-incidents")
@pytest.mark.parametrize("folder", ["k8s-2019-02-05", "flutter-2023-03-26"])
def test_shared_real_incident_detected_on_the_right_day(folder: str) -> None:
    p = _real(folder)
    truth = json.loads((p / "truth.json").read_text())
    res = ingest(
        [str(p / "input.txt")],
        IngestOptions(anchor_date=date.fromisoformat(truth["date"]), tz=ZoneInfo(truth["tz"])),
    )
    assert res.files[0].format == "transcript"
    ev = res.events
    msgs = [e for e in ev if e.kind == "message"]
    assert sum(bool(e.actor) for e in msgs) >= 0.95 * len(msgs)
    for ref in [r for r in truth["events"] if r["in_input"]]:
        at = datetime.fromisoformat(ref["utc"].replace("Z", "+00:00"))
        assert any(abs(e.ts - at) <= timedelta(minutes=10) for e in ev), ref["text"]
    assert min(e.ts.astimezone(ZoneInfo(truth["tz"])).date() for e in ev) == date.fromisoformat(
        truth["date"]
    )


def test_the_format_that_reads_more_of_the_head_wins() -> None:
    irc = (DATA / "chat" / "irssi.log").read_text()
    fmt = detect(irc, "irssi.log")
    assert fmt is not None and fmt.name == "irc"  # a whole IRC log: IRC reads all of it
    msgs = "\n".join(f"2{i}:5{i} <alice> step {i}" for i in range(4))
    pasted = f"# channel: #ops\n{msgs}\n# channel: #db\n{msgs}\n"
    fmt = detect(pasted, "paste.txt")
    assert fmt is not None and fmt.name == "transcript"  # the paste also reads the sections
    got = ingest_text(pasted, date(2026, 2, 8))
    assert [e.attrs["channel"] for e in got][::4] == ["#ops", "#db"]
    assert got[4].ts == utc(2026, 2, 8, 20, 50)  # the second channel starts again on --date


def ingest_text(text: str, day: date) -> list[Event]:
    ctx = ParseContext(path="paste.txt", anchor_date=day)
    return list(load_all()["transcript"].parse(Source("paste.txt", text=text), ctx))


def test_no_event_before_the_section_anchor() -> None:
    text = "--- March 26, 2023 ---\n[9:00 AM]a: early\n[10:00 AM]b: later\n[8:00 AM]a: x\n"
    ctx = ParseContext(path="paste.txt", anchor_date=date(2023, 3, 27))
    got = list(load_all()["transcript"].parse(Source("paste.txt", text=text), ctx))
    assert [e.ts for e in got] == [
        utc(2023, 3, 27, 9),
        utc(2023, 3, 27, 10),
        utc(2023, 3, 27, 8),  # two hours back: still the same day (3 h make a rollover)
    ]
    assert any("before --date" in w for w in ctx.warnings)


def test_notes_regional_zone_follows_daylight_saving(tmp_path: Path) -> None:
    doc = tmp_path / "notes.txt"
    doc.write_text(
        "Timeline, all times PT.\n\n"
        "- 2023-08-25 15:27 - a DNS change is submitted with a wrong record set\n"
        "- 2023-12-01 09:00 - follow-up review of the DNS change process\n"
    )
    ev = ingest([str(doc)], IngestOptions(tz=ZoneInfo("Asia/Tokyo"))).events
    assert [(e.ts, e.ts_inferred) for e in ev] == [
        (utc(2023, 8, 25, 22, 27), False),  # PDT in August
        (utc(2023, 12, 1, 17, 0), False),  # PST in December
    ]


def test_a_stray_fence_inside_a_sentence_does_not_swallow_the_paste(tmp_path: Path) -> None:
    """Only a line or message that starts with ``` opens a code block; an odd
    number of backticks inside a sentence leaves the next messages alone."""
    paste = tmp_path / "chat.txt"
    paste.write_text(
        "14:26 mallory: ran `kubectl get pods` then ``` and a stray ` tic\n"
        "14:27 bob: rolled back the deploy\n"
        "14:28 alice: ```\n"
        "14:28:01 ERROR db timeout\n"
        "```\n"
        "14:30 alice: errors are down\n"
    )
    res = ingest([str(paste)], IngestOptions(anchor_date=date(2026, 2, 8), tz=ZoneInfo("UTC")))
    assert [(e.ts, e.actor) for e in res.events] == [
        (utc(2026, 2, 8, 14, 26), "mallory"),
        (utc(2026, 2, 8, 14, 27), "bob"),
        (utc(2026, 2, 8, 14, 28), "alice"),
        (utc(2026, 2, 8, 14, 30), "alice"),
    ]
    assert "ERROR db timeout" in res.events[2].text
