"""Stage 8: the report in the team's template.

Every piece of text that came from inputs or a model goes through
``mdtext.inline``: identifiers, versions and paths become code spans, the rest is
escaped where Markdown would misread it, so a chat line or a model answer can't
add headings, links, HTML or break a table (``pipeline/mdtext.py``).
"""

from __future__ import annotations

import re

from .journey import journey
from .mdtext import inline as esc
from .mdtext import prose
from .models import Action, EvidenceItem, Report, ReviewDecision, iso_z
from .provenance import footer
from .urls import safe_link

_APPROVER = re.compile(r"[^A-Za-z0-9._@-]")
HORIZONS = (("immediate", "Immediate Term"), ("medium", "Medium Term"), ("long", "Long Term"))


def approver_name(name: str) -> str:
    return _APPROVER.sub("", name)[:64] or "unknown"


def minutes(m: float | None) -> str:
    """Durations for people: 47 min, 2 h 05 min, 3 d 4 h."""
    if m is None:
        return "unknown"
    if m < 120:
        return f"{m:g} min"
    total = round(m)
    d, rest = divmod(total, 1440)
    h, mins = divmod(rest, 60)
    return f"{d} d {h} h" if d else f"{h} h {mins:02d} min"


def cite(ids: list[str]) -> str:
    return f" [{', '.join(ids)}]" if ids else ""


def approval_line(review: ReviewDecision, report_name: str = "<this file>") -> str:
    if review.status == "approved":
        return f"- **Approval:** approved by @{approver_name(review.approver or '')} on {iso_z(review.at)}"
    if review.status == "rejected":
        return f"- **Approval:** rejected by @{approver_name(review.approver or '')} on {iso_z(review.at)}"
    return (
        "- **Approval:** pending — approve by reviewing this pull request, or run "
        f"`draft-incident approve {report_name} --approver NAME`"
    )


def _actions(actions: list[Action], horizon: str) -> list[str]:
    got = [a for a in actions if a.horizon == horizon]
    if not got:
        return ["- [ ] _None proposed yet: add one in review._"]
    return [f"- [{'x' if a.done else ' '}] {esc(a.text)}{cite(a.evidence)}" for a in got]


def _evidence_rows(items: list[EvidenceItem]) -> list[str]:
    rows = ["| id | time (UTC) | source | who | ref | text |", "|---|---|---|---|---|---|"]
    for it in items:
        text = esc(it.text, at="cell", limit=200)
        if it.count > 1:
            text += f" (x{it.count})"
        source, ref = esc(it.source, at="cell"), esc(it.ref, at="cell")
        who = esc(it.actor, at="cell") if it.actor else ""
        rows.append(f"| {it.id} | {iso_z(it.ts)} | {source} | {who} | {ref} | {text} |")
    return rows


def render(report: Report, *, file_name: str = "<this file>") -> str:
    d, f, v = report.draft, report.facts, report.verification
    out = [
        f"# Incident Report: {esc(d.title, at='heading')}",
        "",
        f"- **Date:** {d.date}",
        f"- **Status:** {esc(d.status, at='inline')}",
        f"- **Severity:** {d.severity}",
        f"- **Lead:** {esc(d.lead, at='inline')}",
        f"- **Impact:** {esc(d.impact, at='inline')}",
        "",
        "## Executive Summary",
        "",
        esc(d.summary),
        "",
    ]
    metrics = [
        ("Time to detect", f.time_to_detect.minutes),
        ("Time to acknowledge", f.time_to_acknowledge.minutes),
        ("Time to mitigate", f.time_to_mitigate.minutes),
        ("Time to resolve", f.time_to_resolve.minutes),
    ]
    out.append(" · ".join(f"**{k}:** {minutes(m)}" for k, m in metrics))
    out += ["", "## Timeline (UTC)", ""]
    multi_day = len({t.ts.date() for t in d.timeline}) > 1
    for t in d.timeline:
        mark = "" if t.verified else " *(unverified)*"
        when = f"{t.ts:%Y-%m-%d %H:%M}" if multi_day else f"{t.ts:%H:%M}"
        out.append(f"- **{when}** — {esc(t.text, at='inline')}{mark}{cite(t.evidence)}")
    if not d.timeline:
        out.append("- _No timeline entries could be verified._")
    out += ["", *journey(report), "", "## Root Cause Analysis (The 5 Whys)", ""]
    for n, w in enumerate(d.whys, 1):
        hyp = " *(hypothesis — confirm)*" if w.hypothesis else ""
        out.append(
            f"{n}. **{esc(w.question, at='inline')}** {esc(w.answer, at='inline')}{hyp}{cite(w.evidence)}"
        )
    out += ["", "## Corrective Actions", ""]
    for key, heading in HORIZONS:
        out += [f"### {heading}", *_actions(d.actions, key), ""]
    r = d.reflexion
    adjustment = report.review.adjustment or r.adjustment
    out += [
        "## Reflexion (Agent Learning)",
        "",
        f"- **Context:** {esc(r.context, at='inline')}",
        f"- **Lesson:** {esc(r.lesson, at='inline')}",
        f"- **Adjustment:** {esc(adjustment, at='inline')}",
        approval_line(report.review, file_name),
        "",
        "## Artifacts",
        "",
    ]
    out += [f"- <{a}>" if safe_link(a) else f"- {esc(a)}" for a in d.artifacts] or [
        "- _None found._"
    ]
    if d.similar:
        out += ["", "## Similar Past Incidents", "", *[f"- {esc(s)}" for s in d.similar]]
    out += ["", "## Appendix: Evidence", "", *_evidence_rows(report.evidence), ""]
    out += ["## Appendix: Condensed Away", ""]
    out += [
        f"- {e.count} × {esc(e.reason)}" + (f": {esc(e.detail)}" if e.detail else "")
        for e in report.ledger
    ] or ["- Nothing: every event is in the evidence pack."]
    notes = [*d.notes, *v.blame_flags]
    if notes:
        out += ["", "## Review Notes", "", *[f"- {esc(n)}" for n in notes]]
    out += [
        "",
        "---",
        f"_{prose(footer(d, f'draft-incident {report.tool_version}'))}"
        f" (prompts {prose(', '.join(f'{k} v{x}' for k, x in report.prompt_versions.items()))})."
        f" Verification: {v.unverified_timeline} unverified and {v.dropped_timeline} dropped"
        f" timeline entries, {v.hypotheses} of {len(d.whys)} whys are hypotheses,"
        f" {v.unverified_impact} unverified impact figures._",
        "",
    ]
    return "\n".join(out)
