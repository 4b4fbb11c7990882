"""Stage 6: check every claim against the evidence it cites.

The floor is lexical: a claim is supported when it shares a content word
(compared on a 5-letter stem) with the text, actor or alert name of an event
it cites. Cheap, explainable, and it catches ids pasted onto unrelated
claims; it cannot prove a sentence true, which is why the reviewer still reads it.
"""

from __future__ import annotations

import re

from .models import Draft, EvidenceItem, Facts, TimelineEntry, Verification, Why

_WORD = re.compile(r"[a-z][a-z0-9_-]{2,}")
_NUM = re.compile(r"\d+(?:\.\d+)?")
_STOP = set(
    [
        "the",
        "and",
        "for",
        "with",
        "was",
        "were",
        "has",
        "had",
        "have",
        "from",
        "that",
        "this",
        "into",
        "onto",
        "after",
        "before",
        "when",
        "then",
        "than",
        "which",
        "while",
        "about",
        "over",
        "under",
        "again",
        "also",
        "been",
        "being",
        "are",
        "its",
        "it's",
        "not",
        "but",
        "all",
        "any",
        "one",
        "two",
        "per",
        "via",
        "out",
        "off",
        "who",
        "why",
        "how",
        "what",
        "did",
        "does",
        "our",
        "their",
        "there",
        "them",
        "they",
        "you",
        "your",
        "fired",
        "alert",
        "alerts",
        "engineer",
        "on-call",
        "team",
        "said",
        "says",
        "chat",
        "log",
        "logs",
        "event",
        "events",
    ]
)
_BLAME = re.compile(
    r"\b(blame[sd]?|fault of|careless(?:ly|ness)?|negligen\w*|incompeten\w*|"
    r"should have known|human error|screwed up|messed up|sloppy|"
    r"(?:forgot|neglected|failed) to)\b",
    re.I,
)


def stems(text: str) -> set[str]:
    """Content words cut to 5 letters: the unit every lexical check compares."""
    return {w[:5] for w in _WORD.findall(text.lower()) if w not in _STOP}


def _support_words(item: EvidenceItem) -> set[str]:
    parts = [item.text, item.actor or "", " ".join(item.attrs.values())]
    return stems(" ".join(parts))


def supported(claim: str, cited: list[EvidenceItem]) -> bool:
    words = stems(claim)
    return any(words & _support_words(c) for c in cited)


def _timeline(
    entries: list[TimelineEntry], ids: dict[str, EvidenceItem], v: dict[str, int]
) -> list[TimelineEntry]:
    out = []
    for e in entries:
        cited = [ids[i] for i in e.evidence if i in ids]
        if not cited:
            v["dropped"] += 1  # no real evidence: nothing to time it by
            continue
        ok = supported(e.text, cited)
        if not ok:
            v["unverified"] += 1
        # the time always comes from the cited events, whatever was set before
        out.append(e.model_copy(update={"verified": ok, "ts": min(c.ts for c in cited)}))
    return out


def _whys(whys: list[Why], ids: dict[str, EvidenceItem]) -> list[Why]:
    out = []
    for w in whys:
        cited = [ids[i] for i in w.evidence if i in ids]
        # the answer is the claim; the question restates the symptom or the step before
        ok = bool(cited) and supported(w.answer, cited)
        out.append(w.model_copy(update={"evidence": [c.id for c in cited], "hypothesis": not ok}))
    return out


def _fact_numbers(facts: Facts) -> set[str]:
    nums: set[str] = set()
    for m in (
        facts.time_to_detect,
        facts.time_to_acknowledge,
        facts.time_to_mitigate,
        facts.time_to_resolve,
    ):
        if m.minutes is not None:
            nums |= {f"{m.minutes:g}", str(round(m.minutes)), str(int(m.minutes))}
    for a in facts.alerts:
        nums.add(str(a.fired_count))
        if a.duration_minutes is not None:
            nums |= {f"{a.duration_minutes:g}", str(round(a.duration_minutes))}
    for f in (facts.start, facts.detected, facts.acknowledged, facts.mitigated, facts.resolved):
        if f.ts:
            nums |= {f"{f.ts:%H}", f"{f.ts:%M}", f"{f.ts:%H:%M}"}
    nums |= {str(len(facts.participants)), str(len(facts.services))}
    return nums


def unverified_numbers(text: str, facts: Facts, ids: dict[str, EvidenceItem]) -> list[str]:
    """Numbers in the impact line that neither the facts nor any evidence contain."""
    allowed = _fact_numbers(facts)
    corpus = " ".join(i.text for i in ids.values())
    evidence_nums = set(_NUM.findall(corpus))
    return [n for n in _NUM.findall(text) if n not in allowed and n not in evidence_nums]


def blameless(draft: Draft, participants: list[str]) -> tuple[Draft, list[str]]:
    """Names where blame is implied become roles; blame phrases are flagged."""
    flags: list[str] = []
    lead = draft.lead

    def fix(text: str) -> str:
        sentences = re.split(r"(?<=[.!?])\s+", text)
        out = []
        for s in sentences:
            if _BLAME.search(s):
                flags.append(f"blame phrase: “{s.strip()[:120]}”")
                for name in participants:
                    if name and re.search(rf"\b{re.escape(name)}\b", s):
                        role = "the on-call engineer" if name == lead else "an engineer"
                        s = re.sub(rf"\b{re.escape(name)}\b", role, s)
            out.append(s)
        return " ".join(out)

    updated = draft.model_copy(
        update={
            "summary": fix(draft.summary),
            "impact": fix(draft.impact),
            "whys": [w.model_copy(update={"answer": fix(w.answer)}) for w in draft.whys],
            "timeline": [t.model_copy(update={"text": fix(t.text)}) for t in draft.timeline],
        }
    )
    return updated, flags


_SPECIFIC = re.compile(r"\b[\w./:-]*\d[\w./:-]*\b|\b\w+[_.]\w[\w.]*\b")


def novel_terms(text: str, facts: Facts, ids: dict[str, EvidenceItem]) -> list[str]:
    """Versions, identifiers and numbers in the prose that no evidence and no
    fact contains: the usual trace of a model copying an example or inventing."""
    corpus = " ".join([i.text + " " + " ".join(i.attrs.values()) for i in ids.values()]).lower()
    allowed = _fact_numbers(facts)
    out = []
    for term in dict.fromkeys(_SPECIFIC.findall(text)):
        t = term.strip(".:-/").lower()
        # evidence ids, repeat counts and clock times are the pack's own notation
        if re.fullmatch(r"e\d+|x\d+|\d{1,2}:\d{2}(:\d{2})?", t):
            continue
        if t and t not in corpus and t not in allowed:
            out.append(term)
    return out


def verify(draft: Draft, facts: Facts, ids: dict[str, EvidenceItem]) -> tuple[Draft, Verification]:
    counts = {"dropped": 0, "unverified": 0}
    timeline = _timeline(draft.timeline, ids, counts)
    whys = _whys(draft.whys, ids)
    checked = draft.model_copy(update={"timeline": timeline, "whys": whys})
    checked, flags = blameless(checked, facts.participants)
    bad_numbers = unverified_numbers(draft.impact, facts, ids)
    if bad_numbers:
        flags.append(f"impact figures not found in facts or evidence: {', '.join(bad_numbers)}")
    prose = " ".join([draft.summary, *(w.answer for w in whys)])
    invented = [t for t in novel_terms(prose, facts, ids) if t not in bad_numbers]
    if invented:
        flags.append(
            "summary or whys mention terms found in no evidence (check them): "
            + ", ".join(invented[:10])
        )
    return checked, Verification(
        unverified_timeline=counts["unverified"],
        dropped_timeline=counts["dropped"],
        hypotheses=sum(1 for w in whys if w.hypothesis),
        unverified_impact=len(bad_numbers),
        blame_flags=flags,
    )
