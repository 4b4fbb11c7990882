"""Draft quality on the fixture incidents: one row per (incident, backend).

``make eval``, or ``bench/eval.py [--backends offline,local] [--incidents A,B]
[--cache DIR] [--json-out FILE]``: every ``fixtures/<name>/`` with an answer key
``fixtures/_expected/<name>.json`` (kept out of the folder, which is input) is drafted with each backend (lesson auto-approved, LLM cache in a temp dir).

Metrics (keywords match as case-insensitive substrings, so ``terminat`` is a
stem; an entry's *text* below is its own text plus the text, actor and
attribute values of the evidence items it cites that resolve in
``report.evidence``, the appendix):

- **recall**: reference events (the answer key's ``timeline``) matched by an
  entry whose ``ts`` is within ±5 minutes and whose text holds at least one of
  the event's keywords; the matching is one-to-one (maximum bipartite
  matching), so one entry cannot stand for two reference events.
- **precision**: entries that are *correct*: they match a reference event
  (window + keyword, not necessarily one-to-one) **or** they are supported by
  their evidence: at least one cited id, every cited id resolves, ``ts`` equals
  the time of a cited item, and at least half (``SUPPORT_MIN``) of the entry's
  content words (``pipeline.verify.stems``, the verifier's own unit) occur
  in the cited evidence. ``on-ref`` is the stricter share of entries that match
  a reference event.
- **grounding**: entries with at least one cited id where every cited id
  resolves in ``report.evidence``.
- **invented**: entries whose ``ts`` is not the ``ts`` of any resolved cited
  item (invariant: must be 0).
- **root cause**: ``root_cause_keywords`` found in the five whys (question and
  answer) plus the summary.
- **placeholder whys**: whys left to the reviewer (no drafted answer), of all whys.
- **sev**: the draft's severity equals the expected one.
- **leaks**: ``planted_secrets`` found in the rendered Markdown (as is, and with
  its escaping undone) or in the JSON report (invariant: must be 0).
- **tokens**: input/output tokens from ``backend.usage`` (cache hits cost none);
  **wall**: seconds per draft (server start-up: ``startup_s`` in the JSON).

Totals rows are micro-averages (summed numerators over summed denominators).
Exit 1 when an invariant breaks (invented time, leaked secret) or a draft
crashed, 2 on bad usage; never because a quality score is low.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline import api, render
from pipeline.llm import ChatBackend, open_backend
from pipeline.models import EvidenceItem, Report, ReviewDecision, TimelineEntry
from pipeline.verify import stems

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
EXPECTED = FIXTURES / "_expected"  # answer keys: fixtures/_expected/<incident>.json
DEFAULT_JSON = ROOT / "out" / "eval-results.json"
WINDOW = timedelta(minutes=5)
SUPPORT_MIN = 0.5
BACKENDS = ("offline", "local", "openai")
_MD_ESCAPE = re.compile(r"\\([\\`*_\[\]{}<>#|!~.+-])")


# --- scoring (pure functions on a Report and its answer key) -----------------


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def has_keyword(text: str, keywords: Iterable[str]) -> bool:
    low = text.lower()
    return any(k.lower() in low for k in keywords)


def _item_text(item: EvidenceItem) -> str:
    return " ".join([item.text, item.actor or "", *item.attrs.values()])


def cited_items(entry: TimelineEntry, evidence: dict[str, EvidenceItem]) -> list[EvidenceItem]:
    return [evidence[i] for i in entry.evidence if i in evidence]


def entry_text(entry: TimelineEntry, evidence: dict[str, EvidenceItem]) -> str:
    return " ".join([entry.text, *(_item_text(i) for i in cited_items(entry, evidence))])


def matches(entry: TimelineEntry, ref: dict[str, Any], evidence: dict[str, EvidenceItem]) -> bool:
    """The entry is within ±5 min of the reference event and names one of its keywords."""
    close = abs(entry.ts - parse_ts(ref["ts"])) <= WINDOW
    return close and has_keyword(entry_text(entry, evidence), ref["keywords"])


def timeline_recall(report: Report, refs: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """(reference events matched one-to-one, reference events)."""
    ev, entries = {i.id: i for i in report.evidence}, report.draft.timeline
    edges = [[j for j, e in enumerate(entries) if matches(e, r, ev)] for r in refs]
    return one_to_one(edges), len(refs)


def one_to_one(edges: Sequence[Sequence[int]], owner: dict[int, int] | None = None) -> int:
    """Reference events matched one-to-one (maximum bipartite matching by augmenting
    paths): ``edges[r]`` are the entries that could stand for reference ``r``.
    ``owner`` (when given) receives the matching: entry index -> reference index."""
    owner = {} if owner is None else owner

    def augment(r: int, seen: set[int]) -> bool:
        for j in edges[r]:
            if j not in seen:
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = r
                    return True
        return False

    return sum(augment(r, set()) for r in range(len(edges)))


def grounded(entry: TimelineEntry, evidence: dict[str, EvidenceItem]) -> bool:
    return bool(entry.evidence) and all(i in evidence for i in entry.evidence)


def invented(entry: TimelineEntry, evidence: dict[str, EvidenceItem]) -> bool:
    return all(item.ts != entry.ts for item in cited_items(entry, evidence))


def supported(entry: TimelineEntry, evidence: dict[str, EvidenceItem]) -> bool:
    if not grounded(entry, evidence) or invented(entry, evidence):
        return False
    words = stems(entry.text)
    found = stems(" ".join(_item_text(i) for i in cited_items(entry, evidence)))
    return bool(words) and len(words & found) >= SUPPORT_MIN * len(words)


def timeline_precision(report: Report, refs: Sequence[dict[str, Any]]) -> tuple[int, int, int]:
    """(correct entries, entries matching a reference event, entries)."""
    ev, entries = {i.id: i for i in report.evidence}, report.draft.timeline
    on_ref = [any(matches(e, r, ev) for r in refs) for e in entries]
    ok = [hit or supported(e, ev) for e, hit in zip(entries, on_ref, strict=True)]
    return sum(ok), sum(on_ref), len(entries)


def grounding(report: Report) -> tuple[int, int]:
    ev = {i.id: i for i in report.evidence}
    return sum(grounded(e, ev) for e in report.draft.timeline), len(report.draft.timeline)


def invented_timestamps(report: Report) -> int:
    ev = {i.id: i for i in report.evidence}
    return sum(invented(e, ev) for e in report.draft.timeline)


def root_cause_recall(report: Report, keywords: Sequence[str]) -> tuple[int, int]:
    d = report.draft
    text = " ".join([d.summary, *(f"{w.question} {w.answer}" for w in d.whys)])
    return sum(has_keyword(text, [k]) for k in keywords), len(keywords)


def placeholder_whys(report: Report) -> int:
    """Whys with no drafted answer (left to the reviewer)."""
    return sum("to be answered by the reviewer" in w.answer.lower() for w in report.draft.whys)


def severity_match(report: Report, expected: str | None) -> bool:
    norm = lambda s: re.sub(r"[^a-z0-9]", "", s.lower())  # noqa: E731
    return expected is not None and norm(report.draft.severity) == norm(expected)


def leaked_secrets(report: Report, secrets: Sequence[str], md: str | None = None) -> list[str]:
    """The planted secrets found in the rendered report (as is and unescaped) or its JSON."""
    md = md if md is not None else render.render(report)
    plain = _MD_ESCAPE.sub(r"\1", md).replace("&amp;", "&").replace("#amp;", "&")
    as_json = api.to_json(report)
    haystacks = [md, plain, as_json, as_json.replace('\\"', '"').replace("\\\\", "\\")]
    return [s for s in secrets if s and any(s in h for h in haystacks)]


# --- rows --------------------------------------------------------------------


@dataclass
class Row:
    incident: str
    backend: str
    ref_matched: int = 0
    ref_events: int = 0
    correct: int = 0
    on_ref: int = 0
    entries: int = 0
    grounded: int = 0
    invented_ts: int = 0
    rc_found: int = 0
    rc_keywords: int = 0
    severity_ok: int = 0
    severity_n: int = 0
    placeholder_whys: int = 0
    whys: int = 0
    secrets_leaked: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    wall_s: float = 0.0
    error: str | None = None

    def ratios(self) -> dict[str, float | None]:
        r = lambda a, b: round(a / b, 3) if b else None  # noqa: E731
        return {
            "recall": r(self.ref_matched, self.ref_events),
            "precision": r(self.correct, self.entries),
            "on_ref": r(self.on_ref, self.entries),
            "grounding": r(self.grounded, self.entries),
            "root_cause_recall": r(self.rc_found, self.rc_keywords),
            "severity": r(self.severity_ok, self.severity_n),
        }

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), **self.ratios()}


def score(report: Report, expected: dict[str, Any], *, incident: str, backend: str) -> Row:
    refs = expected.get("timeline", [])
    row = Row(incident, backend)
    row.ref_matched, row.ref_events = timeline_recall(report, refs)
    row.correct, row.on_ref, row.entries = timeline_precision(report, refs)
    row.grounded, _ = grounding(report)
    row.invented_ts = invented_timestamps(report)
    rc = expected.get("root_cause_keywords", [])
    row.rc_found, row.rc_keywords = root_cause_recall(report, rc)
    row.severity_ok, row.severity_n = int(severity_match(report, expected.get("severity"))), 1
    row.placeholder_whys, row.whys = placeholder_whys(report), len(report.draft.whys)
    row.secrets_leaked = len(leaked_secrets(report, expected.get("planted_secrets", [])))
    return row


def totals(rows: Sequence[Row], backend: str) -> Row:
    total = Row("TOTAL", backend)
    for row in rows:
        for name, value in asdict(row).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                setattr(total, name, getattr(total, name) + value)
    total.wall_s = round(total.wall_s, 2)
    errors = sum(r.error is not None for r in rows)
    total.error = f"{errors} incident(s) failed" if errors else None
    return total


sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling bench modules
INJECTION: list[dict[str, Any]] = []  # one result per backend, printed after the table


def extra_rows(backend: ChatBackend | None = None, options: api.Options | None = None) -> list[Row]:
    """Runs the prompt-injection corpus for this backend (its own table, see injection_eval)."""
    if backend is not None and options is not None:
        from injection_eval import injection_row

        try:
            INJECTION.append(injection_row(backend, options))
        except Exception as e:  # reported, never fatal to the eval
            INJECTION.append({"backend": backend.name, "error": f"{type(e).__name__}: {e}"[:300]})
    return []


def violations(rows: Sequence[Row]) -> list[str]:
    out = []
    for r in rows:
        if r.incident == "TOTAL":
            continue
        if r.invented_ts:
            out.append(f"{r.incident}/{r.backend}: {r.invented_ts} invented timestamp(s)")
        if r.secrets_leaked:
            out.append(f"{r.incident}/{r.backend}: {r.secrets_leaked} planted secret(s) leaked")
        if r.error:
            out.append(f"{r.incident}/{r.backend}: draft failed: {r.error}")
    return out


# --- running -----------------------------------------------------------------


def incidents(names: Sequence[str] | None = None) -> list[Path]:
    found = sorted(FIXTURES / key.stem for key in EXPECTED.glob("*.json"))
    if not names:
        return found
    by_name = {p.name: p for p in found}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise SystemExit(f"unknown incident(s): {', '.join(unknown)}; have: {', '.join(by_name)}")
    return [by_name[n] for n in names]


def available_backends() -> list[str]:
    from pipeline.local_llm import local_available

    endpoint = os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")
    return ["offline", *(["local"] if local_available() else []), *(["openai"] if endpoint else [])]


def approve(_draft: Any) -> ReviewDecision:
    return ReviewDecision(status="approved", approver="eval")


def _note(message: str) -> None:
    print(f"    {message}", file=sys.stderr, flush=True)


def eval_incident(folder: Path, backend: ChatBackend, options: api.Options) -> Row:
    expected = json.loads((EXPECTED / f"{folder.name}.json").read_text(encoding="utf-8"))
    paths = [str(folder / sub) for sub in ("alerts", "chat", "logs") if (folder / sub).exists()]
    before_in, before_out = backend.usage.input_tokens, backend.usage.output_tokens
    started = time.monotonic()
    try:
        report = api.draft_report(paths, backend, options=options, reviewer=approve, progress=_note)
    except Exception as e:  # a crash is reported in its row, the other rows still run
        row = Row(folder.name, backend.name, error=f"{type(e).__name__}: {e}"[:300])
    else:
        row = score(report, expected, incident=folder.name, backend=backend.name)
    row.wall_s = round(time.monotonic() - started, 2)
    row.input_tokens = backend.usage.input_tokens - before_in
    row.output_tokens = backend.usage.output_tokens - before_out
    return row


def run(
    backends: Sequence[str], folders: Sequence[Path], cache_dir: Path, injection: bool = True
) -> tuple[list[Row], dict[str, float]]:
    """Draft every incident with every backend; rows per incident, then a totals row."""
    rows: list[Row] = []
    startup: dict[str, float] = {}
    options = api.Options(cache_dir=cache_dir)
    for name in backends:
        t0 = time.monotonic()
        with open_backend(name) as backend:
            startup[name] = round(time.monotonic() - t0, 2)
            mine = []
            for folder in folders:
                _note(f"{folder.name} with {backend.name} ...")
                mine.append(eval_incident(folder, backend, options))
            extra = extra_rows(backend, options) if injection else []
            rows += [*mine, totals(mine, backend.name), *extra]
    return rows, startup


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


COLUMNS = ("incident", "backend", "recall", "precision", "on-ref", "grounding", "invented",
           "root cause", "placeholder whys", "sev", "leaks", "tokens in/out", "wall s",
           "error")  # fmt: skip


def table_cells(r: Row) -> list[str]:
    q = r.ratios()
    return [r.incident, r.backend, f"{_fmt(q['recall'])} ({r.ref_matched}/{r.ref_events})",
            f"{_fmt(q['precision'])} ({r.correct}/{r.entries})", _fmt(q["on_ref"]),
            _fmt(q["grounding"]), str(r.invented_ts),
            f"{_fmt(q['root_cause_recall'])} ({r.rc_found}/{r.rc_keywords})",
            f"{r.placeholder_whys}/{r.whys}", f"{r.severity_ok}/{r.severity_n}", str(r.secrets_leaked),
            f"{r.input_tokens}/{r.output_tokens}", f"{r.wall_s:.1f}", (r.error or "")[:60]]  # fmt: skip


def print_table(rows: Sequence[Row]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="draft-incident eval", show_lines=False)
    for col in COLUMNS:
        table.add_column(col, no_wrap=col in ("incident", "backend"), overflow="fold")
    for row in rows:
        table.add_row(*table_cells(row), style="bold" if row.incident == "TOTAL" else None)
    Console(width=max(200, Console().width)).print(table)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--backends", help="offline,local,openai (default: all available)")
    ap.add_argument("--incidents", help="comma-separated fixture folder names (default: all)")
    ap.add_argument("--cache", type=Path, help="LLM answer cache dir (default: a fresh temp dir)")
    ap.add_argument("--json-out", type=Path, default=DEFAULT_JSON, help=f"default: {DEFAULT_JSON}")
    ap.add_argument(
        "--no-injection", action="store_true", help="skip the prompt-injection corpus table"
    )
    args = ap.parse_args(argv)
    have = available_backends()
    wanted = args.backends.split(",") if args.backends else have
    bad = [b for b in wanted if b not in BACKENDS or b not in have]
    if bad:
        print(f"backend(s) not available here: {', '.join(bad)} (available: {', '.join(have)})",
              file=sys.stderr)  # fmt: skip
        return 2
    folders = incidents(args.incidents.split(",") if args.incidents else None)
    with tempfile.TemporaryDirectory(prefix="draft-incident-eval-") as tmp:
        rows, startup = run(wanted, folders, args.cache or Path(tmp), not args.no_injection)
    print_table(rows)
    from injection_eval import print_rows

    print_rows([r for r in INJECTION if "error" not in r])
    problems = violations(rows) + [
        f"injection/{r['backend']}: {r['error']}" for r in INJECTION if "error" in r
    ]
    problems += [
        f"injection/{r['backend']}: {len(r['unresolved_citations'])} unresolved citations, "
        f"{r['raw_html_tags']} raw HTML tags"
        for r in INJECTION
        if "error" not in r
        and (r["unresolved_citations"] or r["raw_html_tags"] or not r["headings_once"])
    ]
    payload = {
        "generated_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        **{"backends": wanted, "startup_s": startup, "violations": problems},
        **{"window_minutes": WINDOW.total_seconds() / 60, "support_min": SUPPORT_MIN},
        "rows": [r.as_dict() for r in rows],
        "injection": INJECTION,
    }
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json_out}")
    for p in problems:
        print(f"INVARIANT: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
