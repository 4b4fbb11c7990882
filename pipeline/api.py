"""The Python API: every stage in order, one way. The CLI is a thin layer on this.

ingest -> redact -> normalize (Event) -> condense (Evidence) -> facts (Facts)
-> draft (Draft) -> verify -> review (ReviewDecision) -> render -> write (Report)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path

from . import __version__, condense, draft, facts, ingest, normalize, prompts, render, verify
from .cache import Cache
from .llm import ChatBackend, LLMError
from .models import Draft, Event, Evidence, Facts, LedgerEntry, Report, ReviewDecision
from .provenance import after_review, drafted_offline
from .sources import UNAVAILABLE, SourceSpec, fetch_all
from .write import atomic_write_text, safe_target

Reviewer = Callable[[Draft], ReviewDecision]


@dataclass(kw_only=True)
class Options:
    title: str | None = None
    tz: tzinfo = UTC
    anchor_date: date | None = None
    meeting_start: datetime | None = None
    since: datetime | None = None
    until: datetime | None = None
    auto_window: bool = True  # no --since/--until: logs cut to the alerts' span
    force_format: str | None = None
    strict: bool = False
    budget_tokens: int | None = None  # default: what the backend can digest
    redact: str = "secrets,emails,phones"
    cache_dir: Path | None = None
    use_cache: bool = True
    memory_dir: Path | None = None
    sources: SourceSpec | None = None  # systems to pull evidence from, by time window
    require_model: bool = False  # no section from the model is a failure, not an offline draft


@dataclass
class Prepared:
    events: list[Event]
    evidence: Evidence
    facts: Facts
    warnings: list[str] = field(default_factory=list)
    redactions: dict[str, int] = field(default_factory=dict)
    redaction_listing: list[tuple[str, str, str]] = field(default_factory=list)


def load_events(paths: list[str], opts: Options) -> ingest.IngestResult:
    result = ingest.ingest(
        paths,
        ingest.IngestOptions(
            tz=opts.tz,
            anchor_date=opts.anchor_date,
            meeting_start=opts.meeting_start,
            force_format=opts.force_format,
            strict=opts.strict,
        ),
    )
    if opts.sources is not None:
        fetch_all(opts.sources, result, since=opts.since, until=opts.until)
    return result


def _input_ledger(result: ingest.IngestResult, norm: normalize.Normalized) -> list[LedgerEntry]:
    """What never reached condensation: nothing disappears silently."""
    out = []
    for f in result.files:
        if f.skipped:
            out.append(
                LedgerEntry(
                    reason="malformed records skipped",
                    count=len(f.skipped),
                    detail=f.summary() or f.path,
                )
            )
        out += [
            LedgerEntry(reason="input ignored", count=1, detail=w)
            for w in f.warnings
            if w.startswith("ignored:")
        ]
        out += [
            LedgerEntry(reason="source unavailable or incomplete", count=1, detail=w)
            for w in f.warnings
            if w.startswith(UNAVAILABLE)
        ]
    if norm.duplicates:
        out.append(
            LedgerEntry(
                reason="duplicate events (same time, source and text)", count=norm.duplicates
            )
        )
    if norm.outside_window:
        out.append(
            LedgerEntry(reason="outside the --since/--until window", count=norm.outside_window)
        )
    if norm.window:
        start, end = norm.window
        last = f"{end:%Y-%m-%d %H:%M}Z" if end else "the end (an alert still fires)"
        out.append(
            LedgerEntry(
                reason="log lines outside the detected incident window",
                count=norm.outside_incident,
                detail=f"kept {start:%Y-%m-%d %H:%M}Z to {last} (first alert - "
                f"{_hours(normalize.WINDOW_BEFORE)}, last resolution + "
                f"{_hours(normalize.WINDOW_AFTER)}); --since/--until or --no-window to choose",
            )
        )
    return out


def _hours(d: timedelta) -> str:
    return f"{d.total_seconds() / 3600:g} h"


def _redact(
    events: list[Event], spec: str
) -> tuple[list[Event], dict[str, int], list[tuple[str, str, str]]]:
    """Secrets never leave this function: everything downstream sees placeholders."""
    from .redact import from_spec

    r = from_spec(spec)
    out = []
    for e in events:
        changes: dict[str, object] = {"text": r.redact(e.text, where=e.ref)}
        if e.actor:
            changes["actor"] = r.redact(e.actor, where=e.ref)
        if e.attrs:
            changes["attrs"] = {k: r.redact(v, where=e.ref) for k, v in e.attrs.items()}
        out.append(e.model_copy(update=changes))
    return out, r.summary(), r.listing()


@dataclass
class Loaded:
    """Inputs read, redacted and normalized: what --dump-events prints."""

    result: ingest.IngestResult
    norm: normalize.Normalized
    redactions: dict[str, int]
    redaction_listing: list[tuple[str, str, str]]

    @property
    def warnings(self) -> list[str]:
        return [*self.result.warnings, *self.norm.warnings]


def load(paths: list[str], opts: Options) -> Loaded:
    result = load_events(paths, opts)
    events, summary, listing = _redact(result.events, opts.redact)
    norm = normalize.normalize(
        events, since=opts.since, until=opts.until, auto_window=opts.auto_window
    )
    return Loaded(result, norm, summary, listing)


def prepare(paths: list[str], opts: Options, *, budget_tokens: int = 6000) -> Prepared:
    loaded = load(paths, opts)
    if not loaded.result.events:
        why = loaded.result.warnings  # e.g. a time-only paste without --date
        raise ingest.InputError(
            "no events found in the inputs"
            + (f": {why[0]}" if why else " (check the paths and formats)")
        )
    norm = loaded.norm
    if not norm.events:
        raise ingest.InputError("no events left inside the --since/--until window")
    evidence = condense.condense(norm.events, budget_tokens=opts.budget_tokens or budget_tokens)
    evidence = evidence.model_copy(
        update={"ledger": _input_ledger(loaded.result, norm) + evidence.ledger}
    )
    return Prepared(
        norm.events,
        evidence,
        facts.compute(evidence),
        loaded.warnings,
        loaded.redactions,
        loaded.redaction_listing,
    )


def _similar(prep: Prepared, opts: Options) -> tuple[str, list[str]]:
    """Past incidents like this one, from the approved memory (best effort)."""
    if opts.memory_dir is None or not opts.memory_dir.is_dir():
        return "", []
    try:
        from .memory import MemoryIndex
    except ImportError:
        return "", []
    query = " ".join(
        [*(a.name for a in prep.facts.alerts), *prep.facts.services]
        + [i.text for i in prep.evidence.items if i.kind in ("message", "note")][:20]
    )
    index = MemoryIndex(
        opts.memory_dir, db_path=(opts.cache_dir / "memory.sqlite") if opts.cache_dir else None
    )
    index.refresh()
    day = f"{prep.facts.start.ts:%Y-%m-%d}" if prep.facts.start.ts else ""
    # a same-day report is this incident's earlier draft (a rerun), not a past incident
    hits = [h for h in index.similar(query, k=4) if h.date != day][:3]
    notes = []
    for h in hits:
        line = f"{h.date} {h.title} ({h.path})"
        still_open = h.open_action_notes()
        if still_open:
            line += " — recurrence? " + "; ".join(still_open[:3])
        notes.append(line)
    return "\n".join(notes), notes


def draft_report(
    paths: list[str],
    backend: ChatBackend,
    *,
    options: Options | None = None,
    reviewer: Reviewer,
    progress: draft.Progress | None = None,
    prepared: Prepared | None = None,
) -> Report:
    opts = options or Options()
    prep = prepared or prepare(paths, opts, budget_tokens=backend.profile.budget_tokens)
    cache = Cache(opts.cache_dir, enabled=opts.use_cache)
    similar_text, similar_notes = _similar(prep, opts)
    d = draft.draft(
        prep.evidence,
        prep.facts,
        backend,
        cache=cache,
        title=opts.title,
        similar=similar_text,
        progress=progress,
    )
    d = d.model_copy(update={"similar": similar_notes})
    if opts.require_model and drafted_offline(d):
        # before the review: nobody should review a draft that will not be written
        raise LLMError(
            f"--require-model: no section was drafted by {backend.name} ("
            + "; ".join(sorted({s.by for s in d.provenance}))
            + ")",
            attempts=0,
            usage=backend.usage.as_dict(),
        )
    ids = prep.evidence.by_id()
    d, verification = verify.verify(d, prep.facts, ids)
    decision = reviewer(d)
    d = after_review(d, decision)
    cited = sorted(
        {i for t in d.timeline for i in t.evidence}
        | {i for w in d.whys for i in w.evidence}
        | {i for a in d.actions for i in a.evidence},
        key=lambda i: int(i[1:]),
    )
    return Report(
        draft=d,
        facts=prep.facts,
        review=decision,
        evidence=[ids[i] for i in cited if i in ids],
        ledger=prep.evidence.ledger,
        verification=verification,
        tool_version=__version__,
        prompt_versions=prompts.versions(draft.PROMPTS),
    )


def report_name(report: Report) -> str:
    return f"{report.draft.date}-{report.draft.slug}.md"


def write_report(
    report: Report, out_dir: Path, *, force: bool = False, json_out: Path | None = None
) -> Path:
    """Write the Markdown report (atomically, inside ``out_dir``) and the JSON sidecar."""
    name = report_name(report)
    target = safe_target(out_dir, name)
    text = render.render(report, file_name=str(out_dir / name))
    if json_out is not None:
        atomic_write_text(json_out, to_json(report), overwrite=True)
    atomic_write_text(target, text, overwrite=force)
    return target


def to_json(report: Report) -> str:
    return json.dumps(report.model_dump(mode="json"), indent=2, ensure_ascii=False)
