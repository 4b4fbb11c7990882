"""The human review step: the decision model both front ends share
(``decision``), the terminal review (``terminal``), the review page
(``server``, ``static/``), reading a written report back (``load``) and
``draft-incident approve`` (``approve``).

Only the light modules are imported here: the front ends pull in the rest.
"""

from rich.console import Console

from ..cache import Cache
from .approve import ApproveError, read_status, set_status
from .decision import (
    ACTION_PLACEHOLDER,
    PLACEHOLDER,
    PLACEHOLDER_REFUSAL,
    DraftEdits,
    EditError,
    PlaceholderLesson,
    Rejected,
    ReviewMode,
    ReviewNeeded,
    ReviewSession,
    apply_edits,
    decide_by_flag,
    edits_of,
    is_placeholder,
)


def run(
    session: ReviewSession,
    *,
    web: bool,
    console: Console,
    approver: str | None = None,
    cache: Cache | None = None,
    open_browser: bool = True,
) -> None:
    """Review ``session`` in the terminal or on the page, until a decision."""
    if web:
        from .server import serve

        serve(session, console=console, open_browser=open_browser)
    else:
        from .terminal import review

        review(session, console=console, approver=approver, cache=cache)


__all__ = [
    "ACTION_PLACEHOLDER",
    "PLACEHOLDER",
    "PLACEHOLDER_REFUSAL",
    "ApproveError",
    "DraftEdits",
    "EditError",
    "PlaceholderLesson",
    "Rejected",
    "ReviewMode",
    "ReviewNeeded",
    "ReviewSession",
    "apply_edits",
    "decide_by_flag",
    "edits_of",
    "is_placeholder",
    "read_status",
    "run",
    "set_status",
]
