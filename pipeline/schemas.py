"""What the model may answer, section by section.

Field descriptions are prompt text: the model reads them. Every list and
string is bounded because those bounds become grammar limits on local models
(an unbounded list once generated until an 8k context was full).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

EvidenceId = str  # "E12"; checked against the evidence pack by the drafting code
_IDS = Field(
    min_length=1,
    max_length=3,
    description="Evidence ids (like E12) of the events that show this. Copy ids exactly "
    "from the evidence block; never invent one, never write a time.",
)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @classmethod
    def max_len(cls, name: str) -> int:
        """The length bound of a string field (a constrained decoder stops there)."""
        bounds = [getattr(m, "max_length", None) for m in cls.model_fields[name].metadata]
        return next((b for b in bounds if b), 1 << 20)


class SummaryAnswer(_Answer):
    """Headline facts of the incident for the report header and executive summary."""

    title: str = Field(
        max_length=80,
        description="Short factual title naming the affected service and the symptom, "
        "e.g. 'API latency spike from an unindexed analytics query'. No blame, no dates.",
    )
    severity: Literal["SEV-1", "SEV-2", "SEV-3"] = Field(
        description="SEV-1: major customer impact or data loss; SEV-2: significant "
        "degradation of a customer-facing service; SEV-3: minor or internal impact."
    )
    impact: str = Field(
        max_length=160,
        description="One sentence: which user-facing service was affected and how users "
        "saw it (the symptom), for how long, quoting the computed durations and counts "
        "given in FACTS (do not compute your own numbers).",
    )
    summary: str = Field(
        max_length=420,
        description="Executive summary in 3-4 plain sentences of prose: what happened, the "
        "cause as far as the evidence shows, how it was mitigated, and the current state. "
        "Never quote chat lines or thanks. Blameless: name roles, not people.",
    )


class TimelineItem(_Answer):
    evidence: list[EvidenceId] = Field(
        min_length=1,
        max_length=2,  # the moment, and a second id only for the same event
        description=_IDS.description,
    )
    text: str = Field(
        max_length=72,
        description="What happened at that moment, in one short past-tense sentence that "
        "keeps the key words of the evidence (service, version, error, command), e.g. "
        "'HighLatency alert fired for api-gateway'. No timestamps.",
    )


class TimelineAnswer(_Answer):
    """The key moments of the incident, in time order."""

    entries: list[TimelineItem] = Field(
        min_length=1,
        max_length=6,  # code keeps every moment the model leaves out: fewer tokens to write
        description="Key moments chosen from the CANDIDATES, one entry per moment, in time "
        "order: first symptom, detection, escalation, wrong turns, diagnosis, mitigation, "
        "recovery, resolution.",
    )


class WhyAnswerStep(_Answer):
    """One step of a five-whys root-cause analysis: the cause of the step before."""

    answer: str = Field(
        max_length=120,
        description="The cause one level deeper than the previous answer, as a plain "
        "statement taken from the causal statements. Never repeat an earlier answer.",
    )
    evidence: list[EvidenceId] = Field(
        default_factory=list,
        max_length=3,
        description="Ids of the statements this answer rests on; an empty list if no "
        "event shows it (it is then marked a hypothesis).",
    )


class WhyStep(WhyAnswerStep):
    """A step as the report shows it: code writes the question from the previous
    answer (a model that only answers writes half the tokens)."""

    question: str = Field(
        default="",
        max_length=90,
        description="The 'Why ...?' question, asking why the previous answer happened.",
    )


class WhysAnswer(_Answer):
    """A five-whys chain from the symptom down to the root cause."""

    whys: list[WhyAnswerStep] = Field(
        min_length=1,
        max_length=4,  # code completes the chain from the causal statements
        description="Up to four steps; each explains the answer of the step before it.",
    )


class ActionItem(_Answer):
    text: str = Field(
        max_length=110,
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
        max_length=3, description="Done during the incident or due within days: stop the bleeding."
    )
    medium: list[ActionItem] = Field(
        max_length=3, description="Due within weeks: fix the direct cause and detection."
    )
    long: list[ActionItem] = Field(
        max_length=3, description="Due within quarters: remove the class of problem."
    )


class ReflexionAnswer(_Answer):
    """A lesson for people and automated agents, to be approved by a human."""

    context: str = Field(
        max_length=160,
        description="The situation in which the lesson applies, in one sentence.",
    )
    lesson: str = Field(
        max_length=160, description="What this incident taught, in one general sentence."
    )
    adjustment: str = Field(
        max_length=160,
        description="One concrete rule to follow next time before acting in that context "
        "(e.g. 'Before running an aggregation on orders, check EXPLAIN for a sequential "
        "scan and add a date filter').",
    )


# --- per-pack schemas: evidence ids as an enum --------------------------------


@dataclass(frozen=True)
class Pack:
    """The section schemas for one evidence pack: every evidence field is an enum
    of the pack's ids, so a constrained decoder cannot produce an unknown id and
    the validator rejects one from any other model."""

    summary: type[SummaryAnswer]
    timeline: type[TimelineAnswer]
    whys: type[WhysAnswer]
    actions: type[ActionsAnswer]
    reflexion: type[ReflexionAnswer]


def _known(ids: frozenset[str]) -> Any:
    def check(value: Any) -> Any:
        # the enum would reject it too; this says why in words a model can act on
        bad = (
            [v for v in value if isinstance(v, str) and v not in ids]
            if isinstance(value, list)
            else []
        )
        if bad:
            raise ValueError(
                f"evidence id {bad[0]!r} does not exist in the evidence block; "
                "cite only ids shown there"
            )
        return value

    return field_validator("evidence", mode="before")(check)


def _with_ids(
    base: type[BaseModel], id_type: Any, ids: frozenset[str], **nested: type[BaseModel]
) -> Any:
    """``base`` with its evidence lists typed ``id_type`` and nested models replaced;
    same name, so prompts, fakes and caches see the same section."""
    fields: dict[str, Any] = {}
    for name, info in base.model_fields.items():
        if name == "evidence":
            fields[name] = (list.__class_getitem__(id_type), copy.copy(info))
        elif name in nested:
            fields[name] = (list.__class_getitem__(nested[name]), copy.copy(info))
    validators = {"known_ids": _known(ids)} if "evidence" in base.model_fields else {}
    model: Any = create_model(
        base.__name__, __base__=base, __doc__=base.__doc__, __validators__=validators, **fields
    )
    return model


def for_pack(ids: Sequence[str]) -> Pack:
    id_type: Any = Literal.__getitem__(tuple(dict.fromkeys(ids))) if ids else str
    known = frozenset(ids)
    item = _with_ids(TimelineItem, id_type, known)
    step = _with_ids(WhyAnswerStep, id_type, known)
    action = _with_ids(ActionItem, id_type, known)
    return Pack(
        summary=SummaryAnswer,
        timeline=_with_ids(TimelineAnswer, id_type, known, entries=item),
        whys=_with_ids(WhysAnswer, id_type, known, whys=step),
        actions=_with_ids(
            ActionsAnswer, id_type, known, immediate=action, medium=action, long=action
        ),
        reflexion=ReflexionAnswer,
    )
