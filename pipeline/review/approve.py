"""``draft-incident approve``: flip the Reflexion approval line of a written
report (the pull-request review path). Edits only that line; idempotent."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from ..models import ReviewDecision
from ..render import approval_line, approver_name
from ..write import atomic_write_text
from .decision import PLACEHOLDER

_APPROVAL = re.compile(r"^- \*\*Approval:\*\* (?P<state>approved|rejected|pending)\b.*$", re.M)
_TITLE = re.compile(r"\A# Incident Report: ")
_REFLEXION = "## Reflexion (Agent Learning)"


class ApproveError(Exception):
    pass


def read_status(text: str) -> str | None:
    m = _APPROVAL.search(text)
    return m.group("state") if m else None


def set_status(
    path: Path, *, approver: str, reject: bool = False, now: datetime | None = None
) -> bool:
    """Returns False when the report already has this decision by this approver."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ApproveError(f"{path}: cannot read ({e.strerror})") from None
    if not _TITLE.match(text) or _REFLEXION not in text:
        raise ApproveError(f"{path}:1: not a draft-incident report")
    sections = text.split(_REFLEXION, 1)
    m = _APPROVAL.search(sections[1])
    if not m:
        raise ApproveError(f"{path}: the Reflexion section has no Approval line")
    state = "rejected" if reject else "approved"
    if not reject and PLACEHOLDER in sections[1][: m.start()]:
        raise ApproveError(
            f"{path}: the Reflexion lesson is still the offline placeholder; write it before approving"
        )
    if m.group("state") == state and f"@{approver_name(approver)} " in m.group(0):
        return False
    decision = ReviewDecision(status=state, approver=approver, at=now or datetime.now(UTC))  # type: ignore[arg-type]
    tail = sections[1][: m.start()] + approval_line(decision) + sections[1][m.end() :]
    atomic_write_text(path, sections[0] + _REFLEXION + tail, overwrite=True)
    return True
