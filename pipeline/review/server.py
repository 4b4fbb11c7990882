"""The review page: a one-shot HTTP server on 127.0.0.1.

Random free port, a token made for this run in the printed address (every
API call must carry it), the page and its assets served from the package (no
CDN, no network), a strict Content-Security-Policy since evidence is hostile
text, and the Host header checked (no DNS rebinding). A decision writes the
file through the session (as the CLI writes it) and stops the server.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
import sys
import threading
import webbrowser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import ValidationError
from rich.console import Console

from ..models import iso_z
from ..write import WriteError
from . import picture
from .approve import ApproveError
from .decision import (
    PLACEHOLDER,
    DraftEdits,
    EditError,
    ReviewSession,
    cited_ids,
    edits_of,
    is_placeholder,
)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# the picture is an image: nothing runs in it, and its own inline <style> must apply
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'"
STATIC = {"app.js": "text/javascript", "app.css": "text/css", "index.html": "text/html"}
MAX_BODY = 2_000_000


def state(session: ReviewSession) -> dict[str, Any]:
    """Everything the page shows, as data (the page escapes by using textContent)."""
    r = session.report
    d = r.draft
    edits = edits_of(d).model_dump(mode="json")
    for entry, t in zip(edits["timeline"], d.timeline, strict=True):
        entry["ts"] = iso_z(t.ts)
    cited = set(cited_ids(d))
    evidence = sorted(session.known.values(), key=lambda e: (e.ts, len(e.id), e.id))
    return {
        "draft": edits,
        "date": d.date,
        "status": r.review.status,
        "approver": r.review.approver,
        "placeholder": is_placeholder(d.reflexion),
        "placeholder_marker": PLACEHOLDER,  # the page hides its note once no field holds it
        "target": session.target,
        "warnings": session.warnings,
        "facts_known": session.facts_known,
        "generated_by": d.generated_by,
        "evidence": [
            {
                "id": e.id,
                "ts": iso_z(e.ts),
                "source": e.source,
                "kind": e.kind,
                "ref": e.ref,
                "text": e.text,
                "count": e.count,
                "cited": e.id in cited,
            }
            for e in evidence
        ],
    }


class ReviewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, session: ReviewSession, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.session = session
        self.token = secrets.token_urlsafe(24)
        self.lock = threading.Lock()
        self.done = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/?token={self.token}"

    def stop_soon(self) -> None:
        threading.Thread(target=self.shutdown, daemon=True).start()


class _Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return  # the terminal shows the address and the outcome, not every request

    # --- plumbing ------------------------------------------------------------

    def _send(self, code: int, body: bytes, ctype: str, csp: str = CSP) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", csp)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, code: int, data: dict[str, Any]) -> None:
        self._send(code, json.dumps(data, ensure_ascii=False).encode(), "application/json")

    def _error(self, code: int, message: str) -> None:
        self._json(code, {"error": message})

    def _host_ok(self) -> bool:
        port = self.server.server_address[1]
        return self.headers.get("Host", "") in (f"127.0.0.1:{port}", f"localhost:{port}")

    def _token_ok(self, query: dict[str, list[str]]) -> bool:
        given = self.headers.get("X-Review-Token") or (query.get("token") or [""])[0]
        return hmac.compare_digest(given.encode(), self.server.token.encode())

    # --- routes ----------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if not self._host_ok():
            return self._error(HTTPStatus.FORBIDDEN, "unexpected Host header")
        if url.path.startswith("/static/"):
            name = url.path.removeprefix("/static/")
            if name not in STATIC or name == "index.html":
                return self._error(HTTPStatus.NOT_FOUND, "no such file")
            return self._send(HTTPStatus.OK, _asset(name), STATIC[name] + "; charset=utf-8")
        if not self._token_ok(query):
            return self._error(
                HTTPStatus.FORBIDDEN,
                "missing or wrong token: use the address printed in the terminal",
            )
        if url.path == "/":
            return self._send(HTTPStatus.OK, _asset("index.html"), "text/html; charset=utf-8")
        if url.path == "/api/report":
            return self._json(HTTPStatus.OK, state(self.server.session))
        if url.path == "/api/picture.svg":
            svg = picture.svg(self.server.session)
            return self._send(HTTPStatus.OK, svg.encode(), "image/svg+xml; charset=utf-8", SVG_CSP)
        return self._error(HTTPStatus.NOT_FOUND, "no such page")

    def do_POST(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        if not self._host_ok():
            return self._error(HTTPStatus.FORBIDDEN, "unexpected Host header")
        if not self._token_ok({}):  # the header only: a form on another site cannot set it
            return self._error(HTTPStatus.FORBIDDEN, "missing or wrong token")
        if url.path != "/api/decide":
            return self._error(HTTPStatus.NOT_FOUND, "no such endpoint")
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            return self._error(HTTPStatus.BAD_REQUEST, "expected a JSON body")
        try:
            body = json.loads(self.rfile.read(length))
            action = body.get("action")
            edits = DraftEdits.model_validate(body["edits"]) if body.get("edits") else None
        except (ValueError, AttributeError, KeyError) as e:
            msg = _first_error(e) if isinstance(e, ValidationError) else "expected a JSON object"
            return self._error(HTTPStatus.BAD_REQUEST, msg)
        status = {"approve": "approved", "reject": "rejected", "pending": "pending"}.get(
            str(action)
        )
        if status is None:
            return self._error(HTTPStatus.BAD_REQUEST, "action must be approve, reject or pending")
        with self.server.lock:
            if self.server.done:
                return self._error(HTTPStatus.CONFLICT, "already decided")
            try:
                written = self.server.session.decide(
                    status,  # type: ignore[arg-type]
                    approver=str(body.get("approver") or ""),
                    edits=edits,
                )
            except EditError as e:
                return self._error(HTTPStatus.BAD_REQUEST, str(e))
            except (WriteError, ApproveError) as e:
                return self._error(HTTPStatus.CONFLICT, str(e))
            except Exception as e:  # a bug of ours: one line on the page, the server lives on
                return self._error(
                    HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {type(e).__name__}: {e}"
                )
            self.server.done = True
        self._json(HTTPStatus.OK, {"status": status, "written": str(written) if written else None})
        self.server.stop_soon()


def _first_error(e: ValidationError) -> str:
    first = e.errors()[0]
    where = ".".join(str(x) for x in first["loc"])
    return f"bad edit at {where}: {first['msg']}"


def _asset(name: str) -> bytes:
    return (resources.files(__package__) / "static" / name).read_bytes()


def _can_open_browser() -> bool:
    """A graphical browser only: a text one (w3m, lynx) would take over this terminal."""
    if os.environ.get("DRAFT_INCIDENT_NO_BROWSER"):
        return False
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def serve(
    session: ReviewSession, *, console: Console, open_browser: bool = True, port: int = 0
) -> None:
    """Serve the page until the reviewer decides (or Ctrl-C: nothing written)."""
    server = ReviewServer(session, port)
    console.print(f"Review page: {server.url}", markup=False, soft_wrap=True)
    console.print(
        "Waiting for a decision on the page (Ctrl-C to stop, nothing written).", markup=False
    )
    if open_browser and _can_open_browser():
        with contextlib.suppress(webbrowser.Error):  # the printed address is enough
            webbrowser.open(server.url)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
