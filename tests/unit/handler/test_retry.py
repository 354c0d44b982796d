from __future__ import annotations

import random

import pytest

from dts_change.core.errors import (
    DbListChangedError,
    JobModifyingError,
    ServiceUnavailableError,
    SignatureMismatchError,
    ThrottledError,
)
from dts_change.reconcile.retry import RetryPolicy, backoff_delay, call_with_retry


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(errors):
    calls = {"n": 0}

    def fn():
        calls["n"] += 1
        if errors:
            raise errors.pop(0)
        return "ok"

    return fn, calls


def test_retry_transient_errors_until_success():
    clock = FakeClock()
    fn, calls = failing([ServiceUnavailableError("x"), ServiceUnavailableError("y")])
    assert call_with_retry(fn, deadline=100, clock=clock.clock, sleep=clock.sleep, rng=random.Random(1)) == "ok"
    assert calls["n"] == 3 and len(clock.sleeps) == 2


def test_retry_never_retries_permanent_or_busy_errors():
    for error in (SignatureMismatchError("bad"), JobModifyingError("busy")):
        fn, calls = failing([error])
        with pytest.raises(type(error)):
            call_with_retry(fn, deadline=100, sleep=lambda s: None)
        assert calls["n"] == 1


def test_retry_stops_at_the_deadline():
    clock = FakeClock()
    fn, _calls = failing([ServiceUnavailableError("x")] * 10)
    policy = RetryPolicy(base_seconds=1.0, cap_seconds=1.0, max_attempts=10)
    with pytest.raises(ServiceUnavailableError):
        call_with_retry(fn, deadline=2.5, policy=policy, clock=clock.clock, sleep=clock.sleep, rng=random.Random(3))
    assert clock.now <= 2.5


def test_retry_stops_after_max_attempts():
    fn, calls = failing([ServiceUnavailableError("x")] * 10)
    with pytest.raises(ServiceUnavailableError):
        call_with_retry(fn, deadline=1e9, policy=RetryPolicy(max_attempts=3), sleep=lambda s: None)
    assert calls["n"] == 3


def test_retry_honours_retry_after_from_throttling():
    clock = FakeClock()
    fn, _ = failing([ThrottledError("slow down", retry_after=1.5)])
    call_with_retry(fn, deadline=100, policy=RetryPolicy(base_seconds=0.01), clock=clock.clock, sleep=clock.sleep)
    assert clock.sleeps == [1.5]


def test_backoff_delay_is_full_jitter_capped():
    rng = random.Random(7)
    policy = RetryPolicy(base_seconds=0.5, cap_seconds=2.0)
    delays = [backoff_delay(attempt, policy, rng) for attempt in range(1, 10) for _ in range(50)]
    assert all(0 <= d <= 2.0 for d in delays)
    assert max(delays) > 1.5 and min(delays) < 0.1


def test_before_retry_runs_after_each_wait_and_what_it_raises_ends_the_retries() -> None:
    events: list[str] = []

    def fn() -> str:
        events.append("call")
        raise ThrottledError("slow down")

    def stale() -> None:
        events.append("check")
        raise DbListChangedError("changed while waiting")

    with pytest.raises(DbListChangedError):
        call_with_retry(fn, deadline=1e9, sleep=lambda _s: events.append("sleep"), before_retry=stale)
    assert events == ["call", "sleep", "check"]
