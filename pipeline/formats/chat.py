"""Slack: workspace exports (folder or zip), single per-day files, single
messages and ``conversations.history`` API responses. One helper turns a Slack
message into an event for all of them."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..jsonwalk import JSONRecordError, iter_records, load, text_of
from ..models import Event
from ..timeparse import TimeError, from_epoch
from . import Format, ParseContext, Source, register
from ._chatutil import as_list, message

SOURCE = "slack"
_TS = re.compile(r'"ts"\s*:\s*"\d{9,10}\.\d{6}"')
_DAY_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")
# Workspace metadata next to the channel folders, not messages.
_META_FILES = frozenset(
    {
        "users.json",
        "channels.json",
        "groups.json",
        "dms.json",
        "mpims.json",
        "integration_logs.json",
        "org_users.json",
        "canvases.json",
        "huddle_transcripts.json",
    }
)
# Membership and housekeeping subtypes: not evidence of what happened.
_NOISE = frozenset(
    {
        "channel_join",
        "channel_leave",
        "group_join",
        "group_leave",
        "channel_purpose",
        "group_purpose",
        "channel_topic",
        "group_topic",
        "channel_name",
        "group_name",
        "channel_archive",
        "group_archive",
        "channel_unarchive",
        "group_unarchive",
        "pinned_item",
        "unpinned_item",
        "bot_add",
        "bot_remove",
        "reminder_add",
        "message_deleted",
        "tombstone",
        "joiner_notification",
        "ekm_access_denied",
    }
)
_MARKUP = re.compile(r"<([@#!]?)([^<>|]*)(?:\|([^<>]*))?>")


@dataclass
class Directory:
    """Names to resolve ``<@U..>`` and ``<#C..>`` references."""

    users: dict[str, str] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)

    def add_users(self, data: Any) -> None:
        for u in data if isinstance(data, list) else []:
            if isinstance(u, dict) and u.get("id"):
                name = text_of(u, "real_name", "profile.real_name", "profile.display_name", "name")
                self.users[str(u["id"])] = name or str(u["id"])

    def add_channels(self, data: Any) -> None:
        for c in data if isinstance(data, list) else []:
            if isinstance(c, dict) and c.get("id") and c.get("name"):
                self.channels[str(c["id"])] = str(c["name"])


def render(text: str, names: Directory) -> tuple[str, str | None]:
    """Slack mrkdwn -> plain text, plus the first link URL (kept for attrs)."""
    urls: list[str] = []

    def sub(m: re.Match[str]) -> str:
        sigil, target, label = m.group(1), m.group(2), m.group(3)
        if sigil == "@":
            return "@" + (label or names.users.get(target, target))
        if sigil == "#":
            return "#" + (label or names.channels.get(target, target))
        if sigil == "!":
            # <!here>, <!channel>, <!subteam^S1|@oncall>, <!date^...|fallback>
            return label or "@" + target.split("^")[0]
        if target.startswith(("http://", "https://")):
            urls.append(html.unescape(target))  # Slack escapes & in link targets too
        return label or target.removeprefix("mailto:")

    out = html.unescape(_MARKUP.sub(sub, text))  # Slack escapes only & < >
    return out, urls[0] if urls else None


def _block_text(blocks: Any) -> str:
    """Text of rich_text blocks, for messages whose ``text`` is empty."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                parts.append(node["text"])
            elif isinstance(node.get("text"), dict):
                walk(node["text"])
            for key in ("elements", "fields"):
                for child in as_list(node.get(key)):
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(blocks)
    return " ".join(parts)


def _attachment_text(msg: dict[str, Any]) -> str:
    parts: list[str] = []
    for a in as_list(msg.get("attachments")):
        if isinstance(a, dict):
            t = text_of(a, "pretext") or ""
            body = text_of(a, "text", "fallback", "title") or ""
            parts.append(f"{t} {body}".strip())
    return " | ".join(p for p in parts if p)


def _actor(msg: dict[str, Any], names: Directory) -> tuple[str | None, bool]:
    bot = msg.get("subtype") == "bot_message" or bool(msg.get("bot_id"))
    user = msg.get("user")
    if user and str(user) in names.users and not bot:
        return names.users[str(user)], False
    name = text_of(
        msg,
        "user_profile.real_name",
        "user_profile.display_name",
        "bot_profile.name",
        "username",
        "user_profile.name",
    )
    return name or (str(user) if user else None), bot


def slack_event(
    msg: dict[str, Any], names: Directory, ctx: ParseContext, path: str, channel: str | None
) -> Event | None:
    """One Slack message (export, API or single fixture) as an event, or None for noise."""
    subtype = str(msg.get("subtype") or "")
    if subtype in _NOISE or msg.get("type", "message") != "message":
        return None
    edited = bool(msg.get("edited"))
    if subtype == "message_changed" and isinstance(msg.get("message"), dict):
        msg, edited = msg["message"], True  # the edit carries the final text
    ts_raw = msg.get("ts")
    try:
        ts = from_epoch(str(ts_raw))
    except TimeError as e:
        ctx.skip(None, f"{path}: message without a valid ts: {e}")
        return None
    raw = str(msg.get("text") or "") or _block_text(msg.get("blocks"))
    text, url = render(raw, names)
    extra, _ = render(_attachment_text(msg), names)
    if extra and extra not in text:
        text = f"{text} {extra}".strip()
    files = [f for f in ([msg.get("file")] + as_list(msg.get("files"))) if isinstance(f, dict)]
    fnames = [
        str(f.get("name") or f.get("title")) for f in files if f.get("name") or f.get("title")
    ]
    missing = [n for n in fnames if n not in text]
    if missing:
        text = f"{text} [files: {', '.join(missing)}]".strip()
    actor, bot = _actor(msg, names)
    thread = str(msg.get("thread_ts") or "")
    reply = bool(thread) and thread != str(ts_raw)
    attrs = {
        "channel": str(msg.get("channel_name") or channel or ""),
        "thread_ts": thread,
        "reply": "true" if reply else "",
        "edited": "true" if edited else "",
        "bot": "true" if bot else "",
        "files": ", ".join(fnames),
        "url": url or "",
    }
    anchor = f"{thread}/{ts_raw}" if reply else str(ts_raw)
    return message(
        ctx, ts=ts, actor=actor, text=text, source=SOURCE, ref=f"{path}#{anchor}", attrs=attrs
    )


def _final_edits(msgs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Fold ``message_changed`` records into the message they edit (API/RTM dumps)."""
    edits: dict[str, Any] = {}
    for m in msgs:
        inner = m.get("message")
        if m.get("subtype") == "message_changed" and isinstance(inner, dict) and inner.get("ts"):
            edits[str(inner["ts"])] = inner
    present = {str(m.get("ts")) for m in msgs if m.get("subtype") != "message_changed"}
    out: list[dict[str, Any]] = []
    for m in msgs:
        if m.get("subtype") == "message_changed":
            inner = m.get("message")
            if isinstance(inner, dict) and str(inner.get("ts")) not in present:
                out.append(m)  # the original is not in this file: keep the edit itself
            continue
        new = edits.get(str(m.get("ts")))
        out.append({**m, "text": new.get("text", m.get("text")), "edited": True} if new else m)
    return out, edits


def _messages(text: str, ctx: ParseContext, where: str) -> Iterator[tuple[int | None, Any]]:
    """Records of one Slack JSON file: a day list, a history response or one message."""
    head = text.lstrip("\ufeff \t\r\n")[:1]
    if head == "[":
        yield from iter_records(text)
        return
    try:
        doc = load(text)
    except JSONRecordError as e:
        ctx.skip(e.line, f"{where}: {e}")
        return
    if isinstance(doc, dict) and isinstance(doc.get("messages"), list):
        if doc.get("ok") is False:
            ctx.warn(f"{where}: Slack API error response ({doc.get('error')})")
        for m in doc["messages"]:
            yield None, m
    elif isinstance(doc, dict):
        yield 1, doc
    else:
        ctx.skip(1, f"{where}: not a Slack message list")


def _parse_file(
    text: str, names: Directory, ctx: ParseContext, path: str, channel: str | None
) -> Iterator[Event]:
    good: list[dict[str, Any]] = []
    for line, rec in _messages(text, ctx, path):
        if isinstance(rec, JSONRecordError):
            ctx.skip(rec.line, f"{path}: {rec}")
        elif not isinstance(rec, dict) or "ts" not in rec:
            ctx.skip(line, f"{path}: record is not a Slack message")
        else:
            good.append(rec)
    msgs, _ = _final_edits(good)
    for m in msgs:
        ev = slack_event(m, names, ctx, path, channel)
        if ev is not None:
            yield ev


def _read_json(p: Path, ctx: ParseContext) -> Any:
    try:
        return json.loads(p.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError) as e:
        ctx.warn(f"{p.name}: unreadable ({e})")
        return None


def _user_files(root: Path) -> list[Path]:
    """``users.json`` at the root, or one level down (Zulip's fixture layout)."""
    found = [root / "users.json"] if (root / "users.json").is_file() else []
    found += sorted(p for p in root.glob("*/users.json") if p.is_file())
    return found


def _directory_for(root: Path, ctx: ParseContext) -> Directory:
    names = Directory()
    for p in _user_files(root):
        names.add_users(_read_json(p, ctx))
    for meta in ("channels.json", "groups.json", "mpims.json", "dms.json"):
        if (root / meta).is_file():
            names.add_channels(_read_json(root / meta, ctx))
    return names


def _message_files(root: Path) -> Iterable[Path]:
    for p in sorted(root.rglob("*.json")):
        hidden = any(part.startswith(".") for part in p.relative_to(root).parts)
        if p.name not in _META_FILES and not hidden:
            yield p


@register
class SlackFormat(Format):
    name = "slack"
    kind = "chat"

    def sniff(self, head: str, name: str) -> int:
        body = head.lstrip("\ufeff \t\r\n")
        if not body.startswith(("[", "{")) or not _TS.search(head):
            return 0
        if re.match(r'\{\s*"ok"\s*:\s*true\s*,', body) and '"messages"' in head:
            return 85
        if '"type": "message"' in head or '"type":"message"' in head or '"user"' in head:
            return 70 if _DAY_FILE.match(name) else 60
        return 0

    def sniff_dir(self, path: Path) -> int:
        if (path / "channels.json").is_file() and _user_files(path):
            return 90
        return 0

    def parse(self, src: Source, ctx: ParseContext) -> Iterator[Event]:
        if src.directory is not None:
            root = src.directory
            names = _directory_for(root, ctx)
            for p in _message_files(root):
                rel = p.relative_to(root).as_posix()
                channel = p.parent.name if p.parent != root else None
                text = p.read_text(encoding="utf-8", errors="replace")
                if text.strip():
                    yield from _parse_file(text, names, ctx, f"{src.path}/{rel}", channel)
            return
        # A lone day file: borrow names from the export around it when it is on disk.
        names = Directory()
        here = Path(src.path)
        if here.is_file():
            for up in (here.parent, here.parent.parent):
                for p in _user_files(up)[:1]:
                    names.add_users(_read_json(p, ctx))
        channel = here.parent.name if _DAY_FILE.match(here.name) else None
        yield from _parse_file(src.text, names, ctx, src.path, channel)
