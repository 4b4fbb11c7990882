"""The one place that builds chat models, and the one structured-call loop.

Backends differ only in wiring (``Profile``); drafting code never branches
on which backend it has. Retries: tenacity owns what can heal (the SDK's own
retries are off, so one attempt is one request), a refused request shape moves
to the next structured-output method (``structured.py``), and the call loop
re-asks the model with the validation error when an answer does not fit
(instructor-style).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
)

from . import structured
from .cache import Cache, key_of
from .retry import retry_after_wait as _wait
from .structured import Endpoint, Negotiation

T = TypeVar("T", bound=BaseModel)
# "json_object_schema": llama.cpp's response_format {"type": "json_object", "schema": ...}:
# the same grammar as a forced tool, without the tool schema in the prompt
Method = Literal["json_schema", "function_calling", "json_object_schema"]
BackendName = Literal["auto", "openai", "azure", "local", "offline"]
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"


class LLMError(Exception):
    """A model call failed for good; carries what was tried (instructor-style)."""

    def __init__(
        self,
        message: str,
        *,
        attempts: int,
        raw: str = "",
        usage: dict[str, int],
        unreachable: bool = False,
        reason: str = "model call failed",
    ):
        super().__init__(message)
        # the endpoint never answered, or can't be used (key, URL): stop, don't fall back
        self.unreachable = unreachable
        self.reason = reason  # short, for the section's provenance
        self.attempts = attempts
        self.raw = raw
        self.usage = usage


@dataclass(frozen=True)
class Profile:
    """How a backend is driven; chosen once per backend, not by scattered ifs."""

    method: Method
    budget_tokens: int  # evidence pack size the backend can digest
    timeout_s: float  # wall clock per call
    max_tokens: int
    # llama.cpp's server ignores max_completion_tokens (what the client sends):
    # without max_tokens in the body a constrained call can run until the context is full
    max_tokens_in_body: bool = False
    # independent sections run at once (a remote endpoint serves requests in parallel;
    # a local CPU server would only interleave them and lose its prefix cache)
    parallel: bool = False
    # evidence tokens the model reads (None: the whole pack). Code still works from the
    # whole pack (facts, timeline moments, causal statements), so a small model's
    # short reading never costs the report a moment; those moments are always shown.
    prompt_tokens: int | None = None


PROFILES: dict[str, Profile] = {
    "openai": Profile(
        "json_schema", budget_tokens=6000, timeout_s=120, max_tokens=1500, parallel=True
    ),
    "local": Profile(
        "json_object_schema",
        budget_tokens=6000,
        prompt_tokens=700,
        timeout_s=600,  # a busy CPU reads a 2k-token prefix in minutes: a retry would redo it
        max_tokens=400,
        max_tokens_in_body=True,
    ),
    "fake": Profile("function_calling", budget_tokens=6000, timeout_s=30, max_tokens=1500),
    "fake-local": Profile(
        "json_object_schema",
        budget_tokens=6000,
        timeout_s=30,
        max_tokens=400,
        max_tokens_in_body=True,
    ),
}


def _max_backoff() -> float:
    # DRAFT_INCIDENT_MAX_BACKOFF caps every wait (Retry-After included); tests set it tiny
    try:
        return float(os.environ.get("DRAFT_INCIDENT_MAX_BACKOFF", "20"))
    except ValueError:
        return 20.0


@dataclass
class RetryPolicy:
    attempts: int = 4  # attempts per call for what can heal (429, 408, 502-504, timeouts)
    reasks: int = 2  # extra asks when the answer does not fit the schema
    max_wait_s: float = field(default_factory=_max_backoff)


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    cached: int = 0
    seconds: float = 0.0

    log: list[dict[str, Any]] = field(default_factory=list)  # one row per model call

    def add(self, raw: BaseMessage | None, seconds: float, tag: str = "") -> None:
        meta = getattr(raw, "usage_metadata", None) or {}
        tin, tout = int(meta.get("input_tokens", 0) or 0), int(meta.get("output_tokens", 0) or 0)
        self.input_tokens += tin
        self.output_tokens += tout
        self.calls += 1
        self.seconds += seconds
        self.log.append(
            {"tag": tag, "seconds": round(seconds, 3), "input_tokens": tin, "output_tokens": tout}
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "calls": self.calls,
            "cached": self.cached,
        }


@dataclass
class ChatBackend:
    """A ready chat model plus how to drive it. ``chat`` is None for offline."""

    name: str  # shown in the report: "openai:gpt-4o-mini", "local:qwen2.5-...", "offline"
    chat: BaseChatModel | None
    profile: Profile
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    usage: Usage = field(default_factory=Usage)
    # which structured-output method the server takes; default: the profile's, fixed
    negotiation: Negotiation | None = None

    def __post_init__(self) -> None:
        if self.negotiation is None:
            fixed = structured.method_name(self.profile.method)
            self.negotiation = Negotiation(Endpoint(self.name, self.name), fixed, announce=None)

    @property
    def offline(self) -> bool:
        return self.chat is None


# `auto` takes the embedded model only where `make eval` shows it beats the offline
# draft (README, "Draft quality"): measured, not assumed. Flip it with the table.
AUTO_LOCAL = False


def resolve_backend(requested: str) -> str:
    """``auto``: an endpoint if configured, else the local model if installed and
    measured better than offline (``AUTO_LOCAL``), else offline."""
    if requested != "auto":
        return requested
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        return "openai"
    if os.environ.get("AZURE_OPENAI_ENDPOINT"):
        return "azure"
    from . import local_llm

    return "local" if AUTO_LOCAL and local_llm.local_available() else "offline"


def _chat_kwargs(p: Profile) -> dict[str, Any]:
    return {
        "temperature": 0,
        "max_retries": 0,  # tenacity is the one retry owner: one attempt, one request
        "timeout": p.timeout_s,
        "max_tokens": p.max_tokens,
        "extra_body": {"max_tokens": p.max_tokens} if p.max_tokens_in_body else None,
    }


def _openai_chat(model: str, base_url: str | None, api_key: str | None, p: Profile) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=model, base_url=base_url, api_key=api_key, **_chat_kwargs(p))  # type: ignore[arg-type]


def _negotiation(endpoint: Endpoint, method: str | None) -> Negotiation:
    """``method`` None or "auto": negotiate; else the user's --structured-output."""
    forced = structured.method_name(method) if method and method != "auto" else None
    return Negotiation(endpoint, forced)


@contextmanager
def open_backend(
    backend: str = "auto",
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    model_path: str | None = None,
    retry: RetryPolicy | None = None,
    structured_output: str | None = None,
    api_version: str | None = None,
) -> Iterator[ChatBackend]:
    """The only chat-model factory. Local servers live exactly as long as the block."""
    name = resolve_backend(backend)
    retry = retry or RetryPolicy()
    if name == "offline":
        yield ChatBackend("offline", None, PROFILES["openai"], retry)
    elif name == "openai":
        p = PROFILES["openai"]
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        key_env = "" if api_key else "OPENAI_API_KEY"
        key = api_key or os.environ.get("OPENAI_API_KEY") or ("unused" if base_url else None)
        if key is None:
            raise LLMError("--llm openai needs OPENAI_API_KEY or --base-url", attempts=0, usage={})
        model = model or os.environ.get("DRAFT_INCIDENT_MODEL") or DEFAULT_OPENAI_MODEL
        where = Endpoint(base_url or "https://api.openai.com/v1", model, key_env)
        chat = _openai_chat(model, base_url, key, p)
        yield ChatBackend(
            f"openai:{model}", chat, p, retry, Usage(), _negotiation(where, structured_output)
        )
    elif name == "azure":
        from .azure import azure_chat

        chat, where = azure_chat(
            base_url, model, api_version, api_key, _chat_kwargs(PROFILES["openai"])
        )
        neg = _negotiation(where, structured_output)
        yield ChatBackend(f"azure:{where.model}", chat, PROFILES["openai"], retry, Usage(), neg)
    elif name == "local":
        from pathlib import Path

        from . import local_llm

        p = PROFILES["local"]
        # a 1.5B model that misses twice rarely fixes it on the third ask: fall back sooner
        retry = RetryPolicy(attempts=retry.attempts, reasks=1, max_wait_s=retry.max_wait_s)
        gguf = local_llm.ensure_model(Path(model_path) if model_path else None)
        with local_llm.LocalServer(gguf) as server:
            chat = _openai_chat(server.model_name, server.base_url, "local", p)
            yield ChatBackend(f"local:{server.model_name}", chat, p, retry)
    else:
        raise LLMError(f"unknown --llm backend {backend!r}", attempts=0, usage={})


def fake_backend(
    chat: BaseChatModel,
    *,
    name: str = "fake",
    retry: RetryPolicy | None = None,
    profile: str = "fake",
):
    """Wrap a test double (a fake chat model) as a backend."""
    return ChatBackend(name, chat, PROFILES[profile], retry or RetryPolicy(max_wait_s=0.01))


# --- the call loop -----------------------------------------------------------


def _transport(exc: BaseException) -> bool:
    """The request failed on the wire or with an HTTP error (not a bad answer)."""
    return isinstance(
        exc, openai.APIStatusError | openai.APIConnectionError | TimeoutError | ConnectionError
    )


def _stop(attempts: int) -> Callable[[RetryCallState], bool]:
    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= attempts:
            return True
        exc = state.outcome.exception() if state.outcome else None
        # a plain 500 is as often a deterministic server bug as a blip: one retry only
        return exc is not None and structured.status_of(exc) == 500 and state.attempt_number >= 2

    return stop


def _raw_text(raw: BaseMessage | None) -> str:
    if raw is None:
        return ""
    calls = getattr(raw, "tool_calls", None) or []
    if calls:
        return json.dumps(calls[0].get("args", {}), ensure_ascii=False)[:4000]
    content = raw.content
    return (content if isinstance(content, str) else json.dumps(content))[:4000]


Check = Callable[[Any], list[str]]


def structured_call(
    backend: ChatBackend,
    schema: type[T],
    messages: list[BaseMessage],
    *,
    cache: Cache | None = None,
    check: Check | None = None,
    tag: str = "",
    max_tokens: int | None = None,
) -> T:
    """Ask for ``schema``; retry transient faults, re-ask on invalid answers,
    cache the accepted answer. ``check`` returns problems the schema can't see
    (a repeated why). ``max_tokens`` bounds this answer (the profile's otherwise)."""
    if backend.chat is None:
        raise LLMError("offline backend has no model", attempts=0, usage={})
    key = key_of(
        backend.name,
        backend.profile.method,
        tag,
        schema.__name__,
        schema.model_json_schema(),
        [(m.type, m.content) for m in messages],
    )
    neg = backend.negotiation
    assert neg is not None
    neg.load(cache)  # the method this endpoint took last time, if any
    if cache is not None and (hit := cache.get(key)) is not None:
        try:
            value = schema.model_validate(hit["value"])
            if not (check and check(value)):
                backend.usage.cached += 1
                return value
        except (KeyError, ValueError):
            pass
    convo = list(messages)
    raw_text, problems = "", ["no answer"]
    ask = 0
    while ask <= backend.retry.reasks:
        retrying = Retrying(
            stop=_stop(backend.retry.attempts),
            wait=_wait(backend.retry.max_wait_s),
            retry=retry_if_exception(structured.can_heal),
            reraise=True,
        )
        started = time.monotonic()
        try:
            with neg.attempt() as method:
                call = _in_this_thread(
                    structured.bind(_bounded(backend, max_tokens), schema, method)
                )
                try:
                    out: Any = retrying(call, structured.with_format_hint(convo, schema, method))
                except Exception as e:
                    if structured.refused_shape(e):
                        # never the same body twice: the next method, same ask
                        neg.refuse(method, structured.refusal_text(e), cache)
                        continue
                    if not _transport(e):
                        neg.accepted(method, cache)  # it answered, badly: a re-ask's business
                    elif structured.fatal(e):
                        neg.failed = e
                    raise
                neg.accepted(method, cache)
        except structured.NoMethodLeft as e:
            raise LLMError(
                str(e),
                attempts=ask + 1,
                usage=backend.usage.as_dict(),
                reason="endpoint refused structured output",
            ) from e
        except Exception as e:
            if not _transport(e):
                # the SDK parses json_schema answers itself: a malformed answer
                # surfaces here as a validation error, which deserves a re-ask
                backend.usage.add(None, time.monotonic() - started, tag)
                problems = [_short(e)]
                convo = _reask(messages, getattr(e, "doc", "") or raw_text, problems)
                ask += 1
                continue
            raise _failure(backend, e, retrying, ask, raw_text) from e
        ask += 1
        raw = out.get("raw")
        backend.usage.add(raw, time.monotonic() - started, tag)
        raw_text = _raw_text(raw)
        parsed, err = out.get("parsed"), out.get("parsing_error")
        if isinstance(parsed, schema) and err is None:
            problems = check(parsed) if check else []
            if not problems:
                if cache is not None:
                    cache.put(key, {"value": parsed.model_dump(), "tag": tag, "method": method})
                return parsed
        else:
            problems = [_short(err) if err else "the answer did not use the required schema"]
        convo = _reask(messages, raw_text, problems)
    raise LLMError(
        f"answer still invalid after {1 + backend.retry.reasks} asks: {'; '.join(problems)[:300]}",
        attempts=1 + backend.retry.reasks,
        raw=raw_text,
        usage=backend.usage.as_dict(),
        reason="answer still invalid",
    )


def _failure(
    backend: ChatBackend, e: BaseException, retrying: Retrying, ask: int, raw: str
) -> LLMError:
    """A request that failed for good: what to say, and whether the run can go on."""
    assert backend.negotiation is not None
    where = backend.negotiation.endpoint
    tries = int(retrying.statistics.get("attempt_number", 1))
    common: dict[str, Any] = {"attempts": ask + 1, "raw": raw, "usage": backend.usage.as_dict()}
    if structured.fatal(e):
        # a wrong key, URL or model fails every section the same way: stop, one line
        return LLMError(where.explain(e), unreachable=True, reason="endpoint refused", **common)
    if structured.status_of(e) is not None and not structured.can_heal(e):
        return LLMError(
            f"{where.explain(e)} (not retried)", reason="endpoint rejected the request", **common
        )
    down = isinstance(e, openai.APIConnectionError) and not isinstance(e, openai.APITimeoutError)
    return LLMError(
        f"{where.url}: model {'endpoint unreachable' if down else 'call failed'} after "
        f"{tries} attempt{'s' if tries > 1 else ''}: {_short(e)}",
        unreachable=down,
        **common,
    )


def _bounded(backend: ChatBackend, max_tokens: int | None) -> Any:
    """The chat model with this call's output bound (llama.cpp reads it from the body)."""
    chat: Any = backend.chat
    if max_tokens is None or not hasattr(chat, "max_tokens"):
        return chat
    update: dict[str, Any] = {"max_tokens": max_tokens}
    if backend.profile.max_tokens_in_body:
        update["extra_body"] = {
            **(getattr(chat, "extra_body", None) or {}),
            "max_tokens": max_tokens,
        }
    return chat.model_copy(update=update)


def _in_this_thread(runnable: Any) -> Callable[[list[BaseMessage]], Any]:
    """``with_structured_output(include_raw=True)`` is ``{raw: model} | parse``;
    LangChain runs that map in a thread pool and, on Ctrl-C, waits for the HTTP
    call to end (minutes on a CPU model). Calling the model here, then the
    parse, makes an interrupt immediate. Other shapes run as they are."""
    steps: list[Any] = list(getattr(runnable, "steps", None) or [])
    model = getattr(steps[0], "steps__", {}).get("raw") if steps else None
    if model is None or len(steps) != 2:
        return cast(Callable[[list[BaseMessage]], Any], runnable.invoke)
    parse = steps[1]
    return lambda convo: parse.invoke({"raw": model.invoke(convo)})


def _reask(messages: list[BaseMessage], raw: str, problems: list[str]) -> list[BaseMessage]:
    return [
        *messages,
        AIMessage(content=raw or "(empty or unreadable answer)"),
        HumanMessage(
            content="That answer was rejected: "
            + "; ".join(problems)[:1500]
            + ". Answer again with the schema, fixing exactly these problems."
        ),
    ]


def _short(e: BaseException | Any) -> str:
    errors = getattr(e, "errors", None)
    if callable(errors) and isinstance(e, ValueError):  # pydantic: say what, not "1 error for X"
        try:
            found = [f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in errors()[:3]]
            return f"{type(e).__name__}: {'; '.join(found)}"[:300]
        except (TypeError, KeyError):
            pass
    text = str(e).strip().splitlines()
    first = text[0] if text else type(e).__name__
    return f"{type(e).__name__}: {first}"[:300]
