"""Redaction: planted secrets removed, and what else gets masked on real text.

    .venv/bin/python bench/redaction_bench.py [--list] [--json FILE]

(a) the corpus (tests/data/redaction/corpus.jsonl): share of planted secrets
    removed, per kind for the bare-shape kinds (no key word, no prefix), and
    near-misses damaged (ids, hashes and look-alikes that must stay readable);
(b) false positives on real text: every file of the real-format samples
    (../shared/real-formats, when present) and the real incidents' inputs,
    where nothing is a planted secret, so every secret masked is a false one;
(c) the fixture incidents' inputs (fixtures/<name>/): every secret masked must
    be part of a planted secret listed in fixtures/_expected/<name>.json; any
    other masked text is a false positive (an id masked);
(d) throughput on a 5 MB log of near-misses.

Emails and phone numbers are personal data and masked on purpose; they are
counted apart from secrets. ``--list`` prints every finding of (b) and (c).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.redact import Redactor  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "redaction" / "corpus.jsonl"
FIXTURES = ROOT / "fixtures"
KEYS = FIXTURES / "_expected"
PII = frozenset({"email", "phone", "ip", "name"})
BARE = ("aws_secret_key_bare", "base64_blob_bare", "base64url_blob_bare")


@dataclass
class Scan:
    """Findings over a set of files; ``false`` are secrets not planted there."""

    files: int = 0
    lines: int = 0
    secrets: int = 0
    pii: int = 0
    planted: int = 0
    false: list[str] = field(default_factory=list)  # "kind 'value' path:line"


def _text_files(root: Path) -> list[Path]:
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            try:
                p.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            out.append(p)
    return out


def scan(files: list[Path], planted: dict[Path, list[str]] | None = None) -> Scan:
    """Run the default redactor over each file's text; a secret finding that
    overlaps a planted secret of that file counts as planted, others as false."""
    r, s = Redactor(), Scan()
    for p in files:
        text = p.read_text(encoding="utf-8")
        s.files += 1
        s.lines += text.count("\n") + (not text.endswith("\n"))
        mine = [
            (i, i + len(secret))
            for secret in (planted or {}).get(p, [])
            for i in _occurrences(text, secret)
        ]
        for start, end, kind in r.spans(text):
            if kind in PII:
                s.pii += 1
            elif any(a < end and start < b for a, b in mine):
                s.planted += 1
            else:
                s.secrets += 1
                line = text.count("\n", 0, start) + 1
                rel = p.relative_to(ROOT) if p.is_relative_to(ROOT) else p
                s.false.append(f"{kind} {text[start:end][:60]!r} {rel}:{line}")
    return s


def _occurrences(text: str, needle: str) -> list[int]:
    out, i = [], text.find(needle)
    while needle and i >= 0:
        out.append(i)
        i = text.find(needle, i + 1)
    return out


def fixture_inputs() -> tuple[list[Path], dict[Path, list[str]], int, int]:
    """Input files of every fixture incident, their planted secrets, and how
    many planted occurrences the redacted text still holds (must be 0)."""
    files: list[Path] = []
    planted: dict[Path, list[str]] = {}
    occurrences = left = 0
    r = Redactor()
    for key in sorted(KEYS.glob("*.json")):
        secrets = json.loads(key.read_text(encoding="utf-8")).get("planted_secrets", [])
        for p in _text_files(FIXTURES / key.stem):
            if p.suffix == ".md":
                continue  # README: ingestion skips it
            files.append(p)
            planted[p] = secrets
            text = p.read_text(encoding="utf-8")
            found = [s for s in secrets if s in text]
            occurrences += sum(len(_occurrences(text, s)) for s in found)
            out = r.redact(text)
            left += sum(len(_occurrences(out, s)) for s in found)
    return files, planted, occurrences, left


def corpus() -> dict[str, object]:
    records = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    r = Redactor()
    removed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    damaged = lookalikes_damaged = lookalikes = near = 0
    for rec in records:
        out = r.redact(rec["text"])
        if "secrets" in rec:
            total[rec["kind"]] += len(rec["secrets"])
            removed[rec["kind"]] += sum(s not in out for s in rec["secrets"])
        else:
            near += 1
            lost = any(k not in out for k in rec["keep"])
            damaged += lost
            if rec.get("kind") == "lookalike":
                lookalikes += 1
                lookalikes_damaged += lost
    return {
        "planted": sum(total.values()),
        "kinds": len(total),
        "removed": sum(removed.values()),
        "bare": {k: (removed[k], total[k]) for k in BARE},
        "near_misses": near,
        "near_damaged": damaged,
        "lookalikes": lookalikes,
        "lookalikes_damaged": lookalikes_damaged,
    }


def throughput(mb: float = 5.0) -> float:
    records = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    noise = "\n".join(r["text"] for r in records if "keep" in r) + "\n"
    text = noise * int(mb * 1e6 / len(noise) + 1)
    started = time.perf_counter()
    Redactor().redact(text)
    return len(text) / 1e6 / (time.perf_counter() - started)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", type=Path, default=ROOT / ".." / "shared")
    ap.add_argument("--list", action="store_true", help="print every false positive")
    ap.add_argument("--json", type=Path, help="also write the results here")
    a = ap.parse_args()

    c = corpus()
    print(
        f"corpus: {c['removed']}/{c['planted']} planted secrets of {c['kinds']} kinds removed; "
        f"near-misses damaged {c['near_damaged']}/{c['near_misses']} "
        f"(look-alikes of the bare shapes {c['lookalikes_damaged']}/{c['lookalikes']})"
    )
    bare = c["bare"]
    assert isinstance(bare, dict)
    print("bare shapes (no key word): " + ", ".join(f"{k} {n}/{t}" for k, (n, t) in bare.items()))

    results: dict[str, object] = {"corpus": c}
    rows: list[tuple[str, Scan]] = []
    real = a.shared / "real-formats"
    if real.is_dir():
        rows.append(("real-format samples", scan(_text_files(real))))
    else:
        print(f"real-format samples: not found at {real} (skipped)")
    incidents = sorted((a.shared / "real-incidents").glob("*/input.txt"))
    if incidents:
        rows.append(("real incidents (input.txt)", scan(incidents)))
    files, planted, occurrences, left = fixture_inputs()
    fixtures = scan(files, planted)
    rows.append(("fixture incidents (inputs)", fixtures))
    print(f"\n{'false positives on':<28} {'files':>5} {'lines':>7} {'secrets':>8} {'PII':>5}")
    for name, s in rows:
        print(f"{name:<28} {s.files:>5} {s.lines:>7} {s.secrets:>8} {s.pii:>5}")
        results[name] = asdict(s)
        for f in s.false if a.list else s.false[:5]:
            print(f"    {f}")
    print(
        f"fixture planted secrets: {occurrences - left}/{occurrences} occurrences removed "
        f"({fixtures.planted} spans masked inside them)"
    )
    mbs = throughput()
    print(f"throughput (near-miss log, 5 MB): {mbs:.1f} MB/s")
    results["fixture_planted"] = {"occurrences": occurrences, "left": left}
    results["throughput_mb_s"] = round(mbs, 1)

    checks = {
        "every planted corpus secret removed": c["removed"] == c["planted"],
        "no look-alike of a bare shape damaged": c["lookalikes_damaged"] == 0,
        "no fixture id masked, every planted secret removed": fixtures.secrets == 0 and left == 0,
    }
    real_rows = [s for n, s in rows if n.startswith("real")]
    if real_rows:  # without ../shared there is nothing to claim
        checks["no secret masked in real text"] = all(s.secrets == 0 for s in real_rows)
    print()
    for name, ok in checks.items():
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}")
    results["verdicts"] = checks
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
