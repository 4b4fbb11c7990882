"""The terminal review (the default on a TTY): the whole draft on screen, then
approve / edit / reject / pending. Edit opens ``$EDITOR`` on the draft as
Markdown (or one section), reads it back, validates it and reopens it with
the error on top while it is broken.

Every piece of report text reaches rich as ``Text`` or escaped: evidence and
model prose can hold ``[brackets]`` that rich would take for markup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import click
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..cache import Cache, key_of
from ..render import HORIZONS, minutes
from . import editdoc
from .decision import (
    DraftEdits,
    EditError,
    ReviewSession,
    edits_of,
    is_placeholder,
)

Ask = Callable[[str, str], str]
Edit = Callable[[str], str | None]
WIDTH = 100
CHOICES = "[a]pprove / [e]dit / [r]eject / [p]ending"
PLACEHOLDER_LINE = (
    "The lesson is still the offline placeholder and cannot be approved: "
    "[e]dit it first (section: lesson), or choose [p]ending."
)


def _ask(question: str, default: str) -> str:
    return str(click.prompt(question, default=default, err=True, show_default=bool(default)))


def _edit(text: str) -> str | None:
    return click.edit(text, extension=".md", require_save=True)


def _cite(ids: list[str]) -> str:
    return f" [{', '.join(ids)}]" if ids else ""


def _grid() -> Table:
    t = Table.grid(padding=(0, 1), expand=True)
    t.add_column(no_wrap=True)
    t.add_column(ratio=1)
    return t


def view(session: ReviewSession) -> Group:
    """The draft as people read it, in at most 100 columns."""
    r = session.report
    d, f = r.draft, r.facts
    head = Table.grid(padding=(0, 1))
    head.add_column(style="bold", no_wrap=True)
    head.add_column()
    head.add_row("Severity", Text(d.severity))
    head.add_row("Status", Text(d.status))
    head.add_row("Impact", Text(d.impact))
    head.add_row(
        "Durations",
        Text(
            f"detect {minutes(f.time_to_detect.minutes)} · acknowledge "
            f"{minutes(f.time_to_acknowledge.minutes)} · mitigate "
            f"{minutes(f.time_to_mitigate.minutes)} · resolve {minutes(f.time_to_resolve.minutes)}"
        ),
    )
    timeline = Table(box=None, show_header=False, padding=(0, 1), expand=True)
    timeline.add_column(style="cyan", no_wrap=True)
    timeline.add_column(ratio=1)
    multi_day = len({t.ts.date() for t in d.timeline}) > 1
    for t in d.timeline:
        line = Text(t.text)
        if not t.verified:
            line.append(" (unverified)", style="bold yellow")
        line.append(_cite(t.evidence), style="dim")
        timeline.add_row(f"{t.ts:%Y-%m-%d %H:%M}" if multi_day else f"{t.ts:%H:%M}", line)
    whys = _grid()
    for n, w in enumerate(d.whys, 1):
        line = Text(w.question + " ", style="bold").append(w.answer, style="")
        if w.hypothesis:
            line.append(" (hypothesis: confirm or fix)", style="bold yellow")
        whys.add_row(f"{n}.", line.append(_cite(w.evidence), style="dim"))
    actions = _grid()
    for key, heading in HORIZONS:
        got = [a for a in d.actions if a.horizon == key]
        actions.add_row("", Text(heading, style="bold"))
        for a in got:
            actions.add_row(
                Text(f"[{'x' if a.done else ' '}]"),
                Text(a.text).append(_cite(a.evidence), style="dim"),
            )
        if not got:
            actions.add_row("", Text("(none yet)", style="dim"))
    lesson = Table.grid(padding=(0, 1))
    lesson.add_column(style="bold", no_wrap=True)
    lesson.add_column()
    for name in ("context", "lesson", "adjustment"):
        value = getattr(d.reflexion, name)
        lesson.add_row(
            name.title(), Text(value, style="yellow" if "To be written" in value else "")
        )
    parts: list[Panel | Table | Text] = [
        Text(d.title, style="bold"),
        head,
        Panel(Text(d.summary), title="Summary", title_align="left"),
        Panel(timeline, title="Timeline (UTC)", title_align="left"),
        Panel(whys, title="Root cause: the 5 whys", title_align="left"),
        Panel(actions, title="Corrective actions", title_align="left"),
        Panel(lesson, title="Reflexion (the lesson for people and agents)", title_align="left"),
    ]
    for note in session.warnings:
        parts.append(Text(f"note: {note}", style="yellow"))
    return Group(*parts)


def _key(session: ReviewSession) -> str:
    return key_of("review-v2", session.report.draft.model_dump(mode="json"))


def edit_draft(
    session: ReviewSession, section: editdoc.Section, console: Console, edit: Edit
) -> bool:
    """One edit of the draft in ``$EDITOR``; True when something changed."""
    text = editdoc.to_markdown(session.report.draft, section)
    while True:
        try:
            new = edit(text)
        except click.ClickException as e:  # the editor could not start or failed
            console.print(
                Text(
                    f"{e.format_message()}; the draft is unchanged (set $EDITOR).", style="bold red"
                )
            )
            return False
        if new is None:
            console.print("No change (the editor was closed without saving).")
            return False
        try:
            edits = editdoc.from_markdown(new, section)
            if edits is None:
                console.print("Edit cancelled (empty file): the draft is unchanged.")
                return False
            session.edit(edits)
            return True
        except EditError as e:
            console.print(Text(f"The edit is not valid: {e}. Reopening it.", style="bold red"))
            text = f"<!-- error: {' '.join(str(e).split())} -->\n" + editdoc.strip_error(new)


def review(
    session: ReviewSession,
    *,
    console: Console,
    approver: str | None = None,
    cache: Cache | None = None,
    ask: Ask = _ask,
    edit: Edit = _edit,
) -> None:
    """Ask until the reviewer decides; the session writes the file (or not, on reject)."""
    console.width = min(console.width, WIDTH)
    key = _key(session)
    saved = cache.get(key + "-edit") if cache else None
    if saved:  # an interrupted review's edits are kept, not asked for twice
        try:
            session.edit(DraftEdits.model_validate(saved))
            console.print("Your edits from an interrupted review are applied.")
        except (EditError, ValueError):
            pass
    while True:
        console.print(view(session))
        console.print(escape(CHOICES), markup=True)
        placeholder = is_placeholder(session.report.draft.reflexion)
        choice = ask("Your choice", "e" if placeholder else "a").strip().lower()[:1]
        if choice == "e":
            sections = ", ".join(editdoc.SECTIONS)
            section = cast(
                editdoc.Section, ask(f"Section to edit ({sections})", "all").strip().lower()
            )
            if section not in editdoc.SECTIONS:
                console.print(Text(f"unknown section {section!r}: one of {sections}"))
                continue
            if edit_draft(session, section, console, edit) and cache:
                cache.put(key + "-edit", edits_of(session.report.draft).model_dump(mode="json"))
            continue
        if choice == "a" and placeholder:
            console.print(Text(PLACEHOLDER_LINE, style="bold red"))
            continue
        if choice not in ("a", "r", "p"):
            continue
        who = approver
        needs_name = choice == "a" or (choice == "r" and session.record_rejection)
        while needs_name and not (who or "").strip():
            who = ask("Your name (recorded as approver)", "")
        status = {"a": "approved", "r": "rejected", "p": "pending"}[choice]
        try:
            session.decide(status, approver=who)  # type: ignore[arg-type]
        except EditError as e:
            console.print(Text(str(e), style="bold red"))
            continue
        if cache:  # decided: the saved edits are done with
            cache.put(key + "-edit", {})
        return
