"""Who drafted what: the report says it per section, and never claims a model
wrote a section the offline drafter wrote."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .models import Draft, ReviewDecision, SectionSource

if TYPE_CHECKING:
    from .llm import ChatBackend


@dataclass
class Sources:
    """The drafting step's record, one entry per section as it is decided."""

    sections: list[SectionSource] = field(default_factory=list)

    def model(self, section: str, backend: ChatBackend) -> None:
        neg = backend.negotiation
        method = neg.method if neg is not None and (neg.settled or neg.forced) else None
        self.sections.append(SectionSource(section=section, by=backend.name, method=method))

    def offline(self, section: str, reason: str | None = None) -> None:
        """``reason`` None: the offline backend, nobody expected a model."""
        by = f"offline fallback: {reason}" if reason else "offline"
        self.sections.append(SectionSource(section=section, by=by))


def from_model(d: Draft) -> list[SectionSource]:
    return [s for s in d.provenance if s.from_model]


def drafted_offline(d: Draft) -> bool:
    """No section came from a model (an offline run, or every call fell back)."""
    return not from_model(d)


def after_review(d: Draft, review: ReviewDecision) -> Draft:
    """The reviewer's edit of the lesson is part of the record (the ``edited by
    reviewer`` hook: any later edit step marks its sections the same way)."""
    edited = review.adjustment is not None and review.adjustment != d.reflexion.adjustment
    if not edited:
        return d
    marked = [
        s.model_copy(update={"edited_by_reviewer": True}) if s.section == "reflexion" else s
        for s in d.provenance
    ]
    return d.model_copy(update={"provenance": marked})


def _label(s: SectionSource) -> str:
    by = s.by + (f" (structured output: {s.method})" if s.method else "")
    return by + (", edited by reviewer" if s.edited_by_reviewer else "")


def footer(d: Draft, tool: str) -> str:
    """The report's last line: who drafted it, section by section when they differ."""
    if not d.provenance:  # a draft from before provenance was recorded
        return f"Drafted by {tool} with {d.generated_by}"
    if drafted_offline(d):
        # in order of appearance: the first is the cause, later ones its consequences
        reasons = [
            r
            for r in dict.fromkeys(s.by.removeprefix("offline fallback: ") for s in d.provenance)
            if r != "offline"
        ]
        if d.generated_by == "offline" or not reasons:
            return f"Drafted offline by {tool}"
        return (
            f"Drafted offline by {tool} ({d.generated_by} drafted no section: {'; '.join(reasons)})"
        )
    groups: dict[str, list[str]] = {}
    for s in d.provenance:
        groups.setdefault(_label(s), []).append(s.section)
    if len(groups) == 1:
        return f"Drafted by {tool} with {next(iter(groups))}"
    return f"Drafted by {tool} with {d.generated_by}: " + "; ".join(
        f"{', '.join(secs)} by {by}" for by, secs in groups.items()
    )


_OFFLINE = re.compile(
    r"^Drafted offline by (?P<tool>\S+ \S+)(?: \((?P<gen>.+?) drafted no section: (?P<why>.*)\))?$"
)
_BY = re.compile(r"^Drafted by (?P<tool>\S+ \S+) with (?P<rest>.*)$")
_LABEL = re.compile(
    r"^(?P<by>.+?)(?: \(structured output: (?P<method>[\w-]+)\))?(?P<edited>, edited by reviewer)?$"
)
_GROUP = re.compile(r"^(?P<secs>.+?) by (?P<label>.+)$")


def _source(section: str, label: str) -> SectionSource:
    m = _LABEL.match(label)
    assert m is not None  # the pattern matches any non-empty label
    return SectionSource(
        section=section, by=m["by"], method=m["method"], edited_by_reviewer=bool(m["edited"])
    )


def parse_footer(line: str) -> tuple[str, str, list[SectionSource]] | None:
    """The inverse of ``footer`` (a written report read back for review): the tool,
    ``generated_by`` and a provenance that ``footer`` renders to the same line."""
    if m := _OFFLINE.match(line):
        if not m["gen"]:
            return m["tool"], "offline", [SectionSource(section="draft", by="offline")]
        reasons = m["why"].split("; ")
        return (
            m["tool"],
            m["gen"],
            [
                SectionSource(section=f"section {n}", by=f"offline fallback: {r}")
                for n, r in enumerate(reasons, 1)
            ],
        )
    if not (m := _BY.match(line)):
        return None
    rest = m["rest"]
    single = _LABEL.match(rest)
    if single and not single["by"].count(": ") and ";" not in rest:  # one group: "with LABEL"
        return m["tool"], single["by"], [_source("draft", rest)]
    gen, _, groups = rest.partition(": ")
    out: list[SectionSource] = []
    for group in groups.split("; "):
        g = _GROUP.match(group)
        if g is None:
            return m["tool"], rest, [SectionSource(section="draft", by=rest)]
        out += [_source(sec, g["label"]) for sec in g["secs"].split(", ")]
    return m["tool"], gen, out
