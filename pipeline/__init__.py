"""draft-incident: from alerts, logs and chat to a grounded, human-approved post-mortem."""

from __future__ import annotations

__version__ = "0.1.0"

from .api import Options, draft_report, prepare, write_report  # noqa: E402
from .llm import open_backend  # noqa: E402

__all__ = ["Options", "__version__", "draft_report", "open_backend", "prepare", "write_report"]
