"""Chat apps with JSON exports: Microsoft Teams (Graph chatMessage lists),
Mattermost bulk export (JSONL), DiscordChatExporter JSON and GitHub issues,
comments and webhooks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..jsonwalk import JSONRecordError, dig, iter_records, text_of
from ..models import Event
from ..timeparse import TimeError, parse_ts
from . import Format, ParseContext, Source, register
from ._chatutil import as_list, html_to_text, is_membership_noise, load_json, message, read_ts

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def _records(text: str) -> list[Any]:
    """Top-level values of a JSON document, ``{"value": [...]}`` or list alike."""
    recs = [v for _, v in iter_records(text) if not isinstance(v, JSONRecordError)]
    if len(recs) == 1 and isinstance(recs[0], dict) and isinstance(recs[0].get("value"), list):
        return list(recs[0]["value"])
    return recs


# ---------------------------------------------------------------- Teams


def _teams_event_text(detail: Any) -> str:
    """'members added: Alice, Bob (by Carol)' from an eventDetail object."""
    kind = str(detail.get("@odata.type") or "event").rsplit(".", 1)[-1]
    kind = _CAMEL.sub(" ", kind.removesuffix("EventMessageDetail")).lower() or "event"
    names = [text_of(m, "displayName") for m in as_list(dig(detail, "members"))]
    extra = text_of(detail, "chatDisplayName", "channelDisplayName", "callDuration")
    by = text_of(detail, "initiator.user.displayName", "initiator.application.displayName")
    text = kind + (": " + ", ".join(n for n in names if n) if any(names) else "")
    text += f" ({extra})" if extra else ""
    return text + (f" by {by}" if by else "")


@register
class TeamsFormat(Format):
    name = "teams"
    kind = "chat"

    def sniff(self, head: str, name: str) -> int:
        if '"createdDateTime"' in head and '"messageType"' in head and '"body"' in head:
            return 75
        return 0

    def parse(self, src: Source, ctx: ParseContext) -> Iterator[Event]:
        for n, msg in enumerate(_records(src.text), 1):
            if not isinstance(msg, dict):
                ctx.skip(None, f"message {n} is not an object")
                continue
            ev = self._message(msg, ctx, n)
            if ev is not None:
                yield ev

    def _message(self, msg: dict[str, Any], ctx: ParseContext, n: int) -> Event | None:
        if msg.get("deletedDateTime"):
            return None
        mid = str(msg.get("id") or n)
        try:
            ts, _ = parse_ts(msg.get("createdDateTime"))
        except TimeError as e:
            ctx.warn(f"message {mid}: unreadable createdDateTime, skipped ({e})")
            ctx.skip(None, f"message {mid}: bad createdDateTime")
            return None
        app = text_of(msg, "from.application.displayName")
        actor = text_of(msg, "from.user.displayName") or app
        attrs = {
            "bot": "true" if app and not dig(msg, "from.user") else "",
            "reply_to": str(msg.get("replyToId") or ""),
            "edited": "true" if msg.get("lastEditedDateTime") else "",
            "url": str(msg.get("webUrl") or ""),
        }
        if msg.get("from") is None or msg.get("messageType") == "systemEventMessage":
            detail = msg.get("eventDetail")
            body = html_to_text(text_of(msg, "body.content"))
            text = _teams_event_text(detail) if isinstance(detail, dict) else body
            return message(
                ctx,
                ts=ts,
                actor=text_of(detail, "initiator.user.displayName"),
                text=text,
                source=self.name,
                ref=ctx.ref(mid),
                kind="action",
                attrs=attrs,
            )
        body = text_of(msg, "body.content") or ""
        text = html_to_text(body) if dig(msg, "body.contentType") == "html" else body
        subject = text_of(msg, "subject")
        names = [text_of(a, "name") for a in as_list(msg.get("attachments"))]
        files = ", ".join(n for n in names if n)
        text = f"{subject}: {text}" if subject else text
        text = f"{text} [files: {files}]" if files else text
        return message(
            ctx, ts=ts, actor=actor, text=text, source=self.name, ref=ctx.ref(mid), attrs=attrs
        )


# ---------------------------------------------------------------- Mattermost


@register
class MattermostFormat(Format):
    name = "mattermost"
    kind = "chat"

    def sniff(self, head: str, name: str) -> int:
        first = head.lstrip("\ufeff \r\n")[:200]
        if re.match(r'\{\s*"type"\s*:\s*"(version|team|channel|user|post|direct_post)"', first):
            return 80 if '"create_at"' in head or '"version"' in first else 40
        return 0

    def parse(self, src: Source, ctx: ParseContext) -> Iterator[Event]:
        users: dict[str, str] = {}
        posts: list[tuple[int, dict[str, Any], str]] = []
        for line, rec in iter_records(src.text):
            if isinstance(rec, JSONRecordError):
                ctx.skip(line, str(rec))
            elif not isinstance(rec, dict):
                ctx.skip(line, "line is not a JSON object")
            elif rec.get("type") == "user" and isinstance(rec.get("user"), dict):
                u = rec["user"]
                full = f"{u.get('first_name') or ''} {u.get('last_name') or ''}".strip()
                users[str(u.get("username"))] = full or text_of(u, "nickname", "username") or "?"
            elif rec.get("type") in ("post", "direct_post"):
                body = rec.get(str(rec["type"]))
                if isinstance(body, dict):
                    posts.append((line, body, str(rec["type"])))
                else:
                    ctx.skip(line, f"{rec['type']} without a body")
        # Users may come after posts in hand-made files, so posts are emitted last.
        for line, post, kind in posts:
            yield from self._post(post, line, kind, users, ctx)

    def _post(
        self, post: dict[str, Any], line: int, kind: str, users: dict[str, str], ctx: ParseContext
    ) -> Iterator[Event]:
        where = post.get("channel") or ",".join(map(str, as_list(post.get("channel_members"))))
        items = [(post, "")] + [
            (r, str(i))
            for i, r in enumerate(as_list(post.get("replies")), 1)
            if isinstance(r, dict)
        ]
        for item, reply in items:
            text = str(item.get("message") or "")
            if str(item.get("type") or "").startswith("system_") or is_membership_noise(text):
                continue
            ts = read_ts(ctx, item.get("create_at"), line, "create_at")
            if ts is None:
                continue
            user = str(item.get("user") or "")
            attrs = {
                "channel": str(where),
                "team": str(post.get("team") or ""),
                "reply": "true" if reply else "",
                "direct": "true" if kind == "direct_post" else "",
            }
            ev = message(
                ctx,
                ts=ts,
                actor=users.get(user, user),
                text=text,
                source=self.name,
                ref=ctx.ref(f"{line}.{reply}" if reply else line),
                attrs=attrs,
            )
            if ev is not None:
                yield ev


# ---------------------------------------------------------------- Discord

# DiscordChatExporter message types that are membership or housekeeping noise.
_DISCORD_NOISE = frozenset(
    {
        "RecipientAdd",
        "RecipientRemove",
        "GuildMemberJoin",
        "ChannelNameChange",
        "ChannelIconChange",
        "ChannelPinnedMessage",
        "ThreadCreated",
    }
)
_DISCORD_MENTION = re.compile(r"<@!?(\d+)>")


def _discord_mentions(text: str, mentions: Any) -> str:
    """``<@123>`` -> ``@nick`` using the message's own mention list."""
    names = {
        str(u.get("id")): text_of(u, "nickname", "name") or "?"
        for u in as_list(mentions)
        if isinstance(u, dict)
    }
    return _DISCORD_MENTION.sub(lambda x: "@" + names.get(x[1], x[1]), text)


@register
class DiscordFormat(Format):
    name = "discord"
    kind = "chat"

    def sniff(self, head: str, name: str) -> int:
        if '"guild"' in head and '"channel"' in head and '"messages"' in head:
            return 80 if '"author"' in head or '"messageCount"' in head else 50
        return 0

    def parse(self, src: Source, ctx: ParseContext) -> Iterator[Event]:
        doc = load_json(src.text, ctx)
        if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list):
            ctx.skip(1, "not a DiscordChatExporter JSON export")
            return
        channel = text_of(doc, "channel.name") or ""
        for m in doc["messages"]:
            if not isinstance(m, dict):
                ctx.skip(None, "message is not an object")
                continue
            if str(m.get("type")) in _DISCORD_NOISE:
                continue
            mid = str(m.get("id") or "")
            ts = read_ts(ctx, m.get("timestamp"), None, f"timestamp of message {mid}")
            if ts is None:
                continue
            text = _discord_mentions(str(m.get("content") or ""), m.get("mentions"))
            files = [text_of(a, "fileName") for a in as_list(m.get("attachments"))]
            embeds = [text_of(e, "title", "description") for e in as_list(m.get("embeds"))]
            extra = [f for f in files if f] and f"[files: {', '.join(f for f in files if f)}]"
            text = " ".join(t for t in [text, *(e for e in embeds if e), extra or ""] if t)
            attrs = {
                "channel": channel,
                "bot": "true" if dig(m, "author.isBot") else "",
                "edited": "true" if m.get("timestampEdited") else "",
                "reply_to": str(dig(m, "reference.messageId") or ""),
            }
            ev = message(
                ctx,
                ts=ts,
                actor=text_of(m, "author.nickname", "author.name"),
                text=text,
                source=self.name,
                ref=ctx.ref(mid or None),
                attrs=attrs,
            )
            if ev is not None:
                yield ev


# ---------------------------------------------------------------- GitHub


def _is_github(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and isinstance(obj.get("user") or obj.get("sender"), dict)
        and (
            "github.com" in str(obj.get("html_url") or obj.get("url") or "")
            or "issue" in obj
            or "comment" in obj
        )
    )


@register
class GitHubFormat(Format):
    name = "github"
    kind = "chat"

    def sniff(self, head: str, name: str) -> int:
        if '"login"' not in head or "github.com" not in head:
            return 0
        if re.search(r'"(issue|comment)"\s*:\s*\{', head) and '"sender"' in head:
            return 75  # webhook payload
        if '"created_at"' in head and '"body"' in head:
            return 70
        return 0

    def parse(self, src: Source, ctx: ParseContext) -> Iterator[Event]:
        for line, rec in iter_records(src.text):
            if isinstance(rec, JSONRecordError) or not _is_github(rec):
                ctx.skip(line, "not a GitHub issue, comment or webhook payload")
                continue
            if isinstance(rec.get("comment"), dict):  # issue_comment webhook
                yield from self._comment(rec["comment"], rec.get("issue"), line, ctx)
            elif isinstance(rec.get("issue"), dict):  # issues webhook
                yield from self._issue(rec["issue"], text_of(rec, "sender.login"), line, ctx)
            elif "title" in rec:  # an issue object from the REST API
                yield from self._issue(rec, text_of(rec, "closed_by.login"), line, ctx)
            else:
                yield from self._comment(rec, None, line, ctx)

    def _attrs(self, obj: dict[str, Any], issue: Any) -> dict[str, str]:
        number = dig(issue, "number")
        return {
            "url": str(obj.get("html_url") or ""),
            "issue": f"#{number}" if number else "",
            "title": str(dig(issue, "title") or ""),
        }

    def _comment(
        self, c: dict[str, Any], issue: Any, line: int, ctx: ParseContext
    ) -> Iterator[Event]:
        ts = read_ts(ctx, c.get("created_at"), line, "created_at")
        if ts is None:
            return
        ev = message(
            ctx,
            ts=ts,
            actor=text_of(c, "user.login"),
            text=str(c.get("body") or ""),
            source=self.name,
            ref=ctx.ref(str(c.get("id") or line)),
            attrs=self._attrs(c, issue),
        )
        if ev is not None:
            yield ev

    def _issue(
        self, i: dict[str, Any], closer: str | None, line: int, ctx: ParseContext
    ) -> Iterator[Event]:
        ts = read_ts(ctx, i.get("created_at"), line, "created_at")
        if ts is None:
            return
        attrs = self._attrs(i, i)
        title = str(i.get("title") or "")
        ref = ctx.ref(f"issue-{i.get('number') or i.get('id') or line}")
        ev = message(
            ctx,
            ts=ts,
            actor=text_of(i, "user.login"),
            text=f"{title}: {i.get('body') or ''}",
            source=self.name,
            ref=ref,
            attrs=attrs,
        )
        if ev is not None:
            yield ev
        if i.get("closed_at"):
            closed = read_ts(ctx, i["closed_at"], line, "closed_at")
            if closed is None:
                return
            attrs = {**attrs, "status": "resolved", "reason": str(i.get("state_reason") or "")}
            done = message(
                ctx,
                ts=closed,
                actor=closer,
                text=f"issue {attrs['issue']} closed: {title}",
                source=self.name,
                ref=ref + "-closed",
                kind="action",
                attrs=attrs,
            )
            if done is not None:
                yield done
