"""Input formats: a small plugin seam.

Each format module registers a ``Format`` with ``@register``. A format can
recognise a file by its content (``sniff``) and, for exports that are folders
(Slack), by a directory (``sniff_dir``). ``parse`` yields ``Event`` objects
without ids (normalize assigns them) and reports bad records through
``ParseContext.skip`` instead of raising.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import ClassVar, Literal

from ..models import Event

FormatKind = Literal["alert", "chat", "log"]


class StrictError(Exception):
    """Raised by ``ParseContext.skip`` under ``--strict``."""


@dataclass
class Skip:
    line: int | None
    reason: str


@dataclass
class ParseContext:
    path: str  # display path used in refs ("alerts.json", "export.zip/general/2026-02-08.json")
    tz: tzinfo = UTC  # zone of naive timestamps
    anchor_date: date | None = None  # --date, for time-only transcripts
    meeting_start: datetime | None = None  # --meeting-start, for WebVTT
    mtime: datetime | None = None  # file modification time (syslog year inference)
    strict: bool = False
    skipped: list[Skip] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def skip(self, line: int | None, reason: str) -> None:
        """Record a malformed record; under --strict it aborts the run."""
        where = f"{self.path}:{line}" if line else self.path
        if self.strict:
            raise StrictError(f"{where}: {reason}")
        self.skipped.append(Skip(line, reason))

    def warn(self, message: str) -> None:
        self.warnings.append(f"{self.path}: {message}")

    def ref(self, line: int | str | None) -> str:
        if line is None:
            return self.path
        if isinstance(line, int):
            return f"{self.path}:{line}"
        return f"{self.path}#{line}"


@dataclass
class Source:
    """One input: decoded text of a file, or a directory for folder exports."""

    path: str  # display path
    text: str = ""
    directory: Path | None = None  # set for folder formats (Slack export)


class Format:
    name: ClassVar[str]
    kind: ClassVar[FormatKind]

    def sniff(self, head: str, name: str) -> int:
        """Confidence 0..100 that ``head`` (first ~64 KiB) is this format."""
        return 0

    def sniff_dir(self, path: Path) -> int:
        return 0

    def parse(self, src: Source, ctx: ParseContext) -> Iterable[Event]:
        raise NotImplementedError


REGISTRY: dict[str, Format] = {}


def register(cls: type[Format]) -> type[Format]:
    REGISTRY[cls.name] = cls()
    return cls


# Modules that register formats; importing them fills REGISTRY.
_MODULES = (
    "alerts",
    "alerts_cloud",
    "chat",
    "chat_apps",
    "transcript",
    "paste",
    "notes",
    "logs",
    "weblogs",
)


def load_all() -> dict[str, Format]:
    for mod in _MODULES:
        try:
            importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{mod}":
                raise
    return REGISTRY


def detect(head: str, name: str) -> Format | None:
    best: tuple[int, Format] | None = None
    for fmt in load_all().values():
        score = fmt.sniff(head, name)
        if score > 0 and (best is None or score > best[0]):
            best = (score, fmt)
    return best[1] if best else None


def detect_dir(path: Path) -> Format | None:
    best: tuple[int, Format] | None = None
    for fmt in load_all().values():
        score = fmt.sniff_dir(path)
        if score > 0 and (best is None or score > best[0]):
            best = (score, fmt)
    return best[1] if best else None
