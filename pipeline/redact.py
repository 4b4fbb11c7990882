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

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pipeline import redact_rules
from pipeline.redact_rules import PII_RULES, SECRET_RULES, WORD, Rule

__all__ = ["Finding", "Redactor", "from_spec", "placeholder"]

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
    return text[begin : m.end() if m else pos].lstrip("-")


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
        return f"{self.where}:{self.line}:{self.column}" if self.where else f"{self.line}:{self.column}"


def mask(value: str) -> str:
    """``AKIA…MPLE`` for long values; short ones show less, tiny ones nothing."""
    value = value.replace("\n", " ")
    if len(value) >= 20:
        return f"{value[:4]}…{value[-4:]}"
    if len(value) >= 12:
        return f"{value[:2]}…{value[-2:]}"
    return "…"


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
        self._compiled: tuple[re.Pattern[str], list[Rule], list[list[str]]] | None = None

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

    def restore_names(self, text: str) -> str:
        """Map ``person-N`` labels back to names (for the local operator, never the model)."""
        return re.sub(
            r"\bperson-\d+\b", lambda m: self.name_map.get(m.group(0), m.group(0)), text
        )

    def _pattern(self) -> tuple[re.Pattern[str], list[Rule], list[list[str]]]:
        if self._compiled is None:
            enabled = [r for r in PII_RULES if getattr(self, r.group)]
            names = list(self.name_map.values()) if self.names else []
            pattern, rules = redact_rules.build(SECRET_RULES + enabled, names)
            # Per rule, the groups holding the part to replace (else: the whole match).
            values = [
                [f"{g}{i}" for g in "vwxy" if f"{g}{i}" in pattern.groupindex]
                for i in range(len(rules))
            ]
            self._compiled = pattern, rules, values
        return self._compiled

    # -- redaction

    def redact(self, text: str, where: str = "") -> str:
        """Return ``text`` with every finding replaced; record the findings."""
        if not text:
            return text
        pattern, rules, values = self._pattern()
        out: list[str] = []
        last = pos = 0
        while (m := pattern.search(text, pos)) is not None:
            idx = int(m.lastgroup[2:])  # type: ignore[index]
            rule = rules[idx]
            if not rule.kind:  # an existing placeholder: step over it
                pos = m.end()
                continue
            start, end = m.span()
            for g in values[idx]:
                if m.start(g) >= 0:
                    start, end = m.span(g)
                    break
            value = text[start:end]
            key = _key_at(text, m.start()) if rule.kind == "keyword" else ""
            if (rule.bound and m.start() > 0 and text[m.start() - 1] in WORD) or (
                rule.validate and not rule.validate(value, key)
            ):
                # Retry one character on, so a rejected wide hit cannot hide a real one.
                pos = m.start() + 1
                continue
            kind = redact_rules.keyword_kind(key) if rule.kind == "keyword" else rule.kind
            repl = self._labels.get(value.casefold(), "person") if kind == "name" else placeholder(kind)
            line = text.count("\n", 0, start) + 1
            col = start - (text.rfind("\n", 0, start) + 1) + 1
            self.findings.append(Finding(kind, mask(value), where, line, col))
            out += (text[last:start], repl)
            last = pos = end
            if end == m.start():  # pragma: no cover - an empty value; never loop in place
                pos += 1
        if not out:
            return text
        out.append(text[last:])
        return "".join(out)

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
        raise ValueError(f"--redact {spec!r}: empty item; use e.g. 'secrets,emails,phones' or 'all'")
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
