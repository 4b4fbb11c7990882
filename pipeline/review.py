"""Stage 7: a human decides on the Reflexion adjustment before anything is kept.

Decisions (and edits) are saved as soon as they are made, keyed by the
draft, so an interrupted run resumes without asking twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from .cache import Cache, key_of
from .models import Draft, ReviewDecision

ReviewMode = Literal["interactive", "approve", "reject", "pending", "none"]


class ReviewNeeded(Exception):
    """No decision could be asked for (not a TTY, no review flag): exit 3."""


class Rejected(Exception):
    """The human rejected the lesson: exit 3, nothing written."""


def _key(draft: Draft) -> str:
    return key_of("review-v1", draft.reflexion.model_dump(), draft.title, draft.date)


def decide(
    draft: Draft,
    mode: ReviewMode,
    *,
    approver: str | None = None,
    cache: Cache | None = None,
    ask: Callable[[str, str], str] | None = None,
    show: Callable[[str], None] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ReviewDecision:
    if mode == "approve":
        if not approver:
            raise ValueError("--approve-reflexion needs --approver NAME")
        return ReviewDecision(status="approved", approver=approver, at=now())
    if mode == "reject":
        return ReviewDecision(status="rejected", approver=approver, at=now())
    if mode == "pending":
        return ReviewDecision(status="pending")
    if mode == "none" or ask is None:
        raise ReviewNeeded(
            "the Reflexion lesson needs a decision: run on a terminal, or pass "
            "--approve-reflexion --approver NAME, --reject-reflexion or --reflexion pending"
        )
    saved = cache.get(_key(draft)) if cache else None
    if saved:
        decision = ReviewDecision.model_validate(saved)
        if show:
            show(f"Using the review decision saved earlier: {decision.status}.")
        return decision
    r = draft.reflexion
    # an edit saved by an earlier, interrupted review is offered again, not lost
    edit = cache.get(_key(draft) + "-edit") if cache else None
    adjustment: str | None = str((edit or {}).get("adjustment") or "") or None
    if show:
        show(
            "\nReflexion (Agent Learning), for your approval:\n"
            f"  Context:    {r.context}\n  Lesson:     {r.lesson}\n  Adjustment: {r.adjustment}\n"
            + (f"  Your edit (saved earlier): {adjustment}\n" if adjustment else "")
        )
    while True:
        choice = ask("Approve the adjustment? [a]pprove / [e]dit / [r]eject / [p]ending", "a")
        choice = (choice or "").strip().lower()[:1]
        if choice == "e":
            adjustment = ask("New adjustment", adjustment or r.adjustment).strip() or None
            if cache and adjustment:  # keep the edit even if the run dies right after
                cache.put(_key(draft) + "-edit", {"adjustment": adjustment})
            continue
        if choice in ("a", "r", "p"):
            break
    if choice == "p":
        decision = ReviewDecision(status="pending", adjustment=adjustment)
    else:
        who = approver or ask("Your name (recorded as approver)", "").strip() or "unknown"
        status: Literal["approved", "rejected"] = "approved" if choice == "a" else "rejected"
        decision = ReviewDecision(status=status, approver=who, at=now(), adjustment=adjustment)
    if cache:
        cache.put(_key(draft), decision.model_dump(mode="json"))
    return decision
