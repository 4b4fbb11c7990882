"""The one HTTP client of the sources: timeouts, retries with backoff for 429,
5xx and transport faults (``Retry-After`` honoured), and failures turned into
one line naming the source and the HTTP status, never the token.

Tokens come from the environment (``VAR``) or a file (``VAR_FILE``): never
from the command line, so they are neither in ``ps`` nor in shell history,
and they only ever live in request headers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt

from ..retry import retry_after_wait

ATTEMPTS = 4  # per request
MAX_WAIT_S = 20.0
TIMEOUT_S = 30.0
_REASONS = {401: "token refused", 403: "forbidden", 404: "not found", 429: "rate limited"}


class SourceError(Exception):
    """A source failed for good; the message is one line naming it and the status."""


def token(var: str, *, required: bool = False, what: str = "") -> str | None:
    """``$VAR`` or the content of ``$VAR_FILE`` (stripped)."""
    value = os.environ.get(var, "").strip()
    path = os.environ.get(f"{var}_FILE", "").strip()
    if not value and path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as e:
            raise SourceError(f"{what or var}: cannot read {var}_FILE ({e.strerror})") from None
    if required and not value:
        raise SourceError(f"{what or var}: set {var} or {var}_FILE")
    return value or None


def display_url(url: str) -> str:
    """The URL without credentials or query: safe for refs, messages and the report."""
    u = httpx.URL(url)
    port = f":{u.port}" if u.port else ""
    return f"{u.scheme}://{u.host}{port}{u.path.rstrip('/')}"


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        code = exc.response.status_code
        return code in (408, 429) or code >= 500
    return isinstance(exc, httpx.TransportError)


class Http:
    """``name``: what the user named (``loki http://host:3100``), used in errors."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = TIMEOUT_S,
        attempts: int | None = None,
        max_wait: float | None = None,
    ) -> None:
        self.name = name
        self.requests = 0  # sent, retries included
        self._attempts = attempts or ATTEMPTS  # read at call time: tests lower them
        self._max_wait = MAX_WAIT_S if max_wait is None else max_wait
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Accept": "application/json", **(headers or {})},
            timeout=timeout,
            follow_redirects=True,
            trust_env=False,  # no proxy or netrc surprises: the user names the server
        )

    def __enter__(self) -> Http:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def request(self, method: str, path: str, **kw: Any) -> Any:
        """The decoded JSON body of a 2xx answer, after retries; else SourceError."""

        def once() -> httpx.Response:
            self.requests += 1
            resp = self._client.request(method, path, **kw)
            resp.raise_for_status()
            return resp

        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=retry_after_wait(self._max_wait),
            retry=retry_if_exception(_transient),
            reraise=True,
        )
        try:
            resp = retrying(once)
        except httpx.HTTPStatusError as e:
            code = e.response.status_code
            reason = _REASONS.get(code) or e.response.reason_phrase or "error"
            tries = f" after {self._attempts} attempts" if _transient(e) else ""
            said = _said(e.response)
            raise SourceError(f"{self.name}: HTTP {code} ({reason}){tries}{said}") from None
        except httpx.TimeoutException:
            raise SourceError(
                f"{self.name}: timed out after {self._attempts} attempts (no HTTP status)"
            ) from None
        except httpx.TransportError as e:
            raise SourceError(
                f"{self.name}: unreachable ({type(e).__name__}, no HTTP status)"
            ) from None
        try:
            return resp.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            first = resp.text[:60].replace("\n", " ")
            raise SourceError(
                f"{self.name}: HTTP {resp.status_code} but the body is not JSON (starts {first!r})"
            ) from None

    def get(self, path: str, params: Any = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, params: Any = None) -> Any:
        return self.request("POST", path, json=body, params=params)


def _said(resp: httpx.Response) -> str:
    """What the server said about a refusal, shortened (Prometheus ``error``, ES
    ``error.reason``, Slack ``error``, Loki's plain text)."""
    try:
        doc = resp.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        doc = resp.text
    if isinstance(doc, dict):
        err = doc.get("error")
        doc = (
            (err.get("reason") or err.get("message"))
            if isinstance(err, dict)
            else err or doc.get("message")
        )
    text = " ".join(str(doc or "").split())[:120]
    return f": {text}" if text else ""


def expect(cond: bool, name: str, what: str) -> None:
    """A 2xx answer of the wrong shape is a failure of the source, said in one line."""
    if not cond:
        raise SourceError(f"{name}: unexpected answer ({what})")
