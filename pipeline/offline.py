"""Sections drafted by code alone: the offline backend, and the floor under
every model section (a failed call falls back here, never to nothing).

Everything here is computed from the facts, the pinned moments and the
causal statements, and says so: quotes are marked as quotes to confirm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .causes import Cause, chain
from .cues import (
    KINDS,
    clean,
    cut_words,
    excerpt,
    instruction_like,
    is_question,
    kinds,
    pleasantry,
    specificity,
)
from .models import Evidence, EvidenceItem, Facts, TimelineEntry
from .moments import Moment
from .render import minutes
from .review.decision import PLACEHOLDER
from .schemas import ActionItem, ActionsAnswer, ReflexionAnswer, SummaryAnswer, WhyStep

MAX_TITLE = 70
OFFLINE_WHY = "To be answered by the reviewer (no model drafted this step)."
QUOTE_MARK = "(quoted from the evidence, to confirm)"
_FILLER = re.compile(
    r"^(?:(?:further |quick )?update:?|fwiw|so|ok(?:ay)?|well|also|actually|h+m+|ugh,?|"
    r"(?:it )?(?:looks|seems) like|i think|i guess|upon investigation,?|verified:?|"
    r"turns out|my money is on)[\s,:]+",
    re.I,
)
_STATUS = re.compile(
    r"\b(?:HTTP|status|code|returned|returning)[ =:]*5\d\d\b|\b5(?:\d\d|xx) (?:errors?|responses?)\b|"
    r"\berror rate[^.,;]{0,20}?\d+(?:\.\d+)?%|"
    r"\bp\d\d (?:request )?latency[^.,;]{0,30}|\b\d+(?:\.\d+)?% (?:of )?(?:errors?|requests?|5xx)",
    re.I,
)
_THANKS = re.compile(r"[^.!?]*\b(thanks?|thank you|thx|cheers)\b[^.!?]*[.!?]?\s*|:[\w+-]+:", re.I)


def _strip_filler(text: str) -> str:
    t = clean(text)
    for _ in range(3):
        t = _FILLER.sub("", t)
    return t[:1].upper() + t[1:]


_DANGLING = re.compile(
    r"(?:\s+(?:the|a|an|of|to|for|and|or|by|in|on|at|with|from|caused|due|because|its|their|"
    r"our|his|her|just|was|were|is|are))+$",
    re.I,
)
_CLAUSE = re.compile(r",? (?:and|which|because|so|but|though) |; | — | - ")


def cut_title(title: str) -> str:
    """At most MAX_TITLE characters: the first clause when the whole does not fit
    and that clause says enough, else cut at a word."""
    t = clean(title)
    if len(t) > MAX_TITLE:
        head = _CLAUSE.split(t, maxsplit=1)[0]
        if 25 <= len(head) <= MAX_TITLE:
            t = head
    cut = cut_words(t, MAX_TITLE, ellipsis="").rstrip(" ,;:.-")
    if cut != t:  # a title cut short must not end on "the", "of", "caused by"
        cut = _DANGLING.sub("", cut).rstrip(" ,;:.-")
    return cut or "Incident"


def no_pleasantries(text: str) -> str:
    """Prose without thanks and emoji codes: a summary is not a chat log."""
    return clean(_THANKS.sub(" ", text))


def _main_alert(facts: Facts) -> str | None:
    det = facts.detected.evidence[:1]
    alert = next((a for a in facts.alerts if det and det[0] in a.evidence), None)
    alert = alert or (facts.alerts[0] if facts.alerts else None)
    return alert.name if alert else None


_SYMPTOM = next(rx for k, rx, _w in KINDS if k == "symptom")
_INTENTION = re.compile(r"^(?:i'?m|i am|i'?ll|let me|trying|going to)\b", re.I)


def _symptom_rank(it: EvidenceItem) -> float:
    """How plainly a line says what was broken: symptom words and specifics; a
    question or someone's plan ("I'm trying to see if ...") says it least."""
    t = clean(it.text)
    s = len(_SYMPTOM.findall(t)) + specificity(t)
    if is_question(t):
        s -= 2.0
    if _INTENTION.match(t):
        s -= 1.5
    return s


def _symptom_items(moments: list[Moment]) -> list[EvidenceItem]:
    found = [
        m.item
        for m in moments
        if m.item.kind in ("message", "notes")
        and any(k == "symptom" for k, _ in kinds(m.item.text))
        and not instruction_like(m.item.text)
    ]
    return sorted(found, key=lambda it: (-_symptom_rank(it), it.ts))


def user_facing_service(facts: Facts, items: list[EvidenceItem]) -> str | None:
    """The service of the first alert that fired: what users saw, not the culprit."""
    names = {a.name for a in facts.alerts}
    for it in items:
        svc = it.attrs.get("service") or it.attrs.get("job")
        if it.kind == "alert_firing" and svc and it.attrs.get("alertname", it.text) in names:
            return svc
    return None


def impact_candidates(facts: Facts, items: list[EvidenceItem], moments: list[Moment]) -> list[str]:
    """What users saw, for the impact line: the alerting services first (the
    impacted side, not the culprit), status codes and error rates, then what
    chat says was broken."""
    out: list[str] = []
    by_name = {a.name: a for a in facts.alerts}
    for it in items:
        if it.kind == "alert_firing" and (svc := it.attrs.get("service") or it.attrs.get("job")):
            name = it.attrs.get("alertname") or ""
            if name in by_name and not instruction_like(it.text):
                out.append(f"{svc}: {cut_words(clean(it.text), 110)}")
    for it in items:
        if instruction_like(it.text):
            continue
        for m in _STATUS.findall(it.text):
            out.append(clean(m))
    out += [_strip_filler(excerpt(i.text, None, 180)) for i in _symptom_items(moments)[:2]]
    return list(dict.fromkeys(out))[:6]


def _last_finding(moments: list[Moment], facts: Facts) -> EvidenceItem | None:
    """What was last found before the incident was declared over."""
    end = facts.resolved.ts
    found = [
        m.item
        for m in moments
        if m.kind == "finding"
        and (end is None or m.item.ts <= end)
        and not instruction_like(m.item.text)
    ]
    return found[-1] if found else None


def duration(facts: Facts) -> str | None:
    ttr = facts.time_to_resolve.minutes
    return minutes(ttr) if ttr is not None else None


def symptom(facts: Facts, moments: list[Moment]) -> str | None:
    """What went wrong, as the whys chain starts from it: the alert that fired,
    else what chat first reported as broken (never a cause: the chain asks for it)."""
    alert = _main_alert(facts)
    if alert:
        where = facts.services[0] if facts.services else None
        return f"{alert} on {where}" if where else alert
    symptoms = _symptom_items(moments)
    return _strip_filler(excerpt(symptoms[0].text, None, 160)) if symptoms else None


@dataclass
class _Story:
    """What a summary says, found once: the model gets it as bare points
    (``summary_points``), the offline draft as quoted prose (``offline_header``)."""

    detected: str | None  # "HighLatency fired for api-gateway at 14:07 UTC"
    reported: tuple[str, str] | None  # (when, chat line) where no alert detected it
    causes: list[str]
    mitigated: tuple[str, str] | None  # (when, what was done)
    finding: str | None
    duration: str | None


def _story(facts: Facts, moments: list[Moment], causes: list[Cause]) -> _Story:
    alert = _main_alert(facts)
    where = facts.services[0] if facts.services else None
    symptoms = _symptom_items(moments)
    detected = (
        f"{alert} fired for {where or 'the service'} at {facts.detected.ts:%H:%M} UTC"
        if facts.detected.ts and alert
        else None
    )
    reported = (
        (f"{symptoms[0].ts:%Y-%m-%d %H:%M} UTC", excerpt(symptoms[0].text, None, 180))
        if not detected and symptoms
        else None
    )
    done = [m.item for m in moments if m.item.id in facts.mitigated.evidence[:1]]
    mitigated = (
        (f"{facts.mitigated.ts:%H:%M} UTC", excerpt(done[0].text, None, 120) if done else "")
        if facts.mitigated.ts
        else None
    )
    last = _last_finding(moments, facts)
    finding = (
        excerpt(last.text, None, 160)
        if last is not None and (not causes or last.id not in causes[0].ids)
        else None
    )
    quotes = [c.quote for c in causes[:2]]
    return _Story(detected, reported, quotes, mitigated, finding, duration(facts))


def summary_points(facts: Facts, moments: list[Moment], causes: list[Cause]) -> list[str]:
    """What the executive summary must say, as bare points for a model to phrase
    (prose it would copy, quotes and all, is not given to it)."""
    st = _story(facts, moments, causes)
    out: list[str] = []
    if st.detected:
        out.append(f"detected: {st.detected}")
    elif st.reported:
        out.append(f"reported in chat at {st.reported[0]}: {st.reported[1]}")
    out += [f"cause stated in the evidence: {q}" for q in st.causes]
    if st.mitigated:
        what = f": {st.mitigated[1]}" if st.mitigated[1] else ""
        out.append(f"mitigation began at {st.mitigated[0]}{what}")
    if st.finding:
        out.append(f"last finding: {st.finding}")
    dur = st.duration
    out.append(f"resolved after {dur}" if dur else "no resolution found in the evidence")
    return [no_pleasantries(p) for p in out if not instruction_like(p)]


def offline_header(
    facts: Facts, moments: list[Moment], causes: list[Cause], title: str | None
) -> SummaryAnswer:
    alert = _main_alert(facts)
    where = facts.services[0] if facts.services else None
    symptoms = _symptom_items(moments)
    if alert:
        what = f"{alert} on {where}" if where else alert
    elif causes:
        what = _strip_filler(causes[0].quote)
    elif symptoms:
        what = _strip_filler(excerpt(symptoms[0].text, None, 160))
    else:
        what = "Incident"
    st = _story(facts, moments, causes)
    dur = st.duration
    cands = impact_candidates(facts, [m.item for m in moments], moments)
    impact = (cands[0] if cands else what).rstrip(" .;") + (
        f"; for {dur} (start to resolution)."
        if dur
        else "; duration unknown (no resolution found)."
    )
    parts = []
    if st.detected:
        parts.append(f"{st.detected}.")
    elif st.reported:
        parts.append(f"Chat reported ({st.reported[0]}): “{st.reported[1]}”.")
    if st.causes:
        parts.append(f"The evidence points to this cause {QUOTE_MARK}: “{st.causes[0]}”.")
    if st.mitigated:
        parts.append(f"Mitigation began at {st.mitigated[0]}.")
    if st.finding:
        parts.append(f"The last finding {QUOTE_MARK}: “{st.finding}”.")
    if dur:
        parts.append(f"It was resolved after {dur}.")
    else:
        parts.append("No resolution was found in the evidence.")
    parts.append("This draft was written by code: the reviewer confirms the cause and the lesson.")
    sev: Literal["SEV-1", "SEV-2", "SEV-3"] = (
        "SEV-1" if facts.severity == "SEV-1" else "SEV-2" if facts.severity == "SEV-2" else "SEV-3"
    )
    # code's own header: not bound by the lengths a model answer is held to
    return SummaryAnswer.model_construct(
        title=cut_title(title or what),
        severity=sev,
        impact=cut_words(impact, 240),
        summary=cut_words(no_pleasantries(" ".join(parts)), 600),
    )


def offline_timeline(moments: list[Moment]) -> list[TimelineEntry]:
    return [TimelineEntry(ts=m.item.ts, text=m.label, evidence=[m.item.id]) for m in moments]


def quoted_why(cause: Cause, about: str) -> WhyStep:
    who = f" ({cause.actor})" if cause.actor else ""
    # code's own step: not bound by the lengths a model answer is held to
    return WhyStep.model_construct(
        question=f"What caused “{cut_words(about.rstrip('.?!'), 90)}”?",
        answer=f"“{cause.quote}”{who} {QUOTE_MARK}",
        evidence=list(cause.ids),
    )


def offline_whys(causes: list[Cause], symptom: str) -> list[WhyStep]:
    """The best causal statements as a chain, each quoted with its citations."""
    steps: list[WhyStep] = []
    about = symptom
    for c in chain(causes):
        steps.append(quoted_why(c, cut_words(about, 70, ellipsis="…")))
        about = _strip_filler(c.quote)
    if not steps:
        question = f"What caused “{cut_words(symptom.rstrip('.?!'), 90)}”?"
        steps.append(WhyStep.model_construct(question=question, answer=OFFLINE_WHY, evidence=[]))
    return steps


def offline_actions(facts: Facts, evidence: Evidence) -> ActionsAnswer:
    by_id = evidence.by_id()
    done = facts.mitigated.evidence[:1]
    immediate = [
        ActionItem.model_construct(text=cut_words(by_id[i].text, 160), done=True, evidence=done)
        for i in done
        if i in by_id
    ]
    medium = [
        ActionItem.model_construct(text=cut_words(t, 160), done=False, evidence=[i])
        for i, t in facts.action_hints[:4]
        if not pleasantry(t)
    ]
    return ActionsAnswer.model_construct(immediate=immediate, medium=medium, long=[])


def offline_reflexion() -> ReflexionAnswer:
    q = PLACEHOLDER
    return ReflexionAnswer(
        context=f"{q}: in which situation does this lesson apply?",
        lesson=f"{q}: what did this incident teach?",
        adjustment=f"{q}: which concrete check should people and agents make next time?",
    )
