"""Structured output on any OpenAI-compatible server: find the request shape it accepts.

Servers differ in what they accept for a structured answer: OpenAI and Azure
take ``response_format`` ``json_schema`` (strict) and tools; vLLM, Ollama and
the C++ llama.cpp server take ``json_schema``; llama-cpp-python's server
refuses ``json_schema`` (HTTP 500, a validation error) but takes tools and
``json_object`` with a ``schema`` key. So the first structured call tries, in
order, ``json_schema`` -> ``tools`` -> ``json_object_schema`` -> ``json_object``
(schema in the prompt; the call loop validates and re-asks). A refusal of the
request shape moves to the next method at once: the same body is never sent
twice. The method found is remembered per endpoint and model next to the
model answers, and said once on stderr.

This module also classifies HTTP faults for the call loop in ``llm.py``:
what can heal is retried, a refused shape moves on, the rest fails fast with
one line naming the endpoint, the status and the server's own message.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage
from pydantic import BaseModel

from .cache import Cache, key_of

Method = Literal["json_schema", "tools", "json_object_schema", "json_object"]
ORDER: tuple[Method, ...] = get_args(Method)
# LangChain's names (``Profile.method``) -> ours
_ALIASES: dict[str, Method] = {"function_calling": "tools", "json_mode": "json_object"}

# statuses a later identical request can succeed with (a plain 500 gets one retry: see llm.py)
HEALING = frozenset({408, 429, 500, 502, 503, 504})
# a 500 is a shape refusal only when its body names the part of the request it refused
_SHAPE_WORDS = re.compile(r"response_format|json_schema|json_object|\btools?\b|tool_choice", re.I)
# a 400 about size is not about the shape: no other method would fit either
_TOO_LONG = re.compile(
    r"context[ _-]?length|context window|too many tokens|prompt is too long", re.I
)


def method_name(name: str) -> Method:
    """Our method for ``name`` (ours or LangChain's); ValueError names the choices."""
    m = _ALIASES.get(name, name)
    if m not in ORDER:
        raise ValueError(f"unknown structured-output method {name!r} (one of {', '.join(ORDER)})")
    return cast(Method, m)


# --- what an HTTP error means ------------------------------------------------------


def status_of(exc: BaseException) -> int | None:
    return exc.status_code if isinstance(exc, openai.APIStatusError) else None


def server_message(exc: BaseException) -> str:
    """The server's own words, on one line: the ``error.message`` of an
    OpenAI-style body, FastAPI's ``detail``, or the raw text."""
    body = getattr(exc, "body", None)
    text = ""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            text = str(err.get("message") or err.get("detail") or "")
        elif isinstance(err, str):
            text = err
        if not text and "detail" in body:
            text = json.dumps(body["detail"])[:500]
    elif isinstance(body, str):
        text = body
    if not text:
        response = getattr(exc, "response", None)
        text = getattr(response, "text", "") if response is not None else ""
    return " ".join((text or str(exc)).split())[:300]


def refused_shape(exc: BaseException) -> bool:
    """The server refused how we asked (response_format, tools), not what we asked."""
    status = status_of(exc)
    if status in (400, 422):
        return not _TOO_LONG.search(server_message(exc))
    if status in (500, 501):  # 502-504 are gateways and overload: they heal
        return bool(_SHAPE_WORDS.search(server_message(exc)))
    return False


def can_heal(exc: BaseException) -> bool:
    """Worth the same request again after a wait: rate limits, overload, timeouts, resets."""
    status = status_of(exc)
    if status is not None:
        return status in HEALING and not refused_shape(exc)
    return isinstance(exc, openai.APIConnectionError | TimeoutError | ConnectionError)


def fatal(exc: BaseException) -> bool:
    """Nothing else will work with this endpoint: wrong key, no access, wrong URL or model."""
    return status_of(exc) in (401, 403, 404)


@dataclass(frozen=True)
class Endpoint:
    """Where requests go, for messages and the remembered method; never the key itself."""

    url: str
    model: str
    key_env: str = ""  # the environment variable the key was read from

    def explain(self, exc: BaseException) -> str:
        """One line: endpoint, status, the server's message, and for auth errors
        where the key came from (never the key)."""
        status = status_of(exc)
        what = f"HTTP {status}" if status is not None else type(exc).__name__
        line = f"{self.url} (model {self.model}): {what}: {server_message(exc)}"
        if status in (401, 403):
            src = f"the key in {self.key_env}" if self.key_env else "the API key"
            line += f" (check {src}; it is not shown here)"
        elif status == 404:
            line += " (check the endpoint URL and the model or deployment name)"
        return line


# --- binding one method -----------------------------------------------------------

# LangChain warns when a server refuses json_schema or its schema; negotiation handles both
for _msg in ("This model does not support OpenAI's structured output", "Invalid schema for OpenAI"):
    warnings.filterwarnings("ignore", message=_msg, category=UserWarning)


def bind(chat: BaseChatModel, schema: type[BaseModel], method: Method) -> Any:
    """``{raw, parsed, parsing_error}`` runnable for ``method``: LangChain's own
    ``with_structured_output`` for each, the json_object variants with its
    json_mode parser (which strips code fences and validates with pydantic)."""
    if method == "json_schema":
        return chat.with_structured_output(
            schema, method="json_schema", strict=True, include_raw=True
        )
    if method == "tools":
        return chat.with_structured_output(schema, method="function_calling", include_raw=True)
    if method == "json_object_schema":
        # llama-cpp-python (and Anyscale-style servers) turn this schema into a grammar;
        # with_structured_output passes extra kwargs to bind(), after its own response_format
        fmt = {"type": "json_object", "schema": schema.model_json_schema()}
        return chat.with_structured_output(
            schema, method="json_mode", include_raw=True, response_format=fmt
        )
    return chat.with_structured_output(schema, method="json_mode", include_raw=True)


def with_format_hint(
    messages: list[BaseMessage], schema: type[BaseModel], method: Method
) -> list[BaseMessage]:
    """json_object methods need the word JSON in the messages (OpenAI refuses
    otherwise), and plain json_object needs the schema itself. The hint goes
    at the very end so the shared prefix (and its KV cache) is untouched."""
    if method in ("json_schema", "tools"):
        return messages
    hint = "\n\nAnswer with one JSON object and nothing else."
    if method == "json_object":
        hint += (
            " It must validate against this JSON schema (field descriptions say what to write):\n"
            + json.dumps(schema.model_json_schema(), ensure_ascii=False)
        )
    last = messages[-1]
    if isinstance(last, HumanMessage) and isinstance(last.content, str):
        return [*messages[:-1], HumanMessage(content=last.content + hint)]
    return [*messages, HumanMessage(content=hint.strip())]


# --- negotiation -------------------------------------------------------------------

Announce = Callable[[str], None]


def _store(cache: Cache) -> Cache:
    return cache.sibling("endpoints")  # next to the answers, not among them


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class NoMethodLeft(Exception):
    """Every structured-output method was refused by the endpoint."""

    def __init__(self, endpoint: Endpoint, refused: dict[str, str]):
        tried = "; ".join(f"{m}: {why}" for m, why in refused.items())
        super().__init__(f"{endpoint.url} refused every structured-output method ({tried})")
        self.refused = refused


@dataclass
class Negotiation:
    """Which structured-output method this endpoint takes; shared by every call of
    a run (sections may run in threads), remembered in the cache directory."""

    endpoint: Endpoint
    forced: Method | None = None  # --structured-output, or a backend that knows its server
    announce: Announce | None = _stderr  # None: say nothing (a backend that knows its server)
    index: int = 0
    settled: bool = False
    refused: dict[str, str] = field(default_factory=dict)  # method -> the server's reason
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _loaded: bool = False
    _said: bool = False
    # a wrong key, URL or model (401/403/404): every later call would fail the same way,
    # and sections waiting to probe must not each send it again
    failed: BaseException | None = None

    @property
    def method(self) -> Method:
        return self.forced or ORDER[min(self.index, len(ORDER) - 1)]

    @property
    def exhausted(self) -> bool:
        return self.forced is None and self.index >= len(ORDER)

    def _key(self) -> str:
        return key_of("structured-output", self.endpoint.url, self.endpoint.model)

    def load(self, cache: Cache | None) -> None:
        """Start from the method this endpoint and model took last time."""
        if self._loaded or self.forced or cache is None:
            return
        with self._lock:  # sections in threads: none may probe before this is read
            if self._loaded:
                return
            hit = _store(cache).get(self._key()) or {}
            if hit.get("method") in ORDER:
                self.index = ORDER.index(hit["method"])
                self.refused = {str(k): str(v) for k, v in (hit.get("refused") or {}).items()}
                self.settled = True
                self._say("remembered for this endpoint")
            self._loaded = True

    @contextmanager
    def attempt(self) -> Iterator[Method]:
        """The method to use now. Until one is accepted, calls probe one at a time:
        concurrent sections wait for the first answer instead of all being refused."""
        if self.forced and self.forced in self.refused:
            raise NoMethodLeft(self.endpoint, self.refused)  # the user's choice, refused
        if self.failed is not None:
            raise self.failed
        if self.settled:
            yield self.method
            return
        with self._lock:  # a forced method is probed once too: it may be refused
            if self.failed is not None:
                raise self.failed
            if self.forced and self.forced in self.refused:
                raise NoMethodLeft(self.endpoint, self.refused)
            if self.exhausted:
                raise NoMethodLeft(self.endpoint, self.refused)
            probe = not self.settled
            if probe:
                yield self.method
        if not probe:  # settled while this call waited: no need to hold others back
            yield self.method

    def accepted(self, method: Method, cache: Cache | None) -> None:
        """The server answered a request of this shape (valid or not: that is the
        re-ask loop's business)."""
        if not self.settled:
            with self._lock:
                self.settled = True
                if cache is not None and not self.forced:
                    _store(cache).put(self._key(), {"method": method, "refused": self.refused})
        self._say()

    def refuse(self, method: Method, reason: str, cache: Cache | None) -> None:
        """The server refused this shape: move to the next one, or raise NoMethodLeft."""
        with self._lock:
            if self.forced:
                self.refused[method] = reason + " (the forced method)"
                raise NoMethodLeft(self.endpoint, self.refused)
            # another thread may have moved on already
            if not self.exhausted and ORDER[self.index] == method:
                self.refused[method] = reason
                self.index += 1
                if self.settled and cache is not None:
                    # a later schema refused the remembered method: remember the next one
                    nxt = ORDER[self.index] if not self.exhausted else None
                    _store(cache).put(self._key(), {"method": nxt, "refused": self.refused})
                self.settled = False
                self._said = False
            if self.exhausted:
                raise NoMethodLeft(self.endpoint, self.refused)

    def _say(self, note: str = "") -> None:
        if self._said or self.announce is None:
            return
        self._said = True
        why = [f"{m} refused" for m in self.refused]
        if self.forced:
            why = ["forced"]
        if note:
            why.append(note)
        self.announce(f"structured output: {self.method}" + (f" ({'; '.join(why)})" if why else ""))


def refusal_text(exc: BaseException) -> str:
    return f"HTTP {status_of(exc)} {server_message(exc)}"
