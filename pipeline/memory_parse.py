"""Parse incident report markdown (as written by the renderer) into a typed record.

Tolerant by design: a file that is not a report yields ``None``, unknown sections
are ignored, and nothing after ``## Appendix`` (raw evidence) is read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from pipeline.mdtext import plain

from .review.decision import ACTION_PLACEHOLDER, PLACEHOLDER

Horizon = Literal["immediate", "medium", "long", "unspecified"]
ApprovalState = Literal["approved", "pending", "rejected", "unknown"]


class Action(BaseModel):
    horizon: Horizon
    text: str
    done: bool


class Reflexion(BaseModel):
    context: str = ""
    lesson: str = ""
    adjustment: str = ""
    approval: ApprovalState = "unknown"
    approved_by: str | None = None
    approved_at: str | None = None
    approval_raw: str = ""
    placeholder: bool = False  # still the offline drafter's question: never a lesson

    @property
    def approved(self) -> bool:
        """A lesson a human approved *and* wrote: only these are memory."""
        return self.approval == "approved" and not self.placeholder


class ParsedReport(BaseModel):
    path: str  # relative to the memory dir, posix
    title: str
    date: str = ""
    status: str = ""
    severity: str = ""
    lead: str = ""
    impact: str = ""
    summary: str = ""
    timeline: list[str] = Field(default_factory=list)
    root_cause: list[str] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list)
    reflexion: Reflexion = Field(default_factory=Reflexion)
    artifacts: list[str] = Field(default_factory=list)


_TITLE_RE = re.compile(r"^#\s+Incident Report:\s*(?P<t>.+?)\s*$")
_FIELD_RE = re.compile(r"^[-*]\s+\*\*(?P<k>[^*]+?):?\*\*:?\s*(?P<v>.*)$")
_REF_RE = re.compile(r"\s*\[E\d+(?:\s*[,;]\s*E\d+)*\]")
_NOTE_RE = re.compile(r"\s*\*\((?:hypothesis|unconfirmed)[^)]*\)\*", re.I)
_ACTION_RE = re.compile(r"^[-*]\s+\[(?P<done>[ xX])\]\s*(?P<t>.+)$")
_ITEM_RE = re.compile(r"^(?:[-*]|\d+[.)])\s+(?P<t>.+)$")
_DATE_RE = re.compile(r"(\d{4}-\d{2}-\d{2})")
_HORIZONS: tuple[Horizon, ...] = ("immediate", "medium", "long")
_APPROVAL_RE = re.compile(r"^(approved|pending|rejected)\b", re.I)


def _clean(text: str) -> str:
    """Drop evidence refs, hypothesis notes and markdown emphasis (noise for search);
    undo escapes and code spans: ``statement_timeout`` is found as typed."""
    text = _NOTE_RE.sub("", _REF_RE.sub("", text))
    return plain(text, drop_strong=True).strip()


def _sections(lines: list[str]) -> Iterator[tuple[str, list[str]]]:
    name, body = "", list[str]()
    for line in lines:
        if line.startswith("## "):
            yield name, body
            name, body = line[3:].strip().lower(), []
            if name.startswith("appendix"):  # evidence dumps are not memory
                return
        else:
            body.append(line)
    yield name, body


def _items(body: list[str]) -> list[str]:
    """Bullets/numbered items; indented continuation lines join the previous item."""
    out: list[str] = []
    for raw in body:
        line = raw.strip()
        if not line:
            continue
        m = _ITEM_RE.match(line)
        if m:
            out.append(m.group("t"))
        elif out and raw[:1] in (" ", "\t"):
            out[-1] += " " + line
        elif not line.startswith("#"):
            out.append(line)
    return out


def _fields(body: list[str]) -> dict[str, str]:
    """``- **Key:** value`` lines as {key: value}."""
    found = (_FIELD_RE.match(line.strip()) for line in body)
    return {f["k"].strip().lower(): f["v"].strip() for f in found if f}


def _parse_approval(value: str, ref: Reflexion) -> None:
    ref.approval_raw = value
    m = _APPROVAL_RE.match(value.strip())
    ref.approval = m.group(1).lower() if m else "unknown"  # type: ignore[assignment]
    who = re.search(r"\bby\s+@?([\w.-]+)", value)
    when = re.search(r"\bon\s+(\S+)", value)
    ref.approved_by = who.group(1) if who and ref.approval == "approved" else None
    ref.approved_at = when.group(1) if when and ref.approval == "approved" else None


def parse_report(text: str, path: str = "") -> ParsedReport | None:
    """Parse one report; ``None`` when the text is not an incident report."""
    lines = text.replace("\r\n", "\n").split("\n")
    start = next((i for i, ln in enumerate(lines[:20]) if _TITLE_RE.match(ln)), None)
    if start is None:
        return None
    m = _TITLE_RE.match(lines[start])
    assert m is not None
    rep = ParsedReport(path=path, title=_clean(m.group("t")))
    for name, body in _sections(lines[start + 1 :]):
        if name == "":  # header fields
            for key, val in _fields(body).items():
                if key in ("date", "status", "severity", "lead", "impact"):
                    setattr(rep, key, _clean(val))
        elif name.startswith("executive summary") or name == "summary":
            rep.summary = _clean(" ".join(ln.strip() for ln in body if ln.strip()))
        elif name.startswith("timeline"):
            rep.timeline = [_clean(t) for t in _items(body)]
        elif name.startswith("root cause"):
            rep.root_cause = [_clean(t) for t in _items(body)]
        elif name.startswith("corrective actions"):
            rep.actions = _parse_actions(body)
        elif name.startswith("reflexion"):
            for key, val in _fields(["- " + item for item in _items(body)]).items():
                if key == "approval":
                    _parse_approval(val, rep.reflexion)
                elif key in ("context", "lesson", "adjustment"):
                    setattr(rep.reflexion, key, _clean(val))
        elif name.startswith("artifacts"):
            rep.artifacts = _items(body)
    ref = rep.reflexion
    ref.placeholder = any(PLACEHOLDER in x for x in (ref.context, ref.lesson, ref.adjustment))
    if not rep.date:
        d = _DATE_RE.match(Path(path).name)
        rep.date = d.group(1) if d else ""
    return rep


def _parse_actions(body: list[str]) -> list[Action]:
    horizon: Horizon = "unspecified"
    out: list[Action] = []
    for raw in body:
        line = raw.strip()
        if line.startswith("###"):
            low = line.lower()
            horizon = next((h for h in _HORIZONS if h in low), "unspecified")
            if "short" in low:
                horizon = "immediate"
            continue
        m = _ACTION_RE.match(line)
        if m and ACTION_PLACEHOLDER in m.group("t"):
            continue  # an empty horizon, not an open action
        if m:
            out.append(Action(horizon=horizon, text=_clean(m.group("t")), done=m["done"] != " "))
        elif out and raw[:1] in (" ", "\t") and line:
            out[-1].text += " " + _clean(line)
    return out
