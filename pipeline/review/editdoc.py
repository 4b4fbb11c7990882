"""The draft as a plain Markdown document for ``$EDITOR``, and back.

Same shape as the report (so people edit what they will read), but nothing
escaped: the renderer escapes when the file is written.
"""

from __future__ import annotations

import re
from typing import Literal

from ..models import Draft, Reflexion
from ..render import HORIZONS
from . import markdown as md
from .decision import DraftEdits, EditError

Section = Literal["all", "summary", "timeline", "whys", "actions", "lesson"]
SECTIONS: tuple[Section, ...] = ("all", "summary", "timeline", "whys", "actions", "lesson")

_HELP = (
    "<!-- Edit the words and the [E..] citations; keep the headings. Times come from the\n"
    "     cited evidence. Remove *(hypothesis — confirm)* or *(unverified)* once checked.\n"
    "     Lines starting with <!-- are ignored. Save an empty file to cancel this edit. -->"
)
# which headings a section's document must keep
_REQUIRED: dict[Section, tuple[str, ...]] = {
    "summary": (md.TITLE, md.SUMMARY),
    "timeline": (md.TIMELINE,),
    "whys": (md.WHYS,),
    "actions": (md.ACTIONS,),
    "lesson": (md.REFLEXION,),
}
_REQUIRED["all"] = tuple(h for hs in list(_REQUIRED.values()) for h in hs)
_COMMENT = re.compile(r"<!--.*?-->", re.S)


def _cite(ids: list[str]) -> str:
    return f" [{', '.join(ids)}]" if ids else ""


def to_markdown(d: Draft, section: Section = "all", *, error: str | None = None) -> str:
    out = [f"<!-- error: {' '.join(error.split())} -->"] if error else []
    out.append(_HELP)
    if section in ("all", "summary"):
        out += [
            f"{md.TITLE}{d.title}",
            "",
            f"- **Severity:** {d.severity}",
            f"- **Impact:** {d.impact}",
            "",
            md.SUMMARY,
            "",
            d.summary,
            "",
        ]
    if section in ("all", "timeline"):
        out += [md.TIMELINE, ""]
        for t in d.timeline:
            mark = "" if t.verified else f" {md.UNVERIFIED}"
            out.append(f"- **{t.ts:%Y-%m-%d %H:%M}** — {t.text}{mark}{_cite(t.evidence)}")
        out.append("")
    if section in ("all", "whys"):
        out += [md.WHYS, ""]
        for n, w in enumerate(d.whys, 1):
            hyp = f" {md.HYPOTHESIS}" if w.hypothesis else ""
            out.append(f"{n}. **{w.question}** {w.answer}{hyp}{_cite(w.evidence)}")
        out.append("")
    if section in ("all", "actions"):
        out += [md.ACTIONS, ""]
        for key, heading in HORIZONS:
            out.append(f"### {heading}")
            out += [
                f"- [{'x' if a.done else ' '}] {a.text}{_cite(a.evidence)}"
                for a in d.actions
                if a.horizon == key
            ]
            out.append("")
    if section in ("all", "lesson"):
        r = d.reflexion
        out += [
            md.REFLEXION,
            "",
            f"- **Context:** {r.context}",
            f"- **Lesson:** {r.lesson}",
            f"- **Adjustment:** {r.adjustment}",
            "",
        ]
    return "\n".join(out)


def strip_error(text: str) -> str:
    """The document without the error line(s) a failed edit put on top."""
    return re.sub(r"\A(?:<!-- error:.*?-->\n)+", "", text)


def from_markdown(text: str, section: Section = "all") -> DraftEdits | None:
    """The edits a document holds; None when the reviewer emptied it (cancel)."""
    body = _COMMENT.sub("", text.replace("\r\n", "\n"))
    if not body.strip():
        return None
    found = {name: lines for name, lines in md.sections(body) if name}
    heads = {n.split(":", 1)[0] + ": " if n.startswith(md.TITLE) else n for n in found}
    missing = [h.strip() for h in _REQUIRED[section] if h not in heads]
    if missing:
        raise EditError(f"heading missing: {missing[0]} (keep every heading)")
    extra = [n for n in heads if n not in _REQUIRED[section]]
    if extra:
        raise EditError(f"unexpected heading {extra[0]!r} (only edit the sections shown)")
    edits = DraftEdits()
    for name, lines in found.items():
        if name.startswith(md.TITLE):
            edits.title = name[len(md.TITLE) :].strip()
            head = md.fields(lines, escaped=False)
            for key in ("severity", "impact"):
                if key not in head:
                    raise EditError(f"the '- **{key.title()}:**' line is missing")
                setattr(edits, key, head[key])
        elif name == md.SUMMARY:
            edits.summary = " ".join(ln.strip() for ln in lines if ln.strip())
        elif name == md.TIMELINE:
            edits.timeline = md.parse_timeline(lines, escaped=False)
        elif name == md.WHYS:
            edits.whys = md.parse_whys(lines, escaped=False)
        elif name == md.ACTIONS:
            edits.actions = md.parse_actions(lines, escaped=False)
        elif name == md.REFLEXION:
            r = md.fields(lines, escaped=False)
            missing = [k for k in ("context", "lesson", "adjustment") if k not in r]
            if missing:
                raise EditError(
                    f"the '- **{missing[0].title()}:**' line of the Reflexion is missing"
                )
            edits.reflexion = Reflexion(
                context=r["context"], lesson=r["lesson"], adjustment=r["adjustment"]
            )
    return edits
