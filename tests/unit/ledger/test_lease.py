"""Leases per (job, direction): one holder at a time, takeover of expired leases, release."""

from __future__ import annotations

import threading

import pytest

from dts_change.core.errors import LeaseHeldError
from dts_change.state.leases import Lease
from dts_change.state.ledger import Ledger
from dts_change.state.records import job_key
from dts_change.state.storage import Store
from dts_change.state.storage.base import escape_segment

from .fakes import CountingStore, FakeClock

JOB = job_key("dtsab12cd", "Forward")


def _contend(
    ledger: Ledger, owners: list[str], ttl: float = 30.0
) -> tuple[list[Lease], list[LeaseHeldError]]:
    barrier = threading.Barrier(len(owners))
    won: list[Lease] = []
    lost: list[LeaseHeldError] = []

    def take(owner: str) -> None:
        barrier.wait(timeout=5)
        try:
            won.append(ledger.acquire_lease(JOB, owner, ttl))
        except LeaseHeldError as exc:
            lost.append(exc)

    threads = [threading.Thread(target=take, args=(owner,)) for owner in owners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return won, lost


def test_lease_contenders_exactly_one_holder(ledger: Ledger) -> None:
    # GIVEN eight invocations reconciling the same job at once
    owners = [f"invocation-{i}" for i in range(8)]
    # WHEN they all take the lease
    won, lost = _contend(ledger, owners)
    # THEN one holds it, the others are told who does
    assert len(won) == 1
    assert len(lost) == 7
    assert {exc.holder for exc in lost} == {won[0].owner}
    assert ledger.lease_is_current(won[0])


def test_lease_held_and_unexpired_refuses_even_the_same_owner_name(ledger: Ledger) -> None:
    lease = ledger.acquire_lease(JOB, "a", 30)
    with pytest.raises(LeaseHeldError) as info:
        ledger.acquire_lease(JOB, "a", 30)
    assert info.value.holder == "a"
    assert info.value.code == "lease-held"
    assert ledger.lease_is_current(lease)


def test_lease_expired_is_taken_over_by_exactly_one_contender(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN a lease whose holder died and whose time ran out
    stale = ledger.acquire_lease(JOB, "crashed", 10)
    clock.advance(11)
    assert not ledger.lease_is_current(stale)
    # WHEN several invocations contend for it
    won, lost = _contend(ledger, [f"next-{i}" for i in range(6)])
    # THEN exactly one takes it over, as the next generation
    assert len(won) == 1 and len(lost) == 5
    assert won[0].generation == stale.generation + 1
    assert ledger.lease_is_current(won[0])


def test_lease_taken_over_is_no_longer_current_for_the_old_holder(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN a holder that stalled past its expiry while someone else took over
    slow = ledger.acquire_lease(JOB, "slow", 10)
    clock.advance(11)
    ledger.acquire_lease(JOB, "fast", 10)
    # WHEN the slow holder's clock says its lease would still be valid (skew), THEN the store says not
    clock.now = slow.acquired_at + 5
    assert not ledger.lease_is_current(slow)


def test_lease_release_lets_the_next_invocation_in_at_once(ledger: Ledger) -> None:
    first = ledger.acquire_lease(JOB, "a", 300)
    ledger.release_lease(first)
    assert not ledger.lease_is_current(first)
    second = ledger.acquire_lease(JOB, "b", 300)
    assert second.generation == first.generation + 2  # the release is a generation of its own
    assert ledger.lease_is_current(second)


def test_lease_release_after_takeover_changes_nothing(ledger: Ledger, clock: FakeClock) -> None:
    old = ledger.acquire_lease(JOB, "old", 10)
    clock.advance(11)
    new = ledger.acquire_lease(JOB, "new", 10)
    ledger.release_lease(old)
    assert ledger.lease_is_current(new)


def test_lease_release_of_a_lease_still_held_reads_nothing_back(store: Store, clock: FakeClock) -> None:
    counting = CountingStore(store)
    ledger = Ledger(counting, clock=clock, monotonic=clock, lease_time="local")
    ledger.release_lease(ledger.acquire_lease(JOB, "a", 300))
    held = ledger.acquire_lease(JOB, "b", 300)
    counting.reads.clear()
    counting.writes.clear()
    # WHEN a lease this instance took and still holds by its own clock is released
    ledger.release_lease(held)
    # THEN nothing is read (no generation could be newer: a live lease is never taken over);
    # the released generation is created and the one below it, listed when taking it, deleted
    assert counting.reads == []
    folder = f"leases/{escape_segment(JOB)}/"
    assert counting.writes == [
        ("put_if_absent", f"{folder}{held.generation + 1:012d}.json"),
        ("delete", f"{folder}{held.generation - 1:012d}.json"),
    ]
    assert not ledger.lease_is_current(held)
    assert ledger.acquire_lease(JOB, "c", 300).generation == held.generation + 2


def test_lease_release_by_a_holder_whose_clock_lags_leaves_the_new_holder_alone(store: Store) -> None:
    # GIVEN a holder whose clocks say its lease still runs, while another instance (clocks ahead,
    # judging by the writer's expiry) has taken it over
    slow_clock, fast_clock = FakeClock(), FakeClock()
    slow = Ledger(store, clock=slow_clock, monotonic=slow_clock, lease_time="local")
    fast = Ledger(store, clock=fast_clock, monotonic=fast_clock, lease_time="local")
    old = slow.acquire_lease(JOB, "slow", 10)
    fast_clock.advance(11)
    new = fast.acquire_lease(JOB, "fast", 10)
    # WHEN the slow holder releases without looking
    slow.release_lease(old)
    # THEN create-if-absent of the next generation failed and the new holder still holds
    assert fast.lease_is_current(new)
    assert store.list(f"leases/{escape_segment(JOB)}/")[-1].endswith(f"{new.generation:012d}.json")


def test_lease_old_generations_are_pruned_but_never_the_latest_two(store: Store, ledger: Ledger) -> None:
    for i in range(5):
        ledger.release_lease(ledger.acquire_lease(JOB, f"owner-{i}", 30))
    latest = ledger.acquire_lease(JOB, "last", 30)
    names = store.list(f"leases/{escape_segment(JOB)}/")
    assert len(names) == 2
    assert names[-1].endswith(f"{latest.generation:012d}.json")


def test_lease_separate_jobs_do_not_contend(ledger: Ledger) -> None:
    forward = ledger.acquire_lease(job_key("dtsab12cd", "Forward"), "a", 30)
    reverse = ledger.acquire_lease(job_key("dtsab12cd", "Reverse"), "b", 30)
    assert ledger.lease_is_current(forward) and ledger.lease_is_current(reverse)


def test_lease_generation_freed_by_pruning_is_not_taken_by_a_stale_contender(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a contender that listed the generations and read the released one (1, 2) long ago
    ledger.release_lease(ledger.acquire_lease(JOB, "a", 30))
    stale_list = ledger._lease_generations(f"leases/{escape_segment(JOB)}/")
    stale_lease = ledger._read_lease(f"leases/{escape_segment(JOB)}/", stale_list[-1])
    # AND meanwhile others took and gave back the lease until generation 3 was pruned away
    ledger.release_lease(ledger.acquire_lease(JOB, "b", 30))
    holder = ledger.acquire_lease(JOB, "c", 30)
    real_list, real_read = ledger._lease_generations, ledger._read_lease
    calls = {"list": 0, "read": 0}

    def list_once_stale(folder: str) -> list[int]:
        calls["list"] += 1
        return stale_list if calls["list"] == 1 else real_list(folder)

    def read_once_stale(folder: str, generation: int) -> Lease | None:
        calls["read"] += 1
        return stale_lease if calls["read"] == 1 else real_read(folder, generation)

    monkeypatch.setattr(ledger, "_lease_generations", list_once_stale)
    monkeypatch.setattr(ledger, "_read_lease", read_once_stale)
    # WHEN the stale contender creates the freed generation
    with pytest.raises(LeaseHeldError) as info:
        ledger.acquire_lease(JOB, "stale", 30)
    # THEN it is told the lease is held, and the holder keeps it alone
    assert info.value.holder == "c"
    assert ledger.lease_is_current(holder)


def test_lease_store_failing_every_write_is_reported_as_store_trouble_not_as_a_held_lease(
    store: Store, clock: FakeClock
) -> None:
    from dts_change.core.errors import NetworkError

    class FailingLeaseWrites:
        """Every lease write fails as if the connection dropped (answer lost or never sent)."""

        def __init__(self, inner: Store) -> None:
            self.inner = inner
            self.url = inner.url

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

        def put_if_absent(self, key: str, data: bytes) -> bool:
            if key.startswith("leases/"):
                raise NetworkError("PutObject failed before an answer arrived")
            return self.inner.put_if_absent(key, data)

        def put_if_absent_tagged(self, key: str, data: bytes) -> tuple[bool, str | None]:
            if key.startswith("leases/"):
                raise NetworkError("PutObject failed before an answer arrived")
            return self.inner.put_if_absent_tagged(key, data)  # type: ignore[attr-defined, no-any-return]

    ledger = Ledger(FailingLeaseWrites(store), clock=clock, monotonic=clock, lease_time="local")  # type: ignore[arg-type]
    # WHEN every attempt to write the lease fails THEN the store's error comes out (FC retries,
    # the pass reports store trouble), not a lease "held" by nobody
    with pytest.raises(NetworkError):
        ledger.acquire_lease(JOB, "a", 30)


def test_lease_whose_generation_was_replaced_by_a_lookalike_is_not_current(ledger: Ledger) -> None:
    # GIVEN a holder's generation deleted and created again by a contender that listed before it
    # existed (pruning frees generation numbers): same name, same owner, another token
    held = ledger.acquire_lease(JOB, "a", 300)
    name = f"leases/{escape_segment(JOB)}/{held.generation:012d}.json"
    lookalike = Lease(job_key=JOB, owner="a", generation=held.generation, acquired_at=held.acquired_at,
                      expires_at=held.expires_at, token="another-token", ttl_seconds=300)
    ledger.store.delete(name)
    assert ledger.store.put_if_absent(name, ledger._lease_bytes(lookalike))
    # WHEN the holder checks its lease before writing THEN it is no longer current (with the OSS
    # store the check is one listing: the name is there, the ETag is not the one we wrote)
    assert not ledger.lease_is_current(held)


def test_lease_every_generation_written_says_the_batch_ledger_layout(store: Store, ledger: Ledger) -> None:
    """Rollout marker: main's guard refuses a pass once the job's latest lease generation says
    `ledger_layout` > 1, so code that reads changes without their batches never runs a pass
    after this layout did. Checked on the stored bytes, both the taken and the released one."""
    import json

    held = ledger.acquire_lease(JOB, "a", 300)
    ledger.release_lease(held)
    names = store.list(f"leases/{escape_segment(JOB)}/")
    assert len(names) == 2
    for name in names:
        raw = json.loads(store.get(name) or b"{}")
        assert raw.get("ledger_layout") == 2 and type(raw["ledger_layout"]) is int, (name, raw)
    assert held.ledger_layout == 2


def test_lease_record_without_a_ledger_layout_is_layout_1(ledger: Ledger) -> None:
    """A generation written before the field existed (main's code) reads as layout 1."""
    data = ledger.acquire_lease(JOB, "a", 300).to_dict()
    data.pop("ledger_layout", None)
    assert Lease.from_dict(data, where="test").ledger_layout == 1
    assert Lease.from_dict({**data, "ledger_layout": 3}, where="test").ledger_layout == 3
