"""The durable record of every accepted change, its state, and the per-job lease (DESIGN §1-2).

Layout on the store (everything JSON, every object written once with create-if-absent):

    changes/<key>/<version:06d>.json      one object per transition of a change (append-only)
    open/<job>/<seq>                      per-job index of open changes (pending/.../submitted)
    closed/<closed_at_ns:020d>-<key>      when a change closed, oldest first (what `prune` reads)
    leases/<job>/<generation:012d>.json   lease generations of a (job, direction)
    order/<job>.json                      what the lease holder has seen: highest seq, open keys
    identities/<hash of identity>/<key>   changes recorded under one document id or source (empty)
    sent/<job>/<at_ns:020d>-<token>.json  written before every ModifyDtsJob: its ClientToken, phase,
                                          the changes it carries and the digest of what it sends

`<key>` is a hash of the idempotency key; `<job>` the escaped job key; `<seq>` the arrival order
(`<time_ns:020d>-<key>`). A conflict between two writers is settled by create-if-absent of the
next version: the loser gets `LedgerConflictError` and re-reads.

Crash safety: a change becomes visible in the index *before* its record exists and leaves it only
*after* its closing record exists, so no crash between two writes can hide an open change:
- `record` writes the open marker, then version 0; a marker whose record never appeared is dropped
  once it is older than `marker_grace_seconds`, a marker whose record has another `seq` (a lost
  race or an aborted attempt) at once;
- closing writes the closing version, then the `closed/` marker, then deletes the open marker;
  `open_changes` finishes that work when it finds a marker of a closed record;
- replay writes the open marker, then the `pending` version (then makes sure the marker exists).
`open_changes` therefore reads only the job's markers and those records, however long the
history grows; `prune` reads only the `closed/` markers that are old enough, and deletes a
change's identity marker before its versions (a crash in between leaves nothing a later prune
does not finish).

Modules: `records.py` (records, states, the store layout), `leases.py`, `write_ahead.py`;
this one holds `Ledger`, which composes them.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from ..core.errors import (
    CorruptRecordError,
    DtsChangeError,
    InvalidStoreKeyError,
    InvalidTransitionError,
    LedgerConflictError,
    ReplayRefusedError,
    short_repr,
)
from .storage.base import Store, escape_segment, unescape_segment

if TYPE_CHECKING:
    from .deadletter import DeadLetterRecord
from .leases import LeaseBook
from .records import (
    _CHANGES,
    _CLOSED,
    _IDENTITIES,
    _KNOWN_SECONDS,
    _KNOWN_VERSIONS,
    _OPEN,
    _ORDER,
    _PRUNE_BATCH,
    _UPDATABLE,
    _VERSION_SUFFIX,
    CLOSED_STATES,
    DEFAULT_MARKER_GRACE_SECONDS,
    DEFAULT_RETENTION_SECONDS,
    ChangeRecord,
    ChangeState,
    _check_record_key,
    _dumps,
    _loads,
    _ns,
    _parse_version,
    _seq_ns,
    record_key,
)
from .write_ahead import WriteAheadNotes

__all__ = ["Ledger"]


class Ledger(LeaseBook, WriteAheadNotes):
    """Change records, their per-job index and leases over one `Store`."""


    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        marker_grace_seconds: float = DEFAULT_MARKER_GRACE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        lease_time: Literal["store", "local"] = "store",
    ) -> None:
        self.store = store
        self.clock = clock
        self.monotonic = monotonic
        self.lease_time = lease_time
        """`store`: a lease's age is read on the store's clock (deployed); `local`: from `clock`
        (unit tests that move a fake clock)."""
        self._held_until: dict[str, float] = {}
        self._orphans: set[str] = set()
        """Tokens of leases this instance wrote (or may have: the answer was lost) and no pass of
        it uses: not live for this instance, which takes the next generation instead of waiting
        for itself until they expire (issue 12.7)."""
        """Lease token -> when (our monotonic clock) a lease we took ends for us: counted from
        before its object was written, so we stop believing in it no later than the store does."""
        self._below: dict[str, list[int]] = {}
        """Lease token -> the older generations its acquisition listed and left (released with it)."""
        self._lease_tags: dict[str, str] = {}
        """Lease token -> the ETag of the generation we wrote (one listing tells the lease is current)."""
        self._known_lock = threading.Lock()  # passes of several threads may share a ledger
        self._known: dict[tuple[str, int], tuple[float, float, str, bytes]] = {}
        """(change key, version) -> (monotonic and clock time of the write, the tag the store gave
        the object, the bytes) of versions this ledger wrote lately. `get` still lists (its
        freshness check) and takes these bytes instead of reading them back only while the listing
        names that version with the same tag (`TaggedStore`: the OSS ETag, a digest of the bytes).
        No clock decides it: an instance whose clock is ahead may prune a change moments after it
        closed and a redelivery record it again under the same version numbers (other bytes, so
        another tag). A store that gives no tags (a local directory, cheap to read) is read back."""
        self.retention_seconds = retention_seconds
        self.marker_grace_seconds = marker_grace_seconds

    def __repr__(self) -> str:
        return f"Ledger({self.store.url!r})"

    def record(
        self, *, idempotency_key: str, change_id: str, job_key: str, change: dict[str, Any]
    ) -> tuple[ChangeRecord, bool]:
        """Record a new change as pending; a duplicate delivery returns the existing record and False."""
        key = record_key(idempotency_key)
        existing = self.get(key)
        if existing is not None:
            return existing, False
        now = self.clock()
        record = ChangeRecord(
            key=key,
            idempotency_key=idempotency_key,
            change_id=change_id,
            job_key=job_key,
            seq=f"{_ns(now):020d}-{key}",
            state=ChangeState.PENDING,
            change=change,
            created_at=now,
            updated_at=now,
            version=0,
            pending_since=now,
        )
        data = record.to_json().encode("utf-8")
        marker = self._open_marker(job_key, record.seq)
        self._write_open_marker(marker, record, now)
        created, tag = self._create_version(key, 0, data)
        if created:
            self._remember(key, 0, tag, data)
            return record, True
        # Another delivery of the same change won the race: its record and marker stand.
        winner = self.get(key)
        if winner is None:
            raise CorruptRecordError(
                f"Change {key} was reported as existing but cannot be read from {self.store.url}"
            )
        if winner.seq != record.seq:
            self.store.delete(marker)
        return winner, False

    def get(self, key: str) -> ChangeRecord | None:
        """The latest transition of a change, or None when it was never recorded (or was pruned)."""
        _check_record_key(key)
        for _ in range(2):  # a version can vanish between list and get only while being pruned
            versions = self._tagged_versions(key)
            if not versions:
                return None
            version, tag = versions[-1]
            record = self._read_version(key, version, tag=tag)
            if record is not None:
                return record
        return None

    def transition(self, record: ChangeRecord, state: ChangeState, **updates: Any) -> ChangeRecord:
        """Write the change's next version in `state`; `LedgerConflictError` if another writer did first."""
        state = ChangeState(state)
        if record.state in CLOSED_STATES and state != record.state:
            raise InvalidTransitionError(
                f"Invalid transition of change {record.key} from {record.state.value} to {state.value} "
                "-> expected a closed change to stay closed (replay moves dead_lettered to pending)",
                hint="Use Ledger.replay for a dead-lettered change",
            )
        return self._write_transition(record, state, updates)

    def update(self, record: ChangeRecord, **updates: Any) -> ChangeRecord:
        """A new version in the same state (attempts, last error, submissions, evidence...)."""
        return self._write_transition(record, record.state, updates)

    @staticmethod
    def _identity_folder(identity: str) -> str:
        return f"{_IDENTITIES}{hashlib.sha256(identity.encode('utf-8')).hexdigest()[:32]}/"

    def note_identity(self, identity: str, key: str) -> list[str]:
        """Mark change `key` as recorded under `identity` (its document id or source delivery) and
        return the other changes still in the ledger under the same identity: a reused id whose
        content differed. Markers of changes pruned since (or by an older version, which left
        them behind) are deleted on the way."""
        folder = self._identity_folder(identity)
        self.store.put_if_absent(folder + key, b"")
        earlier = []
        for other in self.identity_markers(identity):
            if other == key:
                continue
            try:
                gone = not self._versions(other)  # a list, not a read: cheap on OSS
            except InvalidStoreKeyError:
                continue  # not a marker this ledger wrote
            except DtsChangeError:
                gone = False  # cannot tell now: report it rather than lose the warning
            if gone:
                self.store.delete(folder + other)
            else:
                earlier.append(other)
        return earlier

    def identity_markers(self, identity: str) -> list[str]:
        """The keys marked under `identity` (for operators and tests)."""
        return [m.rsplit("/", 1)[-1] for m in self.store.list(self._identity_folder(identity))]

    def replay(self, key: str, *, dead_letter: DeadLetterRecord | None = None) -> ChangeRecord:
        """Move a dead-lettered change back to pending under its original idempotency key.

        A record pruned since (its dead letter outlives the ledger's retention) is recorded again
        from `dead_letter`, which holds the whole change (issue 12.9)."""
        record = self.get(key)
        if record is None and dead_letter is not None and dead_letter.change is not None and dead_letter.key == key:
            record = self._record_again(dead_letter)
            if record.state is ChangeState.PENDING:
                return record
        if record is None:
            raise ReplayRefusedError(
                f"Replay of change {short_repr(key)} refused: no such change in {self.store.url} -> "
                "expected the key of a dead-lettered change (it may have been pruned)"
            )
        if record.state is not ChangeState.DEAD_LETTERED:
            raise ReplayRefusedError(
                f"Replay of change {key} refused: it is {record.state.value} -> expected dead_lettered"
            )
        return self._write_transition(
            record,
            ChangeState.PENDING,
            {"attempts": 0, "confirm_retries": 0, "pending_since": self.clock()},
            replays=record.replays + 1,
        )

    def _record_again(self, letter: DeadLetterRecord) -> ChangeRecord:
        """A pruned change back as pending (version 0) from its dead letter; if another writer
        recorded it first, theirs is returned as it stands."""
        key = _check_record_key(letter.key)
        now = self.clock()
        assert letter.change is not None
        record = ChangeRecord(
            key=key,
            idempotency_key=letter.idempotency_key or str(letter.change.get("idempotencyKey") or key),
            change_id=letter.change_id,
            job_key=letter.job_key,
            seq=f"{_ns(now):020d}-{key}",
            state=ChangeState.PENDING,
            change=letter.change,
            created_at=letter.first_seen or now,
            updated_at=now,
            version=0,
            pending_since=now,
            replays=1,
        )
        self._write_open_marker(self._open_marker(record.job_key, record.seq), record, now)
        if self.store.put_if_absent(self._version_key(key, 0), record.to_json().encode("utf-8")):
            identity = record.change.get("identity")
            if isinstance(identity, str):
                self.store.put_if_absent(self._identity_folder(identity) + key, b"")
            return record
        winner = self.get(key)
        if winner is None:
            raise CorruptRecordError(f"Change {key} was reported as existing but cannot be read from {self.store.url}")
        return winner

    def open_changes(
        self,
        job_key: str,
        *,
        out_of_time: Callable[[], bool] | None = None,
        known: ChangeRecord | None = None,
        markers: list[str] | None = None,
    ) -> list[ChangeRecord]:
        """The job's open changes in arrival order; reads only its index and those records.

        With `out_of_time`, reading stops once it says so (after at least one record): the
        oldest changes, a prefix in arrival order, which a pass may fold on its own (issue 12.10).
        `known`: an open record the caller read under the job's lease, with nothing written since
        (`first_open_change` of the same pass): only the lease holder writes an open change's
        versions, so it is taken as read instead of being read again for its marker. `markers`:
        the job's index as `open_markers` listed it in the same pass (a change recorded since is
        the next pass's, as it would be had it come just after this listing)."""
        prefix = f"{_OPEN}{escape_segment(job_key)}/"
        out: list[ChangeRecord] = []
        for marker in self.open_markers(job_key) if markers is None else markers:
            if out and out_of_time is not None and out_of_time():
                break
            seq = marker[len(prefix) :]
            key = seq.partition("-")[2]
            try:
                _check_record_key(key)
            except InvalidStoreKeyError:
                continue  # not a marker this ledger wrote
            if known is not None and known.key == key and known.seq == seq:
                out.append(known)
                continue
            record = self.get(key)
            if record is None:
                self._drop_marker_if_old(marker)
            elif record.seq != seq:
                self.store.delete(marker)  # a lost race or aborted attempt: the record has its own
            elif not record.is_open:
                self._finish_closing(marker, record, repair=True)
            elif record.job_key == job_key:
                out.append(record)
        return sorted(out, key=lambda r: r.seq)

    def has_open_changes(self, job_key: str) -> bool:
        """Whether the job has an open-change marker: one listing, no record read (cheap enough
        for every invocation to ask before it tries for the lease)."""
        return bool(self.store.list(f"{_OPEN}{escape_segment(job_key)}/"))

    def admit(self, job_key: str, records: list[ChangeRecord], *, complete: bool = True) -> list[ChangeRecord]:
        """Keep `seq` the order changes are folded in; call under the job's lease with its open changes.

        A change's seq is read from the clock before its marker and record are written, so a pass
        can see (and apply) a later change while an earlier one is still being written. The job's
        order cursor keeps the highest seq and the open keys the last pass saw: an open change
        below that mark which the cursor does not know was invisible then, and moves after
        everything seen (new seq). Returns the records in the (possibly new) seq order.

        `complete=False`: `records` are only the oldest open changes (a pass short of time read a
        prefix); the keys seen before are kept, or the unread ones would look late next time."""
        name = f"{_ORDER}{escape_segment(job_key)}{_VERSION_SUFFIX}"
        raw = self.store.get(name)
        cursor = _loads(raw, where=f"{self.store.url}{name}") if raw is not None else {}
        high = str(cursor.get("high_water") or "")
        seen = set(cursor.get("open_keys") or [])
        next_ns = max(_ns(self.clock()), _seq_ns(high) + 1)
        out = []
        for record in sorted(records, key=lambda r: r.seq):
            late = record.seq < high and record.key not in seen and not record.submissions
            if late and record.state is ChangeState.PENDING:
                out.append(self._resequence(record, f"{next_ns:020d}-{record.key}"))
                next_ns += 1
            else:
                out.append(record)
        out.sort(key=lambda r: r.seq)
        new_high = max([high, *(r.seq for r in out)])
        keys = {r.key for r in out}
        if new_high != high or not keys <= seen:
            known = keys if complete else keys | seen
            self.store.put(name, _dumps({"high_water": new_high, "open_keys": sorted(known)}, what="order cursor"))
        return out

    def open_markers(self, job_key: str) -> list[str]:
        """The job's open-change index (one listing), for `first_open_change` and `open_changes`."""
        return self.store.list(f"{_OPEN}{escape_segment(job_key)}/")

    def first_open_change(self, job_key: str, *, markers: list[str] | None = None) -> ChangeRecord | None:
        """The job's oldest open change, reading records only until one is found (no repairs:
        `open_changes` does those). Enough to learn the job's target before reading the rest."""
        prefix = f"{_OPEN}{escape_segment(job_key)}/"
        for marker in self.open_markers(job_key) if markers is None else markers:
            seq = marker[len(prefix) :]
            key = seq.partition("-")[2]
            try:
                record = self.get(_check_record_key(key))
            except InvalidStoreKeyError:
                continue
            if record is not None and record.seq == seq and record.is_open and record.job_key == job_key:
                return record
        return None

    def jobs_with_open_changes(self) -> list[str]:
        """Job keys that have at least one open-change marker (what the timer reconciles)."""
        jobs = set()
        for marker in self.store.list(_OPEN):
            folder = marker[len(_OPEN) :].partition("/")[0]
            try:
                jobs.add(unescape_segment(folder))
            except InvalidStoreKeyError:
                continue
        return sorted(jobs)

    def all_records(
        self, states: set[ChangeState] | frozenset[ChangeState] | None = None
    ) -> list[ChangeRecord]:
        """The latest transition of every change (a full scan: for `dlq list`, operations and tests)."""
        latest: dict[str, int] = {}
        for name in self.store.list(_CHANGES):
            key, _, version_name = name[len(_CHANGES) :].partition("/")
            number = _parse_version(version_name)
            if number is not None and number >= latest.get(key, -1):
                latest[key] = number
        out = []
        for key, version in latest.items():
            record = self._read_version(key, version)
            if record is not None and (states is None or record.state in states):
                out.append(record)
        return sorted(out, key=lambda r: r.seq)

    def prune(self, *, deadline: float | None = None) -> int:
        """Delete changes closed longer than the retention ago; returns how many were deleted.

        Two reads per change (its versions listed, the latest read) and the deletes of up to
        `_PRUNE_BATCH` changes in two calls (DeleteMultipleObjects on OSS): their versions and
        identity markers, then their `closed/` markers, so a change is never left without its
        marker while a version remains. With `deadline` (on `self.monotonic`), stops when the
        slowest change and batch so far would not fit before it; the next prune goes on from the
        oldest marker left (issue 12.10)."""
        now = self.clock()
        cutoff = now - self.retention_seconds
        cutoff_ns = _ns(cutoff)
        pruned = 0
        slowest_read = slowest_flush = 0.0
        batch: list[tuple[str, list[str]]] = []  # (closed marker, what to delete before it)

        def flush() -> None:
            nonlocal pruned, slowest_flush
            if not batch:
                return
            started = self.monotonic()
            self._delete_many([name for _, names in batch for name in names])
            self._delete_many([marker for marker, _ in batch])
            pruned += sum(1 for _, names in batch if names)
            batch.clear()
            slowest_flush = max(slowest_flush, self.monotonic() - started)

        for marker in self.store.list(_CLOSED):
            started = self.monotonic()
            if deadline is not None and started + slowest_read + slowest_flush >= deadline:
                break
            stamp, _, key = marker[len(_CLOSED) :].partition("-")
            if not stamp.isdigit():
                continue
            if int(stamp) > cutoff_ns:
                break  # markers sort by closing time
            try:
                versions = self._versions(_check_record_key(key))
            except InvalidStoreKeyError:
                continue  # not a marker this ledger wrote
            record = self._read_version(key, versions[-1]) if versions else None
            if record is None or record.is_open:
                # Pruned already (or being pruned), or replayed since: not closed any more.
                batch.append((marker, []))
            elif record.updated_at <= cutoff:
                # Only the versions listed, up to the one read: a version a replay writes meanwhile
                # is never deleted, so the change lives on (issue 12.3).
                names = [self._version_key(key, v) for v in versions if v <= record.version]
                identity = record.change.get("identity")
                if isinstance(identity, str):
                    names.insert(0, self._identity_folder(identity) + key)
                batch.append((marker, names))
            # else: closed again more recently; a later marker covers it
            slowest_read = max(slowest_read, self.monotonic() - started)
            if len(batch) >= _PRUNE_BATCH:
                flush()
        flush()
        if pruned:
            with self._known_lock:
                self._known.clear()  # nothing it deleted may be recalled (a replay may write it again)
        self._prune_sending_notes(cutoff_ns, deadline)
        return pruned

    def _resequence(self, record: ChangeRecord, seq: str) -> ChangeRecord:
        """Move an open change to `seq`: new marker, then the version carrying it, then the old
        marker goes (a crash in between leaves a marker whose record has another seq, which
        `open_changes` drops)."""
        marker = self._open_marker(record.job_key, seq)
        self._write_open_marker(marker, replace(record, seq=seq, version=record.version + 1), self.clock())
        try:
            new = self._write_transition(record, record.state, {}, seq=seq)
        except LedgerConflictError:
            self.store.delete(marker)
            raise
        self.store.delete(self._open_marker(record.job_key, record.seq))
        return new

    def _write_transition(
        self, record: ChangeRecord, state: ChangeState, updates: dict[str, Any], **internal: Any
    ) -> ChangeRecord:
        unknown = sorted(set(updates) - _UPDATABLE)
        if unknown:
            raise InvalidTransitionError(
                f"Invalid update of change {record.key}: {', '.join(unknown)} -> expected only "
                f"{', '.join(sorted(_UPDATABLE))}"
            )
        now = self.clock()
        data = record.to_dict()
        data.update(updates)
        data.update(internal)
        data.update(state=state.value, version=record.version + 1, updated_at=now)
        # A JSON round trip validates the updates and detaches the new record from caller objects;
        # the same bytes are what is stored (they are the new record's `to_json`).
        raw = _dumps(data, what=f"change record {record.key}")
        new = ChangeRecord.from_json(raw)
        opening = new.is_open and not record.is_open
        closing = record.is_open and not new.is_open
        marker = self._open_marker(record.job_key, record.seq)
        if opening:
            self._write_open_marker(marker, new, now)
        created, tag = self._create_version(record.key, new.version, raw)
        if not created:
            raise LedgerConflictError(
                f"Change {record.key} already has version {new.version} in {self.store.url} -> expected "
                f"to write it after version {record.version}",
                details={"key": record.key, "version": new.version, "state": state.value},
            )
        self._remember(record.key, new.version, tag, raw)
        if opening:
            self._write_open_marker(marker, new, now, overwrite=True)  # fresh written_at, and back if lost
        if closing:
            self._finish_closing(marker, new)
        return new

    def _finish_closing(self, marker: str, record: ChangeRecord, *, repair: bool = False) -> None:
        """Second half of closing: the `closed/` marker (what `prune` reads), then the open marker goes.

        As a repair (from `open_changes`), a marker written after the record closed belongs to a
        replay in progress and is kept for the grace period, so a repair never hides a change that
        is just being reopened."""
        if repair:
            aged = self._marker_age(marker)
            if aged is None:
                return
            written_at, age, opens = aged
            # A marker that opens a version after the closed record's latest is a reopening in
            # progress (written before its version): no clocks compared, the replayer's and the
            # closer's may disagree by more than the grace. Markers from before `version` was
            # written compare the two writers' stamps, as they did.
            reopening = opens > record.version if opens is not None else written_at > record.updated_at
            if reopening and age < self.marker_grace_seconds:
                return
        closed = f"{_CLOSED}{_ns(record.updated_at):020d}-{record.key}"
        self.store.put_if_absent(
            closed, _dumps({"key": record.key, "version": record.version}, what="marker")
        )
        self.store.delete(marker)
        if repair:
            # A replay may have reopened the change between our reads and the delete (its last
            # marker write came before it): read again and put the marker back if so.
            again = self.get(record.key)
            if again is not None and again.is_open and again.seq == record.seq:
                self._write_open_marker(marker, again, self.clock(), overwrite=True)

    def _drop_marker_if_old(self, marker: str) -> None:
        aged = self._marker_age(marker)
        if aged is not None and aged[1] >= self.marker_grace_seconds:
            self.store.delete(marker)

    def _marker_age(self, marker: str) -> tuple[float, float, int | None] | None:
        """The marker's `written_at`, its age, and the record version it opens (None if unsaid).

        On the store's clock (OSS: the answer's `Date` minus the object's `Last-Modified`) where the
        store tells it: an instance whose clock is ahead by more than the grace would otherwise take a
        marker being written right now for an old one (issue 12.2). Else our clock minus `written_at`."""
        get_with_age = getattr(self.store, "get_with_age", None) if self.lease_time == "store" else None
        age: float | None = None
        if get_with_age is None:
            raw = self.store.get(marker)
        else:
            found: tuple[bytes, float | None] | None = get_with_age(marker)
            raw, age = found if found is not None else (None, None)
        if raw is None:
            return None
        data = _loads(raw, where=f"{self.store.url}{marker}")
        value, opens = data.get("written_at"), data.get("version")
        if not isinstance(value, (int, float)) or not (opens is None or type(opens) is int):
            raise CorruptRecordError(
                f"Invalid open marker {self.store.url}{marker}: written_at {short_repr(value)}, version "
                f"{short_repr(opens)} -> expected a number and an integer"
            )
        return float(value), self.clock() - float(value) if age is None else age, opens

    def _write_open_marker(
        self, marker: str, record: ChangeRecord, now: float, *, overwrite: bool = False
    ) -> None:
        body = _dumps(
            {"key": record.key, "seq": record.seq, "job_key": record.job_key, "written_at": now,
             "version": record.version},
            what="open marker",
        )
        if overwrite:
            self.store.put(marker, body)
        else:
            self.store.put_if_absent(marker, body)

    def _versions(self, key: str) -> list[int]:
        prefix = f"{_CHANGES}{key}/"
        numbers = (_parse_version(name[len(prefix) :]) for name in self.store.list(prefix))
        return sorted(n for n in numbers if n is not None)

    def _tagged_versions(self, key: str) -> list[tuple[int, str | None]]:
        """The change's versions, each with its object's tag where the store lists tags (one
        listing either way)."""
        prefix = f"{_CHANGES}{key}/"
        list_tagged = getattr(self.store, "list_tagged", None)
        listed: list[tuple[str, str | None]] = (
            list_tagged(prefix) if list_tagged is not None else [(name, None) for name in self.store.list(prefix)]
        )
        numbered = ((_parse_version(name[len(prefix) :]), tag) for name, tag in listed)
        return sorted((n, tag) for n, tag in numbered if n is not None)

    def _create_version(self, key: str, version: int, data: bytes) -> tuple[bool, str | None]:
        """Create-if-absent of a version, and its tag where the store gives one (`TaggedStore`)."""
        return self._create(self._version_key(key, version), data)

    def _read_version(self, key: str, version: int, *, tag: str | None = None) -> ChangeRecord | None:
        """The stored version; with the `tag` the listing gave it, from the bytes this ledger
        wrote if they carry that tag (see `_known`), parsed again so that every caller gets its
        own record."""
        name = self._version_key(key, version)
        raw = self._recall(key, version, tag) if tag is not None else None
        if raw is None:
            raw = self.store.get(name)
            if raw is None:
                return None
        return ChangeRecord.from_json(raw, where=f"{self.store.url}{name}")

    def _remember(self, key: str, version: int, tag: str | None, raw: bytes) -> None:
        """Keep the bytes of a version this ledger created (create-if-absent said so) and the
        store tagged; without a tag nothing could tell later that the name still holds them."""
        if tag is None:
            return
        entry = (self.monotonic(), self.clock(), tag, raw)
        with self._known_lock:
            self._known.pop((key, version), None)
            self._known[(key, version)] = entry
            while len(self._known) > _KNOWN_VERSIONS:
                del self._known[next(iter(self._known))]

    def _recall(self, key: str, version: int, tag: str) -> bytes | None:
        """The bytes this ledger wrote as `version`, if the listing's `tag` is still theirs.

        The tag alone makes them right. The memory is also kept short (`_KNOWN_SECONDS`, half
        the retention, by either clock) only to bound what it holds: a clock can make it forget
        sooner, never recall bytes the store no longer has."""
        with self._known_lock:
            found = self._known.get((key, version))
        if found is None:
            return None
        limit = min(_KNOWN_SECONDS, self.retention_seconds / 2)
        if found[2] != tag or self.monotonic() - found[0] >= limit or abs(self.clock() - found[1]) >= limit:
            with self._known_lock:
                self._known.pop((key, version), None)
            return None
        return found[3]

    @staticmethod
    def _version_key(key: str, version: int) -> str:
        return f"{_CHANGES}{key}/{version:06d}{_VERSION_SUFFIX}"

    @staticmethod
    def _open_marker(job: str, seq: str) -> str:
        return f"{_OPEN}{escape_segment(job)}/{seq}"
