"""Stage 5: the draft. The model phrases, code decides.

Code picks the timeline moments and the causal statements and owns every
time; the model labels, merges and orders the moments, builds the whys from
the statements and writes prose. The evidence pack comes first and is
identical across calls (prefix caches on hosted and local servers); sections
are merged where a small model copes (header in one call, timeline in one,
the whys chain in one). Independent sections run at once against an endpoint.
A section whose call fails falls back to code (``offline``) with a visible
note, never a crash, and no section ends below what code alone would write.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from . import causes as causes_mod
from . import moments as moments_mod
from . import offline, prompts
from . import whys as whys_mod
from .cache import Cache
from .condense import count_tokens, format_item, format_pack, inert
from .cues import cut_off, cut_words, id_order
from .facts import describe
from .llm import ChatBackend, LLMError, structured_call
from .models import Action, Draft, Evidence, EvidenceItem, Facts, Reflexion, TimelineEntry, Why
from .provenance import Sources
from .schemas import (
    ActionItem,
    ActionsAnswer,
    ReflexionAnswer,
    SummaryAnswer,
    TimelineItem,
    WhyStep,
    for_pack,
)
from .slug import slugify
from .verify import stems

T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")
PROMPTS = ("system", "context", "summary", "timeline", "whys", "actions", "reflexion")
Progress = Callable[[str], None]
SECTIONS = ("summary", "timeline", "whys", "actions", "reflexion")  # in the report's order
# output bounds per section: a small CPU model writes ~10 tokens/s
MAX_TOKENS = {"summary": 220, "timeline": 300, "whys": 300, "actions": 420, "reflexion": 160}
READ_CHARS = 160  # per evidence line, for a model with a reading budget
LABELLED = 12  # timeline moments shown to the model to label (it labels at most 6)
PINNED_CAUSES = 3  # chat lines stating the cause the timeline always keeps
_PLACEHOLDER = re.compile(r"<[a-z][a-z ]+>")
_LOG_NOISE = re.compile(
    r"\[\d+\]|\b(?:ERROR|WARN(?:ING)?|FATAL|CRITICAL|DEBUG|SQLSTATE)\b|\w=\S|\w+@\w+|\b[0-9a-f]{8,}\b"
)


@dataclass
class Section:
    """Shared per-draft state: the fixed prefix and the evidence index."""

    evidence: Evidence
    facts: Facts
    backend: ChatBackend
    cache: Cache | None
    similar: str = ""
    notes: list[str] = field(default_factory=list)
    shown: set[str] = field(default_factory=set)  # ids the model must see (moments, causes)
    provenance: Sources = field(default_factory=Sources)

    def __post_init__(self) -> None:
        self.ids = self.evidence.by_id()
        items = reading(self.evidence.items, self.shown, self.backend.profile.prompt_tokens)
        self.schemas = for_pack([i.id for i in items])
        self.prefix = prompts.load("context").render(
            facts=describe(self.facts),
            evidence=format_pack(items),
            # past reports are data too: a title can't close the block
            similar="\n<similar_past_incidents>\n"
            + "\n".join(inert(ln) for ln in self.similar.splitlines())
            + "\n</similar_past_incidents>\n"
            if self.similar
            else "",
        )

    def messages(self, task: str) -> list[BaseMessage]:
        # Rules and evidence both live in the system message, identical for every
        # section: the longest prefix a KV/prompt cache can reuse; the task comes last.
        return [
            SystemMessage(content=prompts.load("system").template + "\n" + self.prefix),
            HumanMessage(content=task),
        ]

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
            max_tokens=MAX_TOKENS.get(name),
        )

    def run(
        self,
        label: str,
        call: Callable[[], R],
        fallback: Callable[[], R],
        progress: Progress | None,
    ) -> R:
        if self.backend.offline:
            self.provenance.offline(label)
            return fallback()
        if progress:
            progress(label)
        try:
            answer = call()
        except LLMError as e:
            if e.unreachable:
                raise
            self.notes.append(f"{label}: drafted offline because the model failed ({e})")
            self.provenance.offline(label, e.reason)
            return fallback()
        self.provenance.model(label, self.backend)
        return answer


def reading(items: list[EvidenceItem], shown: set[str], budget: int | None) -> list[EvidenceItem]:
    """What the model reads: the items code relies on, then the most salient
    others, within ``budget`` tokens (in time order)."""
    if budget is None:
        return items
    # a small model reads every token at ~50/s: long lines say it in their first words
    items = [
        i
        if len(i.text) <= READ_CHARS
        else i.model_copy(update={"text": cut_words(i.text, READ_CHARS)})
        for i in items
    ]
    must = [i for i in items if i.id in shown]
    used = sum(count_tokens(format_item(i)) + 1 for i in must)
    chosen = {i.id for i in must}
    for it in sorted(items, key=lambda i: -i.salience):
        cost = count_tokens(format_item(it)) + 1
        if it.id not in chosen and used + cost <= budget:
            chosen.add(it.id)
            used += cost
    return [i for i in items if i.id in chosen]


def labelled(moments: list[moments_mod.Moment]) -> list[moments_mod.Moment]:
    """The moments the model labels, those that matter most; code keeps the rest as they are."""
    return sorted(moments, key=lambda m: -m.score)[:LABELLED]


def together(backend: ChatBackend, calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run independent sections at once when the endpoint serves in parallel.
    Daemon threads: an interrupt in the main thread is immediate and never waits
    for an HTTP call to end (the README's promise)."""
    if not backend.profile.parallel or backend.offline or len(calls) < 2:
        return [c() for c in calls]
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException | None] = [None] * len(calls)

    def work(i: int) -> None:
        try:
            results[i] = calls[i]()
        except BaseException as e:  # re-raised in the caller's thread below
            errors[i] = e

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in errors:
        if e is not None:
            raise e
    return results


# --- sections -------------------------------------------------------------------


def _header(
    sec: Section,
    moments: list[moments_mod.Moment],
    causes: list[causes_mod.Cause],
    title: str | None,
    progress: Progress | None,
) -> SummaryAnswer:
    base = offline.offline_header(sec.facts, moments, causes, title)
    cands = offline.impact_candidates(sec.facts, sec.evidence.items, moments)
    dur = offline.duration(sec.facts)
    task = prompts.load("summary").render(
        impact="\n".join(f"- {inert(cut_words(c, 90))}" for c in cands[:3])
        or "- (none found: use the evidence)",
        duration=dur or "unknown",
        points="\n".join(
            f"- {inert(p)}" for p in offline.summary_points(sec.facts, moments, causes)
        ),
    )
    ans = sec.run(
        "summary", lambda: sec.ask(sec.schemas.summary, "summary", task), lambda: base, progress
    )
    if ans is base:
        return base
    # code owns what a small model gets wrong: the service, the duration, the length,
    # and a shape placeholder copied instead of filled
    ans = ans.model_copy(
        update={
            f: getattr(base, f)
            for f in ("title", "impact", "summary")
            if _PLACEHOLDER.search(getattr(ans, f)) or not getattr(ans, f).strip()
        }
    )
    # a bound reached mid-sentence ("... is still a") goes back to a whole one
    impact = cut_off(ans.impact, SummaryAnswer.max_len("impact"))
    service = offline.user_facing_service(sec.facts, sec.evidence.items)
    if service and service.lower() not in impact.lower():
        impact = f"{service}: {impact}"
    if dur and dur not in impact:
        impact = impact.rstrip(". ") + f", for {dur}."
    summary = offline.no_pleasantries(cut_off(ans.summary, SummaryAnswer.max_len("summary")))
    if not summary or _pasted(summary, sec.evidence.items):
        summary = base.summary  # a string of log lines is not an executive summary
    # a title that pastes a log line ("caused by UTC [44534] orders_app ERROR") or a
    # chat line ("caused by ugh, that's the new cohort revenue") is code's
    pasted = _LOG_NOISE.search(ans.title) or _pasted(
        ans.title, sec.evidence.items, run=5, share=0, min_runs=1
    )
    model_title = base.title if pasted else ans.title
    # with alerts, severity is computed (paging alerts, time to resolve): code owns it;
    # chat alone ("it's a P0") leaves it to the model's reading
    severity = base.severity if sec.facts.alerts else ans.severity
    return ans.model_copy(
        update={
            "severity": severity,
            "title": offline.cut_title(title or model_title),
            "impact": cut_words(impact, 240),
            "summary": summary,
        }
    )


def _pasted(
    text: str, items: list[EvidenceItem], *, run: int = 6, share: float = 0.5, min_runs: int = 4
) -> bool:
    """More than ``share`` of ``text`` is copied from the evidence (``run``-word
    runs found verbatim); a text of fewer than ``min_runs`` runs is not judged."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    runs = {" ".join(words[i : i + run]) for i in range(max(0, len(words) - run + 1))}
    if len(runs) < min_runs:
        return False
    # the pack shows "who: text": a pasted line may carry its speaker
    lines = (f"{i.actor or ''} {i.text}" for i in items)
    corpus = " ".join(" ".join(re.findall(r"[a-z0-9]+", t.lower())) for t in lines)
    return sum(r in corpus for r in runs) > share * len(runs)


def _unescaped(text: str) -> str:
    """A model copies the pack's inert escapes; the report escapes on its own."""
    return text.replace("&lt;", "<").replace("&gt;", ">")


def _timeline(
    sec: Section, moments: list[moments_mod.Moment], progress: Progress | None
) -> list[TimelineEntry]:
    floor = offline.offline_timeline(moments)
    top = labelled(moments)
    task = prompts.load("timeline").render(
        # ids and kinds only: the lines themselves are in the evidence the model has read
        candidates="\n".join(
            f"{m.item.id} ({m.kind}" + (f", {inert(m.item.actor)})" if m.item.actor else ")")
            for m in moments
            if m in top
        )
    )

    def call() -> list[TimelineEntry]:
        ans = sec.ask(sec.schemas.timeline, "timeline", task)
        out = []
        for e in ans.entries:
            cited = [sec.ids[i] for i in e.evidence if i in sec.ids]
            if not cited or _PLACEHOLDER.search(e.text):
                continue
            text = _unescaped(cut_off(e.text, TimelineItem.max_len("text")))
            # the moment the label describes sets the time; an id cited alongside
            # counts only for the same event (a small model pads its list)
            words = stems(text)
            main = max(cited, key=lambda c: (len(words & stems(c.text)), -id_order(c.id)))
            same = [
                c
                for c in cited
                if c is main
                or (abs(c.ts - main.ts) <= moments_mod.COVER_WINDOW and words & stems(c.text))
            ]
            out.append(
                TimelineEntry(
                    ts=min(c.ts for c in same),
                    text=moments_mod.keep_key_words(text, [main]),
                    # the moment the label describes first: ``moments.covered`` reads it so
                    evidence=[main.id, *(c.id for c in same if c is not main)],
                )
            )
        return moments_mod.floor(out, moments)

    return sec.run("timeline", call, lambda: floor, progress)


def _whys(
    sec: Section, causes: list[causes_mod.Cause], symptom: str, progress: Progress | None
) -> list[WhyStep]:
    fallback = offline.offline_whys(causes, symptom)
    task = prompts.load("whys").render(
        symptom=inert(symptom),
        causes="\n".join(
            f"{' '.join(c.ids)} | {inert(c.quote)}" for c in causes_mod.chain(causes, 6)
        )
        or "(no causal statement found in the evidence)",
    )

    def check(ans: Any) -> list[str]:
        kept = whys_mod.good_steps(ans.whys, sec.ids)
        return [] if kept else ["every step was empty or repeated an earlier one"]

    def call() -> list[WhyStep]:
        ans = sec.ask(sec.schemas.whys, "whys", task, check)
        steps = whys_mod.good_steps(ans.whys, sec.ids, symptom)
        return whys_mod.fill(steps, causes, symptom)

    return sec.run("whys", call, lambda: fallback, progress)


def _actions(sec: Section, why_text: str, progress: Progress | None) -> ActionsAnswer:
    hints = "\n".join(f"{i}: {inert(t)}" for i, t in sec.facts.action_hints) or "(none found)"
    base = offline.offline_actions(sec.facts, sec.evidence)

    def call() -> ActionsAnswer:
        ans = sec.ask(
            sec.schemas.actions,
            "actions",
            prompts.load("actions").render(hints=hints, whys=why_text),
        )
        # a copied shape placeholder is not an action; "done" needs evidence of the doing,
        # not the chat line that proposed it
        proposed = {i for i, _ in sec.facts.action_hints}
        kept = {
            h: [
                a.model_copy(
                    update={
                        "text": cut_off(a.text, ActionItem.max_len("text")),
                        "done": a.done and bool(set(a.evidence) - proposed),
                    }
                )
                for a in getattr(ans, h)
                if not _PLACEHOLDER.search(a.text)
            ]
            for h in ("immediate", "medium", "long")
        }
        if not any(kept.values()):
            return base
        return ActionsAnswer.model_construct(
            immediate=kept["immediate"], medium=kept["medium"], long=kept["long"]
        )

    return sec.run("actions", call, lambda: base, progress)


def _reflexion(sec: Section, why_text: str, progress: Progress | None) -> ReflexionAnswer:
    base = offline.offline_reflexion()

    def call() -> ReflexionAnswer:
        ans = sec.ask(
            sec.schemas.reflexion, "reflexion", prompts.load("reflexion").render(whys=why_text)
        )
        fields = ("context", "lesson", "adjustment")
        return ans.model_copy(
            update={
                f: getattr(base, f)
                if _PLACEHOLDER.search(getattr(ans, f))
                else cut_off(getattr(ans, f), ReflexionAnswer.max_len(f))
                for f in fields
            }
        )

    return sec.run("reflexion", call, lambda: base, progress)


# --- the draft -------------------------------------------------------------------


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
    causes = causes_mod.collect(evidence.items, facts)
    # where people state the cause is a moment of the story, however plainly said
    kind = {it.id: it.kind for it in evidence.items}
    stated = [c.ids[-1] for c in causes if kind[c.ids[-1]] in ("message", "notes")][:PINNED_CAUSES]
    moments = moments_mod.select(evidence.items, facts, causes=stated)
    # what the model must be able to read and cite: the moments it labels, the causes,
    # the follow-ups people proposed, and the facts' own events
    shown = {m.item.id for m in labelled(moments)} | {i for c in causes for i in c.ids}
    shown |= {i for i, _ in facts.action_hints}
    shown |= {i for f in (facts.start, facts.detected, facts.resolved) for i in f.evidence}
    sec = Section(evidence, facts, backend, cache, similar, shown=shown)
    symptom = (
        offline.symptom(facts, moments)
        or offline.offline_header(facts, moments, causes, None).title
    )
    # the whys chain first, alone: actions and the lesson read it, and an endpoint's
    # first call finds its structured-output method; then everything else at once
    whys = _whys(sec, causes, symptom, progress)
    # the answers carry the chain; the questions only restate the previous answer
    # (half the tokens a CPU model re-reads for two sections)
    why_text = "\n".join(
        f"{i}. {cut_words(w.answer.replace(offline.QUOTE_MARK, ''), 160)}"
        for i, w in enumerate(whys, 1)
    )
    header, timeline, acts, refl = together(
        backend,
        [
            lambda: _header(sec, moments, causes, title, progress),
            lambda: _timeline(sec, moments, progress),
            lambda: _actions(sec, why_text, progress),
            lambda: _reflexion(sec, why_text, progress),
        ],
    )
    return _assemble(sec, header, timeline, whys, acts, refl, title)


def _order(section: str) -> int:
    return SECTIONS.index(section) if section in SECTIONS else len(SECTIONS)


def _assemble(
    sec: Section,
    header: SummaryAnswer,
    timeline: list[TimelineEntry],
    whys: list[WhyStep],
    acts: ActionsAnswer,
    refl: ReflexionAnswer,
    title: str | None,
) -> Draft:
    ids, facts = sec.ids, sec.facts
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
    final_title = title or header.title
    return Draft(
        title=final_title,
        slug=slugify(final_title),
        date=f"{start:%Y-%m-%d}" if start else "unknown-date",
        status=facts.status,
        severity=header.severity,
        lead=facts.lead or "unassigned",
        impact=header.impact,
        summary=header.summary,
        timeline=sorted(timeline, key=lambda t: t.ts),
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
        # sections may finish in any order (run at once): the record follows the report
        provenance=sorted(sec.provenance.sections, key=lambda s: _order(s.section)),
    )
