"""Stage 5: the draft. The model phrases, code decides.

Code picks the timeline candidates and owns every time; the model labels
them and writes prose, one section per call, with the evidence pack first
and identical across calls (prefix caches on hosted and local servers).
A section whose call fails falls back to the offline draft with a visible
note, never a crash. ``backend.offline`` drafts everything from facts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal, TypeVar

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from . import prompts
from .cache import Cache
from .condense import format_item, format_pack, inert
from .facts import describe
from .llm import ChatBackend, LLMError, structured_call
from .models import Action, Draft, Evidence, EvidenceItem, Facts, Reflexion, TimelineEntry, Why
from .provenance import Sources
from .render import minutes
from .review.decision import PLACEHOLDER
from .schemas import (
    ActionItem,
    ActionsAnswer,
    ReflexionAnswer,
    SummaryAnswer,
    TimelineAnswer,
    TimelineItem,
    WhyAnswer,
)
from .slug import slugify

T = TypeVar("T", bound=BaseModel)
PROMPTS = ("system", "context", "summary", "timeline", "why", "actions", "reflexion")
MAX_CANDIDATES = 20
Progress = Callable[[str], None]
_ID = re.compile(r"^E\d+$")
_WORD = re.compile(r"[a-z0-9]+")


@dataclass
class Section:
    """Shared per-draft state: the fixed prefix and the evidence index."""

    evidence: Evidence
    facts: Facts
    backend: ChatBackend
    cache: Cache | None
    similar: str = ""
    notes: list[str] = field(default_factory=list)
    provenance: Sources = field(default_factory=Sources)

    def __post_init__(self) -> None:
        self.ids = self.evidence.by_id()
        self.prefix = prompts.load("context").render(
            facts=describe(self.facts),
            evidence=format_pack(self.evidence.items),
            # past reports are data too: a title can't close the block
            similar="\n<similar_past_incidents>\n"
            + "\n".join(inert(ln) for ln in self.similar.splitlines())
            + "\n</similar_past_incidents>\n"
            if self.similar
            else "",
        )

    def messages(self, task: str) -> list[BaseMessage]:
        # Rules and evidence both live in the system message, identical for every
        # section: local chat templates append the tool schema after it, so this is
        # the longest prefix a KV/prompt cache can reuse; the task comes last.
        return [
            SystemMessage(content=prompts.load("system").template + "\n" + self.prefix),
            HumanMessage(content=task),
        ]

    def bad_ids(self, ids: list[str]) -> list[str]:
        return [i for i in ids if i not in self.ids]

    def ask(
        self, schema: type[T], name: str, task: str, check: Callable[[T], list[str]] | None = None
    ) -> T:
        return structured_call(
            self.backend,
            schema,
            self.messages(task),
            cache=self.cache,
            check=check,
            tag=prompts.load(name).tag + "|" + prompts.load("context").tag,
        )


def _ids_check(sec: Section) -> Callable[[BaseModel], list[str]]:
    def check(ans: BaseModel) -> list[str]:
        found: list[str] = []
        for v in _walk_ids(ans):
            if not _ID.match(v) or v not in sec.ids:
                found.append(v)
        return [f"evidence id {v!r} does not exist in the evidence block" for v in found]

    return check


def _walk_ids(obj: object) -> list[str]:
    out: list[str] = []
    if isinstance(obj, BaseModel):
        for name, value in obj:
            if name == "evidence" and isinstance(value, list):
                out.extend(str(v) for v in value)
            else:
                out.extend(_walk_ids(value))
    elif isinstance(obj, list):
        for v in obj:
            out.extend(_walk_ids(v))
    return out


def candidates(evidence: Evidence, facts: Facts) -> list[EvidenceItem]:
    """Key-moment candidates picked by code (salience + the computed phases),
    so a small model only has to label them."""
    pinned = {
        i
        for f in (facts.start, facts.detected, facts.acknowledged, facts.mitigated, facts.resolved)
        for i in f.evidence
    }
    lo = facts.start.ts or facts.detected.ts
    hi = facts.resolved.ts
    if lo is not None:
        margin = timedelta(minutes=15)
        items = [
            i for i in evidence.items if i.ts >= lo - margin and (hi is None or i.ts <= hi + margin)
        ]
    else:
        items = evidence.items
    ranked = sorted(items, key=lambda i: (-(i.salience + (200 if i.id in pinned else 0)), i.ts))
    chosen = ranked[:MAX_CANDIDATES]
    return sorted(chosen, key=lambda i: i.ts)


def _similar_words(a: str, b: str) -> float:
    wa, wb = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    return len(wa & wb) / max(1, len(wa | wb))


# --- offline sections ----------------------------------------------------------


def offline_summary(facts: Facts, title: str | None) -> SummaryAnswer:
    det = facts.detected.evidence[:1]
    main_alert = next((a for a in facts.alerts if det and det[0] in a.evidence), None)
    top = main_alert or (facts.alerts[0] if facts.alerts else None)
    main = top.name if top else "incident"
    where = facts.services[0] if facts.services else "the affected service"
    ttr = facts.time_to_resolve.minutes
    dur = minutes(ttr) if ttr is not None else "an unknown time"
    alerts = ", ".join(f"{a.name} ({a.fired_count}x)" for a in facts.alerts[:4]) or "no alerts"
    impact = f"{where} degraded for {dur} (start to resolution); alerts fired: {alerts}."
    summary = (
        f"{main} fired for {where}"
        + (f" at {facts.detected.ts:%H:%M} UTC" if facts.detected.ts else "")
        + f". The incident lasted {dur}"
        + (
            f"; it was acknowledged after {minutes(facts.time_to_acknowledge.minutes)}"
            if facts.time_to_acknowledge.minutes is not None
            else ""
        )
        + ". This draft was written offline from computed facts: the cause and the lesson "
        "are left for the reviewer."
    )
    sev: Literal["SEV-1", "SEV-2", "SEV-3"] = (
        "SEV-1" if facts.severity == "SEV-1" else "SEV-2" if facts.severity == "SEV-2" else "SEV-3"
    )
    return SummaryAnswer(
        title=(title or f"{main} on {where}")[:90],
        severity=sev,
        impact=impact[:240],
        summary=summary[:600],
    )


def _offline_label(it: EvidenceItem) -> str:
    text = " ".join(it.text.split())
    if it.kind == "alert_firing":
        label = f"Alert fired: {text}"
    elif it.kind == "alert_resolved":
        label = f"Alert resolved: {text}"
    elif it.kind == "alert_ack":
        label = f"Alert acknowledged by {it.actor or 'on-call'}: {text}"
    elif it.kind == "message":
        label = f"{it.actor or 'someone'} in chat: “{text}”"
    else:
        label = text
    if it.count > 1:
        label += f" (x{it.count})"
    return label[:160]


def offline_timeline(cands: list[EvidenceItem]) -> TimelineAnswer:
    top = sorted(cands, key=lambda i: -i.salience)[:12]
    entries = [
        TimelineItem(evidence=[i.id], text=_offline_label(i))
        for i in sorted(top, key=lambda i: i.ts)
    ]
    return TimelineAnswer(entries=entries or [TimelineItem(evidence=["E1"], text="No events")])


OFFLINE_WHY = "To be answered by the reviewer (no model drafted this step)."


def offline_actions(facts: Facts, evidence: Evidence) -> ActionsAnswer:
    by_id = evidence.by_id()
    done = facts.mitigated.evidence[:1]
    immediate = [
        ActionItem(text=by_id[i].text[:160], done=True, evidence=done) for i in done if i in by_id
    ]
    medium = [ActionItem(text=t[:160], done=False, evidence=[i]) for i, t in facts.action_hints[:4]]
    return ActionsAnswer(immediate=immediate, medium=medium, long=[])


def offline_reflexion() -> ReflexionAnswer:
    q = PLACEHOLDER
    return ReflexionAnswer(
        context=f"{q}: in which situation does this lesson apply?",
        lesson=f"{q}: what did this incident teach?",
        adjustment=f"{q}: which concrete check should people and agents make next time?",
    )


# --- the draft -------------------------------------------------------------------


def _section(
    sec: Section,
    label: str,
    call: Callable[[], T],
    fallback: Callable[[], T],
    progress: Progress | None,
) -> T:
    if sec.backend.offline:
        sec.provenance.offline(label)
        return fallback()
    if progress:
        progress(label)
    try:
        answer = call()
    except LLMError as e:
        if e.unreachable:
            raise
        sec.notes.append(f"{label}: drafted offline because the model failed ({e})")
        sec.provenance.offline(label, e.reason)
        return fallback()
    sec.provenance.model(label, sec.backend)
    return answer


def draft(
    evidence: Evidence,
    facts: Facts,
    backend: ChatBackend,
    *,
    cache: Cache | None = None,
    title: str | None = None,
    similar: str = "",
    progress: Progress | None = None,
) -> Draft:
    sec = Section(evidence, facts, backend, cache, similar)
    check_ids = _ids_check(sec)
    summary = _section(
        sec,
        "summary",
        lambda: sec.ask(SummaryAnswer, "summary", prompts.load("summary").render()),
        lambda: offline_summary(facts, title),
        progress,
    )
    cands = candidates(evidence, facts)
    cand_text = "\n".join(format_item(c) for c in cands)
    tl = _section(
        sec,
        "timeline",
        lambda: sec.ask(
            TimelineAnswer,
            "timeline",
            prompts.load("timeline").render(candidates=cand_text),
            check_ids,
        ),
        lambda: offline_timeline(cands),
        progress,
    )
    whys: list[WhyAnswer] = []
    problem = summary.title
    for step in range(1, 6):
        prev = (
            "\n".join(f"{i}. {w.question} {w.answer}" for i, w in enumerate(whys, 1))
            or "(none yet)"
        )

        def repeat_check(ans: BaseModel, _whys: list[WhyAnswer] = whys) -> list[str]:
            errs = check_ids(ans)
            assert isinstance(ans, WhyAnswer)
            for i, w in enumerate(_whys, 1):
                if _similar_words(ans.answer, w.answer) > 0.7:
                    errs.append(f"the answer repeats step {i}; go one level deeper")
            return errs

        if any(w.answer == OFFLINE_WHY for w in whys):
            # the chain is broken: later steps cannot explain a missing answer
            whys.append(WhyAnswer(question=f"Why {step}?", answer=OFFLINE_WHY, evidence=[]))
            sec.provenance.offline(
                f"why {step}/5", None if backend.offline else "an earlier why failed"
            )
            continue
        # each step explains the previous answer: a small model only has to go one level down
        target = whys[-1].answer if whys else problem
        task = prompts.load("why").render(step=step, target=target, previous=prev)
        whys.append(
            _section(
                sec,
                f"why {step}/5",
                lambda task=task, chk=repeat_check: sec.ask(WhyAnswer, "why", task, chk),  # type: ignore[misc]
                lambda step=step: WhyAnswer(
                    question=f"Why {step}?", answer=OFFLINE_WHY, evidence=[]
                ),  # type: ignore[misc]
                progress,
            )
        )
    why_text = "\n".join(f"{i}. {w.question} {w.answer}" for i, w in enumerate(whys, 1))
    hints = "\n".join(f"{i}: {inert(t)}" for i, t in facts.action_hints) or "(none found)"
    acts = _section(
        sec,
        "actions",
        lambda: sec.ask(
            ActionsAnswer,
            "actions",
            prompts.load("actions").render(hints=hints, whys=why_text),
            check_ids,
        ),
        lambda: offline_actions(facts, evidence),
        progress,
    )
    refl = _section(
        sec,
        "reflexion",
        lambda: sec.ask(
            ReflexionAnswer, "reflexion", prompts.load("reflexion").render(whys=why_text)
        ),
        offline_reflexion,
        progress,
    )
    return _assemble(sec, summary, tl, whys, acts, refl, title)


def _assemble(
    sec: Section,
    summary: SummaryAnswer,
    tl: TimelineAnswer,
    whys: list[WhyAnswer],
    acts: ActionsAnswer,
    refl: ReflexionAnswer,
    title: str | None,
) -> Draft:
    ids, facts = sec.ids, sec.facts
    timeline = []
    for e in tl.entries:
        cited = [ids[i] for i in e.evidence if i in ids]
        if not cited:
            continue  # unknown ids were re-asked; anything left is dropped, never timed by the model
        timeline.append(
            TimelineEntry(ts=min(c.ts for c in cited), text=e.text, evidence=[c.id for c in cited])
        )
    timeline.sort(key=lambda t: t.ts)
    actions = [
        Action(text=a.text, horizon=h, done=a.done, evidence=[i for i in a.evidence if i in ids])  # type: ignore[arg-type]
        for h, group in (
            ("immediate", acts.immediate),
            ("medium", acts.medium),
            ("long", acts.long),
        )
        for a in group
    ]
    start = facts.start.ts or (sec.evidence.items[0].ts if sec.evidence.items else None)
    final_title = title or summary.title
    return Draft(
        title=final_title,
        slug=slugify(final_title),
        date=f"{start:%Y-%m-%d}" if start else "unknown-date",
        status=facts.status,
        severity=summary.severity,
        lead=facts.lead or "unassigned",
        impact=summary.impact,
        summary=summary.summary,
        timeline=timeline,
        whys=[
            Why(
                question=w.question,
                answer=w.answer,
                evidence=[i for i in w.evidence if i in ids],
                hypothesis=not any(i in ids for i in w.evidence),
            )
            for w in whys
        ],
        actions=actions,
        reflexion=Reflexion(context=refl.context, lesson=refl.lesson, adjustment=refl.adjustment),
        artifacts=facts.artifacts,
        generated_by=sec.backend.name,
        notes=sec.notes,
        provenance=sec.provenance.sections,
    )
