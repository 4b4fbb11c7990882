"""A written report read back for review (``draft-incident review REPORT.md``).

The Markdown is the source of truth (a pull request may have edited it); the
``--json-out`` sidecar, when given, adds what the file does not hold: the
computed facts (milestones, alert intervals) and the full evidence records.
Without it, the evidence appendix gives ids, times, sources and lines.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from ..formats import load_all
from ..models import (
    Draft,
    EventKind,
    EvidenceItem,
    Facts,
    LedgerEntry,
    Metric,
    Report,
    ReviewDecision,
    TimedFact,
    Verification,
)
from ..provenance import parse_footer
from ..render import render
from ..write import atomic_write_text
from . import markdown as md
from .approve import set_status
from .decision import ReviewSession


class LoadError(Exception):
    """The file is not a report this tool can review: one line, naming it."""


_METRIC = re.compile(r"\*\*Time to (\w+):\*\* ([^·]+?)\s*(?:·|$)")
_DURATION = re.compile(
    r"^(?:(?P<d>\d+) d (?P<dh>\d+) h|(?P<h>\d+) h (?P<hm>\d+) min|(?P<m>[\d.]+) min)$"
)
_ROW = re.compile(r"^\|\s*(E\d+)\s*\|(.*)\|\s*$")
_CELL = re.compile(r"(?<!\\)\|")
_COUNT = re.compile(r" \(x(\d+)\)$")
_LEDGER = re.compile(r"^- (\d+) × (.*)$")
_FOOTER = re.compile(
    r"^_(?P<who>Drafted .*) \(prompts (?P<prompts>[^()]*?)\)\."
    r" Verification: (?P<unv>\d+) unverified and (?P<drop>\d+) dropped timeline entries,"
    r" (?P<hyp>\d+) of \d+ whys are hypotheses, (?P<imp>\d+) unverified impact figures\._$"
)
_APPROVAL = re.compile(r"^(?P<s>approved|rejected) by @(?P<who>\S+) on (?P<at>\S+)")
_PENDING_NAME = re.compile(r"`draft-incident approve (?P<name>.+?) --approver NAME`")


def _minutes(text: str) -> float | None:
    m = _DURATION.match(text.strip())
    if not m:
        return None
    if m["d"]:
        return int(m["d"]) * 1440 + int(m["dh"]) * 60
    if m["h"]:
        return int(m["h"]) * 60 + int(m["hm"])
    return float(m["m"])


def _kind(source: str, text: str) -> EventKind:
    fmt = load_all().get(source)
    if fmt is not None and fmt.kind == "alert":
        return "alert_resolved" if re.search(r"\bresolved\b", text, re.I) else "alert_firing"
    if fmt is not None and fmt.kind == "chat":
        return "message"
    return "log"


def _evidence(body: list[str]) -> list[EvidenceItem]:
    out = []
    for line in body:
        m = _ROW.match(line.strip())
        if not m:
            continue
        cells = [c.strip() for c in _CELL.split(m.group(2))]
        if len(cells) < 5:
            continue
        ts, source, actor, ref, text = (
            cells[0],
            md.unescape(cells[1]),
            md.unescape(cells[2]),
            md.unescape(cells[3]),
            "|".join(cells[4:]),
        )
        count = _COUNT.search(text)
        text = md.unescape(_COUNT.sub("", text))
        try:
            when = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        except ValueError:
            continue
        out.append(
            EvidenceItem(
                id=m.group(1), ts=when, source=source, kind=_kind(source, text), text=text,
                actor=actor or None, ref=ref, count=int(count.group(1)) if count else 1,
            )
        )  # fmt: skip
    return out


_SECTION = re.compile(r"^\s*section (Detection|Response|Remediation)\s*$")
_STEP = re.compile(r"^\s+(?:\d\d-\d\d )?\d\d\u2236\d\d (.*): ([1-5]): .*$")
_ALERT_STEP = re.compile(r"^(\S+) (?:fired|resolved|acknowledged)$")


def _alert_names(lines: list[str], draft: Draft, evidence: list[EvidenceItem]) -> None:
    """The alert names the journey's steps show (``HighLatency fired``) go back on
    the cited alert evidence (the appendix has no column for them), in place."""
    labels = [m.group(1) for ln in lines if (m := _STEP.match(ln))]
    if len(labels) != len(draft.timeline):
        return
    by_id = {e.id: n for n, e in enumerate(evidence)}
    for label, entry in zip(labels, draft.timeline, strict=True):
        m = _ALERT_STEP.match(label)
        cut = label.endswith("\u2026") and " " not in label  # a long name, shortened
        for eid in entry.evidence if (m or cut) else []:
            n = by_id.get(eid)
            if n is None or not evidence[n].kind.startswith("alert"):
                continue
            name = m.group(1) if m else label[:-1]
            if not m:  # the first word of the alert's text that the shortened name begins
                words = re.findall(r"[\w.-]+", evidence[n].text)
                name = next((w for w in words if w.startswith(name)), "")
                if not name:
                    continue
            attrs = {**evidence[n].attrs, "alertname": name}
            evidence[n] = evidence[n].model_copy(update={"attrs": attrs})


def _journey_lines(text: str) -> list[str]:
    m = re.search(r"^```mermaid\n(.*?)^```", text, flags=re.M | re.S)
    return m.group(1).splitlines() if m and "\njourney\n" in f"\n{m.group(1)}" else []


def _milestones(lines: list[str], times: list[datetime]) -> dict[str, datetime]:
    """Milestones as the file's journey drew them (one step per timeline entry,
    in order): its sections and scores are cut at the acknowledgement, the
    mitigation and the resolution, so re-rendering draws the same picture."""
    steps: list[tuple[str, int]] = []
    section = ""
    for ln in lines:
        if m := _SECTION.match(ln):
            section = m.group(1)
        elif (m := _STEP.match(ln)) and section:
            steps.append((section, int(m.group(2))))
    if len(steps) != len(times):
        return {}
    out: dict[str, datetime] = {}
    detection = [t for t, (sec, _) in zip(times, steps, strict=True) if sec == "Detection"]
    if detection:
        out["acknowledged"] = max(detection)
    remediation = [t for t, (sec, _) in zip(times, steps, strict=True) if sec == "Remediation"]
    if remediation:
        out["mitigated"] = min(remediation)
    resolved = [t for t, (_, score) in zip(times, steps, strict=True) if score == 5]
    if resolved:
        out["resolved"] = min(resolved)
    return out


def _facts(
    metrics: dict[str, float | None], d: Draft, milestones: dict[str, datetime] | None = None
) -> Facts:
    """Facts as far as the file holds them: durations, and the milestones its
    journey diagram shows (no start or detection time)."""
    none = TimedFact(ts=None, formula="not in the report file")
    drawn = {
        k: TimedFact(ts=ts, formula="read from the report's journey")
        for k, ts in (milestones or {}).items()
    }

    def metric(name: str) -> Metric:
        return Metric(minutes=metrics.get(name), formula="read from the report")

    return Facts(
        start=none, detected=none, acknowledged=drawn.get("acknowledged", none),
        mitigated=drawn.get("mitigated", none), resolved=drawn.get("resolved", none),
        time_to_detect=metric("detect"), time_to_acknowledge=metric("acknowledge"),
        time_to_mitigate=metric("mitigate"), time_to_resolve=metric("resolve"),
        alerts=[], participants=[], services=[], severity=d.severity, status=d.status,
        lead=d.lead, artifacts=d.artifacts, action_hints=[],
    )  # fmt: skip


def _decision(value: str) -> ReviewDecision:
    m = _APPROVAL.match(value)
    if not m:
        return ReviewDecision(status="pending")
    at = datetime.fromisoformat(m["at"].replace("Z", "+00:00"))
    return ReviewDecision(status=m["s"], approver=m["who"], at=at.astimezone(UTC))  # type: ignore[arg-type]


def parse(path: Path, text: str) -> tuple[Report, str]:
    """The report a file holds, and the name its pending line gives it."""
    if not text.startswith(md.TITLE) or md.REFLEXION not in text:
        raise LoadError(f"{path}:1: not a draft-incident report")
    secs = dict(md.sections(text))
    title_line = next(n for n in secs if n.startswith(md.TITLE))
    head = md.fields(secs[title_line], escaped=True)
    stem = re.match(r"(\d{4}-\d{2}-\d{2})-(.+)$", path.stem)
    evidence = _evidence(secs.get("## Appendix: Evidence", []))
    ids = {e.id: e for e in evidence}
    summary_lines = [ln.strip() for ln in secs.get(md.SUMMARY, []) if ln.strip()]
    metrics = {k: _minutes(v) for k, v in _METRIC.findall(" ".join(summary_lines))}
    summary = " ".join(ln for ln in summary_lines if not ln.startswith("**Time to"))
    timeline = []
    for n, t in enumerate(md.parse_timeline(secs.get(md.TIMELINE, []), escaped=True), 1):
        cited = [ids[i] for i in t.evidence if i in ids]
        if not cited:
            raise LoadError(f"{path}: timeline entry {n} cites no evidence of the appendix")
        timeline.append({**t.model_dump(exclude={"ts"}), "ts": min(c.ts for c in cited)})
    refl = md.fields(secs.get(md.REFLEXION, []), escaped=True)
    footer = next((m for ln in secs.get(md.FOOTER, []) if (m := _FOOTER.match(ln))), None)
    notes = [
        md.unescape(x[2:]) for x in md.items(secs.get("## Review Notes", [])) if x.startswith("- ")
    ]
    notes = [n for n in notes if not _FOOTER.match(n)]
    who = parse_footer(md.unescape(footer["who"])) if footer else None
    raw_approval = next(
        (ln for ln in md.items(secs.get(md.REFLEXION, [])) if ln.startswith("- **Approval:**")), ""
    )
    approval = raw_approval.removeprefix("- **Approval:**").strip()
    pending_name = _PENDING_NAME.search(approval)
    try:
        draft = Draft.model_validate(
            dict(
                title=md.unescape(title_line[len(md.TITLE) :]),
                slug=stem.group(2) if stem else path.stem,
                date=head.get("date", stem.group(1) if stem else ""),
                status=head.get("status", ""),
                severity=head.get("severity", ""),
                lead=head.get("lead", ""),
                impact=head.get("impact", ""),
                summary=md.unescape(summary),
                timeline=timeline,
                whys=[w.model_dump() for w in md.parse_whys(secs.get(md.WHYS, []), escaped=True)],
                actions=[
                    a.model_dump() for a in md.parse_actions(secs.get(md.ACTIONS, []), escaped=True)
                ],
                reflexion={k: refl.get(k, "") for k in ("context", "lesson", "adjustment")},
                artifacts=_artifacts(secs.get("## Artifacts", [])),
                generated_by=who[1] if who else "unknown",
                provenance=who[2] if who else [],
                notes=notes,
                similar=[
                    md.unescape(x[2:]) for x in md.items(secs.get("## Similar Past Incidents", []))
                ],
            )
        )
        _alert_names(_journey_lines(text), draft, evidence)
        report = Report(
            draft=draft,
            facts=_facts(
                metrics,
                draft,
                _milestones(_journey_lines(text), [t.ts for t in draft.timeline]),
            ),
            review=_decision(approval),
            evidence=evidence,
            ledger=_ledger(secs.get("## Appendix: Condensed Away", [])),
            verification=Verification(
                unverified_timeline=int(footer["unv"]) if footer else 0,
                dropped_timeline=int(footer["drop"]) if footer else 0,
                hypotheses=int(footer["hyp"]) if footer else 0,
                unverified_impact=int(footer["imp"]) if footer else 0,
            ),
            tool_version=who[0].split(" ", 1)[1] if who else "unknown",
            prompt_versions=_prompts(footer["prompts"] if footer else ""),
        )
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise LoadError(f"{path}: cannot read the report back ({where}: {first['msg']})") from None
    return report, pending_name.group("name") if pending_name else str(path)


def _artifacts(body: list[str]) -> list[str]:
    out = []
    for item in md.items(body):
        value = item[2:].strip()
        if value == "_None found._":
            continue
        out.append(
            value[1:-1] if value.startswith("<") and value.endswith(">") else md.unescape(value)
        )
    return out


def _ledger(body: list[str]) -> list[LedgerEntry]:
    out = []
    for item in md.items(body):
        m = _LEDGER.match(item)
        if m:
            reason, _, detail = m.group(2).partition(": ")
            out.append(
                LedgerEntry(
                    reason=md.unescape(reason), count=int(m.group(1)), detail=md.unescape(detail)
                )
            )
    return out


def _prompts(text: str) -> dict[str, str]:
    pairs = (p.strip().rpartition(" v") for p in md.unescape(text).split(",") if p.strip())
    return {k: v for k, _, v in pairs if k}


def session(path: Path, *, json_path: Path | None = None) -> ReviewSession:
    """A review of the file at ``path``; writing re-renders it in place, atomically."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise LoadError(f"{path}: cannot read ({e.strerror})") from None
    report, name = parse(path, text)
    known = {e.id: e for e in report.evidence}
    warnings: list[str] = []
    facts_known = False
    if json_path is not None:
        try:
            full = Report.model_validate_json(json_path.read_text(encoding="utf-8"))
        except OSError as e:
            raise LoadError(f"{json_path}: cannot read ({e.strerror})") from None
        except ValidationError:
            raise LoadError(f"{json_path}:1: not a --json-out report") from None
        if (full.draft.date, full.draft.slug) != (report.draft.date, report.draft.slug):
            raise LoadError(
                f"{json_path}: describes {full.draft.date}-{full.draft.slug}, not {path.name}"
            )
        known.update({e.id: e for e in full.evidence})  # the full records (kinds, attributes)
        report = report.model_copy(
            update={"facts": full.facts, "evidence": [known[e.id] for e in report.evidence]}
        )
        facts_known = True
    again = render(report, file_name=name)
    if again != text:
        lost = [ln for ln in text.splitlines() if ln not in set(again.splitlines())]
        warnings.append(
            f"{len(lost)} line(s) of {path.name} are not in the shape draft-incident writes "
            f"(first: {lost[0][:80]!r}); saving edits rewrites the file without them"
            if lost
            else f"{path.name} will be rewritten in draft-incident's current layout"
        )

    original = report.draft

    was = report.review.status

    def write(r: Report) -> Path:
        if r.draft == original and r.review.status != "pending":
            # only the decision changed: the very line `draft-incident approve` writes
            assert r.review.approver is not None
            set_status(
                path,
                approver=r.review.approver,
                reject=r.review.status == "rejected",
                now=r.review.at,
            )
        elif r.draft != original or was != "pending":
            atomic_write_text(path, render(r, file_name=name), overwrite=True)
        return path

    return ReviewSession(
        report=report, known=known, write=write, facts_known=facts_known, warnings=warnings,
        target=str(path), record_rejection=True, events=list(known.values()),
    )  # fmt: skip
