"""Reading report-shaped Markdown back: the lines ``render.py`` writes.

Used twice: on a written report (text escaped by the renderer) and on the
plain-text document a reviewer edits in ``$EDITOR`` (nothing escaped).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

from ..mdtext import inline
from ..models import Action, Why
from ..render import HORIZONS
from .decision import ACTION_PLACEHOLDER, EditError, TimelineEdit

TITLE = "# Incident Report: "
SUMMARY = "## Executive Summary"
TIMELINE = "## Timeline (UTC)"
WHYS = "## Root Cause Analysis (The 5 Whys)"
ACTIONS = "## Corrective Actions"
REFLEXION = "## Reflexion (Agent Learning)"
UNVERIFIED = "*(unverified)*"
HYPOTHESIS = "*(hypothesis — confirm)*"
FOOTER = "---"  # the rule before the "Drafted by" line

_CITE = re.compile(r"\s*\[(E\d+(?:,\s*E\d+)*)\]\s*$")
_TIMELINE = re.compile(r"^[-*]\s+\*\*(?P<when>[^*]*)\*\*\s*(?:—|--|-)?\s*(?P<rest>.*)$")
_WHY = re.compile(r"^\d+[.)]\s+\*\*(?P<q>(?:\\.|[^*\\]|\*(?!\*))*)\*\*\s*(?P<rest>.*)$")
_ACTION = re.compile(r"^[-*]\s+\[(?P<done>[ xX])\]\s*(?P<rest>.*)$")
_FIELD = re.compile(r"^[-*]\s+\*\*(?P<k>[^*]+?):\*\*\s?(?P<v>.*)$")
_ITEM = re.compile(r"^(?:[-*]|\d+[.)])\s")
_ESCAPED = re.compile(r"\\([\\`*_\[\]{}<>#|!~+.()-])|`([^`]*)`")


def unescape(text: str) -> str:
    """Undo ``render.esc``: backslash escapes, code spans and entities."""
    text = _ESCAPED.sub(lambda m: m.group(1) if m.group(1) is not None else _span(m.group(2)), text)
    return html.unescape(text)


def _span(content: str) -> str:
    """A code span the renderer made itself (``statement_timeout``) is unwrapped;
    one the evidence's author wrote keeps its backticks, so rendering the text
    again gives the same span."""
    return content if inline(content) == f"`{content}`" else f"`{content}`"


def sections(text: str) -> Iterator[tuple[str, list[str]]]:
    """(heading, lines) for the header and every ``## `` section; fences skipped."""
    name, body, fenced = "", list[str](), False
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced or line.startswith("<!--"):
            continue
        if line.startswith("## ") or line.startswith(TITLE) or line == FOOTER:
            yield name, body
            name, body = line.rstrip(), []
        else:
            body.append(line)
    yield name, body


def items(body: list[str]) -> list[str]:
    """List items; a wrapped line (indented, or not starting a new item) joins the one before."""
    out: list[str] = []
    for raw in body:
        line = raw.strip()
        if not line or line.startswith("#") or line == "---":
            continue
        if _ITEM.match(line) or not out:
            out.append(line)
        else:
            out[-1] += " " + line
    return out


def split_cite(rest: str) -> tuple[str, list[str]]:
    m = _CITE.search(rest)
    if not m:
        return rest.strip(), []
    return rest[: m.start()].strip(), [i.strip() for i in m.group(1).split(",")]


def _mark(text: str, mark: str) -> tuple[str, bool]:
    if text.endswith(mark):
        return text[: -len(mark)].rstrip(), True
    return text, False


def _plain(text: str, escaped: bool) -> str:
    return unescape(text) if escaped else text


def parse_timeline(body: list[str], *, escaped: bool) -> list[TimelineEdit]:
    """The timeline lines; their written times are ignored (they come from the evidence)."""
    out = []
    for n, line in enumerate(items(body), 1):
        if line.startswith("- _") and line.endswith("_"):
            continue  # "No timeline entries could be verified."
        m = _TIMELINE.match(line)
        if not m and escaped:
            continue  # a written file: what is not ours is reported by the round-trip check
        if not m:
            raise EditError(
                f"timeline line {n}: expected '- **HH:MM** — text [E1]', got {line[:60]!r}"
            )
        text, ids = split_cite(m.group("rest"))
        text, unverified = _mark(text, UNVERIFIED)
        out.append(TimelineEdit(text=_plain(text, escaped), evidence=ids, verified=not unverified))
    return out


def parse_whys(body: list[str], *, escaped: bool) -> list[Why]:
    out = []
    for n, line in enumerate(items(body), 1):
        m = _WHY.match(line)
        if not m and escaped:
            continue
        if not m:
            raise EditError(
                f"why {n}: expected '{n}. **Question?** answer [E1]', got {line[:60]!r}"
            )
        text, ids = split_cite(m.group("rest"))
        text, hyp = _mark(text, HYPOTHESIS)
        out.append(
            Why(
                question=_plain(m.group("q").strip(), escaped),
                answer=_plain(text, escaped),
                evidence=ids,
                hypothesis=hyp,
            )
        )
    return out


def parse_actions(body: list[str], *, escaped: bool) -> list[Action]:
    by_heading = {f"### {heading}": key for key, heading in HORIZONS}
    horizon: str | None = None
    out: list[Action] = []
    for raw in body:
        line = raw.strip()
        if line.startswith("### "):
            horizon = by_heading.get(line)
            if horizon is None and not escaped:
                raise EditError(f"unknown heading {line!r} (keep {', '.join(by_heading)})")
            continue
        if not line:
            continue
        m = _ACTION.match(line)
        if m is None:
            if out and not _ITEM.match(line) and not escaped:
                out[-1] = out[-1].model_copy(update={"text": out[-1].text + " " + line})
                continue
            if escaped:
                continue
            raise EditError(f"action line {line[:60]!r}: expected '- [ ] text [E1]'")
        if horizon is None:
            if escaped:
                continue
            raise EditError("an action comes before its ### heading")
        text, ids = split_cite(m.group("rest"))
        out.append(
            Action.model_validate(
                {
                    "text": _plain(text, escaped),
                    "horizon": horizon,
                    "done": m["done"] != " ",
                    "evidence": ids,
                }
            )
        )
    return [a for a in out if ACTION_PLACEHOLDER not in a.text]


def fields(body: list[str], *, escaped: bool) -> dict[str, str]:
    """``- **Key:** value`` items as {key lowercased: value}."""
    out = {}
    for line in items(body):
        m = _FIELD.match(line)
        if m:
            value = m.group("v").strip()
            out[m.group("k").strip().lower()] = value if not escaped else unescape(value)
    return out
