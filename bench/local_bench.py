"""Benchmark the embedded local model on one fixture incident (issue 3).

Prints wall time, tokens and tokens/s per section and in total, and the time
saved by prefix (KV) reuse: the same run again with the prefix defeated (a
random nonce at the very start of every prompt), as a ratio measured in the
same process. Prompt-evaluation time per call is read from the llama.cpp
server's own timing lines, so "time spent re-reading evidence after the
first section" is measured, not estimated.

    python bench/local_bench.py [--incident DIR] [--json FILE] [--no-defeat]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from langchain_core.messages import SystemMessage  # noqa: E402

from pipeline import api, draft, llm, local_llm  # noqa: E402
from pipeline.models import ReviewDecision  # noqa: E402

_PROMPT_EVAL = re.compile(r"prompt eval time\s*=\s*([\d.]+) ms /\s*(\d+) tokens")
_EVAL = re.compile(r"(?<!prompt )eval time\s*=\s*([\d.]+) ms /\s*(\d+) runs")


def _server_timings(log: Path | None, since: int) -> list[tuple[float, int]]:
    if log is None or not log.exists():
        return []
    text = log.read_text(errors="replace")[since:]
    return [(float(ms) / 1000, int(n)) for ms, n in _PROMPT_EVAL.findall(text)]


def run_once(paths: list[str], *, defeat: bool) -> dict[str, Any]:
    original = draft.Section.messages

    def nonce_messages(self: draft.Section, task: str) -> list[Any]:
        msgs = original(self, task)
        # a different first token on every call: nothing can be reused from the KV cache
        return [SystemMessage(content=f"[{uuid.uuid4()}]\n{msgs[0].content}"), *msgs[1:]]

    if defeat:
        draft.Section.messages = nonce_messages  # type: ignore[method-assign]
    try:
        started = time.monotonic()
        with llm.open_backend("local") as backend:
            server_log = None
            for obj in list(local_llm._LIVE):
                server_log = obj.log_path
            offset = server_log.stat().st_size if server_log and server_log.exists() else 0
            report = api.draft_report(
                paths,
                backend,
                options=api.Options(use_cache=False),
                reviewer=lambda d: ReviewDecision(status="approved", approver="bench"),
            )
            evals = _server_timings(server_log, offset)
        wall = time.monotonic() - started
    finally:
        draft.Section.messages = original  # type: ignore[method-assign]
    u = backend.usage
    return {
        "wall_s": round(wall, 1),
        "model_s": round(u.seconds, 1),
        "calls": u.log,
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "tokens_per_s": round(u.output_tokens / u.seconds, 2) if u.seconds else 0.0,
        "prompt_eval": evals,
        "reread_after_first_s": round(sum(s for s, _ in evals[1:]), 1) if evals else None,
        "fallbacks": report.draft.notes,
        "generated_by": report.draft.generated_by,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--incident", default=str(ROOT / "fixtures" / "api-latency-unindexed-query"))
    ap.add_argument("--json", dest="json_out")
    ap.add_argument("--no-defeat", action="store_true", help="skip the cache-defeated run")
    args = ap.parse_args()
    if not local_llm.local_available():
        print("local backend not installed (pip install 'draft-incident[local]'): skipped")
        return 0
    inc = Path(args.incident)
    paths = [str(p) for p in (inc / "alerts", inc / "chat", inc / "logs") if p.exists()] or [
        str(inc)
    ]
    load_before = os.getloadavg()
    normal = run_once(paths, defeat=False)
    load_after = os.getloadavg()
    print(f"local model: {normal['generated_by']}  incident: {inc.name}")
    # the machine is shared: a speed figure means little without the load it was measured under
    print(
        f"load average (1/5/15 min) before {load_before[0]:.2f}/{load_before[1]:.2f}/"
        f"{load_before[2]:.2f}, after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}"
    )
    print(f"{'section':<22}{'wall s':>8}{'in tok':>8}{'out tok':>8}{'tok/s':>7}")
    for row in normal["calls"]:
        rate = row["output_tokens"] / row["seconds"] if row["seconds"] else 0
        tag = row["tag"].split("|")[0]
        print(
            f"{tag:<22}{row['seconds']:>8.1f}{row['input_tokens']:>8}{row['output_tokens']:>8}{rate:>7.1f}"
        )
    print(
        f"{'total':<22}{normal['wall_s']:>8.1f}{normal['input_tokens']:>8}{normal['output_tokens']:>8}"
        f"{normal['tokens_per_s']:>7.1f}"
    )
    print(f"target: complete report < 180 s -> {'MET' if normal['wall_s'] < 180 else 'MISSED'}")
    if normal["reread_after_first_s"] is not None:
        r = normal["reread_after_first_s"]
        print(
            f"evidence re-read after the first section: {r} s (target < 30 s) -> {'MET' if r < 30 else 'MISSED'}"
        )
    if normal["fallbacks"]:
        print("sections that fell back offline:", *normal["fallbacks"], sep="\n  ")
    result: dict[str, Any] = {
        "normal": normal,
        "load_before": load_before,
        "load_after": load_after,
    }
    if not args.no_defeat:
        defeated = run_once(paths, defeat=True)
        ratio = defeated["model_s"] / normal["model_s"] if normal["model_s"] else 0
        print(
            f"prefix cache defeated: {defeated['model_s']} s of model time vs {normal['model_s']} s "
            f"-> reuse saves x{ratio:.2f}"
        )
        result["defeated"] = defeated
        result["reuse_ratio"] = round(ratio, 2)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
