"""What people say during an incident: cue words, and how much a line says.

Shared by condensation (which chat lines are worth the budget), the timeline
floor (which moments a post-mortem keeps) and the causal statements. Pure
text functions: no pipeline imports, so every stage can use them.
"""

from __future__ import annotations

import re

_FLAGS = re.I
# (kind, pattern, weight): the moments a human post-mortem timeline keeps, most decisive first
KINDS: tuple[tuple[str, re.Pattern[str], float], ...] = (
    (
        "resolution",
        re.compile(
            r"\b(resolved|all clear|back to normal|(?:fully )?recover(?:ed|ing|y)|"
            r"clos(?:ed|ing) (?:the|this) (?:issue|incident|ticket)|close the (?:issue|incident)|"
            r"i'?ve closed|(?:is|are) (?:back|working|functional|healthy|fast)(?: again)?|"
            r"(?:rollback|revert|fix|restart) worked|works now|fast again|stable now)\b",
            _FLAGS,
        ),
        3.0,
    ),
    ("rollback", re.compile(r"\b(roll(?:ing|ed|s)?[ -]?back|revert(?:ing|ed|s)?)\b", _FLAGS), 3.0),
    (
        "fix",
        re.compile(
            r"\b(fix(?:es|ed|ing)?|hotfix|patch(?:ed|ing)?|/pull/\d+|PR\b|workaround)", _FLAGS
        ),
        2.5,
    ),
    (
        "mitigation",
        re.compile(
            r"\b(restart(?:ed|ing)?|fail(?:ed)? ?over|scal(?:ed|ing) (?:up|out)|disabl(?:e|ed|ing)|"
            r"kill(?:ed|ing)?|terminat(?:e|ed|ing)|drain(?:ed|ing)?|manual(?:ly)?|suspend(?:ed)?|"
            r"re-?ran|rerun|rebuil[dt]|rotat(?:e|ed)|shed(?:ding)?|raised|bumped)\b",
            _FLAGS,
        ),
        2.0,
    ),
    (
        "deploy",
        re.compile(
            r"\b(deploy(?:ed|ing|ment)?|roll(?:ed)?out|releas(?:ed|ing)|bump|upgrad(?:e|ed)|"
            r"merged?|shipped|config(?:map)? change)\b",
            _FLAGS,
        ),
        2.0,
    ),
    (
        "finding",
        re.compile(
            r"\b(verified|confirm(?:ed|s)?|found|turns out|looks like|seems|appears|no longer|"
            r"(?:can'?t|unable to|cannot|not able to) reproduc\w*|rule out|detects?|"
            r"root cause|figured out|identical|same sha\w*|match(?:es|ed)?|is why|"
            r"no (?:issues?|malware|threats?|problems?|errors?)|not malware|"
            r"(?:doesn'?t|does not|didn'?t|no longer) (?:detect|trigger|flag|reproduce)\w*)\b",
            _FLAGS,
        ),
        2.0,
    ),
    (
        "symptom",
        re.compile(
            r"\b(broken|not right|fail(?:s|ed|ing|ures?)?|errors?|stuck|wedged|hung|down|outage|"
            r"unable|timeouts?|latency|slow|5\d\d|quarantin\w*|flag(?:s|ged)?|virus|trojan|"
            r"malware|panic\w*|crash\w*|oom\w*|degraded|unavailable|spik\w*|lag|backlog)\b",
            _FLAGS,
        ),
        1.5,
    ),
    (
        "decision",
        re.compile(
            r"\b(let'?s|we(?:'ll| will| should| need to)|decid\w*|agreed|going to|coordinat\w*|"
            r"escalat\w*|paged?|declar\w*|incident|P[01]\b|sev-?\d)",
            _FLAGS,
        ),
        1.2,
    ),
    (
        "action",
        re.compile(
            r"\b(submit(?:ted)?|upload(?:ed)?|filed|opened|created|updated|invoked|ran|"
            r"validat\w*|audit\w*|checked|tested|acked|acknowledged|investigat\w*)\b",
            _FLAGS,
        ),
        1.2,
    ),
)
_QUESTION_START = re.compile(
    r"^(what|why|how|who|when|where|which|is|are|do|does|did|can|could|should|any(?:one)?)\b",
    _FLAGS,
)
_PLEASANTRY = re.compile(
    r"\b(thanks?|thank you|thx|ty|np|no problem|lol|lmao|haha|cheers|nice|great|cool|"
    r"sounds good|good job|well done|yes|yep|ok(?:ay)?|ack|dope|sure|agreed)\b|:[\w+-]+:",
    _FLAGS,
)
_TECH = re.compile(
    r"`[^`]+`|\b[\w-]+[_./:][\w./:-]+\b|\b[a-z]+[A-Z]\w*\b|\b[A-Z][a-z]+[A-Z]\w*\b|"
    r"\b[\w-]*\d[\w-]*\b|\b[a-z]+-[a-z]+(?:-[a-z]+)*\b"
)
_URL = re.compile(r"https?://\S+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_LEADING = re.compile(r"^(?:and|but|so|which)\s+", re.I)
_CLAUSES = re.compile(r"(?<=[,;])\s+|\s+:[\w+-]+:\s*|\s+(?=(?:and|but|so|which|because) )")
_WORD = re.compile(r"[a-z0-9]+")


_INSTRUCTION = re.compile(
    r"\b(ignore|disregard|forget) (?:all |any )?(?:the )?(?:previous|prior|above|earlier)\b|"
    r"\b(?:system|assistant|user)\s*:|\byou are now\b|\bnew instructions?\b|"
    r"^\s*#+\s|<\s*/?[a-z][a-z0-9]*(?:\s[^>]*)?>|\bon(?:error|load|click|mouseover)\s*=|\b(?:write|say|answer) that\b|\bI will now\b",
    _FLAGS,
)


def instruction_like(text: str) -> bool:
    """Lines that talk to the model rather than about the incident: data that
    must never be carried into the narrative (the timeline still quotes them)."""
    return bool(_INSTRUCTION.search(text))


def clean(text: str) -> str:
    return " ".join(str(text).split())


def is_question(text: str) -> bool:
    t = clean(text)
    return t.endswith("?") or t.endswith("(?)") or bool(_QUESTION_START.match(t) and "?" in t)


def pleasantry(text: str) -> bool:
    """Thanks, acks and emoji with nothing else to say."""
    rest = _PLEASANTRY.sub(" ", clean(text))
    return len(_WORD.findall(rest.lower())) < 3


def specific_terms(text: str) -> list[str]:
    """Identifiers, versions, code and numbers in a line, in order."""
    return list(dict.fromkeys(t.strip("`") for t in _TECH.findall(_URL.sub(" ", text))))


def specificity(text: str) -> float:
    """How concrete a line is: identifiers, versions, numbers, code (0..1.6)."""
    return 0.4 * min(4, len(set(_TECH.findall(text))))


# "I haven't closed the issue yet" and "rollback didn't help" are not what they name
_NEGATED = re.compile(
    r"\b(haven'?t|hasn'?t|not yet|didn'?t|did not|doesn'?t help|no luck|won'?t|isn'?t|"
    r"aren'?t|wasn'?t|not (?:the|it|working))\b",
    _FLAGS,
)
# "we'll have to rotate that": a plan, not a mitigation done
_INTENT = re.compile(
    r"\b(?:we'?ll|will|(?:have|has|need|needs|going|want|ought) to|should|gonna|could|might|"
    r"can we|please)\s+(?:\w+\s+){0,2}$",
    _FLAGS,
)
_NEGATABLE = {"resolution", "rollback", "fix", "mitigation"}


def _intended(rx: re.Pattern[str], text: str) -> bool:
    """Every match is something someone will or should do, not something done."""
    hits = list(rx.finditer(text))
    return bool(hits) and all(_INTENT.search(text[: m.start()]) for m in hits)


def kinds(text: str) -> list[tuple[str, float]]:
    """The cue kinds a line shows, most decisive first."""
    negated = bool(_NEGATED.search(text))
    return [
        (k, w)
        for k, rx, w in KINDS
        if rx.search(text)
        and not (negated and k in _NEGATABLE)
        and not (k == "mitigation" and _intended(rx, text))
    ]


def chat_score(text: str) -> float:
    """How much a chat line tells a post-mortem reader (0 for pleasantries):
    the two strongest cue kinds, how concrete it is, less for questions."""
    t = clean(text)
    if not t or pleasantry(t):
        return 0.0
    weights = sorted((w for _, w in kinds(t)), reverse=True)[:2]
    prose = _URL.sub(" ", t)  # a link is specific, but it tells a reader little
    words = len(prose.split())
    s = (
        sum(weights)
        + specificity(prose)
        + (0.5 if words >= 5 else 0.0)
        + (0.5 if words >= 12 else 0)
    )
    return s * (0.6 if is_question(t) else 1.0)


def excerpt(text: str, prefer: re.Pattern[str] | None = None, limit: int = 180) -> str:
    """At most ``limit`` characters that keep the telling sentences: those that
    match ``prefer`` (or any cue) first, in their original order, cut at a word."""
    t = clean(text)
    if len(t) <= limit:
        return t
    parts = [
        c
        for p in _SENTENCE.split(t)
        # a run-on chat line is one "sentence": its clauses are the units then
        for c in (_CLAUSES.split(p) if len(p) > limit else [p])
        if c.strip()
    ]
    # a clause shown alone does not start with the word that tied it to the one before
    parts = [_LEADING.sub("", c) if _LEADING.match(c) and i else c for i, c in enumerate(parts)]

    def worth(p: str) -> float:
        hit = 3.0 if prefer is not None and prefer.search(p) else 0.0
        return hit + sum(w for _, w in kinds(p)) + specificity(p)

    chosen: set[int] = set()
    used = 0
    for i in sorted(range(len(parts)), key=lambda i: -worth(parts[i])):
        if used + len(parts[i]) + 1 <= limit:
            chosen.add(i)
            used += len(parts[i]) + 1
    best = max(range(len(parts)), key=lambda i: worth(parts[i]))
    if not chosen or (best not in chosen and max(worth(parts[i]) for i in chosen) <= 0):
        # "ok." fits and says nothing: the telling sentence, cut, says more
        return cut_words(parts[best] if chosen else t, limit)
    return cut_words(" ".join(parts[i] for i in sorted(chosen)), limit)


def cut_words(text: str, limit: int, ellipsis: str = "…") -> str:
    """``text`` in at most ``limit`` characters, cut at a word boundary."""
    t = clean(text)
    if len(t) <= limit:
        return t
    room = limit - len(ellipsis)
    cut = t[: room + 1]
    head = cut.rsplit(" ", 1)[0] if " " in cut else cut[:room]
    head = head[:room].rstrip(" ,;:-–—(")
    return head + ellipsis


# a sentence ends at . ! ? before a space, but not after "e.g." or "i.e."
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!\betc)(?<!\bvs)[.!?](?=\s)")


def cut_off(text: str, limit: int) -> str:
    """A model answer the length bound of its schema cut mid-sentence ("... is
    still a"), back to its last whole sentence, or to a word with an ellipsis."""
    t = text.rstrip()
    if len(t) < limit - 2 or t.endswith((".", "!", "?", "”", '"', ")", "`")):
        return t
    ends = [m.end() for m in _SENTENCE_END.finditer(t)]
    if ends and ends[-1] >= len(t) * 0.4:
        return t[: ends[-1]]
    return cut_words(t, len(t) - 1)


def similar(a: str, b: str) -> float:
    """Share of words two lines have in common (Jaccard)."""
    wa, wb = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    return len(wa & wb) / max(1, len(wa | wb))


def id_order(evidence_id: str) -> int:
    """E12 -> 12: ids are numbered in time order."""
    return int(evidence_id[1:]) if evidence_id[1:].isdigit() else 0
