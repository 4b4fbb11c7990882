"""What the model may answer, section by section.

Field descriptions are prompt text: the model reads them. Every list and
string is bounded because those bounds become grammar limits on local models
(an unbounded list once generated until an 8k context was full).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

EvidenceId = str  # "E12"; checked against the evidence pack by the drafting code
_IDS = Field(
    min_length=1,
    max_length=3,
    description="Evidence ids (like E12) of the events that show this. Copy ids exactly "
    "from the evidence block; never invent one, never write a time.",
)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SummaryAnswer(_Answer):
    """Headline facts of the incident for the report header and executive summary."""

    title: str = Field(
        max_length=90,
        description="Short factual title naming the affected service and the symptom, "
        "e.g. 'API latency spike from an unindexed analytics query'. No blame, no dates.",
    )
    severity: Literal["SEV-1", "SEV-2", "SEV-3"] = Field(
        description="SEV-1: major customer impact or data loss; SEV-2: significant "
        "degradation of a customer-facing service; SEV-3: minor or internal impact."
    )
    impact: str = Field(
        max_length=240,
        description="One sentence: who or what was affected and how, quoting the computed "
        "durations and counts given in FACTS (do not compute your own numbers).",
    )
    summary: str = Field(
        max_length=600,
        description="Executive summary in 3-5 plain sentences: what happened, the cause as "
        "far as the evidence shows, how it was mitigated, and the current state. Blameless: "
        "name roles (the on-call engineer), not people.",
    )


class TimelineItem(_Answer):
    evidence: list[EvidenceId] = _IDS
    text: str = Field(
        max_length=160,
        description="What happened at that moment, in one short past-tense sentence "
        "(e.g. 'HighLatency alert fired for api-gateway'). No timestamps.",
    )


class TimelineAnswer(_Answer):
    """The key moments of the incident, in time order."""

    entries: list[TimelineItem] = Field(
        min_length=1,
        max_length=12,
        description="Key moments chosen from the CANDIDATES, one entry per moment, in time "
        "order: first symptom, detection, escalation, wrong turns, diagnosis, mitigation, "
        "recovery, resolution.",
    )


class WhyAnswer(_Answer):
    """One step of a five-whys root-cause analysis."""

    question: str = Field(
        max_length=160,
        description="The 'Why ...?' question, asking why the previous answer happened.",
    )
    answer: str = Field(
        max_length=220,
        description="The cause one level deeper than the previous answer, as a plain "
        "statement. It must be new: never repeat an earlier answer.",
    )
    evidence: list[EvidenceId] = Field(
        default_factory=list,
        max_length=3,
        description="Evidence ids that support this answer; an empty list if the answer "
        "is a hypothesis no event shows.",
    )


class ActionItem(_Answer):
    text: str = Field(
        max_length=160,
        description="A concrete, checkable action starting with a verb "
        "(e.g. 'Add an index on orders(created_at)').",
    )
    done: bool = Field(description="True only if the evidence shows it was already done.")
    evidence: list[EvidenceId] = Field(
        default_factory=list, max_length=3, description="Evidence ids where it was done or asked."
    )


class ActionsAnswer(_Answer):
    """Corrective actions in three horizons."""

    immediate: list[ActionItem] = Field(
        max_length=4, description="Done during the incident or due within days: stop the bleeding."
    )
    medium: list[ActionItem] = Field(
        max_length=4, description="Due within weeks: fix the direct cause and detection."
    )
    long: list[ActionItem] = Field(
        max_length=4, description="Due within quarters: remove the class of problem."
    )


class ReflexionAnswer(_Answer):
    """A lesson for people and automated agents, to be approved by a human."""

    context: str = Field(
        max_length=220,
        description="The situation in which the lesson applies, in one sentence.",
    )
    lesson: str = Field(
        max_length=220, description="What this incident taught, in one general sentence."
    )
    adjustment: str = Field(
        max_length=220,
        description="One concrete rule to follow next time before acting in that context "
        "(e.g. 'Before running an aggregation on orders, check EXPLAIN for a sequential "
        "scan and add a date filter').",
    )
