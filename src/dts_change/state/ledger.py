"""The durable record of every accepted change, its state, and the per-job lease (DESIGN §1-2).

Layout on the store (everything JSON, every object written once with create-if-absent):

    changes/<key>/<version:06d>.json      a change's own versions: version 0 (the change as
                                          recorded), then one per replay (or per transition, in
                                          ledgers written before batches)
    batches/<job>/<n:012d>.json           the job's one sequence of transitions of open changes:
                                          each entry names a change, the own version and seq it
                                          is based on, and the fields it sets (`batches.py`)
    open/<job>/<seq>                      per-job index of open changes (pending/.../submitted)
    closed/<closed_at_ns:020d>-<key>      a change closed by its own version, oldest first
    closed/<closed_at_ns:020d>-<kind>-... closed by a batch (`batch-<n>-<job>`), by a repair
                                          (`one-<key>`) or what a prune cut short left (`rest-..`):
                                          the body names each change, version and seq (what
                                          `prune` reads); a one-entry batch's marker names them
                                          itself (`single-<n>-<version>-<seq>-<job>`)
    leases/<job>/<generation:012d>.json   lease generations of a (job, direction)
    order/<job>.json                      what the lease holder has seen: highest seq, open keys
    identities/<hash of identity>/<key>   changes recorded under one document id or source (empty)
    sent/<job>/<at_ns:020d>-<token>.json  written before every ModifyDtsJob: its ClientToken, phase,
                                          the changes it carries and the digest of what it sends
    snapshots/<job>.json                  a read cache (overwritten by the lease holder) while the
                                          job has many open changes: bytes and ETag of their latest
                                          own versions; an entry is used only where the listing of
                                          `changes/` gives that version the MD5 of its bytes, so it
                                          never changes a computed record (`snapshots.py`); deleted
                                          by the holder once few changes are open, by prune once
                                          older than the retention or its job has none open

`<key>` is a hash of the idempotency key; `<job>` the escaped job key; `<seq>` the arrival order
(`<time_ns:020d>-<key>`). A change's effective record is its latest own version, then the batch
entries based on exactly that version and seq, in batch order. Every write to an open change
(a pass's submission or confirmation of many, and each individual transition: dead letter,
error noted, expiry, removal intent, re-sequencing) is a batch of the job's one sequence,
created with create-if-absent and numbered one above the highest batch listed when the records
it is based on were READ (`ChangeRecord.read_batch`; never listed again at write time): two
writers that based decisions on different reads want the same number, and the later gets
`LedgerConflictError` and re-reads, as a stale writer of the next own version did before
batches. Only intake (version 0) and replay (a closed change reopened) write own versions; a
replay makes the older entries stale for that change. Ledgers written before batches existed
are read as they are: their versions are own versions with no entries after them.

Cost (issue 12.10): a pass lists the job's index, then the job's batches (before the versions:
prune deletes a batch only after the version it applies to is gone or moved on, so what is read
after it is never older than it), then every version at once (`changes/`, 1,000
names a call) once it has `_WHOLE_LISTING_MIN` open changes (one listing each below that); it reads only versions and batches it does not hold in memory with the
ETag the listing gives (version 0 and batches never change, so a warm instance reads nothing
back; a cold one reads the job's snapshot once, then each open change the snapshot lacks).
Of the batches it GETs only those no more than `_BATCH_MARGIN_SECONDS` older (`LastModified`,
store clock) than the oldest own version it resolves: an entry's writer read that version
first, so an older batch cannot apply to it; and it lists them from a hint that the listing
itself must bear out (`_hint_holds`), so a job's closed history is neither read nor listed
again. Moving K changes writes one batch (per 1,000), plus one `closed/` marker and one
DeleteMultipleObjects when they close.

Crash safety: a change becomes visible in the index *before* its record exists and leaves it only
*after* its closing record exists, so no crash between two writes can hide an open change:
- `record` writes the open marker, then version 0; a marker whose record never appeared is dropped
  once it is older than `marker_grace_seconds`, a marker whose record has a later `seq` at once,
  one whose record has an earlier `seq` (a lost race, an aborted attempt, or a re-sequencing
  whose batch is not written yet) once older than the grace;
- re-sequencing writes the new open markers, then its batch, then deletes the old markers;
- closing writes the closing version (or batch), then the `closed/` marker, then deletes the
  open marker(s); `open_changes` finishes that work when it finds a marker of a closed record
  (a `one-<key>` marker each);
- a batch is one object: before it nothing changed, after it every change it names moved (a
  transition of over `_BATCH_MAX_ENTRIES` changes is several, in order);
- replay writes the open marker, then the `pending` version (then makes sure the marker exists).
`open_changes` therefore reads only the job's markers and those records, however long the
history grows; `prune` reads only the `closed/` markers that are old enough, deletes a change's
identity marker before its versions (a crash in between leaves nothing a later prune does not
finish), its versions before its marker, and a batch only once no change it names still has the
version the entry is based on (an entry's change pruned, recorded again or moved on), so no
effective record ever loses a batch it depends on; a job's highest batch always stays (its
number is what the next writer reads).

Modules: `records.py` (records, states, the store layout), `batches.py` (batch records),
`snapshots.py` (the read cache), `leases.py`, `write_ahead.py`; this one holds `Ledger`, which
composes them.
"""

from __future__ import annotations

import hashlib
import logging
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
from .batches import (
    Batch,
    BatchEntry,
    Settled,
    apply_batches,
    batch_folder,
    batch_name,
    decode_batch,
    encode_batch,
    index_entries,
    parse_batch_name,
)
from .leases import LeaseBook
from .records import (
    _BATCH_MARGIN_SECONDS,
    _BATCH_MAX_ENTRIES,
    _BATCHES,
    _CHANGES,
    _CLOSED,
    _IDENTITIES,
    _KNOWN_BATCH_ENTRIES,
    _KNOWN_BATCHES,
    _KNOWN_SECONDS,
    _KNOWN_VERSIONS,
    _OPEN,
    _ORDER,
    _PRUNE_BATCH,
    _UPDATABLE,
    _VERSION_SUFFIX,
    _WHOLE_LISTING_MIN,
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
from .snapshots import (
    SNAPSHOTS,
    Entry,
    decode_snapshot,
    encode_snapshot,
    snapshot_job,
    snapshot_name,
    snapshot_written_at,
)
from .write_ahead import WriteAheadNotes

__all__ = ["Ledger"]

_log = logging.getLogger(__name__)
_Listed = tuple[int, str, str | None, float | None]
"""A listed batch: its number, name, tag and `LastModified` (None where the store gives none)."""
_BATCH_PAGE = 1000
"""One listing page (OSS): a job with more batches than this looks for its cursor's hint."""
_WRITTEN_RUN_KEYS = 200_000
"""Change keys a thread's last run of batches remembers (`Ledger._written`; a few MB at most):
past it a new run starts and a record read before the run collides. A transition of many
changes is several batches of one run (1,000 changes each), so this must exceed what one pass
moves (a fold is bounded by the DbList's 1 MB), or its own later batches collide (review 4)."""
_KNOWN_STAMPS = 200_000
"""Listed dates held in memory (`Ledger._stamps`): cleared past this, which only costs reads."""
_SNAPSHOT_MIN_READS = 8
"""A pass reads the job's snapshot when it would otherwise read at least this many versions."""
_SNAPSHOT_MIN_NEW = 16
"""The lease holder writes the job's snapshot when at least this many of the versions it holds
(and a quarter of what the snapshot held) are not in it."""


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
        self._batches: dict[str, tuple[str, Batch]] = {}
        """Batch object name -> (its tag, the batch) for batches read or written lately: batches
        are never rewritten, and an entry is used only while a listing gives the same tag."""
        self._batch_entries = 0
        """How many entries the batches in memory hold (their bound, with their count)."""
        self._written: dict[tuple[str, int], tuple[int, int, dict[str, int]]] = {}
        """(job key, thread) -> the last run of consecutive batch numbers this thread wrote (first,
        last, change key -> the highest number of the run naming it): a record read before them
        is still current if none of them names it (a pass goes on with records it did not move:
        a confirmation not seen yet, a dead letter, each a batch of its own), and one they name is
        stale (conflict). Only the last run matters: a number before it was written by another
        writer, with whom a record read before it collides anyway."""
        self._snapshot_held: dict[str, set[tuple[str, int, str]]] = {}
        """Job key -> the (key, version, tag) its snapshot held when this ledger last read or wrote
        it (`snapshots.py`): what decides whether writing it again would add anything."""
        self._stamps: dict[tuple[str, str], float] = {}
        """(object name, tag) -> its `LastModified` as the last listing naming it gave it (on the
        store's clock): what `stored_at` of a version read is. Keyed by tag too, so an object
        written again under the same name (another seq, other bytes) never gets an old date."""
        self._batch_hint: dict[str, int] = {}
        """Job key -> a batch number below which its batches were all older than a floor lately:
        where the next listing of its batches may start, if it proves it may (`_hint_holds`)."""
        self._changes_listed: int | None = None
        """How many names the last listing of the whole `changes/` folder gave (its cost)."""
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
        record = self._own_latest(key)
        if record is None:
            return None
        return self._resolve([record])[0]

    def _own_latest(self, key: str) -> ChangeRecord | None:
        """The change's latest own version (`changes/<key>/`), without the batches after it."""
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
        """Move the change to `state`: a one-entry batch for an open change, the next own version
        for a closed one; `LedgerConflictError` if another writer moved it since it was read."""
        state = ChangeState(state)
        if record.state in CLOSED_STATES and state != record.state:
            raise InvalidTransitionError(
                f"Invalid transition of change {record.key} from {record.state.value} to {state.value} "
                "-> expected a closed change to stay closed (replay moves dead_lettered to pending)",
                hint="Use Ledger.replay for a dead-lettered change",
            )
        if record.is_open:
            return self.transition_many([(record, state, updates)])[0]
        return self._write_transition(record, state, updates)

    def update(self, record: ChangeRecord, **updates: Any) -> ChangeRecord:
        """The same state with new fields (attempts, last error, submissions, evidence...): for an
        open change a one-entry batch, for a closed one its next own version."""
        return self.transition(record, record.state, **updates)

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
        """The job's open changes in arrival order (effective records); reads only its index,
        those records (their versions listed one by one, or all at once from
        `_WHOLE_LISTING_MIN` markers on; read only if not held in memory, or found in the job's
        snapshot with the listed ETag when many would be read: `_load_snapshot`) and the job's
        batches.

        With `out_of_time`, reading stops once it says so (after at least one record): the
        oldest changes, a prefix in arrival order, which a pass may fold on its own (issue 12.10).
        `known`: an open record the caller read under the job's lease, with nothing written since
        (`first_open_change` of the same pass: its own latest version): an open change gets no
        further own version (its transitions are batches), so it is taken as read instead of
        being read again for its marker (the batches are applied to it like to the others, and
        it is marked with this read's batch number). `markers`:
        the job's index as `open_markers` listed it in the same pass (a change recorded since is
        the next pass's, as it would be had it come just after this listing).

        Batches older than the oldest own version read (by `_BATCH_MARGIN_SECONDS`, on the
        store's clock) are not read, nor listed where a hint allows (`_floor`, `_hint_holds`):
        what a pass reads grows with the open changes and recent traffic, not the job's history."""
        listed = self.open_markers(job_key) if markers is None else markers
        # The job's batches BEFORE the versions: prune deletes a batch only once no change still
        # has the version an entry is based on (pruned, or moved on by a replay), so a batch
        # missing from this read means the versions read after it are past it. Read the other way
        # round, a version read just before prune could lose its batches (a dead-lettered change
        # taken for its pending version 0, closed again and its replayed marker deleted).
        # Only their listing, though: which of them to read depends on the versions read after it
        # (`_floor`); one that vanished in between (pruned) means those versions may be past it,
        # and a listing that started at a hint the versions do not bear out may have missed one:
        # either way the whole read is done again, with a listing of every batch.
        for attempt in range(3):
            found, own, listing, hint = self._read_open(job_key, listed, attempt == 0, out_of_time, known)
            floor = self._floor(own)
            if hint is not None and not self._hint_holds(listing, hint, floor):
                continue
            batches, high, vanished = self._fetch_batches(job_key, listing, floor)
            if not vanished:
                break
        else:
            raise LedgerConflictError(
                f"The batches of {job_key} in {self.store.url} kept changing while read (pruned between "
                "their listing and their read) -> expected them to hold still for one read; the next "
                "pass reads again",
                details={"job": job_key},
            )
        effective = {r.key: r for r in self._resolve(own, read={job_key: (batches, high)})}
        out: list[ChangeRecord] = []
        for marker, seq, base in found:
            record = effective.get(base.key, base) if base is not None else None
            if record is None:
                self._drop_marker_if_old(marker)
            elif record.seq > seq:
                self.store.delete(marker)  # left behind: the change moved to a later seq since
            elif record.seq != seq:
                # A lost race or an aborted attempt, or a re-sequencing whose batch this read did
                # not see yet (its new marker comes first): dropped only once older than the grace.
                self._drop_marker_if_old(marker)
            elif not record.is_open:
                self._finish_closing(marker, record, repair=True)
            elif record.job_key == job_key:
                out.append(record)
        return sorted(out, key=lambda r: r.seq)

    def _read_open(
        self,
        job_key: str,
        listed: list[str],
        hinted: bool,
        out_of_time: Callable[[], bool] | None,
        known: ChangeRecord | None,
    ) -> tuple[list[tuple[str, str, ChangeRecord | None]], list[ChangeRecord], list[_Listed], int | None]:
        """`open_changes`' reads: the job's batches listed (from a hint on if `hinted`), then the
        latest own version of each marker's change: (marker, seq, own version or None) per
        marker read, the own versions, the batch listing and the hint it started from."""
        prefix = f"{_OPEN}{escape_segment(job_key)}/"
        listing, hint = self._list_batches(job_key, hinted)
        # Many open changes: one listing of every version (1,000 names a call) instead of one each.
        bulk = self._all_versions() if self._bulk_pays(len(listed)) else None
        if bulk is not None:
            self._load_snapshot(job_key, self.marker_keys(job_key, listed), bulk)
        found: list[tuple[str, str, ChangeRecord | None]] = []
        own: list[ChangeRecord] = []
        for marker in listed:
            if found and out_of_time is not None and out_of_time():
                break
            seq = marker[len(prefix) :]
            key = seq.partition("-")[2]
            try:
                _check_record_key(key)
            except InvalidStoreKeyError:
                continue  # not a marker this ledger wrote
            base: ChangeRecord | None = None
            versions = bulk.get(key) if bulk is not None else None
            if known is not None and known.key == key and known.seq == seq:
                # Read before the batches. Prune deletes the batches of a version only once the
                # change closed longer than the retention ago (after that version was written),
                # so a version written within half the retention is taken as read; an older one
                # (a change closed long ago being replayed) only while a listing after the
                # batches still gives it as the latest, with its bytes' tag where the store tags.
                if self.clock() - known.updated_at < self.retention_seconds / 2:
                    base = known
                else:
                    if versions is None:
                        versions = self._tagged_versions(key)
                    if versions and versions[-1][0] == known.version and versions[-1][1] in (
                            None, _tag_of(known.to_json().encode("utf-8"))):
                        base = known
            if base is None and versions:
                base = self._read_version(key, versions[-1][0], tag=versions[-1][1])
            if base is None and (bulk is None or versions):
                base = self._own_latest(key)  # not listed in bulk, or vanished since: ask again
            if base is not None:
                own.append(base)
            found.append((marker, seq, base))
        return found, own, listing, hint

    def has_open_changes(self, job_key: str) -> bool:
        """Whether the job has an open-change marker: one listing (of one key where the store
        can, `OssStore.has_any`), no record read."""
        prefix = f"{_OPEN}{escape_segment(job_key)}/"
        has_any = getattr(self.store, "has_any", None)
        if has_any is not None:
            return bool(has_any(prefix))
        return bool(self.store.list(prefix))

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
        moves: list[tuple[ChangeRecord, str]] = []
        for record in sorted(records, key=lambda r: r.seq):
            late = record.seq < high and record.key not in seen and not record.submissions
            if late and record.state is ChangeState.PENDING:
                moves.append((record, f"{next_ns:020d}-{record.key}"))
                next_ns += 1
            else:
                out.append(record)
        out.extend(self._resequence(moves))
        out.sort(key=lambda r: r.seq)
        new_high = max([high, *(r.seq for r in out)])
        keys = {r.key for r in out}
        # Where a cold reader may start listing the job's batches (`_list_batches`): kept when it
        # moved a page on, so a long history is not listed again by each new instance.
        stored_hint = cursor.get("batch_hint")
        hint = self._batch_hint.get(job_key, stored_hint if isinstance(stored_hint, int) else None)
        moved = hint is not None and (not isinstance(stored_hint, int) or hint - stored_hint >= _BATCH_PAGE)
        if new_high != high or not keys <= seen or moved:
            known = keys if complete else keys | seen
            body: dict[str, Any] = {"high_water": new_high, "open_keys": sorted(known)}
            if hint is not None:
                body["batch_hint"] = hint
            self.store.put(name, _dumps(body, what="order cursor"))
        return out

    @staticmethod
    def marker_keys(job_key: str, markers: list[str]) -> list[str]:
        """The change keys of the job's open markers, in their order."""
        prefix = f"{_OPEN}{escape_segment(job_key)}/"
        return [marker[len(prefix) :].partition("-")[2] for marker in markers if marker.startswith(prefix)]

    def open_markers(self, job_key: str) -> list[str]:
        """The job's open-change index (one listing), for `first_open_change` and `open_changes`."""
        return self.store.list(f"{_OPEN}{escape_segment(job_key)}/")

    def first_open_change(self, job_key: str, *, markers: list[str] | None = None) -> ChangeRecord | None:
        """The job's oldest open change, reading records only until one is found (no repairs:
        `open_changes` does those). Enough to learn the job's target before reading the rest:
        its latest own version, without the batches after it (no listing of them)."""
        prefix = f"{_OPEN}{escape_segment(job_key)}/"
        for marker in self.open_markers(job_key) if markers is None else markers:
            seq = marker[len(prefix) :]
            key = seq.partition("-")[2]
            try:
                record = self._own_latest(_check_record_key(key))
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
        own = []
        for key, versions in self._all_versions().items():
            record = self._read_version(key, versions[-1][0], tag=versions[-1][1])
            if record is not None:
                own.append(record)
        out = [r for r in self._resolve(own) if states is None or r.state in states]
        return sorted(out, key=lambda r: r.seq)

    def prune(self, *, deadline: float | None = None) -> int:
        """Delete changes closed longer than the retention ago; returns how many were deleted.

        One read per change not held in memory (its latest version), its versions listed with
        everyone's in one listing of `changes/` when many are due (one listing each otherwise), a
        marker naming several changes read once, and the deletes of up to `_PRUNE_BATCH` changes in two calls
        (DeleteMultipleObjects on OSS): their versions and identity markers, then their `closed/`
        markers, so a change is never left without its marker while a version remains. Then the
        batches older than the retention that no change still uses. With `deadline` (on
        `self.monotonic`), stops when the slowest marker and batch so far would not fit before
        it; the next prune goes on from the oldest marker left (issue 12.10)."""
        now = self.clock()
        cutoff = now - self.retention_seconds
        cutoff_ns = _ns(cutoff)
        pruned = 0
        slowest_read = slowest_flush = 0.0
        batch: list[tuple[str, list[str], int]] = []  # (closed marker, what to delete before it, changes)
        single_batches: list[str] = []  # one-entry closing batches of changes deleted (after them)
        gone: set[str] = set()
        highest: dict[str, int] | None = None

        def flush() -> None:
            nonlocal pruned, slowest_flush
            if not batch:
                return
            started = self.monotonic()
            self._delete_many([name for _, names, _ in batch for name in names])
            self._delete_many(single_batches)
            single_batches.clear()
            self._delete_many([marker for marker, _, _ in batch if marker])
            pruned += sum(count for _, _, count in batch)
            batch.clear()
            slowest_flush = max(slowest_flush, self.monotonic() - started)

        def late() -> bool:
            return deadline is not None and self.monotonic() + slowest_read + slowest_flush >= deadline

        markers = self.store.list(_CLOSED)
        # Many changes to look at: every version listed at once (1,000 names a call) instead of
        # one listing per change; reads are still one per change not held in memory.
        due = [m for m in markers if m[len(_CLOSED) :].partition("-")[0] <= f"{cutoff_ns:020d}"]
        several = any("-" in m[len(_CLOSED) :].partition("-")[2] for m in due)
        bulk = self._all_versions() if self._bulk_pays(max(len(due), _WHOLE_LISTING_MIN * several)) else None

        def versions_of(key: str) -> list[tuple[int, str | None]]:
            if bulk is not None:
                return bulk.get(_check_record_key(key)) or []
            return self._tagged_versions(_check_record_key(key))

        stopped = False
        for marker in markers:
            started = self.monotonic()
            if deadline is not None and started + slowest_read + slowest_flush >= deadline:
                stopped = True
                break
            stamp, _, key = marker[len(_CLOSED) :].partition("-")
            if not stamp.isdigit():
                continue
            if int(stamp) > cutoff_ns:
                break  # markers sort by closing time
            single = _parse_single(key)
            if single is not None:
                # A change closed by a one-entry batch: the marker's name says which (no read);
                # that batch goes with the change unless it is its job's highest.
                number, entry, folder = single
                own_names: list[str] = []
                own_keys: list[str] = []
                if entry[0] not in gone:
                    self._closed_entry(entry, own_names, own_keys, versions_of)
                if own_keys:
                    if highest is None:
                        highest = self._highest_batches()
                    if number < highest.get(folder, 0):
                        single_batches.append(f"{_BATCHES}{folder}/{number:012d}{_VERSION_SUFFIX}")
                gone.update(own_keys)
                batch.append((marker, own_names, len(own_keys)))
            elif "-" in key:
                # A marker naming its changes (a batch closing several, or a repair): each is
                # deleted if its latest own version is still the one the closing was based on.
                # Cut short by the deadline, the marker stays: the next prune skips the changes
                # already gone (no version left) and goes on with the rest.
                names, keys, rest, slowest = self._closed_entries(marker, late, gone, versions_of)
                slowest_read = max(slowest_read, slowest)
                if rest and rest[0] is None:
                    stopped = True  # out of time before its first change: left as it is
                    break
                gone.update(keys)
                if rest:
                    # Cut short by the deadline: a marker naming the changes not looked at yet
                    # replaces this one (written before this one goes), so the next prune does
                    # not start again from the changes already deleted.
                    digest = hashlib.sha256(repr(rest).encode("utf-8")).hexdigest()[:16]
                    self.store.put_if_absent(f"{_CLOSED}{stamp}-rest-{digest}",
                                             _dumps({"entries": rest}, what="marker"))
                batch.append((marker, names, len(keys)))
                if rest:
                    stopped = True
                    break
                continue
            elif key in gone:
                batch.append((marker, [], 0))
            else:
                try:
                    tagged = versions_of(key)
                except InvalidStoreKeyError:
                    continue  # not a marker this ledger wrote
                versions = [number for number, _ in tagged]
                record = self._read_version(key, tagged[-1][0], tag=tagged[-1][1]) if tagged else None
                if record is None or record.is_open:
                    # Pruned already (or being pruned), or replayed since: not closed any more.
                    batch.append((marker, [], 0))
                elif record.updated_at <= cutoff:
                    # Only the versions listed, up to the one read: a version a replay writes meanwhile
                    # is never deleted, so the change lives on (issue 12.3).
                    batch.append((marker, self._names_of(record, versions), 1))
                    gone.add(key)
                # else: closed again more recently; a later marker covers it
            slowest_read = max(slowest_read, self.monotonic() - started)
            if sum(count for _, _, count in batch) >= _PRUNE_BATCH:
                flush()
        flush()
        if pruned:
            with self._known_lock:
                self._known.clear()  # nothing it deleted may be recalled (a replay may write it again)
        if not stopped:
            self._prune_batches(cutoff_ns, late, gone)
        self._prune_snapshots(cutoff, late)
        self._prune_sending_notes(cutoff_ns, deadline)
        return pruned

    def _names_of(self, record: ChangeRecord, versions: list[int]) -> list[str]:
        """What pruning a change deletes: its identity marker, then its versions up to `record`'s."""
        names = [self._version_key(record.key, v) for v in versions if v <= record.version]
        identity = record.change.get("identity")
        if isinstance(identity, str):
            names.insert(0, self._identity_folder(identity) + record.key)
        return names

    def _closed_entries(
        self,
        marker: str,
        late: Callable[[], bool],
        gone: set[str],
        versions_of: Callable[[str], list[tuple[int, str | None]]],
    ) -> tuple[list[str], list[str], list[Any], float]:
        """For a marker that names its changes: the names to delete, the keys they belong to,
        the entries not looked at because `late` said stop (`[None]` when it said so before the
        first), and the slowest entry's time. A change recorded again since (another seq) or
        with a later own version is left alone."""
        raw = self.store.get(marker)
        if raw is None:
            return [], [], [], 0.0
        listed = _loads(raw, where=f"{self.store.url}{marker}").get("entries")
        entries = [e for e in listed if isinstance(e, list) and len(e) == 3 and isinstance(e[2], int)] if isinstance(
            listed, list) else []
        names: list[str] = []
        keys: list[str] = []
        slowest = 0.0
        for index, entry in enumerate(entries):
            if entry[0] in gone:
                continue  # named by another marker too (a repair after a crash): deleted once
            if late():
                return names, keys, entries[index:] if index else [None], slowest
            started = self.monotonic()
            self._closed_entry(entry, names, keys, versions_of)
            slowest = max(slowest, self.monotonic() - started)
        return names, keys, [], slowest

    def _closed_entry(
        self,
        entry: list[Any],
        names: list[str],
        keys: list[str],
        versions_of: Callable[[str], list[tuple[int, str | None]]],
    ) -> None:
        key, seq, based_on = str(entry[0]), entry[1], entry[2]
        try:
            tagged = versions_of(key)
        except InvalidStoreKeyError:
            return
        if not tagged or tagged[-1][0] != based_on:
            return
        record = self._read_version(key, based_on, tag=tagged[-1][1])
        if record is not None and record.seq == seq:
            names.extend(self._names_of(record, [number for number, _ in tagged]))
            keys.append(key)

    def _highest_batches(self) -> dict[str, int]:
        """Escaped job key -> its highest batch number (one listing of `batches/`)."""
        out: dict[str, int] = {}
        for name in self.store.list(_BATCHES):
            number = parse_batch_name(name)
            if number is not None:
                folder = name[len(_BATCHES) :].rsplit("/", 1)[0]
                out[folder] = max(number, out.get(folder, 0))
        return out

    def _prune_batches(self, cutoff_ns: int, late: Callable[[], bool], gone: set[str]) -> None:
        """Delete batches older than the retention whose every entry is stale: its change pruned
        (`gone`, or no version left), recorded again, or moved on to a later own version. The
        versions are listed once for all of them (a listing of `changes/`). A job's highest batch
        always stays (its number is what the next writer reads), and a job's batches are read in
        number order only until one is younger than the retention."""
        dead: list[str] = []
        versions: dict[str, list[tuple[int, str | None]]] | None = None
        folders: dict[str, list[tuple[int, str, str | None]]] = {}
        for name, tag in self._listing(_BATCHES):
            number = parse_batch_name(name)
            if number is not None:
                folders.setdefault(name.rsplit("/", 1)[0], []).append((number, name, tag))
        for listed in folders.values():
            listed.sort()
            for _, name, tag in listed[:-1]:
                if late():
                    break
                found = self._read_batch(name, tag)
                if found is None:
                    continue
                if _ns(found.at) > cutoff_ns:
                    break
                live = False
                for entry in found.entries:
                    if entry.key in gone:
                        continue
                    if versions is None:
                        versions = self._all_versions()
                    own = versions.get(entry.key) or []
                    if not own:
                        continue
                    record = self._read_version(entry.key, own[-1][0], tag=own[-1][1])
                    if record is None:
                        continue
                    if own[-1][0] != entry.based_on or record.seq != entry.seq:
                        # Moved on (a replay's own version, or recorded again) lately: a pass
                        # that listed the versions before it and lists the batches now still
                        # applies this entry to the version it read (without it, it would take
                        # a dead-lettered change for pending and close it again, deleting the
                        # replay's open marker). Dead once that version is older than the retention.
                        if record.updated_at > _cutoff_seconds(cutoff_ns):
                            live = True
                            break
                        continue
                    live = True
                    break
                if not live:
                    dead.append(name)
                if len(dead) >= 1000:
                    self._forget_batches(dead)
        self._forget_batches(dead)

    def _forget_batches(self, dead: list[str]) -> None:
        """Delete these batches and drop them from memory."""
        self._delete_many(dead)
        with self._known_lock:
            for name in dead:
                found = self._batches.pop(name, None)
                if found is not None:
                    self._batch_entries -= len(found[1].entries)
        dead.clear()

    def transition_many(
        self, items: list[tuple[ChangeRecord, ChangeState, dict[str, Any]]]
    ) -> list[ChangeRecord]:
        """The same kind of transition for open changes of one job, as ONE batch object per
        `_BATCH_MAX_ENTRIES` changes, in the order given (`batches.py`); returns the new records
        in order. `LedgerConflictError` when another writer wrote a batch of the job after the
        records were read (re-read, then decide again); the batches written before it stand.

        A batch is read back with the store's read cap (16 MB deployed): one batch for a fold of
        any size (about 770 bytes a change) could be written and then never read again by
        another instance, every later pass of the job failing on it (review 4). Split, a crash
        between two batches leaves the first changes moved and the rest as they were, as a crash
        between two changes' own versions did before batches.

        A batch never opens a change (replay does that, one by one). If it closes some (applied,
        dead-lettered), one `closed/` marker names them all, then their open markers go in one
        DeleteMultipleObjects: a crash in between leaves open markers of closed changes, which
        `open_changes` closes again one by one."""
        out: list[ChangeRecord] = []
        for start in range(0, len(items), _BATCH_MAX_ENTRIES):
            chunk = items[start : start + _BATCH_MAX_ENTRIES]
            out.extend(self._write_batch([(record, state, updates, {}) for record, state, updates in chunk]))
        return out

    def _write_batch(
        self, items: list[tuple[ChangeRecord, ChangeState, dict[str, Any], dict[str, Any]]]
    ) -> list[ChangeRecord]:
        """`transition_many`, with internal fields per item (`seq`: re-sequencing)."""
        if not items:
            return []
        job = items[0][0].job_key
        records = [self._current(record) for record, _, _, _ in items]
        number = self._next_number(job, records)
        now = self.clock()
        entries: list[BatchEntry] = []
        out: list[ChangeRecord] = []
        for record, (_, to, updates, internal) in zip(records, items, strict=True):
            state = ChangeState(to)
            unknown = sorted(set(updates) - _UPDATABLE)
            if unknown or not record.is_open or record.job_key != job:
                raise InvalidTransitionError(
                    f"Invalid batch transition of change {record.key} to {state.value}: "
                    + (f"{', '.join(unknown)} -> expected only {', '.join(sorted(_UPDATABLE))}" if unknown
                       else f"{record.state.value} in {record.job_key} -> expected open changes of {job}")
                )
            fields = {**updates, **internal, "state": state.value, "updated_at": now}
            data = record.to_dict()
            data.update(fields)
            raw = _dumps(data, what=f"change record {record.key}")
            new = ChangeRecord.from_json(raw)
            new.base_seq, new.read_batch = record.own_seq, number
            out.append(new)
            entries.append(BatchEntry(record.key, record.own_seq, record.version, fields))
        name = batch_name(job, number)
        body = encode_batch(job, number, now, entries)
        created, tag = self._create(name, body)
        if not created:
            raise LedgerConflictError(
                f"Batch {number} of {job} already exists in {self.store.url} -> expected to write it "
                "right after the last batch read with the changes it moves (another writer moved "
                "the job's changes since they were read)",
                details={"job": job, "batch": number},
            )
        self._note_written(job, number, frozenset(r.key for r in out))
        self._keep_batch(name, tag or "", decode_batch(name, body, where=f"{self.store.url}{name}"))
        closed = [r for r in out if not r.is_open]
        if closed:
            if len(out) == 1:
                # One change closed by a one-entry batch: the name says it all (prune reads nothing).
                marker = (f"{_CLOSED}{_ns(now):020d}-single-{number:012d}-{out[0].version}-{out[0].own_seq}-"
                          f"{escape_segment(job)}")
            else:
                marker = f"{_CLOSED}{_ns(now):020d}-batch-{number:012d}-{escape_segment(job)}"
            self.store.put_if_absent(
                marker,
                _dumps({"batch": name, "entries": [[r.key, r.own_seq, r.version] for r in closed]}, what="marker"),
            )
            self._delete_many([self._open_marker(job, r.seq) for r in closed])
        return out

    def _current(self, record: ChangeRecord) -> ChangeRecord:
        """`record` if it was read through the batches; otherwise read again and used only if
        nothing moved it since (its number is then that read's)."""
        if record.read_batch is not None:
            return record
        current = self.get(record.key)
        if current is None or current.to_dict() != record.to_dict():
            raise LedgerConflictError(
                f"Change {record.key} moved on in {self.store.url} since it was read -> expected to "
                "write it from its latest record",
                details={"key": record.key, "version": record.version},
            )
        return current

    def _next_number(self, job: str, records: list[ChangeRecord]) -> int:
        """One above the highest batch read with all of `records`: each record's `read_batch`,
        carried over the batches this thread wrote since that do not name it; the lowest of
        those (a record read earlier than the others makes the write collide)."""
        with self._known_lock:
            run = self._written.get((job, threading.get_ident()))
            first, last, named = (run[0], run[1], dict(run[2])) if run is not None else (0, -1, {})
        highs = []
        for record in records:
            high = record.read_batch or 0
            if first - 1 <= high < last:
                moved = named.get(record.key, 0)
                if moved > high:
                    raise LedgerConflictError(
                        f"Change {record.key} was moved by batch {moved} of {job} after this record "
                        "was read -> expected to write it from the record that batch gave",
                        details={"job": job, "batch": moved, "key": record.key},
                    )
                high = last
            highs.append(high)
        return min(highs) + 1

    def _note_written(self, job: str, number: int, keys: frozenset[str]) -> None:
        with self._known_lock:
            run = self._written.get((job, threading.get_ident()))
            if run is not None and run[1] == number - 1 and len(run[2]) + len(keys) <= _WRITTEN_RUN_KEYS:
                first, named = run[0], run[2]
            else:
                first, named = number, {}  # a new run (or one too large to hold: later writes collide)
            for key in keys:
                named[key] = number
            self._written[(job, threading.get_ident())] = (first, number, named)

    def _resolve(
        self, bases: list[ChangeRecord], *, read: dict[str, tuple[list[Batch], int]] | None = None
    ) -> list[ChangeRecord]:
        """The effective records of own versions: every batch of their job applied, each record
        noting the highest batch number listed (`read_batch`). `read`: a job's batches already
        read (before the versions: `open_changes`)."""
        by_job: dict[str, list[ChangeRecord]] = {}
        for record in bases:
            by_job.setdefault(record.job_key, []).append(record)
        effective: dict[int, ChangeRecord] = {}
        for job, records in by_job.items():
            if read is not None and job in read:
                batches, high = read[job]
            else:
                batches, high = self._job_batches(job, self._floor(records), Settled(records))
            index = index_entries(batches)
            where = f"{self.store.url}{batch_folder(job)}"
            for record in records:
                found = apply_batches(record, index.get(record.key), where=where)
                # No entry applies: the own version is the effective record as of this read.
                found.base_seq = record.seq
                found.read_batch = high
                effective[id(record)] = found
        return [effective[id(r)] for r in bases]

    def _job_batches(
        self, job_key: str, floor: float | None = None, settled: Settled | None = None
    ) -> tuple[list[Batch], int]:
        """The job's batches in order that may apply to own versions no older than `floor` allows
        (one listing, from the job's hint where it holds; reads only those not in memory) and
        the highest number listed. With `settled`, no batch is read once every version it
        follows is closed (`Settled`): what resolving an old change costs stops at its closing."""
        listing, hint = self._list_batches(job_key, floor is not None)
        if hint is not None and not self._hint_holds(listing, hint, floor):
            listing, _ = self._list_batches(job_key, False)
        out, high, _ = self._fetch_batches(job_key, listing, floor, settled)
        return out, high

    @staticmethod
    def _floor(records: list[ChangeRecord]) -> float | None:
        """The oldest `LastModified` a batch may have and still hold an entry based on one of
        these own versions: `_BATCH_MARGIN_SECONDS` below the oldest version's. An entry's writer
        read (or wrote) the version first, so its batch was created after the version was, on
        the same store clock. None (read every batch) when a version's date is unknown."""
        stamps = [record.stored_at for record in records]
        if not stamps or None in stamps:
            return None
        return min(stamp for stamp in stamps if stamp is not None) - _BATCH_MARGIN_SECONDS

    def _list_batches(self, job_key: str, hinted: bool) -> tuple[list[_Listed], int | None]:
        """The job's batches by number, and the hint the listing started from (None: all of
        them). `hinted`: from this ledger's hint for the job if it has one; if not, and the
        first page is full (a long history), from the hint its order cursor carries, which
        the lease holder keeps (`admit`). The caller checks the hint holds (`_hint_holds`)."""
        folder = batch_folder(job_key)
        hinted = hinted and getattr(self.store, "list_stamped", None) is not None  # no dates: no use
        hint = self._batch_hint.get(job_key) if hinted else None
        if hint is None and hinted:
            first = self._stamped(folder, "", limit=_BATCH_PAGE)
            if len(first) < _BATCH_PAGE:
                return self._numbered(first), None
            stored = self._cursor_hint(job_key)
            if stored is None or batch_name(job_key, stored) <= first[-1][0]:
                return self._numbered(first + self._stamped(folder, first[-1][0])), None
            hint = stored
        start = batch_name(job_key, hint - 1) if hint is not None and hint > 0 else ""
        return self._numbered(self._stamped(folder, start)), hint

    @staticmethod
    def _numbered(stamped: list[tuple[str, str | None, float | None]]) -> list[_Listed]:
        listing: list[_Listed] = []
        for name, tag, date in stamped:
            number = parse_batch_name(name)
            if number is not None:
                listing.append((number, name, tag, date))
        listing.sort()
        return listing

    def _cursor_hint(self, job_key: str) -> int | None:
        """The batch hint the job's order cursor carries (None if none, or unreadable)."""
        name = f"{_ORDER}{escape_segment(job_key)}{_VERSION_SUFFIX}"
        try:
            raw = self.store.get(name)
            cursor = _loads(raw, where=f"{self.store.url}{name}") if raw is not None else {}
        except DtsChangeError:
            return None
        hint = cursor.get("batch_hint")
        return hint if isinstance(hint, int) and not isinstance(hint, bool) and hint > 0 else None

    @staticmethod
    def _hint_holds(listing: list[_Listed], hint: int, floor: float | None) -> bool:
        """Whether a listing that started at batch `hint` misses nothing a read with `floor`
        needs: `hint` is listed first and is older than the floor by another margin. A batch
        is numbered one above a batch its writer listed (the highest then; prune never deletes
        a job's highest), so every batch below `hint` was created before it, and its date is at
        most the store nodes' disagreement newer, which the margin covers: all below the floor.
        Anything else (a hint pruned, a floor that moved back, no dates) lists every batch."""
        if floor is None or not listing:
            return False
        number, _, _, date = listing[0]
        return number == hint and date is not None and date < floor - _BATCH_MARGIN_SECONDS

    def _fetch_batches(
        self, job_key: str, listing: list[_Listed], floor: float | None, settled: Settled | None = None
    ) -> tuple[list[Batch], int, bool]:
        """The listed batches not older than `floor` (read unless held, in number order, up to
        the one after which `settled` says no entry can change the result), the highest number
        listed, and whether one of those vanished between its listing and its read. Notes the
        job's hint: the highest batch older than the floor by another margin."""
        high = 0
        out: list[Batch] = []
        vanished = False
        below: int | None = None
        done = settled is not None and settled.done
        for number, name, tag, date in listing:
            high = max(high, number)
            if floor is not None and date is not None and date < floor:
                if date < floor - _BATCH_MARGIN_SECONDS:
                    below = number
                continue  # cannot name a version this read resolves
            if done:
                continue  # every version followed is closed: later entries are ignored (`apply_batches`)
            batch = self._read_batch(name, tag)
            if batch is None:
                vanished = True
            elif batch.job_key == job_key:
                out.append(batch)
                done = settled is not None and settled.closes(batch)
        if below is not None:
            self._batch_hint[job_key] = below
        return out, high, vanished

    def _stamped(
        self, prefix: str, start_after: str = "", *, limit: int | None = None
    ) -> list[tuple[str, str | None, float | None]]:
        """Names under `prefix` (after `start_after`; the first `limit`), with tag and date where
        the store lists them (`OssStore.list_stamped`), noting the dates of tagged objects."""
        list_stamped = getattr(self.store, "list_stamped", None)
        if list_stamped is None:
            return [(name, tag, None) for name, tag in self._listing(prefix) if name > start_after]
        stamped: list[tuple[str, str | None, float | None]] = list(
            list_stamped(prefix, start_after, limit) if limit is not None else list_stamped(prefix, start_after))
        with self._known_lock:
            if len(self._stamps) + len(stamped) > _KNOWN_STAMPS:
                self._stamps.clear()
            for name, tag, date in stamped:
                if tag is not None and date is not None:
                    self._stamps[(name, tag)] = date
        return stamped

    def _read_batch(self, name: str, tag: str | None) -> Batch | None:
        """A listed batch, from memory when held: with the listing's tag where the store gives
        tags; by name alone otherwise (a batch number is never written twice while its batch
        is needed: prune deletes only batches below the job's highest, older than the retention)."""
        with self._known_lock:
            found = self._batches.get(name)
        if found is not None and (tag is None or found[0] == tag):
            return found[1]
        raw = self.store.get(name)
        if raw is None:
            return None
        batch = decode_batch(name, raw, where=f"{self.store.url}{name}")
        if tag is None:
            self._keep_batch(name, "", batch)
        elif _tag_of(raw) == tag:
            self._keep_batch(name, tag, batch)
        return batch

    def _keep_batch(self, name: str, tag: str, batch: Batch) -> None:
        with self._known_lock:
            old = self._batches.pop(name, None)
            if old is not None:
                self._batch_entries -= len(old[1].entries)
            self._batches[name] = (tag, batch)
            self._batch_entries += len(batch.entries)
            while len(self._batches) > _KNOWN_BATCHES or self._batch_entries > _KNOWN_BATCH_ENTRIES:
                dropped = self._batches.pop(next(iter(self._batches)))
                self._batch_entries -= len(dropped[1].entries)

    def _listing(self, prefix: str) -> list[tuple[str, str | None]]:
        """Names under `prefix`, each with its tag where the store lists tags (one listing;
        noting their dates where it lists those too)."""
        if getattr(self.store, "list_stamped", None) is not None:
            return [(name, tag) for name, tag, _ in self._stamped(prefix)]
        list_tagged = getattr(self.store, "list_tagged", None)
        if list_tagged is not None:
            return list(list_tagged(prefix))
        return [(name, None) for name in self.store.list(prefix)]

    def _load_snapshot(self, job_key: str, keys: list[str], bulk: dict[str, list[tuple[int, str | None]]]) -> None:
        """Read the job's snapshot once when at least `_SNAPSHOT_MIN_READS` open changes would
        be read otherwise, and take into memory each entry whose version is the latest the
        listing gives, with the listing's tag (which `decode_snapshot` checked is the MD5 of the
        entry's bytes): only bytes the store itself holds under that name are ever used."""
        wanted: dict[str, tuple[int, str]] = {}
        with self._known_lock:
            for key in keys:
                versions = bulk.get(key)
                if not versions or versions[-1][1] is None:
                    continue
                held = self._known.get((key, versions[-1][0]))
                if held is None or held[2] != versions[-1][1]:
                    wanted[key] = (versions[-1][0], str(versions[-1][1]))
        if len(wanted) < _SNAPSHOT_MIN_READS:
            return
        stored = self._read_snapshot(job_key)
        for key, (version, tag, raw) in (stored or {}).items():
            if wanted.get(key) == (version, tag):
                self._remember(key, version, tag, raw)

    def _read_snapshot(self, job_key: str) -> dict[str, Entry] | None:
        """The job's snapshot (entries whose bytes have the tag they name), None if unreadable."""
        name = snapshot_name(job_key)
        try:
            raw = self.store.get(name)
        except DtsChangeError as exc:
            _log.warning("snapshot %s%s not read: %s", self.store.url, name, exc)
            return None
        held = decode_snapshot(raw, job_key, where=f"{self.store.url}{name}")
        self._snapshot_held[job_key] = {(k, v, t) for k, (v, t, _) in held.items()}
        return held

    def keep_snapshot(self, job_key: str, keys: list[str]) -> None:
        """Under the job's lease, with the keys of its open changes in arrival order: write the
        job's snapshot of the versions this ledger holds of them (the latest of each) when at
        least `_SNAPSHOT_MIN_NEW` and a quarter of what it held are new, or when most of what it
        held is of changes no longer open; merged first with the stored one when this ledger
        lacks some of the changes (the higher version wins). With fewer than
        `_WHOLE_LISTING_MIN` open changes (no pass reads it then) a snapshot it holds goes.
        A pass that stops at a busy job's first change calls this too, so a backlog recorded
        while the job is busy is in the snapshot, in a few writes, before a cold instance's
        first pass reads it. Failures are logged and forgotten: the snapshot is a cache that
        readers check entry by entry (`snapshots.py`)."""
        if len(keys) < _WHOLE_LISTING_MIN:
            if self._snapshot_held.get(job_key):
                self._drop_snapshot(job_key)
            return
        wanted = set(keys)
        mine: dict[str, Entry] = {}
        with self._known_lock:
            for (key, version), (_, _, tag, raw) in self._known.items():
                if key in wanted and (key not in mine or mine[key][0] < version):
                    mine[key] = (version, tag, raw)
        held = self._snapshot_held.get(job_key, set())
        new = sum(1 for k, (v, t, _) in mine.items() if (k, v, t) not in held)
        closed = sum(1 for k, _, _ in held if k not in wanted)
        if new < max(_SNAPSHOT_MIN_NEW, len(held) // 4) and closed <= len(held) // 2:
            return
        if len(mine) < len(wanted):
            for key, entry in (self._read_snapshot(job_key) or {}).items():
                if key in wanted and (key not in mine or mine[key][0] < entry[0]):
                    mine[key] = entry
        entries = [(k, mine[k]) for k in keys if k in mine]
        name = snapshot_name(job_key)
        try:
            self.store.put(name, encode_snapshot(job_key, entries, written_at=self.clock()))
        except DtsChangeError as exc:
            _log.warning("snapshot %s%s not written: %s", self.store.url, name, exc)
            self._snapshot_held.pop(job_key, None)
            return
        self._snapshot_held[job_key] = {(k, v, t) for k, (v, t, _) in entries}

    def _drop_snapshot(self, job_key: str) -> None:
        name = snapshot_name(job_key)
        try:
            self.store.delete(name)
        except DtsChangeError as exc:
            _log.warning("snapshot %s%s not deleted: %s", self.store.url, name, exc)
            return
        self._snapshot_held.pop(job_key, None)

    def _prune_snapshots(self, cutoff: float, late: Callable[[], bool]) -> None:
        """Delete the snapshots older than the retention (by the listing's date where the store
        gives one, else by the writer's clock in its head) and those of jobs with no open
        change: no snapshot keeps a change's bytes longer than the retention keeps its record.
        One listing of `snapshots/`, then one of each job's index (a snapshot per job with a
        backlog: few)."""
        list_dated = getattr(self.store, "list_dated", None)
        listed: list[tuple[str, float | None]] = (
            list(list_dated(SNAPSHOTS)) if list_dated is not None
            else [(name, None) for name in self.store.list(SNAPSHOTS)]
        )
        for name, dated in listed:
            if late():
                return
            job = snapshot_job(name)
            if job is None:
                continue  # not a snapshot this ledger wrote
            modified = dated
            if modified is None:
                raw = self.store.get(name)
                if raw is None:
                    continue
                modified = snapshot_written_at(raw)
            if modified is None or modified <= cutoff or not self.has_open_changes(job):
                self.store.delete(name)
                self._snapshot_held.pop(job, None)

    def _all_versions(self) -> dict[str, list[tuple[int, str | None]]]:
        """Every change's versions (with tags), from one listing of `changes/`."""
        listed = self._listing(_CHANGES)
        out: dict[str, list[tuple[int, str | None]]] = {}
        for name, tag in listed:
            key, _, leaf = name[len(_CHANGES) :].partition("/")
            number = _parse_version(leaf)
            if number is not None:
                out.setdefault(key, []).append((number, tag))
        for versions in out.values():
            versions.sort()
        self._changes_listed = len(listed)
        return out

    def _bulk_pays(self, markers: int) -> bool:
        """Whether listing all of `changes/` costs fewer calls than one listing per open change."""
        if markers < _WHOLE_LISTING_MIN:
            return False
        return self._changes_listed is None or self._changes_listed // 1000 + 1 < markers // 2

    def _resequence(self, moves: list[tuple[ChangeRecord, str]]) -> list[ChangeRecord]:
        """Move open changes to new seqs: the new markers, then one batch carrying the seqs, then
        the old markers go (a crash in between leaves markers whose record has another seq, which
        `open_changes` drops)."""
        if not moves:
            return []
        now = self.clock()
        markers = [self._open_marker(record.job_key, seq) for record, seq in moves]
        for marker, (record, seq) in zip(markers, moves, strict=True):
            self._write_open_marker(marker, replace(record, seq=seq), now)
        try:
            out = self._write_batch([(record, record.state, {}, {"seq": seq}) for record, seq in moves])
        except LedgerConflictError:
            self._delete_many(markers)
            raise
        self._delete_many([self._open_marker(record.job_key, record.seq) for record, _ in moves])
        return out

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
        if repair:
            # The record may be closed by a batch (its own latest version still open): the marker
            # names the version and seq the closing was based on, which is what `prune` checks.
            closed = f"{_CLOSED}{_ns(record.updated_at):020d}-one-{record.key}"
            body: dict[str, Any] = {"entries": [[record.key, record.own_seq, record.version]]}
        else:
            closed = f"{_CLOSED}{_ns(record.updated_at):020d}-{record.key}"
            body = {"key": record.key, "version": record.version}
        self.store.put_if_absent(closed, _dumps(body, what="marker"))
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
        listed = self._listing(prefix)
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
            if tag is not None and _tag_of(raw) == tag:
                self._remember(key, version, tag, raw)  # the listing's tag is these bytes' digest
        record = ChangeRecord.from_json(raw, where=f"{self.store.url}{name}")
        if tag is not None:
            # The listing that gave `tag` (and its date) came before this read, and a version is
            # only ever created (again only after a delete): these bytes are of the listed object
            # or of a later one, never older than that date, which is all `_floor` needs. The MD5
            # is not asked for: with ETags that are not (server-side encryption, other stores)
            # the floor would be off and every pass would read every batch of the job.
            with self._known_lock:
                record.stored_at = self._stamps.get((name, tag))
        return record

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


def _parse_single(name: str) -> tuple[int, list[Any], str] | None:
    """(batch number, [key, seq, version], escaped job) of a `closed/` marker's name after its
    stamp, `single-<n>-<version>-<seq>-<job>`; None for the other kinds."""
    parts = name.split("-", 5)
    if len(parts) != 6 or parts[0] != "single" or not (parts[1].isdigit() and parts[2].isdigit() and parts[3].isdigit()):
        return None
    return int(parts[1]), [parts[4], f"{parts[3]}-{parts[4]}", int(parts[2])], parts[5]


def _cutoff_seconds(cutoff_ns: int) -> float:
    return cutoff_ns / 1_000_000_000


def _tag_of(raw: bytes) -> str:
    """The tag OSS gives these bytes (ETag of a simple upload: the MD5, upper-case, unquoted): a
    version or batch read is kept in memory only if the listing's tag is provably its bytes'."""
    return hashlib.md5(raw, usedforsecurity=False).hexdigest().upper()
