"""Shared JSON helpers: find records with their line numbers, dig into nested
payloads, decode JSON-inside-JSON. Every JSON format parser builds on these."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

_DECODER = json.JSONDecoder()
_WS = " \t\r\n"


class JSONRecordError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def _line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def iter_records(text: str) -> Iterator[tuple[int, Any]]:
    """Yield ``(line, value)`` for each record in ``text``.

    Accepts one JSON document (a top-level array yields its elements, each with
    the line it starts on), several concatenated documents, or JSON lines.
    A record that does not decode is yielded as ``(line, JSONRecordError)`` so
    callers can skip and count it without losing the rest.
    """
    text = text.lstrip("\ufeff")
    pos = _skip_ws(text, 0)
    if pos < len(text) and text[pos] == "[":
        yield from _iter_array(text, pos)
        return
    line, line_pos = 1, 0  # counted incrementally: JSON lines files can be huge
    while pos < len(text):
        start = pos
        line += text.count("\n", line_pos, start)
        line_pos = start
        try:
            value, pos = _DECODER.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError) as e:
            yield line, JSONRecordError(line, _why(e))
            nl = text.find("\n", start)
            if nl < 0:
                return
            pos = nl + 1
        else:
            yield line, value
        pos = _skip_ws(text, pos)


def _iter_array(text: str, pos: int) -> Iterator[tuple[int, Any]]:
    pos = _skip_ws(text, pos + 1)
    line_base, line_pos = 1, 0
    while pos < len(text) and text[pos] != "]":
        line_base += text.count("\n", line_pos, pos)
        line_pos = pos
        try:
            value, pos = _DECODER.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError) as e:
            yield line_base, JSONRecordError(line_base, _why(e))
            return
        yield line_base, value
        pos = _skip_ws(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)


def _why(e: Exception) -> str:
    if isinstance(e, json.JSONDecodeError):
        return f"invalid JSON: {e.msg}"
    return "JSON nested too deeply"  # RecursionError from the decoder


def load(text: str) -> Any:
    """Decode one whole JSON document, or raise JSONRecordError with its line."""
    try:
        return json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as e:
        raise JSONRecordError(e.lineno, f"invalid JSON: {e.msg}") from e
    except RecursionError as e:
        raise JSONRecordError(1, "JSON nested too deeply") from e


def dig(obj: Any, path: str, default: Any = None) -> Any:
    """``dig(x, "a.b.0.c")``: walk dicts and lists, default on any miss."""
    cur = obj
    for part in path.split("."):
        if isinstance(cur, dict):
            if part not in cur:
                return default
            cur = cur[part]
        elif isinstance(cur, list) and part.lstrip("-").isdigit():
            idx = int(part)
            if not -len(cur) <= idx < len(cur):
                return default
            cur = cur[idx]
        else:
            return default
    return cur


def first(obj: Any, *paths: str) -> Any:
    """The first present, non-empty value among several paths."""
    for p in paths:
        v = dig(obj, p)
        if v not in (None, "", [], {}):
            return v
    return None


def text_of(obj: Any, *paths: str) -> str | None:
    """Like ``first`` but coerced to a stripped string."""
    v = first(obj, *paths)
    if v is None:
        return None
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False)
    s = str(v).strip()
    return s or None


def maybe_json(value: Any) -> Any:
    """Decode JSON carried inside a JSON string (SNS ``Message``), else return as is."""
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            return value
    return value


def str_attrs(d: Any) -> dict[str, str]:
    """A flat str->str dict from labels/annotations-like objects."""
    if not isinstance(d, dict):
        return {}
    return {str(k): str(v) for k, v in d.items() if isinstance(v, str | int | float | bool)}
