"""Adversarial review of the batch sequence (issue 12.10): interleavings the per-change layout
survives. Layout-independent (record, transition, replay, prune, open_changes, get only), so each
test also runs against the ledger of main, where it passes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dts_change.core.errors import LedgerConflictError
from dts_change.state.ledger import Ledger
from dts_change.state.records import ChangeRecord, ChangeState, job_key
from dts_change.state.storage import DirectoryStore, OssStore, Store

from .fakes import CountingStore, CountingTaggedStore, FakeClock, FakeOssClient, record_change

JOB = job_key("dtsrev12", "Forward")


def _record(ledger: Ledger, name: str) -> ChangeRecord:
    return record_change(ledger, name, JOB)


def _submitted(ledger: Ledger, record: ChangeRecord, token: str) -> ChangeRecord:
    sub = {"phase": "addition", "client_token": token, "request_id": f"req-{token}", "at": 1.0}
    return ledger.transition(record, ChangeState.SUBMITTED, submissions=[*record.submissions, sub])


class PausingStore(CountingStore):
    """Calls `hook(verb, key)` before (`when="before"`) or after each get/list/put_if_absent."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.before: Callable[[str, str], None] = lambda verb, key: None
        self.after: Callable[[str, str], None] = lambda verb, key: None

    def get(self, key: str) -> bytes | None:
        self.before("get", key)
        out = super().get(key)
        self.after("get", key)
        return out

    def list(self, prefix: str) -> list[str]:
        self.before("list", prefix)
        out = super().list(prefix)
        self.after("list", prefix)
        return out

    def put_if_absent(self, key: str, data: bytes) -> bool:
        self.before("put_if_absent", key)
        out = super().put_if_absent(key, data)
        self.after("put_if_absent", key)
        return out


def _once(event_key: Callable[[str, str], bool], signal: threading.Event, wait: threading.Event) -> Callable[[str, str], None]:
    fired = []

    def hook(verb: str, key: str) -> None:
        if not fired and event_key(verb, key):
            fired.append(1)
            signal.set()
            assert wait.wait(10), "interleaving did not happen"
    return hook


@pytest.mark.parametrize("prune_first", [False, True], ids=["replay-then-prune", "prune-then-replay"])
def test_prune_of_a_batch_a_reader_still_needs_does_not_hide_a_replayed_change(tmp_path: Path, prune_first: bool) -> None:
    """Was a FINDING on the first seqledger state: prune deleted a batch a concurrent pass still
    needed. A change dead-lettered by a batch more than the retention ago (prune not yet at it) is
    replayed; a pass that listed its versions before the replay's own version landed listed the
    job's batches after prune deleted the dead-letter batch (stale for prune: the change had moved
    on to the replay's version), took the change for the pending version 0 (old pending_since),
    dead-lettered it with a batch based on version 0 (no collision: a replay writes no batch) and
    deleted the replay's open marker: pending, listed by no job.

    `prune-then-replay` (a FINDING too): prune deletes the change itself (closed past the
    retention: its version 0 and its one-entry closing batch) after the pass read version 0 and
    before the replay's version 1 lands; the pass, listing the batches after, again takes version 0
    for pending and deletes the open marker the replay has just rewritten."""
    clock = FakeClock()
    base = DirectoryStore(tmp_path / "store")
    setup = Ledger(base, clock=clock, retention_seconds=100)
    x = _submitted(setup, _record(setup, "x"), "t1")
    x = setup.transition(x, ChangeState.DEAD_LETTERED, last_error={"code": "MaxAge"})
    clock.advance(1)
    y = _record(setup, "y")
    setup.update(y, attempts=1)  # a later write of the job (its highest batch on seqledger)
    clock.advance(150)  # x closed longer than the retention ago; no prune has run since
    replay_store = PausingStore(base)
    operator = Ledger(replay_store, clock=clock, retention_seconds=100)
    reader_store = PausingStore(base)
    reader = Ledger(reader_store, clock=clock, retention_seconds=100)
    marker_written, go_version = threading.Event(), threading.Event()
    reader_read, go_reader = threading.Event(), threading.Event()
    # The replay pauses before its own version (its open marker written) ...
    replay_store.before = _once(lambda v, k: v == "put_if_absent" and k.startswith(f"changes/{x.key}/"),
                                marker_written, go_version)
    # ... the pass pauses right after reading x's latest own version.
    reader_store.after = _once(lambda v, k: v == "get" and k.startswith(f"changes/{x.key}/"), reader_read, go_reader)
    errors: list[BaseException] = []
    seen: list[list[ChangeRecord]] = []

    def run(target: Callable[[], Any]) -> threading.Thread:
        def body() -> None:
            try:
                target()
            except BaseException as exc:
                errors.append(exc)
        thread = threading.Thread(target=body)
        thread.start()
        return thread

    replaying = run(lambda: operator.replay(x.key))
    assert marker_written.wait(10)
    passing = run(lambda: seen.append(reader.open_changes(JOB)))
    assert reader_read.wait(10)
    pruner = Ledger(base, clock=clock, retention_seconds=100)  # the timer's prune of another instance
    if prune_first:
        pruner.prune()
    go_version.set()
    replaying.join(10)
    if not prune_first:
        pruner.prune()
    go_reader.set()
    passing.join(10)
    assert not errors, errors
    # The pass acts on what it read: a change pending since long ago is past its maximum age.
    for record in seen[0]:
        if record.key == x.key and record.state is ChangeState.PENDING and clock() - record.pending_since > 100:
            reader.transition(record, ChangeState.DEAD_LETTERED, last_error={"code": "MaxAge"})
    fresh = Ledger(base, clock=clock, retention_seconds=100)
    now = fresh.get(x.key)
    assert now is not None
    if now.is_open:
        assert x.key in {r.key for r in fresh.open_changes(JOB)}, f"{now.state.value} change hidden"


def test_a_pass_reads_a_bounded_number_of_objects_however_many_changes_the_job_closed() -> None:
    """Was a FINDING (strict xfail): a pass's reads grew with the job's CLOSED history, not its
    open changes. Readers read every batch of the job: with 200 changes closed one by one within
    the retention, a cold instance's open_changes of ONE open change made ~400 GETs (main: 1);
    at one change a minute a job holds ~20,000 batches over 7 days, more than a 110 s pass can
    read. Now a reader skips batches older than the oldest own version it resolves (store
    `LastModified`, less `_BATCH_MARGIN_SECONDS`). The history is one change a minute (the
    finding's figure) and the open change comes after a quiet spell longer than that margin:
    batches written within the margin of the open change are "recent activity" and are read."""
    clock = FakeClock()
    oss = FakeOssClient(clock=clock)  # OSS's LastModified on the store's clock
    oss.page_size = 1000  # as OSS: 1,000 names a listing call
    store = OssStore(oss, "ledger-bucket", "deploy/ledger")
    writer = Ledger(store, clock=clock)
    for i in range(200):
        record = _submitted(writer, _record(writer, f"closed{i}"), f"t{i}")
        done = [dict(s) for s in record.submissions]
        done[-1]["confirmed"] = True
        writer.transition(record, ChangeState.APPLIED, submissions=done)
        clock.advance(60)
    clock.advance(600)
    still = _record(writer, "open")
    counting = CountingTaggedStore(store)
    cold = Ledger(counting, clock=clock)
    assert [r.key for r in cold.open_changes(JOB)] == [still.key]
    assert len(counting.reads) <= 10, f"{len(counting.reads)} reads for one open change"


def test_a_pass_notes_an_error_on_each_of_many_changes_it_read() -> None:
    """`note_error` (reconcile/context.py) updates every pending change of the pass one by one,
    from the records the pass read: the 66th must not collide with the pass's own earlier writes.
    Was a FINDING on the first seqledger state: the memory of this thread's batches kept the last
    64 numbers, so the 66th record read before them took number 1 again (LedgerConflictError: the
    pass stopped with 35 changes' errors and unanswered ClientTokens never noted; the same in a
    confirmation with more than 65 unconfirmed changes, each a one-entry batch, and the pass's
    confirmations never written)."""
    oss = FakeOssClient()
    oss.page_size = 1000
    clock = FakeClock()
    ledger = Ledger(OssStore(oss, "ledger-bucket", "deploy/ledger"), clock=clock)
    for i in range(100):
        _record(ledger, f"p{i:03d}")
    read = ledger.open_changes(JOB)
    assert len(read) == 100
    err = {"code": "DbListChanged", "message": "the job's list changed"}
    for record in read:
        ledger.update(record, last_error=err, attempts=record.attempts + 1, unanswered_tokens=["tok-1"])
    fresh = Ledger(OssStore(oss, "ledger-bucket", "deploy/ledger"), clock=clock).open_changes(JOB)
    assert [r.unanswered_tokens for r in fresh] == [["tok-1"]] * 100


def test_a_stale_holder_cannot_close_a_change_replayed_after_another_holder_dead_lettered_it(tmp_path: Path) -> None:
    """Held: the dead letter is a batch after the stale read, so the stale closing collides even
    though the replay itself writes no batch (the replay's open marker stays)."""
    clock = FakeClock()
    store = DirectoryStore(tmp_path / "store")
    stale = Ledger(store, clock=clock)
    holder = Ledger(store, clock=clock)
    x = _record(holder, "x")
    read = {r.key: r for r in stale.open_changes(JOB)}[x.key]
    current = {r.key: r for r in holder.open_changes(JOB)}[x.key]
    holder.transition(current, ChangeState.DEAD_LETTERED, last_error={"code": "MaxAge"})
    Ledger(store, clock=clock).replay(x.key)
    with pytest.raises(LedgerConflictError):
        stale.transition(read, ChangeState.DEAD_LETTERED, last_error={"code": "MaxAge"})
    fresh = Ledger(store, clock=clock)
    assert [(r.key, r.state) for r in fresh.open_changes(JOB)] == [(x.key, ChangeState.PENDING)]


def test_a_known_first_record_read_before_a_prune_does_not_hide_a_replayed_change(tmp_path: Path) -> None:
    """The pass's `first_open_change` (own version, no batches) reads the replay's marker and
    the change's version 0 before prune deletes the change closed past the retention (version 0
    and its closing batch); the replay's version 1 lands; `open_changes(known=...)` lists the
    batches after: taking the known version 0 as read, it would find it pending since long ago
    and the pass would close it again, deleting the replay's marker."""
    clock = FakeClock()
    base = DirectoryStore(tmp_path / "store")
    setup = Ledger(base, clock=clock, retention_seconds=100)
    x = setup.transition(_submitted(setup, _record(setup, "x"), "t1"), ChangeState.DEAD_LETTERED,
                         last_error={"code": "MaxAge"})
    clock.advance(1)
    setup.update(_record(setup, "y"), attempts=1)
    clock.advance(150)
    replay_store = PausingStore(base)
    operator = Ledger(replay_store, clock=clock, retention_seconds=100)
    marker_written, go_version = threading.Event(), threading.Event()
    replay_store.before = _once(lambda v, k: v == "put_if_absent" and k.startswith(f"changes/{x.key}/"),
                                marker_written, go_version)
    replaying = threading.Thread(target=lambda: operator.replay(x.key))
    replaying.start()
    assert marker_written.wait(10)
    reader = Ledger(base, clock=clock, retention_seconds=100)
    first = reader.first_open_change(JOB)
    assert first is not None  # on the batch layout x (its own version 0 is pending); on main y
    Ledger(base, clock=clock, retention_seconds=100).prune()
    go_version.set()
    replaying.join(10)
    for record in reader.open_changes(JOB, known=first):
        if record.key == x.key and record.state is ChangeState.PENDING and clock() - record.pending_since > 100:
            reader.transition(record, ChangeState.DEAD_LETTERED, last_error={"code": "MaxAge"})
    fresh = Ledger(base, clock=clock, retention_seconds=100)
    now = fresh.get(x.key)
    assert now is not None and now.is_open
    assert x.key in {r.key for r in fresh.open_changes(JOB)}, f"{now.state.value} change hidden"
