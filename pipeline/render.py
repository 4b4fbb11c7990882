"""Stage 8: the report in the team's template.

Every piece of text that came from inputs or a model is escaped: a chat line
or a model answer can't add headings, links, HTML or break a table.
"""

from __future__ import annotations

import re

from .models import Action, EvidenceItem, Report, ReviewDecision, iso_z
from .provenance import footer

_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}<>#|!~])")
_APPROVER = re.compile(r"[^A-Za-z0-9._@-]")
HORIZONS = (("immediate", "Immediate Term"), ("medium", "Medium Term"), ("long", "Long Term"))


def esc(text: str) -> str:
    """One line of inert Markdown: no HTML, no headings, no links, no tables."""
    one = " ".join(str(text).split())
    one = one.replace("&", "&amp;")
    one = _MD_SPECIAL.sub(r"\\\1", one)
    # a leading "1." or "-" would start a list when the text begins a line
    one = re.sub(r"^(\d+)\.", r"\1\\.", one)
    return "\\" + one if one[:1] in ("-", "+") else one


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


def _mermaid(report: Report) -> list[str]:
    tl = report.draft.timeline
    if not tl:
        return []
    lines = ["```mermaid", "flowchart TD"]
    for n, t in enumerate(tl):
        label = "".join(c for c in " ".join(t.text.split()) if c.isprintable())[:70]
        # entity codes keep quotes and brackets from ending the label
        for ch, code in (
            ("&", "#amp;"),
            ('"', "#quot;"),
            ("<", "#lt;"),
            (">", "#gt;"),
            ("`", "#96;"),
        ):
            label = label.replace(ch, code)
        lines.append(f'    t{n}["{t.ts:%H:%M} {label}"]')
    lines.append("    " + " --> ".join(f"t{n}" for n in range(len(tl))))
    lines.append("```")
    return lines


def _actions(actions: list[Action], horizon: str) -> list[str]:
    got = [a for a in actions if a.horizon == horizon]
    if not got:
        return ["- [ ] _None proposed yet: add one in review._"]
    return [f"- [{'x' if a.done else ' '}] {esc(a.text)}{cite(a.evidence)}" for a in got]


def _evidence_rows(items: list[EvidenceItem]) -> list[str]:
    rows = ["| id | time (UTC) | source | ref | text |", "|---|---|---|---|---|"]
    for it in items:
        text = esc(it.text)[:200]
        if it.count > 1:
            text += f" (x{it.count})"
        rows.append(f"| {it.id} | {iso_z(it.ts)} | {esc(it.source)} | {esc(it.ref)} | {text} |")
    return rows


def render(report: Report, *, file_name: str = "<this file>") -> str:
    d, f, v = report.draft, report.facts, report.verification
    out = [
        f"# Incident Report: {esc(d.title)}",
        "",
        f"- **Date:** {d.date}",
        f"- **Status:** {esc(d.status)}",
        f"- **Severity:** {d.severity}",
        f"- **Lead:** {esc(d.lead)}",
        f"- **Impact:** {esc(d.impact)}",
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
        out.append(f"- **{when}** — {esc(t.text)}{mark}{cite(t.evidence)}")
    if not d.timeline:
        out.append("- _No timeline entries could be verified._")
    out += ["", *_mermaid(report), "", "## Root Cause Analysis (The 5 Whys)", ""]
    for n, w in enumerate(d.whys, 1):
        hyp = " *(hypothesis — confirm)*" if w.hypothesis else ""
        out.append(f"{n}. **{esc(w.question)}** {esc(w.answer)}{hyp}{cite(w.evidence)}")
    out += ["", "## Corrective Actions", ""]
    for key, heading in HORIZONS:
        out += [f"### {heading}", *_actions(d.actions, key), ""]
    r = d.reflexion
    adjustment = report.review.adjustment or r.adjustment
    out += [
        "## Reflexion (Agent Learning)",
        "",
        f"- **Context:** {esc(r.context)}",
        f"- **Lesson:** {esc(r.lesson)}",
        f"- **Adjustment:** {esc(adjustment)}",
        approval_line(report.review, file_name),
        "",
        "## Artifacts",
        "",
    ]
    out += [f"- <{a}>" if _safe_url(a) else f"- {esc(a)}" for a in d.artifacts] or [
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
        f"_{esc(footer(d, f'draft-incident {report.tool_version}'))}"
        f" (prompts {esc(', '.join(f'{k} v{x}' for k, x in report.prompt_versions.items()))})."
        f" Verification: {v.unverified_timeline} unverified and {v.dropped_timeline} dropped"
        f" timeline entries, {v.hypotheses} of {len(d.whys)} whys are hypotheses,"
        f" {v.unverified_impact} unverified impact figures._",
        "",
    ]
    return "\n".join(out)


def _safe_url(url: str) -> bool:
    return (
        bool(re.fullmatch(r"https?://[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+", url))
        and ">" not in url
    )
