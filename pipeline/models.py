"""Typed boundaries between pipeline stages.

Data flows one way: ``Event`` (ingest/normalize) -> ``Evidence`` (condense)
-> ``Facts`` (facts) -> ``Draft`` (draft/verify) -> ``Report`` (review/render/write).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

EventKind = Literal[
    "alert_firing", "alert_resolved", "alert_ack", "message", "log", "action", "note"
]
Horizon = Literal["immediate", "medium", "long"]
ReflexionStatus = Literal["approved", "rejected", "pending"]


def iso_z(ts: datetime | None) -> str | None:
    """ISO-8601 in UTC with a trailing ``Z`` (the only time format we emit)."""
    if ts is None:
        return None
    ts = ts.astimezone(UTC)
    text = ts.isoformat(timespec="milliseconds" if ts.microsecond else "seconds")
    return text.replace("+00:00", "Z")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Event(_Frozen):
    """One normalized thing that happened, in UTC."""

    id: str = ""  # evidence id (E1, E2, ...), assigned by normalize
    ts: datetime
    ts_inferred: bool = False  # date or zone was assumed, not read
    source: str  # format name, e.g. "alertmanager"
    kind: EventKind
    actor: str | None = None
    text: str
    severity: str | None = None
    ref: str  # "path:line" or "path#message-id"
    attrs: dict[str, str] = Field(default_factory=dict)  # alertname, service, status, url, ...

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("event timestamps must be timezone-aware")
        return v.astimezone(UTC)

    @field_serializer("ts")
    def _ser_ts(self, v: datetime) -> str | None:
        return iso_z(v)


def raw_count(e: Event) -> int:
    """Raw lines an event stands for (bulk.py hands over pre-grouped templates)."""
    return int(e.attrs.get("count", "1"))


def last_seen(e: Event) -> datetime:
    """When a pre-grouped template was last seen (its own time otherwise)."""
    last = e.attrs.get("last_ts")
    return datetime.fromisoformat(last) if last else e.ts


class EvidenceItem(Event):
    """An event as the model sees it; may stand for a group of similar events."""

    count: int = 1  # how many raw events this item stands for
    last_ts: datetime | None = None  # last occurrence when count > 1
    salience: float = 0.0

    @field_serializer("last_ts")
    def _ser_last(self, v: datetime | None) -> str | None:
        return iso_z(v)


class LedgerEntry(_Frozen):
    """What condensation left out, and why: nothing disappears silently."""

    reason: str
    count: int
    detail: str = ""


class Evidence(_Frozen):
    items: list[EvidenceItem]
    ledger: list[LedgerEntry] = Field(default_factory=list)
    budget_tokens: int
    tokens: int
    total_events: int

    def by_id(self) -> dict[str, EvidenceItem]:
        return {i.id: i for i in self.items}


class TimedFact(_Frozen):
    ts: datetime | None
    evidence: list[str] = Field(default_factory=list)
    formula: str

    @field_serializer("ts")
    def _ser_ts(self, v: datetime | None) -> str | None:
        return iso_z(v)


class Metric(_Frozen):
    minutes: float | None
    formula: str


class AlertSummary(_Frozen):
    name: str
    severity: str | None
    fired_at: datetime
    resolved_at: datetime | None
    fired_count: int
    duration_minutes: float | None
    evidence: list[str]

    @field_serializer("fired_at", "resolved_at")
    def _ser_ts(self, v: datetime | None) -> str | None:
        return iso_z(v)


class Facts(_Frozen):
    """Numbers and times computed by code, never by the model."""

    start: TimedFact
    detected: TimedFact
    acknowledged: TimedFact
    mitigated: TimedFact
    resolved: TimedFact
    time_to_detect: Metric
    time_to_acknowledge: Metric
    time_to_mitigate: Metric
    time_to_resolve: Metric
    alerts: list[AlertSummary]
    participants: list[str]
    services: list[str]
    severity: str  # SEV-1/2/3 derived from alert severities and duration
    status: str  # "Resolved" or "Ongoing"
    lead: str | None
    artifacts: list[str]
    action_hints: list[tuple[str, str]]  # (evidence id, text) of "we should/TODO/follow-up"


class TimelineEntry(_Frozen):
    ts: datetime  # filled from the cited evidence, never from the model
    text: str
    evidence: list[str]
    verified: bool = True

    @field_serializer("ts")
    def _ser_ts(self, v: datetime) -> str | None:
        return iso_z(v)


class Why(_Frozen):
    question: str
    answer: str
    evidence: list[str] = Field(default_factory=list)
    hypothesis: bool = False  # no evidence supports it: the human must confirm


class Action(_Frozen):
    text: str
    horizon: Horizon
    done: bool = False
    owner: str | None = None
    evidence: list[str] = Field(default_factory=list)


class Reflexion(_Frozen):
    context: str
    lesson: str
    adjustment: str


class SectionSource(_Frozen):
    """Who drafted one section: the model (and through which structured-output
    method), the offline drafter and why, or the reviewer's edit on top."""

    section: str  # "summary", "timeline", "why 1/5", "actions", "reflexion"
    by: str  # "openai:qwen-local", "offline", "offline fallback: endpoint refused structured output"
    method: str | None = None  # structured-output method of a model answer ("tools", ...)
    edited_by_reviewer: bool = False

    @property
    def from_model(self) -> bool:
        return not self.by.startswith("offline")


class Draft(_Frozen):
    title: str
    slug: str
    date: str  # YYYY-MM-DD of the incident start (UTC)
    status: str
    severity: str
    lead: str
    impact: str
    summary: str
    timeline: list[TimelineEntry]
    whys: list[Why]
    actions: list[Action]
    reflexion: Reflexion
    artifacts: list[str]
    generated_by: str  # backend/model that wrote the prose
    notes: list[str] = Field(default_factory=list)  # e.g. sections that fell back to offline
    similar: list[str] = Field(default_factory=list)  # similar past incidents (memory)
    provenance: list[SectionSource] = Field(default_factory=list)  # per section, in order


class ReviewDecision(_Frozen):
    status: ReflexionStatus
    approver: str | None = None
    at: datetime | None = None
    adjustment: str | None = None  # the human's edited adjustment, if any

    @field_serializer("at")
    def _ser_at(self, v: datetime | None) -> str | None:
        return iso_z(v)


class Verification(_Frozen):
    unverified_timeline: int = 0
    dropped_timeline: int = 0
    hypotheses: int = 0
    unverified_impact: int = 0
    blame_flags: list[str] = Field(default_factory=list)


class Report(_Frozen):
    draft: Draft
    facts: Facts
    review: ReviewDecision
    evidence: list[EvidenceItem]  # cited evidence, for the appendix
    ledger: list[LedgerEntry]
    verification: Verification
    tool_version: str
    prompt_versions: dict[str, str] = Field(default_factory=dict)
