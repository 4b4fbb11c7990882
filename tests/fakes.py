"""Test doubles: a structured-output fake chat model and a fake
OpenAI-compatible HTTP server on 127.0.0.1 (the real ChatOpenAI client path).

Both answer from the prompt itself: they read the evidence/candidate lines
and cite real ids, so a draft made with them is grounded and deterministic.
Faults are scripted per request.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

# a pack line (id | time | kind | who: text) or a candidate line (id | time | kind | who | text)
_LINE = re.compile(r"^(E\d+) \| [\d:]+ \| (\w+) \| (?:[^|\n]* \| )?(.*)$", re.M)


def _evidence(prompt: str) -> list[tuple[str, str, str]]:
    return _LINE.findall(prompt)


def answer_for(schema: str, prompt: str) -> dict[str, Any]:
    """A valid, grounded answer for one section, derived from the prompt."""
    ev = _evidence(prompt)
    cand_block = prompt.split("CANDIDATE", 1)[-1] if "CANDIDATE" in prompt else prompt
    cands = _evidence(cand_block) or ev
    first = ev[0][0] if ev else "E1"
    if schema == "SummaryAnswer":
        return {
            "title": "API latency spike from an unindexed analytics query",
            "severity": "SEV-2",
            "impact": "Customers saw slow API responses while the database was saturated.",
            "summary": "An analytics query without a date filter saturated the primary "
            "database. The on-call engineer killed the query and latency recovered.",
        }
    if schema == "TimelineAnswer":
        return {
            "entries": [
                {"evidence": [i], "text": re.sub(r"\s*\(x\d+ until [\d:]+\)$", "", t)[:72]}
                for i, _k, t in cands[:6]
            ]
        }
    if schema == "WhysAnswer":
        return {
            "whys": [
                {
                    "question": f"Why did step {step} happen?",
                    "answer": f"Level {step}: {text[:100]}",
                    "evidence": [i],
                }
                for step, (i, _k, text) in enumerate(ev[:4], 1)
            ]
        }
    if schema == "ActionsAnswer":
        return {
            "immediate": [{"text": "Kill the runaway query", "done": True, "evidence": [first]}],
            "medium": [
                {"text": "Add an index on orders(created_at)", "done": False, "evidence": []}
            ],
            "long": [{"text": "Move analytics to a read replica", "done": False, "evidence": []}],
        }
    if schema == "ReflexionAnswer":
        return {
            "context": "Ad-hoc analytics queries on the primary database.",
            "lesson": "An aggregation without a date filter can saturate the primary.",
            "adjustment": "Before running an aggregation on orders, check EXPLAIN for a "
            "sequential scan and add a date filter.",
        }
    raise KeyError(schema)


def _prompt_text(messages: list[BaseMessage]) -> str:
    return "\n".join(str(m.content) for m in messages)


class ScriptedChat(BaseChatModel):
    """A LangChain chat model that answers through tool calls.

    ``responder(schema_name, prompt, call_index)`` returns the tool-call args
    (a dict), an AIMessage, or raises; the default answers from the prompt.
    """

    responder: Callable[[str, str, int], Any] | None = None
    schema_name: str = ""

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        name = getattr(tools[0], "__name__", None) or tools[0]["function"]["name"]
        return self.model_copy(update={"schema_name": name})

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        prompt = _prompt_text(messages)
        LOG.append((self.schema_name, prompt))
        n = len(LOG) - 1
        out = (self.responder or (lambda s, p, i: answer_for(s, p)))(self.schema_name, prompt, n)
        if isinstance(out, AIMessage):
            msg = out
        else:
            msg = AIMessage(
                content="",
                tool_calls=[{"name": self.schema_name, "args": out, "id": f"call_{n}"}],
                usage_metadata={
                    "input_tokens": len(prompt) // 4,
                    "output_tokens": 50,
                    "total_tokens": len(prompt) // 4 + 50,
                },
            )
        return ChatResult(generations=[ChatGeneration(message=msg)])


LOG: list[tuple[str, str]] = []


# --- fake OpenAI-compatible server ---------------------------------------------


@dataclass
class Fault:
    """One scripted reply. ``body`` None means: answer normally."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # dict (JSON), str/bytes (raw), or None
    content: str | None = None  # replace the answer's JSON text (truncated JSON, refusals)
    args: dict[str, Any] | None = None  # replace the answer object
    delay: float = 0.0
    reset: bool = False  # close the connection without a reply


@dataclass
class FakeOpenAI:
    url: str
    requests: list[dict[str, Any]]
    faults: list[Fault]
    # how each request arrived: {"path": "/v1/chat/completions?...", "headers": {...}}
    meta: list[dict[str, Any]] = field(default_factory=list)

    @property
    def root(self) -> str:
        """The server without ``/v1`` (what Azure clients are given)."""
        return self.url.removesuffix("/v1")

    def shapes(self) -> list[str]:
        return [shape_of(r) for r in self.requests]


def shape_of(req: dict[str, Any]) -> str:
    """Which structured-output method a request uses."""
    if req.get("tools"):
        return "tools"
    rf = req.get("response_format") or {}
    if rf.get("type") == "json_object":
        return "json_object_schema" if "schema" in rf else "json_object"
    return str(rf.get("type") or "text")


# What real servers answer to a request shape they do not take (bodies as they send them).
REFUSALS: dict[str, Fault] = {
    # OpenAI-style 400, e.g. an older model behind an OpenAI-compatible gateway
    "json_schema_400": Fault(
        status=400,
        body={
            "error": {
                "message": "Invalid parameter: 'response_format' of type 'json_schema' is not "
                "supported with this model.",
                "type": "invalid_request_error",
                "param": "response_format",
                "code": None,
            }
        },
    ),
    # llama-cpp-python's server: its pydantic request model fails, its error route says 500
    "json_schema_500": Fault(
        status=500,
        body={
            "error": {
                # str() of FastAPI's RequestValidationError, as llama-cpp-python 0.3.36 sends it
                "message": "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', "
                "'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\", "
                "'input': 'json_schema', 'ctx': {'expected': \"'text' or 'json_object'\"}}\n\n"
                '  File "llama_cpp/server/app.py", line 376, in create_chat_completion\n'
                "    POST /v1/chat/completions",
                "type": "internal_server_error",
                "param": None,
                "code": None,
            }
        },
    ),
    # a FastAPI-style validation error on the tools field
    "tools_422": Fault(
        status=422,
        body={
            "detail": [
                {
                    "type": "extra_forbidden",
                    "loc": ["body", "tools"],
                    "msg": "Extra inputs are not permitted",
                }
            ]
        },
    ),
    "json_object_schema_400": Fault(
        status=400,
        body={"error": {"message": "Unrecognized request argument: response_format.schema"}},
    ),
    "json_object_400": Fault(
        status=400,
        body={"error": {"message": "response_format json_object is not supported"}},
    ),
}


def schema_name(req: dict[str, Any]) -> str:
    """The section a request asks for: a tool call, OpenAI's json_schema, or
    llama.cpp's json_object with a schema."""
    tools = req.get("tools") or []
    rf = req.get("response_format") or {}
    if tools:
        return str(tools[0]["function"]["name"])
    return str(rf.get("json_schema", {}).get("name", "") or rf.get("schema", {}).get("title", ""))


def _completion(req: dict[str, Any], f: Fault | None) -> dict[str, Any]:
    prompt = "\n".join(
        m["content"] if isinstance(m.get("content"), str) else json.dumps(m.get("content"))
        for m in req.get("messages", [])
    )
    tools = req.get("tools") or []
    schema = schema_name(req)
    if not schema and (req.get("response_format") or {}).get("type") == "json_object":
        # plain json_object: the schema rides in the prompt
        found = re.findall(r'"title": "(\w+Answer)"', prompt)
        schema = found[-1] if found else ""
    args = f.args if f and f.args is not None else answer_for(schema, prompt)
    text = f.content if f and f.content is not None else json.dumps(args)
    if tools:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": schema, "arguments": text},
                }
            ],
        }
        finish = "tool_calls"
    else:
        message = {"role": "assistant", "content": text}
        finish = "stop"
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": req.get("model", "fake"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": len(prompt) // 4,
            "completion_tokens": len(text) // 4,
            "total_tokens": (len(prompt) + len(text)) // 4,
        },
    }


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a: Any) -> None:
        pass

    def delay_or_reset(self, f: Fault) -> bool:
        """Apply a fault's delay; True when it resets the connection (no reply)."""
        if f.delay:
            time.sleep(f.delay)
        if f.reset:
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        return f.reset


@contextmanager
def fake_openai_server(
    faults: list[Fault] | None = None,
    refuse: dict[str, Fault] | None = None,
    by_schema: dict[str, list[Fault]] | None = None,
) -> Iterator[FakeOpenAI]:
    """``faults`` script the replies to accepted requests in arrival order;
    ``by_schema`` per section (sections may run concurrently, so arrival order
    is not the section order); ``refuse`` maps a request shape (``shape_of``)
    to the error a server answers it with, every time, like a server that does
    not take that shape."""
    state = FakeOpenAI(url="", requests=[], faults=list(faults or []))
    refusals = dict(refuse or {})
    per_schema = {k: list(v) for k, v in (by_schema or {}).items()}
    lock = threading.Lock()

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            self._json(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            req = json.loads(self.rfile.read(length) or b"{}")
            with lock:
                state.requests.append(req)
                state.meta.append(
                    {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}
                )
                refused = refusals.get(shape_of(req))
                mine = None if refused else per_schema.get(schema_name(req))
                f = refused or (mine.pop(0) if mine else None)
                f = f or (state.faults.pop(0) if state.faults and not refused else None)
            if f and self.delay_or_reset(f):
                return
            if f and f.status != 200:
                self._json(
                    f.status,
                    f.body or {"error": {"message": "fault", "type": "server_error"}},
                    f.headers,
                )
                return
            if f and isinstance(f.body, str | bytes):
                self._raw(200, f.body if isinstance(f.body, bytes) else f.body.encode())
                return
            self._json(200, _completion(req, f))

        def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
            self._raw(status, json.dumps(obj).encode(), headers)

        def _raw(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
            send(self, status, data, headers)

    with loopback(Handler) as url:
        state.url = f"{url}/v1"
        yield state


def send(
    handler: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict[str, str] | None = None
) -> None:
    """One JSON reply (also the fakes in source_fakes.py)."""
    handler.send_response(status)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(data)))
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    handler.end_headers()
    handler.wfile.write(data)


@contextmanager
def loopback(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threading HTTP server on 127.0.0.1 (a free port) for the ``with`` block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
