"""The embedded server's grammar sampler: the same tokens as llama-cpp-python's
own sampler chain, with the full-vocabulary grammar pass only where the model's
top token is refused."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from pipeline import llama_serve, local_llm


def test_only_plain_greedy_grammar_calls_take_the_fast_sampler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(llama_serve, "_STOCK", lambda self, *a, **kw: calls.append(kw) or "stock")
    built: list[Any] = []
    monkeypatch.setattr(llama_serve, "GrammarSecond", lambda *a, **kw: built.append(kw) or "fast")
    base = {"grammar": object(), "temp": 0.0, "repeat_penalty": 1.1, "mirostat_mode": 0}
    dummy = type("L", (), {"last_n_tokens_size": 64})()
    assert llama_serve._init_sampler(dummy, **base) == "fast"
    assert built == [{"repeat_penalty": 1.1, "last_n": 64}]
    for change in (
        {"temp": 0.8},
        {"grammar": None},
        {"mirostat_mode": 2},
        {"presence_penalty": 0.5},
    ):
        assert llama_serve._init_sampler(dummy, **{**base, **change}) == "stock"
    assert len(calls) == 4


@pytest.mark.slow
def test_same_tokens_as_the_stock_sampler_on_the_bundled_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not local_llm.local_available():
        pytest.skip("local extra not installed (pip install 'draft-incident[local]')")
    from llama_cpp import Llama

    model = Llama(
        model_path=str(local_llm.ensure_model()),
        n_ctx=1024,
        n_threads=os.cpu_count() or 1,
        verbose=False,
    )
    schema = {
        "type": "object",
        "properties": {
            "evidence": {"type": "array", "items": {"enum": ["E3", "E17"]}, "maxItems": 2},
            "text": {"type": "string", "maxLength": 60},
        },
        "required": ["evidence", "text"],
    }
    messages = [
        {
            "role": "user",
            "content": "Evidence: E3 | 10:02 | log | db pool exhausted max=40\n"
            "E17 | 10:09 | message | alice: rolled back v2.1, latency back to normal\n"
            "Label the rollback as JSON with evidence ids and a short text.",
        }
    ]

    def run() -> str:
        out: Any = model.create_chat_completion(
            messages=messages,  # type: ignore[arg-type]
            response_format={"type": "json_object", "schema": schema},  # type: ignore[typeddict-unknown-key]
            temperature=0,
            repeat_penalty=1.1,
            max_tokens=80,
        )
        return str(out["choices"][0]["message"]["content"])

    stock_text = run()
    monkeypatch.setattr(Llama, "_init_sampler", Llama._init_sampler)  # restored afterwards
    monkeypatch.setattr(llama_serve, "_STOCK", None)
    full_passes: list[int] = []
    slow_path = llama_serve.GrammarSecond._best_allowed
    monkeypatch.setattr(
        llama_serve.GrammarSecond,
        "_best_allowed",
        lambda self, logits: full_passes.append(1) or slow_path(self, logits),
    )
    assert llama_serve.install()
    model.reset()
    fast_text = run()
    assert fast_text == stock_text
    answer = json.loads(fast_text)
    assert set(answer["evidence"]) <= {"E3", "E17"} and len(answer["text"]) <= 60
    # the grammar refused the model's first choice only now and then
    tokens = len(model.tokenize(fast_text.encode(), add_bos=False))
    assert len(full_passes) < tokens / 2
