"""On-disk cache of LLM answers and review decisions, so a rerun after a
failure or an interrupted review repeats no finished model call."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .write import atomic_write_text


def default_dir() -> Path:
    env = os.environ.get("DRAFT_INCIDENT_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "draft-incident"


def key_of(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class Cache:
    def __init__(
        self, directory: Path | None = None, *, enabled: bool = True, kind: str = "answers"
    ) -> None:
        self.dir = (directory or default_dir()) / kind
        self.enabled = enabled

    def sibling(self, kind: str) -> Cache:
        """Another kind of record in the same cache directory (e.g. per-endpoint facts)."""
        return Cache(self.dir.parent, enabled=self.enabled, kind=kind)

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        if not self.enabled:
            return None
        p = self._path(key)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # missing or torn: recompute
        return data if isinstance(data, dict) else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        if not self.enabled:
            return
        p = self._path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(p, json.dumps(value, ensure_ascii=False, default=str), overwrite=True)
