"""Capped exponential backoff with full jitter, bounded by the invocation's deadline.

FC's Python context has no remaining-time API, so the deadline is computed once at handler entry
(start + function timeout - margin) and passed in. What cannot finish by then stays pending for
the timer's next pass.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from ..core.errors import DtsChangeError, ThrottledError
from ..core.values import immutable

T = TypeVar("T")


@immutable
class RetryPolicy:
    """Back-off with full jitter: base, cap and attempts."""

    base_seconds: float = 0.2
    cap_seconds: float = 2.0
    max_attempts: int = 5


def backoff_delay(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Full jitter: a uniform delay in [0, min(cap, base * 2**attempt)]."""
    return rng.uniform(0, min(policy.cap_seconds, policy.base_seconds * (2**attempt)))


def call_with_retry(
    fn: Callable[[], T],
    *,
    deadline: float,
    policy: RetryPolicy | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    on_retry: Callable[[DtsChangeError, int, float], None] | None = None,
    before_retry: Callable[[], None] | None = None,
) -> T:
    """Call `fn`, retrying transient errors while attempts and the deadline allow; re-raise the rest.

    Only `category == "transient"` is retried here: a busy job is not waited for (the change stays
    pending) and credential reloads happen inside the clients. `before_retry` runs after each
    wait and before the next attempt; what it raises ends the retries (a write whose input went
    stale during the wait must not be repeated as it was)."""
    policy = policy or RetryPolicy()
    rng = rng or random.Random()
    attempt = 0
    while True:
        try:
            return fn()
        except DtsChangeError as exc:
            attempt += 1
            if exc.category != "transient" or attempt >= policy.max_attempts:
                raise
            delay = backoff_delay(attempt, policy, rng)
            if isinstance(exc, ThrottledError) and exc.retry_after:
                delay = max(delay, exc.retry_after)
            if clock() + delay >= deadline:
                raise
            if on_retry is not None:
                on_retry(exc, attempt, delay)
            sleep(delay)
            if before_retry is not None:
                before_retry()
