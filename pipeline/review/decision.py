"""The human decision both review front ends share (terminal and page).

A review ends in approve, reject or pending, after any number of edits. Edits
are applied to the ``Draft`` and validated the same way whoever made them:
every section still there, every cited evidence id still known, times taken
from the cited evidence (code owns times, people own words), and a lesson
that is still the offline placeholder can never be approved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ..models import (
    Action,
    Draft,
    Event,
    EvidenceItem,
    Reflexion,
    Report,
    ReviewDecision,
    TimelineEntry,
    Why,
)

ReviewMode = Literal["interactive", "web", "approve", "reject", "pending", "none"]

PLACEHOLDER = "To be written by the reviewer"  # offline drafts leave the lesson to a human
ACTION_PLACEHOLDER = "None proposed yet: add one in review."  # an empty horizon, as rendered


class ReviewNeeded(Exception):
    """No decision could be asked for (not a TTY, no review flag): exit 3."""


class Rejected(Exception):
    """The human rejected the lesson: exit 3, nothing written."""


class PlaceholderLesson(ReviewNeeded):
    """Approval asked for a lesson nobody wrote yet: exit 3."""


class EditError(ValueError):
    """An edit that would break the report; the message says what to fix."""


def is_placeholder(reflexion: Reflexion) -> bool:
    return any(
        PLACEHOLDER in x for x in (reflexion.context, reflexion.lesson, reflexion.adjustment)
    )


PLACEHOLDER_REFUSAL = (
    "the Reflexion lesson is still the offline placeholder and cannot be approved: "
    "write it in review (a terminal, or --review web), or pass --reflexion pending"
)


def now_utc() -> datetime:
    return datetime.now(UTC)


def decide_by_flag(
    draft: Draft,
    mode: ReviewMode,
    *,
    approver: str | None = None,
    pending_fallback: bool = False,
    now: Callable[[], datetime] = now_utc,
) -> ReviewDecision:
    """The decision of a non-interactive run (flags), by the same rule as a review."""
    if mode == "approve":
        if not approver:
            raise ValueError("--approve-reflexion needs --approver NAME")
        if is_placeholder(draft.reflexion):
            if pending_fallback:
                return ReviewDecision(status="pending")
            raise PlaceholderLesson(PLACEHOLDER_REFUSAL)
        return ReviewDecision(status="approved", approver=approver, at=now())
    if mode == "reject":
        return ReviewDecision(status="rejected", approver=approver, at=now())
    if mode == "pending":
        return ReviewDecision(status="pending")
    raise ReviewNeeded(
        "the Reflexion lesson needs a decision: run on a terminal, or pass --review web, "
        "--approve-reflexion --approver NAME, --reject-reflexion or --reflexion pending"
    )


# --- edits -----------------------------------------------------------------------


class _Edit(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TimelineEdit(_Edit):
    text: str
    evidence: list[str]
    verified: bool = True
    ts: str | None = None  # shown to people, never read back: times come from the evidence


class DraftEdits(_Edit):
    """What a reviewer may change; a field left out stays as drafted."""

    title: str | None = None
    severity: str | None = None
    impact: str | None = None
    summary: str | None = None
    timeline: list[TimelineEdit] | None = None
    whys: list[Why] | None = None  # the draft's own models: same fields, same checks
    actions: list[Action] | None = None
    reflexion: Reflexion | None = None


def edits_of(draft: Draft) -> DraftEdits:
    """The draft as an edit that changes nothing (the page's starting state)."""
    return DraftEdits.model_validate(
        draft.model_dump(
            include={
                "title",
                "severity",
                "impact",
                "summary",
                "timeline",
                "whys",
                "actions",
                "reflexion",
            },
            exclude={"timeline": {"__all__": {"ts"}}},
        )
    )


def _text(where: str, value: str, *, limit: int = 2000) -> str:
    one = " ".join(value.split())
    if not one:
        raise EditError(f"{where} is empty")
    if len(one) > limit:
        raise EditError(f"{where} is longer than {limit} characters")
    return one


def _cited(where: str, ids: list[str], known: dict[str, EvidenceItem]) -> list[str]:
    out = []
    for raw in ids:
        i = raw.strip().upper()
        if not i:
            continue
        if i not in known:
            raise EditError(f"{where} cites {raw.strip()}, which is not in the evidence")
        if i not in out:
            out.append(i)
    return out


def apply_edits(draft: Draft, edits: DraftEdits, known: dict[str, EvidenceItem]) -> Draft:
    """The edited draft, or EditError naming the first thing to fix."""
    up: dict[str, object] = {}
    for name in ("title", "severity", "impact", "summary"):
        value = getattr(edits, name)
        if value is not None:
            up[name] = _text(name, value, limit=200 if name in ("title", "severity") else 4000)
    if edits.timeline is not None:
        entries = []
        for n, t in enumerate(edits.timeline, 1):
            cited = _cited(f"timeline entry {n}", t.evidence, known)
            if not cited:
                # code owns every time: an entry with no evidence has nothing to be timed by
                raise EditError(f"timeline entry {n} cites no evidence (its time comes from it)")
            ts = min(known[i].ts for i in cited)
            entries.append(
                TimelineEntry(
                    ts=ts,
                    text=_text(f"timeline entry {n}", t.text),
                    evidence=cited,
                    verified=t.verified,
                )
            )
        up["timeline"] = sorted(entries, key=lambda e: e.ts)
    if edits.whys is not None:
        if not edits.whys:
            raise EditError("the 5 whys are empty: keep at least one")
        up["whys"] = [
            Why(
                question=_text(f"why {n} question", w.question),
                answer=_text(f"why {n} answer", w.answer),
                evidence=_cited(f"why {n}", w.evidence, known),
                hypothesis=w.hypothesis,
            )
            for n, w in enumerate(edits.whys, 1)
        ]
    if edits.actions is not None:
        up["actions"] = [
            Action(
                text=_text(f"action {n}", a.text),
                horizon=a.horizon,
                done=a.done,
                owner=" ".join(a.owner.split()) or None if a.owner else None,
                evidence=_cited(f"action {n}", a.evidence, known),
            )
            for n, a in enumerate(edits.actions, 1)
            if ACTION_PLACEHOLDER not in a.text
        ]
    if edits.reflexion is not None:
        r = edits.reflexion
        up["reflexion"] = Reflexion(
            context=_text("Reflexion context", r.context),
            lesson=_text("Reflexion lesson", r.lesson),
            adjustment=_text("Reflexion adjustment", r.adjustment),
        )
    return draft.model_copy(update=up)


# --- a review in progress ----------------------------------------------------------


def cited_ids(d: Draft) -> list[str]:
    ids = (
        {i for t in d.timeline for i in t.evidence}
        | {i for w in d.whys for i in w.evidence}
        | {i for a in d.actions for i in a.evidence}
    )
    return sorted(ids, key=lambda i: (len(i), i))


Writer = Callable[[Report], Path]


@dataclass
class ReviewSession:
    """One report under review: what both front ends read, edit and decide on.

    ``known`` is every evidence item the reviewer may cite (the whole pack on a
    fresh draft, the report's appendix for a written file); ``events`` feed the
    picture; ``write`` writes the file exactly as the CLI does.
    """

    report: Report
    known: dict[str, EvidenceItem]
    write: Writer
    events: list[Event] = field(default_factory=list)
    facts_known: bool = True  # False: a written report without its JSON (no milestones)
    warnings: list[str] = field(default_factory=list)
    target: str = ""  # where the file goes, for people
    record_rejection: bool = False  # a written file records a rejection, as `approve --reject`
    now: Callable[[], datetime] = now_utc
    written: Path | None = None
    outcome: ReviewDecision | None = None

    def edit(self, edits: DraftEdits) -> Report:
        d = apply_edits(self.report.draft, edits, self.known)
        v = self.report.verification.model_copy(
            update={
                "unverified_timeline": sum(not t.verified for t in d.timeline),
                "hypotheses": sum(w.hypothesis for w in d.whys),
            }
        )
        self.report = self.report.model_copy(
            update={
                "draft": d,
                "verification": v,
                "evidence": [self.known[i] for i in cited_ids(d) if i in self.known],
            }
        )
        return self.report

    def decide(
        self,
        status: Literal["approved", "rejected", "pending"],
        *,
        approver: str | None = None,
        edits: DraftEdits | None = None,
    ) -> Path | None:
        """Apply the edits, record the decision and write (nothing on reject)."""
        if edits is not None:
            self.edit(edits)
        who = " ".join((approver or "").split())
        if status != "pending" and not who and (status == "approved" or self.record_rejection):
            raise EditError(
                f"{'approving' if status == 'approved' else 'rejecting'} needs your name"
            )
        if status == "approved" and is_placeholder(self.report.draft.reflexion):
            raise EditError(
                "the Reflexion lesson is still the offline placeholder: write the context, "
                "lesson and adjustment before approving (or save as pending)"
            )
        if status == "pending":
            decision = ReviewDecision(status="pending")
        else:
            decision = ReviewDecision(status=status, approver=who or None, at=self.now())
        self.outcome = decision
        if status == "rejected" and not self.record_rejection:
            return None  # nothing written, as with --reject-reflexion
        self.report = self.report.model_copy(update={"review": decision})
        self.written = self.write(self.report)
        return self.written
