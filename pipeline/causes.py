"""Causal statements found in the evidence, ranked: what the whys rest on.

People state causes in chat ("which is why", "because", "turns out", "it was
pointed at the primary", "ran out of", "expired") and logs show them as the
error lines just before things failed. Code collects and ranks these; the
model (or the offline drafter) builds the five whys from them, citing them,
so a chain never depends on a small model recalling the cause on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from .condense import ERROR_LEVELS
from .cues import (
    clean,
    excerpt,
    id_order,
    instruction_like,
    is_question,
    pleasantry,
    similar,
    specificity,
)
from .models import EvidenceItem, Facts

# a cause stated outright
STRONG = re.compile(
    r"\b(root[ -]?cause|caused by|the cause|(?:that|this|which)(?:'s| is| was)? why|"
    r"the reason|due to|because|turn(?:s|ed) out|culprit|(?:'s|was|is|were) pointed at|"
    r"pointing (?:at|to)|ran out of|running out of|out of (?:memory|disk|space)|exhaust\w*|"
    r"expired|expiry|typo|misconfigur\w*|regression|introduced|falsely|false positive|"
    r"broken by|broke\b|led to|result(?:ed|s)? in|triggered by|"
    r"the (?:problem|issue|bug) (?:is|was)|false(?:ly)? (?:positive|alarm|flag\w*|detect\w*)|"
    # someone recognising the change behind it: "oh no. that's my PR #2207"
    r"(?:that'?s|it'?s|it was) (?:my|our|your|the|from) (?:pr|change|deploy\w*|commit|config\w*|"
    r"migration|release|merge))\b",
    re.I,
)
# a verdict on what it was not ("not malware", "found no issue"): it backs a cause up
VERDICT = re.compile(
    r"\b((?:no|not) (?:malware|a virus|a threat|infected|compromised)|"
    r"(?:found|saw|detected) no (?:issues?|problems?|threats?|malware))\b",
    re.I,
)
# words that often carry a cause without saying so
MEDIUM = re.compile(
    r"\b(limits?|quota|max\w*|capped|insufficient|bottleneck|capacity|cpu bound|surge|"
    r"\d+x (?:a )?(?:normal|usual)|deadlock\w*|leak\w*|saturat\w*|wrong|missing|incorrect|"
    r"stale|old(?:er)?|ended up|looks like|seems|appears|definitions?|instead of|default\w*|"
    r"not set|permission\w*|denied|oom\w*|timeouts?|unbounded|without (?:a|an|any)|"
    r"optional|all-time|no where|full (?:table )?scan|seq scan|only touched|changed?)\b",
    re.I,
)
CONFIRMED = re.compile(
    r"\b(verified|confirmed|turns out|turned out|root cause|found (?:that|out)|determin\w*)\b",
    re.I,
)
HEDGE = re.compile(
    r"\b(i think|i guess|i'?d guess|maybe|perhaps|probably|might|my money is on|suspect|"
    r"possibly|not sure|unclear)\b",
    re.I,
)
# a guess that was dropped is a wrong turn, never the cause
RETRACTED = re.compile(
    r"\b(not the (?:cause|deploy|issue|problem|reason)|rule[ds]? out|didn'?t help|"
    r"not related|unrelated|red herring|wasn'?t (?:it|the))\b",
    re.I,
)
_CONNECTIVE = re.compile(r"^(which|because|so|that'?s why|and|but|since)\b", re.I)
_LOG_CUE = re.compile(
    r"\b(exhaust\w*|timeout|timed out|refused|denied|expired|oom\w*|killed|limit\w*|capped|"
    r"insufficient|throttl\w*|too ?many\w*|"
    r"no space|(?:disk|queue|table|volume) (?:is )?full|too many|panic\w*|nil pointer|forbidden|"
    r"unauthori[sz]ed)\b",
    re.I,
)
CONTEXT_GAP = timedelta(minutes=3)
MAX_LOG_CAUSES = 3  # error lines are evidence of the cause; people's explanations come first
BEFORE_FAILURE = timedelta(minutes=30)
MIN_SCORE = 1.5


@dataclass(frozen=True)
class Cause:
    """A statement of cause with the evidence it came from."""

    ids: tuple[str, ...]
    text: str  # one line, the statement (with the line it continues)
    actor: str | None
    score: float
    hedged: bool
    log: bool = False  # an error line, not someone's statement

    @property
    def quote(self) -> str:
        return excerpt(self.text, STRONG, 240)


def _human(it: EvidenceItem) -> bool:
    return it.kind not in ("log",) and not it.kind.startswith("alert")


_URL = re.compile(r"https?://\S+")
_PERSONAL = re.compile(r"\bbecause (?:i|we)\b", re.I)  # why someone did something, not why it broke


def _chat_score(text: str) -> float:
    text = _URL.sub(" ", text)  # a link is specific, but it explains nothing
    if pleasantry(text) or RETRACTED.search(text):
        return 0.0
    strong = len(STRONG.findall(text))
    medium = len(MEDIUM.findall(text))
    verdict = 2.0 if VERDICT.search(text) else 0.0
    if not strong and not verdict and medium < 2:
        return 0.0
    s = 3.0 * min(strong, 2) + verdict + 1.0 * min(medium, 3) + specificity(text)
    if CONFIRMED.search(text):
        s += 1.0
    if HEDGE.search(text):
        s -= 0.8
    if _PERSONAL.search(text):
        s *= 0.3
    if is_question(text):
        s *= 0.3
    if len(text.split()) < 5:
        s *= 0.5
    return s


def _log_score(it: EvidenceItem, facts: Facts) -> float:
    if (it.severity or "").lower() not in ERROR_LEVELS and not _LOG_CUE.search(it.text):
        return 0.0
    s = 1.0 + (1.5 if _LOG_CUE.search(it.text) else 0.0) + 0.5 * len(STRONG.findall(it.text))
    failed = facts.detected.ts or facts.start.ts
    if failed is not None and failed - BEFORE_FAILURE <= it.ts <= failed + timedelta(minutes=5):
        s += 1.5  # the error lines just before the failure was noticed
    return s


def _with_context(it: EvidenceItem, items: list[EvidenceItem], at: int) -> tuple[list[str], str]:
    """A statement that continues the speaker's previous line ("which is why ...")
    is quoted with that line, so it still says what it is about."""
    text = clean(it.text)
    if _CONNECTIVE.match(text) or len(text.split()) < 6:
        for prev in reversed(items[:at]):
            if it.ts - prev.ts > CONTEXT_GAP:
                break
            if prev.actor == it.actor and _human(prev):
                return [prev.id, it.id], clean(prev.text) + " " + text
    return [it.id], text


def collect(items: list[EvidenceItem], facts: Facts, *, limit: int = 8) -> list[Cause]:
    """The best causal statements, best first, near-duplicates merged."""
    found: list[Cause] = []
    by_id = {it.id: it for it in items}
    for n, it in enumerate(items):
        if it.kind.startswith("alert") or instruction_like(it.text):
            continue
        score = _log_score(it, facts) if it.kind == "log" else _chat_score(clean(it.text))
        if score <= 0:
            continue
        ids, text = _with_context(it, items, n) if _human(it) else ([it.id], clean(it.text))
        if len(ids) > 1:
            if is_question(by_id[ids[0]].text):
                # "did I test the right thing? Because ..." explains a question, not a failure
                score *= 0.3
            else:
                score = max(score, _chat_score(text))  # the line it continues says what it is about
        found.append(
            Cause(tuple(ids), text, it.actor, score, bool(HEDGE.search(text)), it.kind == "log")
        )
    found.sort(key=lambda c: -c.score)
    # weak statements ("because I didn't have the ID numbers") only when nothing better exists
    found = [c for c in found if c.score >= MIN_SCORE] or found[:2]
    kept: list[Cause] = []
    logs = 0
    for c in found:
        if any(_same(c.text, k.text) or set(c.ids) & set(k.ids) for k in kept):
            continue
        is_log = c.log
        if is_log and logs >= MAX_LOG_CAUSES:
            continue
        logs += is_log
        kept.append(c)
        if len(kept) >= limit:
            break
    return kept


_WORDS = re.compile(r"[a-z][a-z0-9_']*")
SAME_RUN = 5  # words in a row two statements share when they say the same thing


def _same(a: str, b: str) -> bool:
    """Two statements of one thing: mostly the same words, or the same message
    logged by two components ("canceling statement due to statement timeout")."""
    if similar(a, b) > 0.6:
        return True
    wa, wb = _WORDS.findall(a.lower()), _WORDS.findall(b.lower())
    runs = {tuple(wa[i : i + SAME_RUN]) for i in range(len(wa) - SAME_RUN + 1)}
    return any(tuple(wb[i : i + SAME_RUN]) in runs for i in range(len(wb) - SAME_RUN + 1))


# what runs out or is refused sits below the timeouts and failures it causes
_ROOTISH = re.compile(
    r"\b(oom\w*|exhaust\w*|expired|limit\w*|quota|denied|forbidden|no space|full|capped|"
    r"insufficient|throttl\w*|too many)\b",
    re.I,
)


def _depth(c: Cause) -> int:
    if not c.log:
        return 2  # people explain what the logs show
    return 1 if _ROOTISH.search(c.text) else 0


def chain(causes: list[Cause], n: int = 5) -> list[Cause]:
    """The statements a five-whys chain walks through: the best ``n``, from the
    surface down: error lines of failures, then of what ran out or was refused,
    then what people said, each in time order (the deeper cause is found later)."""
    return sorted(causes[:n], key=lambda c: (_depth(c), id_order(c.ids[0])))
