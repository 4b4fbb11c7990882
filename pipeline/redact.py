"""Redaction: remove secrets (always) and personal data (configurable) from text
before it reaches the model, the cache, JSON output or the report.

Usage is one call per text field::

    r = from_spec("secrets,emails")      # or Redactor(emails=True, ...)
    clean = r.redact(text, where="alerts.json")
    r.summary()                          # {"aws_access_key": 2, "email": 5}

Each finding becomes ``[REDACTED:<kind>]`` — constant per kind, so the
placeholder leaks neither length nor content, and re-redacting is a no-op.
Known people's names become stable labels ``person-1``... that only the local
``name_map`` can turn back into names.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pipeline import redact_rules
from pipeline.redact_rules import PII_RULES, SECRET_RULES, WORD, Rule
from pipeline.redact_shapes import SHAPE_RULES

__all__ = ["Finding", "Redactor", "from_spec", "placeholder"]

_PLACEHOLDER = re.compile(r"\[REDACTED:[a-z0-9_]+\]")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

# Kinds named after the context rather than the token's own format.
_GENERIC = frozenset(
    {
        "secret",
        "token",
        "api_key",
        "password",
        "auth_header",
        "url_password",
        "bearer_token",
        "basic_auth",
        "cookie",
    }
)
_GROUPS = ("emails", "phones", "ips", "names")
_ALIASES = {"email": "emails", "phone": "phones", "ip": "ips", "name": "names", "secret": "secrets"}
_LABEL_RE = re.compile(r"person-(\d+)")
_KEY_CHARS = re.compile(r"[\w.-]*", re.ASCII)


def _key_at(text: str, pos: int) -> str:
    """The whole key name around a key word at ``pos`` (``db_password``, ``--api-key``)."""
    begin = pos
    while begin > 0 and (text[begin - 1] in WORD or text[begin - 1] in ".-"):
        begin -= 1
    m = _KEY_CHARS.match(text, pos)
    return text[begin : m.end() if m else pos]


def placeholder(kind: str) -> str:
    return f"[REDACTED:{kind}]"


@dataclass(frozen=True)
class Finding:
    kind: str
    preview: str  # masked: never the whole value
    where: str
    line: int  # 1-based, in the text given to redact()
    column: int  # 1-based

    @property
    def location(self) -> str:
        return (
            f"{self.where}:{self.line}:{self.column}"
            if self.where
            else f"{self.line}:{self.column}"
        )


def mask(value: str) -> str:
    """``AKIA…MPLE`` for long values; short ones show less, tiny ones nothing."""
    value = value.replace("\n", " ")
    if len(value) >= 20:
        return f"{value[:4]}…{value[-4:]}"
    if len(value) >= 12:
        return f"{value[:2]}…{value[-2:]}"
    return "…"


def _find_all(hay: str, lit: str) -> list[int]:
    out = []
    i = hay.find(lit)
    while i >= 0:
        out.append(i)
        i = hay.find(lit, i + 1)
    return out


def _group_regex(first: str, lits: set[str]) -> re.Pattern[str] | None:
    if lits == {first}:
        return None
    rests = sorted((re.escape(lit[1:]) for lit in lits), key=len)
    return re.compile(re.escape(first) + "(?=" + "|".join(rests) + ")")


def _placeholders(text: str) -> list[tuple[int, int]]:
    """Spans of earlier placeholders: no hit may touch them (keeps redact idempotent)."""
    if "[REDACTED:" not in text:
        return []
    return [m.span() for m in _PLACEHOLDER.finditer(text)]


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    i = bisect.bisect_right(spans, (end, end))
    return i > 0 and spans[i - 1][1] > start


class _Compiled:
    """A rule with its compiled regexes and the bookkeeping to turn matches into hits."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.pattern = rule.compile()
        self.trig = re.compile(rule.trig) if rule.trig else None
        self.values = [g for g in "vwxy" if g in self.pattern.groupindex]

    def matches(self, text: str, positions: list[int]) -> Iterator[re.Match[str]]:
        rule, pattern = self.rule, self.pattern
        if rule.anchored:
            for p in sorted(set(positions)):
                m = pattern.match(text, p + rule.offset) if p + rule.offset >= 0 else None
                if m is not None:
                    yield m
            return
        done = -1  # unanchored: search each trigger's line once
        for p in sorted(positions):
            if p < done:
                continue
            begin = text.rfind("\n", 0, p) + 1
            stop = text.find("\n", p)
            stop = len(text) if stop < 0 else stop
            end = min(len(text), max(stop, begin + rule.reach))
            pos = begin
            while (m := pattern.search(text, pos, end)) is not None:
                yield m
                pos = m.start() + 1  # overlapping retries: a rejected hit must not hide one
            done = stop

    def hit(
        self, m: re.Match[str], text: str, order: int
    ) -> Iterator[tuple[int, int, int, int, str]]:
        rule = self.rule
        if rule.bound and m.start() > 0 and text[m.start() - 1] in WORD:
            return
        start, end = m.span()
        for g in self.values:
            if m.start(g) >= 0:
                start, end = m.span(g)
                break
        if end <= start:
            return
        key = _key_at(text, m.start()) if rule.kind == "keyword" else ""
        if rule.validate and not rule.validate(text[start:end], key):
            return
        kind = redact_rules.keyword_kind(key) if rule.kind == "keyword" else rule.kind
        yield m.start(), order, start, end, kind


CLEAN_MEMO = 100_000  # distinct clean strings remembered
CLEAN_MAX_CHARS = 200


class Redactor:
    def __init__(
        self, *, emails: bool = True, phones: bool = True, ips: bool = False, names: bool = False
    ) -> None:
        self.emails = emails
        self.phones = phones
        self.ips = ips
        self.names = names
        self.findings: list[Finding] = []
        self.name_map: dict[str, str] = {}  # label -> name as first given; local use only
        self._labels: dict[str, str] = {}  # casefolded name -> label
        self._compiled: list[_Compiled] | None = None
        self._trigger_plan: list[tuple[bool, list[str], re.Pattern[str] | None]] | None = None
        # short strings known to hold nothing: labels, levels and hosts repeat on
        # every line of a log, and scanning them again was most of the redaction time
        self._clean: set[str] = set()

    def __repr__(self) -> str:
        on = [g for g in _GROUPS if getattr(self, g)]
        return f"Redactor(secrets+{'+'.join(on) or 'nothing else'})"

    # -- configuration

    def add_names(self, names: Iterable[str]) -> None:
        """Register people's names; each distinct name gets the next ``person-N``."""
        for raw in names:
            name = raw.strip()
            if len(name) < 2 or name.casefold() in self._labels or _LABEL_RE.fullmatch(name):
                continue
            label = f"person-{len(self.name_map) + 1}"
            self._labels[name.casefold()] = label
            self.name_map[label] = name
        self._compiled = None
        self._clean.clear()

    def restore_names(self, text: str) -> str:
        """Map ``person-N`` labels back to names (for the local operator, never the model)."""
        return re.sub(r"\bperson-\d+\b", lambda m: self.name_map.get(m.group(0), m.group(0)), text)

    def _compiled_rules(self) -> list[_Compiled]:
        if self._compiled is None:
            rules = SECRET_RULES + SHAPE_RULES + [r for r in PII_RULES if getattr(self, r.group)]
            if self.names and self.name_map:
                rules.append(redact_rules.name_rule(list(self.name_map.values())))
            self._compiled = [_Compiled(rule) for rule in rules]
            self._trigger_plan = None
        return self._compiled

    # -- redaction

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, kind) of every finding in ``text``, in order, without
        recording them (``redact`` replaces exactly these)."""
        if not text:
            return []
        taken: list[list[Any]] = []  # [match start, start, end, kind]
        for m_start, _order, start, end, kind in sorted(self._scan(text), key=lambda h: h[:2]):
            if not taken or m_start >= taken[-1][2]:
                taken.append([m_start, start, end, kind])
            elif taken[-1][3] in _GENERIC and kind not in _GENERIC and taken[-1][1] <= start:
                # "token: xoxb-..." - keep the wider span, but name the specific kind
                taken[-1][3] = kind
        return [(start, end, kind) for _m, start, end, kind in taken]

    def redact(self, text: str, where: str = "") -> str:
        """Return ``text`` with every finding replaced; record the findings."""
        if not text or text in self._clean:
            return text
        out: list[str] = []
        last = line = cursor = 0
        for start, end, kind in self.spans(text):
            line += text.count("\n", cursor, start)
            cursor = start
            col = start - text.rfind("\n", 0, start)
            value = text[start:end]
            repl = (
                self._labels.get(value.casefold(), "person")
                if kind == "name"
                else placeholder(kind)
            )
            self.findings.append(Finding(kind, mask(value), where, line + 1, col))
            out += (text[last:start], repl)
            last = end
        if not out:
            if len(text) <= CLEAN_MAX_CHARS and len(self._clean) < CLEAN_MEMO:
                self._clean.add(text)
            return text
        out.append(text[last:])
        return "".join(out)

    def _scan(self, text: str) -> Iterator[tuple[int, int, int, int, str]]:
        """Yield validated hits as (match start, rule order, start, end, kind)."""
        rules = self._compiled_rules()
        low = text.lower()
        if len(low) != len(text):  # a few non-ASCII letters lower to two chars
            low = text.translate(_ASCII_LOWER)
        found = self._triggers(text, low)
        protected = _placeholders(text)
        trig_hits: dict[tuple[bool, str], list[int]] = {}  # rules sharing a trigger scan once
        for order, c in enumerate(rules):
            hay = low if c.rule.nocase else text
            positions = [p for lit in c.rule.lits for p in found.get((c.rule.nocase, lit), ())]
            if c.trig is not None:
                key = (c.rule.nocase, c.rule.trig)
                if key not in trig_hits:
                    trig_hits[key] = [m.start() for m in c.trig.finditer(hay)]
                positions += trig_hits[key]
            for m in c.matches(text, positions) if positions else ():
                for hit in c.hit(m, text, order):
                    if not protected or not _overlaps(protected, hit[2], hit[3]):
                        yield hit

    def _triggers(self, text: str, low: str) -> dict[tuple[bool, str], list[int]]:
        """Positions of every literal trigger. Literals sharing a first character are
        found in one pass of ``c(?=rest|rest..)``: re's single-character prefix scan
        is several times faster than one ``str.find`` pass per literal."""
        if self._trigger_plan is None:
            groups: dict[tuple[bool, str], set[str]] = {}
            for c in self._compiled_rules():
                for lit in c.rule.lits:
                    groups.setdefault((c.rule.nocase, lit[0]), set()).add(lit)
            self._trigger_plan = [
                (nocase, sorted(lits), _group_regex(first, lits))
                for (nocase, first), lits in groups.items()
            ]
        found: dict[tuple[bool, str], list[int]] = {}
        for nocase, lits, rx in self._trigger_plan:
            hay = low if nocase else text
            if rx is None:  # a lone one-character literal: str.find is memchr
                found[(nocase, lits[0])] = _find_all(hay, lits[0])
                continue
            for m in rx.finditer(hay):
                p = m.start()
                for lit in lits:
                    if hay.startswith(lit, p):
                        found.setdefault((nocase, lit), []).append(p)
        return found

    def redact_data(self, data: Any, where: str = "") -> Any:
        """Redact every string inside nested dicts/lists (values and keys)."""
        if isinstance(data, str):
            return self.redact(data, where)
        if isinstance(data, dict):
            return {
                self.redact(k, where) if isinstance(k, str) else k: self.redact_data(v, where)
                for k, v in data.items()
            }
        if isinstance(data, list | tuple):
            return type(data)(self.redact_data(v, where) for v in data)
        return data

    # -- reporting

    def summary(self) -> dict[str, int]:
        return dict(sorted(Counter(f.kind for f in self.findings).items()))

    def listing(self) -> list[tuple[str, str, str]]:
        """(kind, masked preview, location) rows for a local ``--show-redactions``."""
        return [(f.kind, f.preview, f.location) for f in self.findings]

    def reset(self) -> None:
        self.findings.clear()


def from_spec(spec: str) -> Redactor:
    """Parse a ``--redact`` value: ``"secrets,emails,phones"``, ``"all"``, ``"secrets"``.

    Secrets are always redacted; each other group is on only if listed.
    """
    items = [s.strip().lower() for s in spec.split(",")]
    if not spec.strip() or any(not s for s in items):
        raise ValueError(
            f"--redact {spec!r}: empty item; use e.g. 'secrets,emails,phones' or 'all'"
        )
    on: set[str] = set()
    for item in items:
        item = _ALIASES.get(item, item)
        if item == "all":
            on.update(_GROUPS)
        elif item in _GROUPS:
            on.add(item)
        elif item != "secrets":
            choices = ", ".join(("secrets", *_GROUPS, "all"))
            raise ValueError(f"--redact: unknown item {item!r}; choose from {choices}")
    return Redactor(**{g: g in on for g in _GROUPS})
