"""One backoff policy for every remote call (model endpoints, evidence sources):
jittered exponential waits, but a server's ``Retry-After`` wins, within reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from tenacity import RetryCallState, wait_random_exponential


def retry_after_seconds(header: str | None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date (RFC 9110)."""
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def retry_after_wait(max_wait: float) -> Callable[[RetryCallState], float]:
    """A tenacity ``wait``: the failed call's ``Retry-After`` (its exception's
    ``response``), else jittered exponential backoff; never above ``max_wait``."""
    backoff = wait_random_exponential(multiplier=0.5, max=max_wait)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        resp = getattr(exc, "response", None)
        seconds = retry_after_seconds(resp.headers.get("retry-after") if resp is not None else None)
        if seconds is not None:
            return min(seconds, max_wait)  # the server knows best, within reason
        return backoff(state)

    return wait
