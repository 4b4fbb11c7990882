"""File-name slugs that are safe for any title (no separators, no dot-dot)."""

from __future__ import annotations

import re
import unicodedata

MAX_SLUG = 60


def slugify(title: str) -> str:
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    text = text[:MAX_SLUG].rstrip("-")
    return text or "incident"
