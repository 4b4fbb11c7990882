"""The timeline picture: a Mermaid ``journey`` in the team's template.

Sections come from the computed facts: Detection runs up to the
acknowledgement (or detection), Response until the mitigation, Remediation
from the mitigation to the resolution and after. One step per timeline entry;
the time is in the step's label (a journey's score only takes 1 to 5, used here
for the service's state) and the actors after it come from the cited evidence:
the alerting system, the people in the chat, the service that logged it.

Journey syntax has no quoting: a task is ``[^#:;\\n]+``, its data ``[^#;\\n]+``
split at ``:`` and ``,``. Text is mapped onto what that grammar leaves free, so
hostile text can't add tasks, sections or directives.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import PurePosixPath

from .mdtext import clean, shorten
from .models import EvidenceItem, Report, TimelineEntry

SECTIONS = ("Detection", "Response", "Remediation")
# journey never wraps a task's text and cuts it at the box's edge: the box is
# widened to 240 px (about 30 characters at 14 px, 19 by default) and the label is
# the time and its first whole words; the full text is in the timeline list above
CONFIG = '%%{init: {"journey": {"width": 240}}}%%'
LABEL_CHARS = 30
# The score is the service's state: 1 degraded and unattended, 2 being handled,
# 4 mitigated, 5 resolved. A %% comment in the diagram says so to the editor.
SCORE_NOTE = "%% score: 1 unattended, 2 being handled, 4 mitigated, 5 resolved"
_KIND_PREFIX = re.compile(r"^(?:[A-Z][A-Za-z ]{0,20} \u2014 |Log [a-z]+\u2236 )")
_RATIO = "\u2236"  # looks like ":" in a time, which journey's grammar reserves
_MAP = str.maketrans(
    {
        ":": _RATIO,
        ";": ",",
        "#": "\uff03",  # fullwidth number sign: "#" starts a comment
        "<": "\u2039",
        ">": "\u203a",
        "`": "'",
        "{": "(",
        "}": ")",
    }
)


def _text(raw: str) -> str:
    """One line free of the journey grammar's reserved characters (and of ``%%``,
    which starts a comment or a ``%%{init}%%`` directive)."""
    out = clean(raw).translate(_MAP)
    while "%%" in out:
        out = out.replace("%%", "%")
    return out.strip()


_ALERT_VERB = {"alert_firing": "fired", "alert_resolved": "resolved", "alert_ack": "acknowledged"}


def _label(text: str, names: list[str], cited: list[EvidenceItem]) -> str:
    """A short label: an alert step says which alert did what (``HighLatency fired``);
    other steps keep their words without the speaker, who is listed as the actor
    (``Alice in chat: “acked, looking”`` -> ``acked, looking``)."""
    alert = next((i for i in cited if i.kind in _ALERT_VERB and i.attrs.get("alertname")), None)
    if alert is not None:
        return f"{_text(alert.attrs['alertname'])} {_ALERT_VERB[alert.kind]}"
    # the drafter's kind prefixes ("Decision — alice: ...", "Log error: ...") cost a
    # short label its words; the section and the actor already say as much
    text = _KIND_PREFIX.sub("", text, count=1)
    for name in names:
        if text.startswith(name) and len(text) > len(name):
            rest = text[len(name) :].removeprefix(" in chat").lstrip()
            if rest.startswith(_RATIO):
                text = rest[1:].strip()
                break
    return text.strip("“”\"' ") or text


def _actor_of(item: EvidenceItem) -> str:
    if item.kind in ("alert_firing", "alert_resolved"):
        return item.source.split("_")[0].capitalize()  # the alerting system
    if item.actor:
        return item.actor  # a person, a bot or an agent in the chat; who acked the page
    if item.kind == "alert_ack":
        return item.source.split("_")[0].capitalize()
    # a log line: its service, else the file it came from (app.log)
    where = PurePosixPath(re.split(r"[:#]", item.ref.replace("\\", "/"), maxsplit=1)[0]).name
    return item.attrs.get("service") or item.attrs.get("job") or where or item.source


def actors(entry: TimelineEntry, by_id: dict[str, EvidenceItem]) -> list[str]:
    names: list[str] = []
    for eid in entry.evidence:
        item = by_id.get(eid)
        if item is None:
            continue
        name = shorten(_text(_actor_of(item)).replace(",", " ").replace(_RATIO, " "), 28)
        name = " ".join(name.split())
        if name and name not in names:
            names.append(name)
    return names[:3] or ["unknown"]


def section_of(ts: datetime, report: Report) -> int:
    f = report.facts
    detection_end = f.acknowledged.ts or f.detected.ts
    remediation_start = f.mitigated.ts or f.resolved.ts
    if detection_end and remediation_start:  # a page acked after the rollback
        detection_end = min(detection_end, remediation_start - timedelta(microseconds=1))
    if detection_end is not None and ts <= detection_end:
        return 0
    if remediation_start is None or ts < remediation_start:
        return 1
    return 2


def _score(section: int, ts: datetime, report: Report) -> int:
    resolved = report.facts.resolved.ts
    if section == 2:
        return 5 if resolved is not None and ts >= resolved else 4
    return section + 1


def journey(report: Report) -> list[str]:
    """The ```mermaid block's lines, or nothing when there is no timeline."""
    tl = report.draft.timeline
    if not tl:
        return []
    by_id = {i.id: i for i in report.evidence}
    multi_day = len({t.ts.date() for t in tl}) > 1
    title = shorten(_text(report.draft.title), 60) or "Incident"
    lines = ["```mermaid", CONFIG, "journey", f"    title {title} (UTC)", f"    {SCORE_NOTE}"]
    current = -1
    for t in tl:
        sec = max(current, section_of(t.ts, report))  # entries come sorted; never go back
        if sec != current:
            lines.append(f"    section {SECTIONS[sec]}")
            current = sec
        when = f"{t.ts:%m-%d %H}{_RATIO}{t.ts:%M}" if multi_day else f"{t.ts:%H}{_RATIO}{t.ts:%M}"
        names = actors(t, by_id)
        cited = [by_id[e] for e in t.evidence if e in by_id]
        label = _label(_text(t.text), names, cited)
        label = shorten(label, LABEL_CHARS - len(when) - 1, at_word=True) or "(no text)"
        who = ", ".join(names)
        lines.append(f"      {when} {label}: {_score(sec, t.ts, report)}: {who}")
    lines.append("```")
    return lines
