"""A reader skips batches that cannot name the own versions it resolves (issue 12.10, hole 3).

A batch entry is written by a writer who read (or wrote) the own version it is based on, so the
batch's `LastModified` is not older than that version's on the store's clock. Readers GET only
batches within `_BATCH_MARGIN_SECONDS` of the oldest version they resolve, and a warm reader lists
from a hint it checks against the listing. These tests hold what must never be skipped.
"""

from __future__ import annotations

from dts_change.state.ledger import Ledger
from dts_change.state.records import _BATCH_MARGIN_SECONDS, ChangeRecord, ChangeState, job_key
from dts_change.state.storage import OssStore

from .fakes import CountingTaggedStore, FakeClock, FakeOssClient, record_change

JOB = job_key("dtsfloor1", "Forward")


def _record(ledger: Ledger, name: str) -> ChangeRecord:
    return record_change(ledger, name, JOB)


def _submit(ledger: Ledger, record: ChangeRecord, token: str) -> ChangeRecord:
    sub = {"phase": "addition", "client_token": token, "request_id": f"req-{token}", "at": 1.0}
    return ledger.transition(record, ChangeState.SUBMITTED, submissions=[*record.submissions, sub])


def _apply(ledger: Ledger, record: ChangeRecord) -> ChangeRecord:
    done = [dict(s) for s in record.submissions]
    done[-1]["confirmed"] = True
    return ledger.transition(record, ChangeState.APPLIED, submissions=done)


def _world(page_size: int = 1000) -> tuple[FakeClock, FakeOssClient, OssStore]:
    clock = FakeClock()
    oss = FakeOssClient(clock=clock)
    oss.page_size = page_size
    return clock, oss, OssStore(oss, "ledger-bucket", "deploy/ledger")


def _history(writer: Ledger, clock: FakeClock, count: int, *, every: float = 60.0, name: str = "h") -> list[ChangeRecord]:
    closed = []
    for i in range(count):
        closed.append(_apply(writer, _submit(writer, _record(writer, f"{name}{i:04d}"), f"t{name}{i}")))
        clock.advance(every)
    return closed


def _batch_gets(store: CountingTaggedStore) -> int:
    return sum(1 for verb, key in store.reads if verb == "get" and key.startswith("batches/"))


def test_an_old_open_change_whose_batches_are_old_still_resolves_with_them() -> None:
    """The floor is the OLDEST version resolved: a change submitted hours ago, then hours of other
    traffic, resolves as submitted (its batch read), by a cold reader and through `get`."""
    clock, _, store = _world()
    writer = Ledger(store, clock=clock)
    old = _submit(writer, _record(writer, "old"), "t-old")
    clock.advance(10)
    _history(writer, clock, 240)  # four hours, far past the margin
    new = _record(writer, "new")
    for reader in (Ledger(store, clock=clock), writer):
        got = {r.key: r for r in reader.open_changes(JOB)}
        assert got[old.key].state is ChangeState.SUBMITTED and got[old.key].submissions[-1]["client_token"] == "t-old"
        assert got[new.key].state is ChangeState.PENDING
        assert Ledger(store, clock=clock).get(old.key).state is ChangeState.SUBMITTED  # type: ignore[union-attr]


def test_a_batch_written_in_the_same_second_as_its_version_is_read() -> None:
    """One-second dates: the version and its batches share a second (and the next ones)."""
    clock, _, store = _world()
    writer = Ledger(store, clock=clock)
    _history(writer, clock, 20, every=_BATCH_MARGIN_SECONDS)
    x = _record(writer, "x")
    clock.advance(0.999)
    x = _submit(writer, x, "tx")
    cold = Ledger(store, clock=clock)
    assert [(r.key, r.state) for r in cold.open_changes(JOB)] == [(x.key, ChangeState.SUBMITTED)]


def test_status_of_a_change_closed_long_ago_reads_its_old_batches_after_a_warm_pass() -> None:
    """A warm reader's hint (where its listing of batches starts) comes from recent open changes;
    `get` of a change closed hours ago has an older floor, so the hint does not hold and every
    batch is listed: the closed change is applied, not its pending version 0."""
    clock, _, store = _world(page_size=10)
    writer = Ledger(store, clock=clock)
    first = _history(writer, clock, 1, name="first")[0]
    _history(writer, clock, 200)
    clock.advance(3 * _BATCH_MARGIN_SECONDS)
    _record(writer, "now")
    reader = Ledger(store, clock=clock)
    reader.open_changes(JOB)
    reader.open_changes(JOB)
    assert reader._batch_hint.get(JOB), "the warm reader has no hint: nothing here tests it"
    got = reader.get(first.key)
    assert got is not None and got.state is ChangeState.APPLIED
    assert [r.state for r in reader.all_records({ChangeState.APPLIED})].count(ChangeState.APPLIED) == 201


def test_a_warm_reader_lists_and_reads_only_recent_batches() -> None:
    """Listing pages too: a warm reader starts its listing of batches at its hint."""
    clock, oss, store = _world(page_size=10)
    writer = Ledger(store, clock=clock)
    _history(writer, clock, 150)  # 300 batches: 30 pages of 10
    clock.advance(3 * _BATCH_MARGIN_SECONDS)
    x = _record(writer, "x")
    counting = CountingTaggedStore(store)
    reader = Ledger(counting, clock=clock)
    assert [r.key for r in reader.open_changes(JOB)] == [x.key]
    assert _batch_gets(counting) == 0
    pages = oss.listed_pages
    assert [r.key for r in reader.open_changes(JOB)] == [x.key]
    assert oss.listed_pages - pages <= 4, f"{oss.listed_pages - pages} listing pages for one open change"


def _wrong_hints(reader: Ledger, store: OssStore, clock: FakeClock) -> list[int]:
    high = max(int(n.rsplit("/", 1)[-1].split(".")[0]) for n in store.list("batches/"))
    return [high, high + 50, 1, 0]


def test_a_wrong_hint_only_costs_a_listing() -> None:
    """A hint that names a batch newer than the floor, one past the highest, or a pruned one:
    the read lists every batch and resolves as a reader without a hint does."""
    clock, _, store = _world()
    writer = Ledger(store, clock=clock)
    x = _submit(writer, _record(writer, "x"), "tx")  # batch 1, old
    clock.advance(4 * _BATCH_MARGIN_SECONDS)
    _history(writer, clock, 30)
    y = _submit(writer, _record(writer, "y"), "ty")
    for hint in _wrong_hints(writer, store, clock):
        reader = Ledger(store, clock=clock)
        reader._batch_hint[JOB] = hint
        got = {r.key: r.state for r in reader.open_changes(JOB)}
        assert got == {x.key: ChangeState.SUBMITTED, y.key: ChangeState.SUBMITTED}, hint


def test_a_batch_pruned_between_its_listing_and_its_read_makes_the_read_start_again() -> None:
    """The batches are listed before the versions (prune's order); read after them now, one that
    vanished in between (pruned) may belong to a version read before the prune: read again."""
    clock, _, store = _world()
    writer = Ledger(store, clock=clock)
    x = _submit(writer, _record(writer, "x"), "tx")
    vanish = {"left": 1}

    class Vanishing(CountingTaggedStore):
        def get(self, key: str) -> bytes | None:
            if key.startswith("batches/") and vanish["left"]:
                vanish["left"] -= 1
                self.reads.append(("get", key))
                return None
            return super().get(key)

    counting = Vanishing(store)
    reader = Ledger(counting, clock=clock)
    assert [(r.key, r.state) for r in reader.open_changes(JOB)] == [(x.key, ChangeState.SUBMITTED)]
    assert sum(1 for verb, key in counting.reads if verb == "list" and key.startswith("batches/")) == 2


def test_without_dates_every_batch_is_read() -> None:
    """A store that lists no dates (a local directory, an older client): nothing is skipped."""
    clock = FakeClock()
    oss = FakeOssClient()  # no clock: listings carry no LastModified
    oss.page_size = 1000
    store = OssStore(oss, "ledger-bucket", "deploy/ledger")
    writer = Ledger(store, clock=clock)
    _history(writer, clock, 10)
    clock.advance(4 * _BATCH_MARGIN_SECONDS)
    _record(writer, "x")
    counting = CountingTaggedStore(store)
    Ledger(counting, clock=clock).open_changes(JOB)
    assert _batch_gets(counting) == 20




def test_a_cold_reader_of_a_long_history_lists_from_the_hint_its_order_cursor_carries() -> None:
    """More batches than a listing page: a cold reader reads the job's order cursor, which the
    lease holder keeps with its hint (`admit`), and lists from there; a wrong hint there costs
    a listing, never a batch."""
    clock, oss, store = _world(page_size=1000)
    writer = Ledger(store, clock=clock)
    old = _submit(writer, _record(writer, "old"), "t-old")
    clock.advance(10)
    _history(writer, clock, 1600)  # 3,201 batches: four pages
    clock.advance(3 * _BATCH_MARGIN_SECONDS)
    x = _record(writer, "x")
    # The holder's pass: the old change closes, and its order cursor keeps the hint
    got = {r.key: r for r in writer.open_changes(JOB)}
    _apply(writer, got[old.key])
    writer.admit(JOB, writer.open_changes(JOB))
    pages = oss.listed_pages
    counting = CountingTaggedStore(store)
    assert [r.key for r in Ledger(counting, clock=clock).open_changes(JOB)] == [x.key]
    assert _batch_gets(counting) <= 1  # the old change's closing, just written
    assert oss.listed_pages - pages <= 4, f"{oss.listed_pages - pages} listing pages"
    # A wrong hint in the cursor: the same answer, from a full listing
    for hint in (1, 3200, 3202, 9000):
        cursor = "order/" + JOB.replace("/", "%2F") + ".json"
        raw = store.get(cursor)
        assert raw is not None
        store.put(cursor, raw.replace(b'"batch_hint"', b'"batch_hint": ' + str(hint).encode() + b', "was"'))
        reopened = _submit(writer, _record(writer, f"late{hint}"), f"t-late{hint}")
        got = {r.key: r.state for r in Ledger(store, clock=clock).open_changes(JOB)}
        assert got[reopened.key] is ChangeState.SUBMITTED and got[x.key] is ChangeState.PENDING, hint
