"""File-name slugs that are safe for any title (no separators, no dot-dot)."""

from __future__ import annotations

import re
import unicodedata

MAX_SLUG = 60


def slugify(title: str) -> str:
    """At most ``MAX_SLUG`` characters, cut between words (``...-caused-by``, never ``-caused-b``)."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if len(text) > MAX_SLUG:
        cut = text[: MAX_SLUG + 1]
        text = cut.rsplit("-", 1)[0] if "-" in cut else text[:MAX_SLUG]
    return text.rstrip("-") or "incident"
