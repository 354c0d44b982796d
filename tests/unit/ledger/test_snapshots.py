"""The job's snapshot (`state/snapshots.py`): failures around it cost reads, never records; it
never outlives the retention."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest

from dts_change.core.errors import ServiceUnavailableError
from dts_change.state import snapshots
from dts_change.state.ledger import Ledger
from dts_change.state.records import ChangeRecord
from dts_change.state.snapshots import (
    SNAPSHOTS,
    decode_snapshot,
    encode_snapshot,
    snapshot_job,
    snapshot_name,
    tag_of,
)
from dts_change.state.storage import OssStore

from .fakes import CountingTaggedStore, FakeClock, FakeOssClient, SimulatedCrashError, _etag
from .test_batches import JOB, _apply, _by_seq, _record, _submit


class FailingSnapshots(CountingTaggedStore):
    """Every read and write of a snapshot fails: `fail` as OSS answering 503, `lost` the same
    after the write was done (its answer is what gets lost), `crash-before` / `crash-after` as
    the process dying before or after the write."""

    def __init__(self, inner: OssStore, mode: str) -> None:
        super().__init__(inner)
        self.mode = mode

    def get(self, key: str) -> bytes | None:
        if key.startswith(SNAPSHOTS) and self.mode in ("fail", "lost"):
            self.reads.append(("get", key))
            raise ServiceUnavailableError("503 on the snapshot")
        return super().get(key)

    def put(self, key: str, data: bytes) -> None:
        if not key.startswith(SNAPSHOTS) or self.mode == "ok":
            return super().put(key, data)
        self.writes.append(("put", key))
        if self.mode in ("lost", "crash-after"):
            self.tagged.put(key, data)
        if self.mode.startswith("crash"):
            raise SimulatedCrashError(key)
        raise ServiceUnavailableError("503 on the snapshot")


def _oss() -> OssStore:
    return OssStore(FakeOssClient(), "ledger-bucket", "deploy/ledger")


def _backlog(ledger: Ledger, count: int = 100) -> list[ChangeRecord]:
    return _by_seq(_submit(ledger, [_record(ledger, f"c{i:03d}") for i in range(count)]))


def _keys(records: list[ChangeRecord]) -> list[str]:
    return [r.key for r in records]


@pytest.mark.parametrize("mode", ["fail", "lost", "crash-before", "crash-after"])
def test_a_failed_snapshot_read_or_write_changes_no_record(clock: FakeClock, mode: str) -> None:
    inner = _oss()
    store = FailingSnapshots(inner, mode)
    ledger = Ledger(store, clock=clock)
    records = _backlog(ledger)
    assert ledger.open_changes(JOB) == records
    # WHEN the lease holder keeps the snapshot and its write fails (a 503 is logged and
    # forgotten; a crash ends the process)
    if mode.startswith("crash"):
        with pytest.raises(SimulatedCrashError):
            ledger.keep_snapshot(JOB, _keys(records))
        store.mode = "ok"  # another instance, after the crash
    else:
        ledger.keep_snapshot(JOB, _keys(records))
    assert [key for verb, key in store.writes if key.startswith(SNAPSHOTS)] == [snapshot_name(JOB)]
    assert (inner.get(snapshot_name(JOB)) is not None) is (mode in ("lost", "crash-after"))
    # THEN a cold ledger reads the same records (its own snapshot calls failing too, or not)
    assert Ledger(store, clock=clock).open_changes(JOB) == records
    assert Ledger(inner, clock=clock).open_changes(JOB) == records


def test_few_open_changes_never_touch_the_snapshot(clock: FakeClock) -> None:
    store = CountingTaggedStore(_oss())
    ledger = Ledger(store, clock=clock)
    records = _backlog(ledger, 20)
    assert ledger.open_changes(JOB) == records
    ledger.keep_snapshot(JOB, _keys(records))
    assert Ledger(store, clock=clock).open_changes(JOB) == records
    assert not [key for _, key in store.reads + store.writes if key.startswith(SNAPSHOTS)]


def test_the_holder_drops_the_snapshot_once_few_changes_are_open(clock: FakeClock) -> None:
    store = CountingTaggedStore(_oss())
    ledger = Ledger(store, clock=clock)
    records = _backlog(ledger)
    ledger.keep_snapshot(JOB, _keys(records))
    assert store.get(snapshot_name(JOB)) is not None
    # WHEN most changes are applied and the next pass keeps the snapshot of the few left
    _apply(ledger, records[:60])
    left = ledger.open_changes(JOB)
    assert left == records[60:]
    ledger.keep_snapshot(JOB, _keys(left))
    # THEN the snapshot is gone (its copies of closed changes with it)
    assert store.get(snapshot_name(JOB)) is None


def test_a_backlog_recorded_by_two_instances_is_merged_into_one_snapshot(clock: FakeClock) -> None:
    store = CountingTaggedStore(_oss())
    first, second = Ledger(store, clock=clock), Ledger(store, clock=clock)
    records = [_record(first if i % 2 else second, f"c{i:03d}") for i in range(100)]
    keys = _keys(_by_seq(records))
    # WHEN each keeps the snapshot of what it recorded (each holds half)
    first.keep_snapshot(JOB, keys)
    second.keep_snapshot(JOB, keys)
    # THEN the stored one holds both halves, and a cold reader reads no change one by one
    assert len(decode_snapshot(store.get(snapshot_name(JOB)), JOB, where="test")) == 100
    store.reads.clear()
    assert Ledger(store, clock=clock).open_changes(JOB) == _by_seq(records)
    assert [key for verb, key in store.reads if verb == "get"] == [snapshot_name(JOB)]


def test_the_snapshot_is_capped_in_arrival_order_and_checks_its_tags() -> None:
    bodies = [json.dumps({"n": i, "pad": "x" * 100}).encode("utf-8") for i in range(50)]
    entries = [(f"k{i:02d}", (0, tag_of(body), body)) for i, body in enumerate(bodies)]
    raw = encode_snapshot(JOB, entries, written_at=1.0, max_bytes=2000)
    assert len(raw) <= 2000
    held = decode_snapshot(raw, JOB, where="test")
    assert 0 < len(held) < 50 and sorted(held) == [f"k{i:02d}" for i in range(len(held))]
    assert all(held[k][2] == bodies[int(k[1:])] for k in held)
    few = decode_snapshot(encode_snapshot(JOB, entries, written_at=1.0, max_entries=7), JOB, where="test")
    assert sorted(few) == [f"k{i:02d}" for i in range(7)]
    # an entry whose bytes do not have its tag is dropped; another job's snapshot is empty
    bad = encode_snapshot(JOB, [("k00", (0, tag_of(b"other"), bodies[0])), *entries[1:3]], written_at=1.0)
    assert sorted(decode_snapshot(bad, JOB, where="test")) == ["k01", "k02"]
    assert decode_snapshot(raw, "other/Forward", where="test") == {}
    # one larger than the caps when read is ignored whole
    whole = encode_snapshot(JOB, entries, written_at=1.0)
    assert len(decode_snapshot(whole, JOB, where="test")) == 50
    assert decode_snapshot(whole, JOB, where="test", max_bytes=len(whole) - 1) == {}
    assert decode_snapshot(whole, JOB, where="test", max_entries=49) == {}


def test_an_oversized_snapshot_is_read_as_none(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    store = CountingTaggedStore(_oss())
    ledger = Ledger(store, clock=clock)
    records = _backlog(ledger)
    ledger.keep_snapshot(JOB, _keys(records))
    size = len(store.get(snapshot_name(JOB)) or b"")
    store.reads.clear()
    assert Ledger(store, clock=clock).open_changes(JOB) == records
    assert sum(1 for verb, _ in store.reads if verb == "get") == 2  # the snapshot and the batch
    for cap, value in (("SNAPSHOT_MAX_BYTES", size - 1), ("SNAPSHOT_MAX_ENTRIES", 99)):
        with monkeypatch.context() as patch:
            # WHEN readers cap snapshots below its size (bytes, then entries)
            patch.setattr(snapshots, cap, value)
            store.reads.clear()
            # THEN a cold ledger reads each change, with the same records
            assert Ledger(store, clock=clock).open_changes(JOB) == records
            assert sum(1 for verb, _ in store.reads if verb == "get") == 102


# ---------------------------------------------------------------- prune


class DatedOssClient(FakeOssClient):
    """`FakeOssClient` whose listing gives each object's `LastModified` (ISO 8601, as OSS does),
    stamped from `clock` when written."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.modified: dict[str, float] = {}

    def put_object(self, bucket: str, key: str, data: bytes | str, content_type: str | None = None,
                   forbid_overwrite: bool = False) -> object:
        put = super().put_object(bucket, key, data, content_type, forbid_overwrite)
        self.modified[key] = self.clock()
        return put

    def iter_objects(self, bucket: str, prefix: str = "", max_keys: int = 1000) -> Iterator[DatedInfo]:  # type: ignore[override]
        for info in super().iter_objects(bucket, prefix, max_keys):
            stamp = datetime.fromtimestamp(self.modified[info.key], timezone.utc)
            yield DatedInfo(info.key, info.etag, stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z"))


@dataclass(frozen=True)
class DatedInfo:
    key: str
    etag: str
    last_modified: str


class DatedStore(CountingTaggedStore):
    """`CountingTaggedStore` passing on the OSS store's dated listing."""

    def __init__(self, inner: OssStore) -> None:
        super().__init__(inner)
        self.oss = inner

    def list_dated(self, prefix: str) -> list[tuple[str, float | None]]:
        self.reads.append(("list", prefix))
        return self.oss.list_dated(prefix)


@pytest.mark.parametrize("dated", [True, False], ids=["listing-date", "head-date"])
def test_prune_deletes_a_snapshot_older_than_the_retention(clock: FakeClock, dated: bool) -> None:
    oss = OssStore(DatedOssClient(clock) if dated else FakeOssClient(), "ledger-bucket", "deploy/ledger")
    store = DatedStore(oss) if dated else CountingTaggedStore(oss)
    ledger = Ledger(store, clock=clock, retention_seconds=100)
    records = _backlog(ledger)
    ledger.keep_snapshot(JOB, _keys(records))
    # WHEN a prune runs within the retention, the job's changes still open
    clock.advance(99)
    ledger.prune()
    # THEN the snapshot stays
    assert store.get(snapshot_name(JOB)) is not None
    # WHEN the snapshot grows older than the retention, its changes still open
    clock.advance(2)
    store.reads.clear()
    ledger.prune()
    # THEN it is gone, and the changes are as they were; a dated listing told its age without
    # reading it
    assert (("get", snapshot_name(JOB)) in store.reads) is not dated
    assert store.get(snapshot_name(JOB)) is None
    assert Ledger(store, clock=clock).open_changes(JOB) == records


def test_prune_deletes_the_snapshot_of_a_job_with_no_open_change(clock: FakeClock) -> None:
    store = CountingTaggedStore(_oss())
    ledger = Ledger(store, clock=clock, retention_seconds=100)
    records = _backlog(ledger)
    ledger.keep_snapshot(JOB, _keys(records))
    other = Ledger(store, clock=clock, retention_seconds=100)  # not the instance that kept it
    # WHEN every change is applied by another instance and it prunes within the retention
    _apply(other, other.open_changes(JOB))
    assert not other.has_open_changes(JOB)
    other.prune()
    # THEN the snapshot is gone (its changes' bytes with it); an unknown name stays
    assert store.get(snapshot_name(JOB)) is None
    store.put(f"{SNAPSHOTS}notes.txt", b"x")
    other.prune()
    assert store.get(f"{SNAPSHOTS}notes.txt") == b"x"
    assert snapshot_job(snapshot_name(JOB)) == JOB and snapshot_job(f"{SNAPSHOTS}notes.txt") is None


def test_the_fake_tags_are_what_snapshots_compare() -> None:
    assert _etag(b"abc").strip('"') == tag_of(b"abc")
