"""The embedded model's server: llama-cpp-python's own, with a faster grammar sampler.

``python -m pipeline.llama_serve ARGS`` runs ``python -m llama_cpp.server ARGS``
with one change. llama-cpp-python's sampler chain applies a JSON grammar to every
token of the 152k vocabulary before it picks one, at each step: about a fifth of
a small model's generation time on two cores. For greedy decoding (temperature 0,
what every drafting call sends) ``GrammarSecond`` first checks only the token the
model wants most and runs the full grammar pass only when that token is refused,
which is how llama.cpp's own ``common_sampler`` does it. The choice is the same
token: the most likely one the grammar allows. Anything else (sampling with a
temperature, mirostat, logits processors, a library whose internals moved) keeps
the stock sampler.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

import numpy as np

_STOCK: Any = None


class GrammarSecond:
    """Greedy choice under a grammar and llama.cpp's repeat penalty, checking the
    grammar on the top token first. Quacks like ``_internals.LlamaSampler`` where
    ``Llama.sample`` uses it (``sample(ctx, idx)``)."""

    def __init__(self, llama: Any, grammar: Any, *, repeat_penalty: float, last_n: int) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self._n_vocab = int(llama._n_vocab)
        self._penalty = repeat_penalty
        self._last_n = last_n
        self._history: list[int] = []
        self._grammar = llama_cpp.llama_sampler_init_grammar(
            llama._model.vocab, grammar._grammar.encode(), grammar._root.encode()
        )
        if not self._grammar:
            raise ValueError("grammar did not parse")
        self._one = (llama_cpp.llama_token_data * 1)()
        self._all: Any = None  # the whole-vocabulary buffer, built on first need

    def __del__(self) -> None:
        if getattr(self, "_grammar", None):
            self._lib.llama_sampler_free(self._grammar)
            self._grammar = None

    def _allowed(self, token: int) -> bool:
        one = self._one
        one[0] = self._lib.llama_token_data(token, 0.0, 0.0)
        arr = self._lib.llama_token_data_array(one, 1, -1, False)
        self._lib.llama_sampler_apply(self._grammar, ctypes.byref(arr))
        return bool(np.isfinite(one[0].logit))

    def _best_allowed(self, logits: np.ndarray) -> int:
        if self._all is None:
            self._all = (self._lib.llama_token_data * self._n_vocab)()
            view = np.ctypeslib.as_array(self._all)
            view["id"] = np.arange(self._n_vocab, dtype=np.int32)
        view = np.ctypeslib.as_array(self._all)
        view["logit"] = logits
        view["p"] = 0.0
        arr = self._lib.llama_token_data_array(self._all, self._n_vocab, -1, False)
        self._lib.llama_sampler_apply(self._grammar, ctypes.byref(arr))
        # the grammar only masks (-inf) and never reorders: index == token id
        return int(np.argmax(view["logit"]))

    def sample(self, ctx: Any, idx: int = -1) -> int:
        ptr = self._lib.llama_get_logits_ith(ctx.ctx, idx)
        logits = np.ctypeslib.as_array(ptr, shape=(self._n_vocab,)).copy()
        if self._penalty != 1.0 and self._history:
            # llama.cpp's penalties sampler: recent generated tokens, divided if
            # positive, multiplied if negative
            recent = np.unique(np.array(self._history[-self._last_n :], dtype=np.int64))
            hit = logits[recent]
            logits[recent] = np.where(hit > 0, hit / self._penalty, hit * self._penalty)
        token = int(np.argmax(logits))
        if not self._allowed(token):
            token = self._best_allowed(logits)
        self._lib.llama_sampler_accept(self._grammar, token)
        self._history.append(token)
        return token


def _init_sampler(self: Any, *args: Any, **kw: Any) -> Any:
    plain = (
        kw.get("grammar") is not None
        and kw.get("temp") == 0.0
        and not kw.get("mirostat_mode")
        and kw.get("logits_processor") is None
        and not args
        and not kw.get("frequency_penalty")
        and not kw.get("presence_penalty")
    )
    if plain:
        try:
            return GrammarSecond(
                self,
                kw["grammar"],
                repeat_penalty=float(kw.get("repeat_penalty", 1.0)),
                last_n=int(self.last_n_tokens_size),
            )
        except (AttributeError, ValueError, TypeError):
            pass  # internals moved: the stock chain is always right
    return _STOCK(self, *args, **kw)


def install() -> bool:
    """Patch ``Llama._init_sampler``; False (and nothing patched) if it is absent."""
    global _STOCK
    from llama_cpp import Llama

    if _STOCK is not None:
        return True
    stock = getattr(Llama, "_init_sampler", None)
    if stock is None:
        return False
    _STOCK = stock
    Llama._init_sampler = _init_sampler  # type: ignore[method-assign]
    return True


def main() -> None:
    if not install():
        print("llama_serve: stock sampler (Llama._init_sampler not found)", file=sys.stderr)
    from llama_cpp.server.__main__ import main as serve

    sys.argv[0] = "llama_cpp.server"
    serve()


if __name__ == "__main__":
    main()
