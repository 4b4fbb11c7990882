"""The human review step: the decision model both front ends share
(``decision``), the terminal review (``terminal``), the review page
(``server``, ``static/``), reading a written report back (``load``) and
``draft-incident approve`` (``approve``).

Only the light modules are imported here: the front ends pull in the rest.
"""

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
    "set_status",
]
