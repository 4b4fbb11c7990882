"""Line shapes of chat copied out of an app (Slack, Discord, Teams, Mattermost,
Zulip, Google Chat, WhatsApp, IRC, plain ``HH:MM name: text``).

``classify`` tells what one pasted line is: a message start (with its stamp,
speaker and maybe text), a section line (a channel), a day separator, app
noise (reactions, ``3 replies``) or anything else (a continuation line).
The paste format (``paste.py``) owns the state: days, sections, speakers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time

from ..timeparse import TimeError, parse_clock

CLOCK = r"\d{1,2}:\d{2}(?::\d{2})?(?:\s?[AaPp]\.?[Mm]\.?)?"
_MON = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_WDAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*\.?,?"
_ORD = r"(?:st|nd|rd|th)?"
# Dates written by chat apps: 3/27, 03/27/2023, 27.03.23, 2023-03-27, Mar 27 2023, 27 Mar.
DATE = (
    rf"(?:\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}[/.]\d{{1,2}}(?:[/.]\d{{2,4}})?"
    rf"|{_MON}\s+\d{{1,2}}{_ORD},?(?:\s+\d{{4}})?|\d{{1,2}}{_ORD}\s+{_MON},?(?:\s+\d{{4}})?)"
)
_REL_DAY = r"(?:[Tt]oday|[Yy]esterday)"
AGO = r"(?:just now|(?:a few|\d+|an?)\s+(?:seconds?|secs?|minutes?|mins?|hours?|hrs?|days?)\s+ago)"
ZONE = r"(?:Z|[+-]\d{2}:?\d{2})"
# A message stamp: a clock, maybe after a date or Today/Yesterday ("Today at 1:04 PM"),
# or a relative "3 hours ago" (no clock at all).
STAMP = (
    rf"(?:(?:{_WDAY}\s+)?(?:{_REL_DAY}|{DATE})(?:,|\s+at|,\s+at|\s|T)\s*)?{CLOCK}(?:\.\d+)?{ZONE}?"
    rf"|{AGO}"
)
_NOT_LEVEL = r"(?!(?i:info|warn|warning|error|err|debug|trace|fatal|crit|critical|notice)\b)"
# A display name: up to four words, starting with a letter; "(handle)" may follow.
NAME = _NOT_LEVEL + r"@?[^\W\d_][\w.'\-]*(?: [\w.'\-]+){0,3}"
# Slack may copy a status emoji after the name: "Alice :palm_tree: [8:27 AM]".
WHO = rf"(?P<name>{NAME})(?:\s+\((?P<handle>[^()\s]{{1,40}})\))?(?:\s+:[\w+\-]+:)?"

# Message starts, most specific first.
_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    # [1:04 PM]Name (handle): text   [27/03/2023, 13:04:22] Name: text   [14:03] <nick> text
    ("inline", re.compile(rf"^\[(?P<stamp>{STAMP})\]\s*{WHO}\s*:(?:\s+(?P<text>.*)|\s*)$")),
    (
        "irc",
        re.compile(rf"^\[?(?P<stamp>{STAMP})\]?\s+<[ @+%&~]?(?P<name>[^>\s]+)>\s+(?P<text>.*)$"),
    ),
    # Name [1:04 PM]: text     Name (1:04 PM): text (Zulip)
    ("inline", re.compile(rf"^{WHO}\s*[\[(](?P<stamp>{STAMP})[\])]:?\s+(?P<text>\S.*)$")),
    # Slack: "Name [1:26 PM]"; Discord: "Name — Today at 1:04 PM"; Google Chat: "Name, 1:04 PM";
    # Zulip archive: "Name (Feb 26 2018 at 18:21):"
    ("header", re.compile(rf"^{WHO}\s*\[(?P<stamp>{STAMP})\]\s*$")),
    ("header", re.compile(rf"^{WHO}(?:\s+[—–-]\s*|,\s*)(?P<stamp>{STAMP})\s*$")),
    ("header", re.compile(rf"^{WHO}\s*\((?P<stamp>{STAMP})\):?\s*$")),
    # Slack: "Name  9:18 AM"; Teams: "[3/27 1:04 PM] Name"; DiscordChatExporter: "[27-Mar-23 1:04 PM] Name"
    ("header", _BARE_HEADER := re.compile(rf"^{WHO}\s+(?P<stamp>{STAMP})\s*$")),
    ("header", _STAMP_FIRST := re.compile(rf"^\[(?P<stamp>{STAMP})\]\s+{WHO}\s*$")),
    # 14:03 alice: text    2026-02-08 14:03 alice: text    27/03/2023, 13:04 - Name: text
    ("inline", re.compile(rf"^(?P<stamp>{STAMP})\s*(?:[-–—|]\s*)?{WHO}\s*:\s+(?P<text>.*)$")),
    # [2:04 PM] text   (a follow-up of the last speaker in a desktop copy)
    ("bare", re.compile(rf"^\[(?P<stamp>{STAMP})\]\s*(?P<text>.*)$")),
    # 1:04 PM alone: after a name line (Mattermost, Google Chat) or a follow-up
    ("time", re.compile(rf"^(?P<stamp>{STAMP})$")),
)
_NAME_LINE = re.compile(rf"^{WHO}\s*$")
# "Greg Spencer (gspencergoog): text" without a stamp (a speaker already met may continue)
_HANDLE_LINE = re.compile(rf"^{WHO}:\s+(?P<text>\S.*)$")
# Words that end a sentence, not a name: "back at 3:00", "deploy by 14:00".
_STOP = frozenset(
    re.findall(
        r"\w+",
        "at by to until till since from around before after is was on in the of for about "
        "and or but if when then now ok yes no",
    )
)
_ZONE_WORD = re.compile(
    r"^(?:UTC|GMT|Z|[ECMPAH][SD]T|CES?T|EES?T|WES?T|BST|IST|JST|KST|AE[SD]T|NZ[SD]T)$"
)
_BADGE = re.compile(r"\s+(?:APP|BOT)$")

# Section lines: "# channel: #ops", "#incident-response", "--- ops ---", "## #ops".
_SECTION = re.compile(
    r"^(?:#{1,6}\s+(?:channel:\s*)?(?P<h>\S.{0,80}?)\s*#*"
    r"|(?P<tag>#[^\W\d_][\w.\-]{0,79})(?:\s+>\s+.{1,80})?"
    r"|[-=]{3,}\s*(?P<dash>\S.{0,80}?)\s*[-=]{3,})$"
)
# Day separators: "Today", "Yesterday", "Wednesday, March 27th", "--- March 28, 2023 ---",
# "2023-03-28", IRC's "--- Day changed Mon Feb 09 2026".
_DAY = re.compile(
    rf"^[-=—–#*\s]*(?:Day changed\s+|Log opened\s+)?(?:(?P<rel>{_REL_DAY})"
    rf"|(?:{_WDAY}\s*)?(?P<date>{DATE}))(?:\s+[\d:]+)?(?:\s+(?P<year>\d{{4}}))?[-=—–#*\s]*$"
)
# App chrome copied along with the messages.
_NOISE = re.compile(
    r"^(?:\d+\s+repl(?:y|ies)\b.*|View thread|Last reply\b.*|New messages?|New|Reply"
    r"|(?:(?::[\w+\-']+:|[^\w\s\d]{1,4})\s*\d+\s*)+"  # reactions: ":+1: 3", "👍 2"
    r"|\[?\d{1,2}:\d{2}(?::\d{2})?\]?\s+(?:-!-|\*\*\*|-->|<--)\s.*"  # IRC joins, modes
    r"|(?:joined|left)\s+#[\w.\-]+(?:\s+along with\s.{1,80})?\.?)$"  # Slack membership
)
_EDITED = re.compile(r"\s*\((?:edited|modifié|bearbeitet)\)\s*$", re.IGNORECASE)
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")  # Markdown [text](url)
MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}


@dataclass(frozen=True)
class Stamp:
    """What a message stamp says: a clock (None for "3 hours ago"), maybe a date."""

    clock: time | None
    day: date | None = None  # full date written in the stamp
    ampm: bool = False  # a 12-hour clock with its AM/PM
    month_day: tuple[int, int] | None = None  # a date without its year
    rel_day: int | None = None  # Today 0, Yesterday -1
    iso: str | None = None  # a full ISO stamp with its zone: read as is


@dataclass(frozen=True)
class Line:
    kind: str  # inline, header, bare, time, section, day, noise, name, said, text
    stamp: Stamp | None = None
    name: str | None = None
    handle: str | None = None
    bot: bool = False
    text: str = ""
    edited: bool = False
    opened: bool = False  # the line opened with its stamp in brackets
    day: date | None = None
    month_day: tuple[int, int] | None = None
    rel_day: int | None = None


def _plausible(name: str, colon: bool = True) -> bool:
    """A speaker, not words: without a colon after it, a name of several
    words is capitalised ("Greta Lind", not "errors are going down")."""
    words = name.split()
    if not colon and len(words) > 1 and not all(w[:1].isupper() for w in words):
        return False
    lower = {w.lower() for w in words}
    return not (lower & _STOP) and not _ZONE_WORD.match(name) and len(name) <= 60


def _month(text: str) -> int | None:
    return MONTHS.get(text[:3].lower())


def read_date(text: str) -> tuple[date | None, tuple[int, int] | None]:
    """(full date, (month, day) when the year is missing) of a written date."""
    t = text.strip().rstrip(",")
    try:
        if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", t):
            return date(int(m[1]), int(m[2]), int(m[3])), None
        if m := re.fullmatch(r"(\d{1,2})[/.](\d{1,2})(?:[/.](\d{2,4}))?", t):
            a, b = int(m[1]), int(m[2])
            # US apps write month first; a first number above 12 can only be a day.
            mon, day = (b, a) if a > 12 or "." in t else (a, b)
            if not m[3]:
                return None, (mon, day)
            year = int(m[3]) + (2000 if len(m[3]) == 2 else 0)
            return date(year, mon, day), None
        words = re.findall(r"[A-Za-z]+|\d+", t)
        nums = [int(w) for w in words if w.isdigit()]
        mon_word = next((w for w in words if not w.isdigit() and _month(w)), None)
        if mon_word is None or not nums:
            return None, None
        month = _month(mon_word) or 0
        written_year = next((n for n in nums if n > 31), None)
        mday = next(n for n in nums if n <= 31)
        if written_year is None:
            date(2000, month, mday)  # validates
            return None, (month, mday)
        return date(written_year, month, mday), None
    except (ValueError, StopIteration):
        return None, None


def read_stamp(text: str) -> Stamp | None:
    """A stamp matched by ``STAMP`` as a ``Stamp`` (None when the clock is impossible)."""
    t = text.strip()
    if re.fullmatch(AGO, t):
        return Stamp(clock=None)
    if re.fullmatch(
        rf"\d{{4}}-\d{{2}}-\d{{2}}[T ]\d{{1,2}}:\d{{2}}(?::\d{{2}})?(?:\.\d+)?{ZONE}", t
    ):
        return Stamp(clock=None, iso=t)
    m = re.search(rf"({CLOCK})(?:\.\d+)?$", t)
    if m is None:
        return None
    try:
        clock = parse_clock(m.group(1))
    except TimeError:
        return None
    ampm = bool(re.search(r"[AaPp]\.?[Mm]", m.group(1)))
    prefix = re.sub(r"(?:,|\s+at|,\s+at|\s|T)\s*$", "", t[: m.start()]).strip()
    prefix = re.sub(rf"^{_WDAY}\s*", "", prefix)
    if not prefix:
        return Stamp(clock, ampm=ampm)
    if re.fullmatch(_REL_DAY, prefix):
        return Stamp(clock, ampm=ampm, rel_day=0 if prefix.lower() == "today" else -1)
    day, md = read_date(prefix)
    if day is None and md is None:
        return None
    return Stamp(clock, day=day, month_day=md, ampm=ampm)


def day_line(line: str) -> Line | None:
    """A line that only names a day (``--- March 28, 2023 ---``, ``Yesterday``)."""
    d = _DAY.match(line.strip())
    if d is None:
        return None
    if d["rel"]:
        return Line("day", rel_day=0 if d["rel"].lower() == "today" else -1)
    day, md = read_date(d["date"] + (f" {d['year']}" if d["year"] else ""))
    return Line("day", day=day, month_day=md) if day or md else None


def classify(raw: str) -> Line:
    """What one pasted line is (``raw`` without its line break)."""
    line = raw.strip()
    edited = bool(_EDITED.search(line))
    if edited:
        line = _EDITED.sub("", line)
    line = re.sub(r"^(?:>\s?)+", "", line)  # Markdown blockquote
    if not line:
        return Line("text", text="")
    # Zulip archives: "#### [![..](..) Name (Feb 26 2018 at 18:21)](https://...):"
    bare = re.sub(r"^#{1,6}\s+\[?(?:!\[[^\]]*\]\([^)]*\)\s*)?", "", line)
    bare = re.sub(r"\]\(https?://[^)]*\):?$", "", bare) if bare != line else line
    for kind, pat in _SHAPES:
        m = pat.match(bare)
        if m is None:
            continue
        stamp = read_stamp(m["stamp"])
        if stamp is None:
            continue
        groups = m.groupdict()
        name = groups.get("name")
        bot = False
        if name:
            name = name.lstrip("@")
            if _BADGE.search(name):
                name, bot = _BADGE.sub("", name), True
            # Without a bracket, dash or colon around it, a name must look like one.
            if not _plausible(name, colon=pat not in (_BARE_HEADER, _STAMP_FIRST)):
                continue
        return Line(
            kind,
            stamp=stamp,
            name=name,
            handle=groups.get("handle"),
            bot=bot,
            text=(groups.get("text") or "").strip(),
            edited=edited,
            opened=bare.startswith("["),
        )
    if (d := day_line(line)) is not None:
        return d
    if s := _SECTION.match(line):
        name = (s["h"] or s["tag"] or s["dash"] or "").strip()
        return Line("section", text=_LINK.sub(r"\1", name))
    if _NOISE.match(line):
        return Line("noise")
    if (h := _HANDLE_LINE.match(line)) and h["handle"] and _plausible(h["name"]):
        return Line("said", name=h["name"].lstrip("@"), handle=h["handle"], text=line)
    if (n := _NAME_LINE.match(line)) and _plausible(n["name"], colon=False):
        return Line("name", name=n["name"].lstrip("@"), handle=n["handle"], text=line)
    return Line("text", text=line, edited=edited)
