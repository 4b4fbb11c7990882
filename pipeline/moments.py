"""The timeline floor: moments code pins, with labels a reader can use.

A post-mortem timeline keeps the first error, alerts fired and resolved, the
acknowledgement, deploys and rollbacks, mitigation, resolution, and the chat
lines where someone reports the symptom, a finding, the cause, the fix or a
decision. Code picks these (``select``) and labels them; a model may relabel,
merge and order them, but ``floor`` puts back any pinned moment it dropped.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

from .causes import STRONG
from .cues import (
    KINDS,
    chat_score,
    clean,
    cut_words,
    excerpt,
    is_question,
    kinds,
    pleasantry,
    specific_terms,
)
from .facts import heartbeat
from .models import EvidenceItem, Facts, TimelineEntry
from .verify import stems

PIN_SCORE = 3.0  # a decisive chat line (rollback, fix, cause, ...) this telling is pinned
CAUSE_SCORE = 50.0  # a stated cause outranks every pinned moment but the facts (100)
MAX_MOMENTS = 18  # a long conversation (several hours, days) gets up to LONG_MOMENTS
LONG_MOMENTS = 24
MAX_PINNED = 16
SEGMENTS = 8  # parts of a long conversation that each get their best line
SEGMENT_MIN = 2.5
COVER_WINDOW = timedelta(minutes=5)  # a merged entry stands for a moment this close to it
_DECISIVE = {"resolution", "rollback", "fix", "mitigation", "deploy", "cause"}
_LOG_EVENT = re.compile(
    r"\b(deploy\w*|roll(?:ed|ing)?[ -]?back|revert\w*|restart\w*|rollout|releas\w*|"
    r"migration|scal(?:ed|ing)|configmap|config(?:uration)? change|oom\w*|killed|"
    r"expired|renew\w*|issued|failover)\b",
    re.I,
)
_KIND_LABEL = {
    "resolution": "Resolution",
    "rollback": "Rollback",
    "fix": "Fix",
    "mitigation": "Mitigation",
    "deploy": "Change",
    "cause": "Cause",
    "finding": "Finding",
    "symptom": "Symptom",
    "decision": "Decision",
    "action": "Action",
    "question": "Question",
}
_PREFER = re.compile("|".join(rx.pattern for _, rx, _w in KINDS) + "|" + STRONG.pattern, re.I)


@dataclass(frozen=True)
class Moment:
    item: EvidenceItem
    kind: str
    score: float
    pinned: bool

    @property
    def label(self) -> str:
        return label(self.item, self.kind)


def _chat_kind(text: str) -> str:
    if STRONG.search(text):
        return "cause"
    if is_question(text):
        return "question"  # "anyone know if the upgrade is still on?" is not a change
    found = kinds(text)
    return found[0][0] if found else "note"


def label(it: EvidenceItem, kind: str | None = None) -> str:
    """An entry text that carries the key words of what happened."""
    text = clean(it.text)
    if it.kind == "alert_firing":
        out = f"Alert fired: {cut_words(text, 170)}"
    elif it.kind == "alert_resolved":
        out = f"Alert resolved: {cut_words(text.removeprefix('Resolved: '), 165)}"
    elif it.kind == "alert_ack":
        out = f"Alert acknowledged by {it.actor or 'on-call'}: {cut_words(text, 140)}"
    elif it.kind == "action":  # a tracker event says what happened in its own words
        out = cut_words(text, 180)
    elif it.kind == "log":
        lvl = f" {it.severity.lower()}" if it.severity else ""
        out = f"Log{lvl}: {cut_words(text, 170)}"
    else:
        k = kind or _chat_kind(text)
        head = _KIND_LABEL.get(k, "Note")
        who = f"{it.actor}: " if it.actor else ""
        out = f"{head} — {who}{excerpt(text, _PREFER, 180)}"
    if it.count > 1:
        out += f" (x{it.count})"
    return out


def _fact_ids(facts: Facts) -> dict[str, str]:
    named = {
        "start": facts.start,
        "detected": facts.detected,
        "acknowledged": facts.acknowledged,
        "mitigated": facts.mitigated,
        "resolved": facts.resolved,
    }
    out: dict[str, str] = {}
    for name, f in named.items():
        for i in f.evidence:
            out.setdefault(i, name)
    for a in facts.alerts[:6]:
        for i in a.evidence[:1] + a.evidence[-1:]:
            out.setdefault(i, "alert")
    return out


def _score(it: EvidenceItem, pinned_by_fact: dict[str, str]) -> tuple[float, str, bool]:
    if it.id in pinned_by_fact:
        if it.kind in ("message", "notes") and pleasantry(it.text):
            return 0.0, "note", False  # "ack" marks a time in the facts, not a moment
        kind = _chat_kind(it.text) if it.kind in ("message", "notes") else it.kind
        return 100.0, kind, True
    if it.kind.startswith("alert"):
        return (0.0 if heartbeat(it) else 8.0), it.kind, False
    if it.kind == "action":
        return 9.0, "action", True
    if it.kind == "log":
        event = bool(_LOG_EVENT.search(it.text))
        return (6.0 if event else 1.0 + it.salience / 40), "log", event
    if it.attrs.get("bot") == "true":
        s = chat_score(it.text) * 0.8
        return s, _chat_kind(it.text), False
    s = chat_score(it.text)
    kind = _chat_kind(it.text)
    return s, kind, kind in _DECISIVE and s >= PIN_SCORE


def select(
    items: list[EvidenceItem],
    facts: Facts,
    *,
    limit: int | None = None,
    causes: Collection[str] = (),
) -> list[Moment]:
    """Pinned moments first, then the best line of each part of the story, then
    the most telling others. ``causes``: ids of lines where someone states the
    cause (``causes.collect``), pinned as such."""
    by_fact = _fact_ids(facts)
    scored = [
        Moment(it, "cause", max(s, CAUSE_SCORE), True)
        if it.id in causes and s < 100
        else Moment(it, k, s, p)
        for it in items
        for s, k, p in [_score(it, by_fact)]
        if s > 0 or it.id in causes
    ]
    if limit is None:
        limit = min(LONG_MOMENTS, max(MAX_MOMENTS, len(scored) // 5))
    opening = next((m for m in scored if m.item.kind in ("message", "notes")), None)
    if opening is not None and not opening.pinned:
        # the first line of the conversation usually opens the incident
        scored[scored.index(opening)] = Moment(opening.item, opening.kind, opening.score + 2, False)
    # stated causes come on top of the usual pins, not out of their budget
    pinned = sorted((m for m in scored if m.pinned), key=lambda m: -m.score)[
        : MAX_PINNED + len(causes)
    ]
    chosen = list(pinned)
    # a long chat has several chapters: each gets its best line before any gets two
    parts = min(SEGMENTS, len(scored) // 6)
    for n in range(parts):
        seg = scored[n * len(scored) // parts : (n + 1) * len(scored) // parts]
        best = max(seg, key=lambda m: m.score) if seg else None
        if (
            best
            and best not in chosen
            and best.score >= SEGMENT_MIN
            and len(chosen) < limit
            and not any(m in chosen for m in seg if m.score >= best.score - 0.5)
        ):
            chosen.append(best)
    rest = [m for m in scored if m not in chosen]
    while rest and len(chosen) < max(limit, len(pinned)):
        # a burst of lines in one minute should not crowd out the rest of the story
        best = max(rest, key=lambda m: m.score - 1.0 * _crowd(m, chosen))
        rest.remove(best)
        if best.score - _crowd(best, chosen) <= 1.0:
            break
        chosen.append(best)
    return sorted(chosen, key=lambda m: (m.item.ts, m.item.id))


def _crowd(m: Moment, chosen: list[Moment]) -> int:
    return sum(abs(c.item.ts - m.item.ts) <= timedelta(minutes=2) for c in chosen)


def covered(moment: Moment, entries: list[TimelineEntry]) -> bool:
    """An entry cites the moment, sits close enough to stand for it, and says it:
    its words are in the entry (a model that merges "Microsoft said not malware"
    into "proposed closing", or labels it "lmao", has dropped it)."""
    own = set(_content(moment.item.text))
    for e in entries:
        if moment.item.id not in e.evidence or abs(e.ts - moment.item.ts) > COVER_WINDOW:
            continue
        if not own:
            return True
        # the moment is the entry's own: one shared word shows it is about it (a label with
        # none is the model's mistake, left for the verifier to mark, and not a cover)
        said = {w[:5] for w in _content(e.text)}
        need = 1 if e.evidence[0] == moment.item.id else min(2, len(own))
        if len({w[:5] for w in own} & said) >= need:
            return True
    return False


def keep_key_words(text: str, cited: list[EvidenceItem]) -> str:
    """A model label that dropped what the evidence says gets the quote back:
    the reader (and recall) needs the words of what happened, not a paraphrase."""
    if not cited:
        return text
    source = " ".join(clean(c.text) for c in cited)
    have = stems(text)
    # identifiers first (`test-pods`, v2.14.0, pool_size): the words a reader searches for
    specific = [w for w in stems(" ".join(specific_terms(source))) if w in stems(source)]
    need = list(dict.fromkeys([*specific, *(w[:5] for w in _content(source))]))[:8]
    got = sum(w in have for w in need)
    # nothing in common: a wrong label, left for the verifier to mark, not dressed up
    if not need or got == 0:
        return text
    if all(w in have for w in specific[:4]) and got >= max(2, round(0.7 * len(need))):
        return text
    return f"{text} — “{excerpt(source, _PREFER, 170)}”"


def _content(text: str) -> list[str]:
    words = stems(text)
    return [w for w in re.findall(r"[a-z][a-z0-9_-]{2,}", text.lower()) if w[:5] in words]


def floor(entries: list[TimelineEntry], moments: list[Moment]) -> list[TimelineEntry]:
    """The model's entries plus every selected moment they do not stand for, so
    the model's timeline is never below the code's (pinned moments are always
    among the selected)."""
    out = list(entries)
    for m in moments:
        if not covered(m, out):
            out.append(TimelineEntry(ts=m.item.ts, text=m.label, evidence=[m.item.id]))
    return sorted(out, key=lambda e: e.ts)
