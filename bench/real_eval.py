"""Draft quality on real incidents (``../shared/real-incidents``), scored as its README says.

``bench/real_eval.py [--backends offline,local] [--incidents A,B] [--json-out FILE]``
(also run by ``make eval`` after the fixture table). Each folder holds
``input.txt`` (raw chat, fed with no ``--as``), ``truth.json`` (reference
timeline in UTC, ``date``, ``tz``, ``root_cause_keywords``).

Per incident and backend:

- **detected**: the input is read without ``--as`` (no error, at least one event);
- **coverage**: of the ``in_input`` reference events, the share with an ingested
  event within ±10 minutes (ingestion only: the right day, the right clock);
- **speakers**: the share of chat messages whose speaker (actor) was parsed;
- **recall**: of the ``in_input`` reference events, the share matched one-to-one by
  a timeline entry within ±10 minutes whose own text holds one of the event's
  keywords (the entry's text only, not its evidence: what a reader sees);
- **invented**: timeline entries whose time is not within 60 s of an ingested
  event (must be 0);
- **root cause**: at least half of ``root_cause_keywords`` appear in the whys,
  the summary or the title; **placeholders**: whys with no drafted answer.

Skips with one line when the folder is absent (a clone with nothing beside it).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import zoneinfo
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pipeline import api
from pipeline.llm import ChatBackend, open_backend
from pipeline.models import Event, Report, ReviewDecision
from pipeline.render import render

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling bench modules
from eval import has_keyword, one_to_one, parse_ts  # noqa: E402  (the fixture eval's scoring)

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "real-incidents"
WINDOW = timedelta(minutes=10)
INVENTED = timedelta(seconds=60)
PLACEHOLDER = "to be answered by the reviewer"


def folders(names: Sequence[str] | None = None) -> list[Path]:
    found = sorted(p.parent for p in REAL.glob("*/truth.json"))
    return [p for p in found if not names or p.name in names]


def truth(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "truth.json").read_text(encoding="utf-8"))


def options(t: dict[str, Any], cache_dir: Path | None = None) -> api.Options:
    """Exactly the README's invocation: ``--chat input.txt --date D --tz TZ``, no ``--as``."""
    return api.Options(
        tz=zoneinfo.ZoneInfo(t["tz"]),
        anchor_date=date.fromisoformat(t["date"]),
        cache_dir=cache_dir,
    )


def in_input(t: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in t["events"] if e.get("in_input")]


def coverage(events: Sequence[Event], refs: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """(reference events with an ingested event within ±10 min, reference events)."""
    times = [e.ts for e in events]
    near = sum(any(abs(ts - parse_ts(r["utc"])) <= WINDOW for ts in times) for r in refs)
    return near, len(refs)


def speakers(events: Sequence[Event]) -> tuple[int, int]:
    """(chat messages with a speaker, chat messages)."""
    chat = [e for e in events if e.kind == "message"]
    return sum(bool((e.actor or "").strip()) for e in chat), len(chat)


def timeline_recall(
    report: Report, refs: Sequence[dict[str, Any]], missed: list[str] | None = None
) -> tuple[int, int]:
    """One-to-one matching (augmenting paths): one entry cannot stand for two events.
    Reference events left unmatched are appended to ``missed`` (``utc text``)."""
    entries = report.draft.timeline
    edges = [
        [
            j
            for j, e in enumerate(entries)
            if abs(e.ts - parse_ts(r["utc"])) <= WINDOW and has_keyword(e.text, r["keywords"])
        ]
        for r in refs
    ]
    owner: dict[int, int] = {}
    matched = one_to_one(edges, owner)
    if missed is not None:
        won = set(owner.values())
        missed.extend(
            f"{r['utc'][11:16]} {r['text'][:70]}" for n, r in enumerate(refs) if n not in won
        )
    return matched, len(refs)


def invented(report: Report, events: Sequence[Event]) -> int:
    times = [e.ts for e in events]
    return sum(
        not any(abs(entry.ts - ts) <= INVENTED for ts in times) for entry in report.draft.timeline
    )


def root_cause(report: Report, keywords: Sequence[str]) -> tuple[int, int]:
    d = report.draft
    text = " ".join([d.title or "", d.summary, *(f"{w.question} {w.answer}" for w in d.whys)])
    return sum(has_keyword(text, [k]) for k in keywords), len(keywords)


def placeholders(report: Report) -> int:
    return sum(PLACEHOLDER in w.answer.lower() for w in report.draft.whys)


@dataclass
class RealRow:
    incident: str
    backend: str
    detected: bool = False
    covered: int = 0
    refs: int = 0
    with_speaker: int = 0
    messages: int = 0
    matched: int = 0
    entries: int = 0
    invented: int = 0
    rc_found: int = 0
    rc_keywords: int = 0
    placeholder_whys: int = 0
    wall_s: float = 0.0
    error: str | None = None
    missed: list[str] = field(default_factory=list)  # reference events no entry matched

    @property
    def root_cause_named(self) -> bool:
        return self.rc_keywords > 0 and 2 * self.rc_found >= self.rc_keywords

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "root_cause_named": self.root_cause_named}


def approve(_draft: Any) -> ReviewDecision:
    return ReviewDecision(status="approved", approver="eval")


def eval_incident(
    folder: Path, backend: ChatBackend, cache_dir: Path, reports: Path | None = None
) -> RealRow:
    t = truth(folder)
    row = RealRow(folder.name, backend.name)
    refs = in_input(t)
    opts = options(t, cache_dir)
    paths = [str(folder / "input.txt")]
    started = time.monotonic()
    try:
        loaded = api.load(paths, opts)
        events = loaded.norm.events
        row.detected = bool(events)
        row.covered, row.refs = coverage(events, refs)
        row.with_speaker, row.messages = speakers(events)
        report = api.draft_report(paths, backend, options=opts, reviewer=approve)
    except Exception as e:  # reported in the row; the other rows still run
        row.error = f"{type(e).__name__}: {e}"[:300]
        row.refs = len(refs)
    else:
        row.matched, _ = timeline_recall(report, refs, row.missed)
        if reports is not None:
            reports.mkdir(parents=True, exist_ok=True)
            kind = backend.name.split(":")[0]
            (reports / f"{folder.name}-{kind}.md").write_text(render(report), encoding="utf-8")
        row.entries = len(report.draft.timeline)
        row.invented = invented(report, events)
        row.rc_found, row.rc_keywords = root_cause(report, t.get("root_cause_keywords", []))
        row.placeholder_whys = placeholders(report)
    row.wall_s = round(time.monotonic() - started, 1)
    return row


def run(
    backends: Sequence[str],
    names: Sequence[str] | None,
    cache_dir: Path,
    reports: Path | None = None,
) -> list[RealRow]:
    rows: list[RealRow] = []
    for name in backends:
        with open_backend(name) as backend:
            for folder in folders(names):
                print(f"    {folder.name} with {backend.name} ...", file=sys.stderr, flush=True)
                rows.append(eval_incident(folder, backend, cache_dir, reports))
    return rows


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.2f} ({a}/{b})" if b else "-"


COLUMNS = ("incident", "backend", "detected", "coverage ±10m", "speakers", "recall",
           "entries", "invented", "root cause", "placeholder whys", "wall s", "error")  # fmt: skip


def cells(r: RealRow) -> list[str]:
    return [r.incident, r.backend, "yes" if r.detected else "no", _ratio(r.covered, r.refs),
            _ratio(r.with_speaker, r.messages), _ratio(r.matched, r.refs), str(r.entries),
            str(r.invented), f"{'yes' if r.root_cause_named else 'no'} ({r.rc_found}/{r.rc_keywords})",
            str(r.placeholder_whys), f"{r.wall_s:.1f}", (r.error or "")[:60]]  # fmt: skip


def print_table(rows: Sequence[RealRow]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="draft-incident eval: real incidents (../shared/real-incidents)")
    for col in COLUMNS:
        table.add_column(col, no_wrap=col in ("incident", "backend"), overflow="fold")
    for row in rows:
        table.add_row(*cells(row))
    Console(width=max(200, Console().width)).print(table)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--backends", help="offline,local,openai (default: all available)")
    ap.add_argument("--incidents", help="comma-separated folder names (default: all)")
    ap.add_argument("--json-out", type=Path, default=ROOT / "out" / "real-eval-results.json")
    ap.add_argument("--reports", type=Path, help="write each drafted report here (Markdown)")
    ap.add_argument("--cache", type=Path, help="LLM answer cache dir (default: a fresh temp dir)")
    args = ap.parse_args(argv)
    if not folders():
        print(f"real incidents not found at {REAL}: real-incident eval skipped")
        return 0
    names = args.incidents.split(",") if args.incidents else None
    if not args.backends:
        from eval import available_backends  # the fixture eval's rule: offline, local if installed

        args.backends = ",".join(available_backends())
    with tempfile.TemporaryDirectory(prefix="draft-incident-real-eval-") as tmp:
        rows = run(args.backends.split(","), names, args.cache or Path(tmp), args.reports)
    print_table(rows)
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps([r.as_dict() for r in rows], indent=2) + "\n")
    print(f"wrote {args.json_out}")
    bad = [
        f"{r.incident}/{r.backend}: {r.invented} invented timestamp(s)" for r in rows if r.invented
    ]
    for b in bad:
        print(f"INVARIANT: {b}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
