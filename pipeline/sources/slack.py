"""Slack Web API: ``conversations.history`` over the window (``oldest`` /
``latest``, cursor paging), each thread's ``conversations.replies`` over the
same window, user ids resolved with ``users.info`` (``users.list`` when there
are many), built by the Slack parser's own ``slack_event``.

``SLACK_TOKEN`` (or ``_FILE``): a bot or user token with ``channels:history``
(``groups:history`` for private channels) and ``users:read``. Slack answers
errors with HTTP 200 and ``"ok": false``; those are failures too.
``SLACK_API_URL`` points elsewhere (tests, Enterprise Grid proxies).
"""

from __future__ import annotations

import os
import re
from typing import Any

from ..formats import ParseContext
from ..formats.chat import Directory, _final_edits, slack_event
from ..models import Event
from . import Fetcher, Window
from ._http import Http, SourceError, expect, token

API = "https://slack.com/api"
PAGE = 200  # Slack's recommended page size
MAX_MESSAGES = 50_000  # a loop guard, said if hit
MAX_LOOKUPS = 50  # users.info calls; beyond, one paged users.list
# Slack limits conversations.replies to one call a minute for apps outside its
# Marketplace (2025) and says so with Retry-After: wait that long, not less.
MAX_WAIT_S = 65.0
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def base_url() -> str:
    return os.environ.get("SLACK_API_URL", API).rstrip("/")


def display(channel: str) -> str:
    return f"slack:{channel.lstrip('#')}"


class _Api:
    def __init__(self, http: Http) -> None:
        self.http = http

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        doc = self.http.get(f"/{method}", params)
        expect(isinstance(doc, dict), self.http.name, f"{method} answer is not an object")
        if doc.get("ok") is not True:
            err = str(doc.get("error") or "no ok flag")
            why = (
                " (token refused)" if err in ("invalid_auth", "not_authed", "token_revoked") else ""
            )
            raise SourceError(f"{self.http.name}: {method} failed with {err!r}{why} (HTTP 200)")
        return doc

    def paged(self, method: str, params: dict[str, Any], key: str, limit: int) -> list[Any]:
        out: list[Any] = []
        cursor = ""
        while len(out) < limit:
            doc = self.call(
                method, {**params, "limit": PAGE, **({"cursor": cursor} if cursor else {})}
            )
            items = doc.get(key)
            if not isinstance(items, list):
                raise SourceError(
                    f"{self.http.name}: unexpected answer ({method} has no {key} list)"
                )
            out.extend(items)
            cursor = str((doc.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                break
        return out


def fetcher(channel: str, win: Window, timeout: float) -> Fetcher:
    def fetch(ctx: ParseContext, out: list[Event]) -> None:
        name = f"slack {channel}"
        tok = token("SLACK_TOKEN", required=True, what=name)
        headers = {"Authorization": f"Bearer {tok}"}
        with Http(name, base_url(), headers=headers, timeout=timeout, max_wait=MAX_WAIT_S) as http:
            api = _Api(http)
            cid, cname = _channel(api, channel.lstrip("#"))
            window = {
                "oldest": f"{win.start.timestamp():.6f}",
                "latest": f"{win.end.timestamp():.6f}",
            }
            msgs = api.paged(
                "conversations.history",
                {"channel": cid, "inclusive": "true", **window},
                "messages",
                MAX_MESSAGES,
            )
            by_ts = {str(m.get("ts")): m for m in msgs if isinstance(m, dict)}
            for parent in list(by_ts.values()):
                if int(parent.get("reply_count") or 0) > 0 and len(by_ts) < MAX_MESSAGES:
                    params = {"channel": cid, "ts": parent["ts"], "inclusive": "true", **window}
                    for r in api.paged("conversations.replies", params, "messages", MAX_MESSAGES):
                        if isinstance(r, dict):
                            by_ts.setdefault(str(r.get("ts")), r)
            if len(by_ts) >= MAX_MESSAGES:
                ctx.warn(f"stopped at {MAX_MESSAGES} messages")
            names = _names(api, list(by_ts.values()), ctx)
            final, _ = _final_edits(list(by_ts.values()))
            for m in final:
                ev = slack_event(m, names, ctx, ctx.path, cname)
                if ev is not None:
                    out.append(ev)

    return fetch


def _channel(api: _Api, channel: str) -> tuple[str, str]:
    """(id, name): an id is used as given, a name is looked up."""
    if _CHANNEL_ID.match(channel):
        try:
            info = api.call("conversations.info", {"channel": channel})
            return channel, str((info.get("channel") or {}).get("name") or channel)
        except SourceError:
            return channel, channel  # history will say what is wrong, if anything
    kinds = {"types": "public_channel,private_channel", "exclude_archived": "false"}
    for c in api.paged("conversations.list", kinds, "channels", 100_000):
        if isinstance(c, dict) and c.get("name") == channel and c.get("id"):
            return str(c["id"]), channel
    raise SourceError(f"{api.http.name}: no channel named {channel!r} visible to the token")


def _names(api: _Api, msgs: list[dict[str, Any]], ctx: ParseContext) -> Directory:
    ids: set[str] = set()
    for m in msgs:
        if m.get("user"):
            ids.add(str(m["user"]))
        ids.update(_MENTION.findall(str(m.get("text") or "")))
    names = Directory()
    if len(ids) > MAX_LOOKUPS:
        names.add_users(api.paged("users.list", {}, "members", 100_000))
        return names
    for uid in sorted(ids):
        try:
            names.add_users([api.call("users.info", {"user": uid}).get("user")])
        except SourceError as e:
            if "HTTP 200" not in str(e):
                raise  # the server failed: not just one unknown user
            ctx.warn(f"user {uid} not resolved ({str(e).rsplit(': ', 1)[-1]})")
    return names
