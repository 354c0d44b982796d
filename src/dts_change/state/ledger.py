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
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal

from ..core.errors import (
    CorruptRecordError,
    DtsChangeError,
    InvalidStoreKeyError,
    InvalidTransitionError,
    LeaseHeldError,
    LedgerConflictError,
    ReplayRefusedError,
    short_repr,
)
from .storage.base import Store, check_key, escape_segment, unescape_segment

if TYPE_CHECKING:
    from .deadletter import DeadLetterRecord

__all__ = [
    "CLOSED_STATES",
    "OPEN_STATES",
    "ChangeRecord",
    "ChangeState",
    "Lease",
    "Ledger",
    "job_key",
    "record_key",
]

DEFAULT_RETENTION_SECONDS = 7 * 86400.0
DEFAULT_MARKER_GRACE_SECONDS = 300.0
RECORD_FORMAT = 1

_CHANGES = "changes/"
_OPEN = "open/"
_CLOSED = "closed/"
_LEASES = "leases/"
_ORDER = "order/"
_IDENTITIES = "identities/"
_SENT = "sent/"
_VERSION_SUFFIX = ".json"
_LEASE_ATTEMPTS = 3
_PRUNE_BATCH = 250
_KNOWN_VERSIONS = 256
_KNOWN_SECONDS = 60.0


class ChangeState(str, Enum):
    """Where a change is in its life; only `dead_lettered` -> `pending` (replay) leaves a closed state."""

    PENDING = "pending"
    REMOVAL_SUBMITTED = "removal_submitted"
    SUBMITTED = "submitted"
    APPLIED = "applied"
    DEAD_LETTERED = "dead_lettered"


OPEN_STATES: frozenset[ChangeState] = frozenset(
    {ChangeState.PENDING, ChangeState.REMOVAL_SUBMITTED, ChangeState.SUBMITTED}
)
CLOSED_STATES: frozenset[ChangeState] = frozenset({ChangeState.APPLIED, ChangeState.DEAD_LETTERED})

# Fields a transition may change; the rest is the change's identity and the ledger's bookkeeping.
_UPDATABLE = frozenset(
    {
        "attempts",
        "last_error",
        "submissions",
        "evidence",
        "confirm_retries",
        "change",
        "pending_since",
        "removal_intent",
        "unanswered_tokens",
    }
)


def job_key(job_id: str, direction: str) -> str:
    """`<dtsJobId or instance id>/<direction>`: the unit that is reconciled and leased."""
    if not isinstance(job_id, str) or not job_id or not isinstance(direction, str) or not direction:
        raise InvalidStoreKeyError(
            f"Invalid job key parts {short_repr(job_id)} / {short_repr(direction)} -> expected a "
            "non-empty job id and direction"
        )
    return f"{job_id}/{direction}"


def record_key(idempotency_key: str) -> str:
    """The store-safe key of a change: 32 hex characters of SHA-256 of its idempotency key."""
    if not isinstance(idempotency_key, str) or not idempotency_key:
        raise InvalidStoreKeyError(
            f"Invalid idempotency key {short_repr(idempotency_key)} -> expected a non-empty string"
        )
    return hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]


def _check_record_key(key: str) -> str:
    check_key(key)
    if "/" in key or "-" in key:
        raise InvalidStoreKeyError(
            f"Invalid change key {short_repr(key)} -> expected one segment without '/' or '-' "
            "(the key printed by `dts-change dlq list`)"
        )
    return key


def _dumps(data: dict[str, Any], *, what: str) -> bytes:
    try:
        return json.dumps(data, sort_keys=True, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InvalidTransitionError(
            f"Could not serialise {what} as JSON -> {exc}; expected only JSON values (dict, list, "
            "str, int, float, bool, None)"
        ) from exc


def _loads(raw: bytes, *, where: str) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CorruptRecordError(f"Unreadable JSON in {where} -> {exc}") from exc
    if not isinstance(data, dict):
        raise CorruptRecordError(f"Unexpected JSON in {where}: {short_repr(data)} -> expected an object")
    return data


def _ns(seconds: float) -> int:
    return round(seconds * 1_000_000_000)


# ---------------------------------------------------------------------- records


@dataclass
class ChangeRecord:
    """One transition of one change, as stored; `version` 0 is the first."""

    key: str
    idempotency_key: str
    change_id: str
    job_key: str
    seq: str
    state: ChangeState
    change: dict[str, Any]
    created_at: float
    updated_at: float
    version: int
    attempts: int = 0
    last_error: dict[str, Any] | None = None
    submissions: list[dict[str, Any]] = field(default_factory=list)
    evidence: dict[str, Any] | None = None
    confirm_retries: int = 0
    pending_since: float = 0.0
    """When the change (re)entered `pending` from outside: at `record` and at `replay`. Maximum
    age is measured from here, so a replayed change is not dead-lettered again at once."""
    replays: int = 0
    removal_intent: str | None = None
    """SHA-256 of the list (canonical JSON) a write carrying this change's removals is about to
    send, noted before ModifyDtsJob: if the answer or the process is lost after DTS carried it
    out, the next pass finds the job holding that list and knows the removals were done."""
    unanswered_tokens: list[str] = field(default_factory=list)
    """ClientTokens of ModifyDtsJob calls sent for this change whose outcome stayed unknown (no
    answer, then the pass ended): DTS may have carried one out; the job's call log names it."""

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def to_dict(self) -> dict[str, Any]:
        """Shallow: nested values are the record's own, and every caller serialises the result
        (asdict's deep copy of the change document was most of a burst's ledger CPU time)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["state"] = self.state.value
        data["format"] = RECORD_FORMAT
        return data

    def to_json(self) -> str:
        return _dumps(self.to_dict(), what=f"change record {self.key}").decode("utf-8")

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "a change record") -> ChangeRecord:
        known = {f.name for f in fields(cls)}
        values = {name: value for name, value in data.items() if name in known}
        try:
            values["state"] = ChangeState(values["state"])
            record = cls(**values)
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptRecordError(
                f"Invalid change record in {where}: {short_repr(exc)} -> expected the fields "
                "written by this ledger"
            ) from exc
        problems = [
            name
            for name, kind in (
                ("key", str),
                ("idempotency_key", str),
                ("change_id", str),
                ("job_key", str),
                ("seq", str),
                ("change", dict),
                ("version", int),
                ("attempts", int),
                ("submissions", list),
                ("confirm_retries", int),
            )
            if not isinstance(getattr(record, name), kind)
        ]
        if problems:
            raise CorruptRecordError(
                f"Invalid change record in {where}: wrong type for {', '.join(problems)} -> expected "
                "the types written by this ledger"
            )
        return record

    @classmethod
    def from_json(cls, text: str | bytes, *, where: str = "a change record") -> ChangeRecord:
        raw = text.encode("utf-8") if isinstance(text, str) else text
        return cls.from_dict(_loads(raw, where=where), where=where)


@dataclass(frozen=True)
class Lease:
    """A held lease generation; `token` tells our generation from a lookalike with the same owner."""

    job_key: str
    owner: str
    generation: int
    acquired_at: float
    expires_at: float
    token: str
    released: bool = False
    ttl_seconds: float = 0.0
    """How long the lease lives, counted on the store's clock from when its object was written
    (`acquired_at`/`expires_at` are the writer's clock, kept for people reading the record)."""

    @property
    def ttl(self) -> float:
        return self.ttl_seconds or max(0.0, self.expires_at - self.acquired_at)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str) -> Lease:
        try:
            lease = cls(
                job_key=str(data["job_key"]),
                owner=str(data["owner"]),
                generation=int(data["generation"]),
                acquired_at=float(data["acquired_at"]),
                expires_at=float(data["expires_at"]),
                token=str(data["token"]),
                released=bool(data.get("released", False)),
                ttl_seconds=float(data.get("ttl_seconds") or 0.0),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptRecordError(
                f"Invalid lease in {where}: {short_repr(exc)} -> expected the fields written by this ledger"
            ) from exc
        return lease


# ---------------------------------------------------------------------- ledger


class Ledger:
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
        self._known_lock = threading.Lock()  # passes of several threads may share a ledger
        self._known: dict[tuple[str, int], tuple[float, float, bytes]] = {}
        """(change key, version) -> (monotonic and clock time of the write, the bytes) of versions
        this ledger wrote lately. A version is written once with create-if-absent, and only prune
        deletes one, once its change has been closed for the retention: while the listing names a
        version written moments ago, these are its bytes. So `get` still lists (its freshness
        check) but does not read back what this instance has just written."""
        self.retention_seconds = retention_seconds
        self.marker_grace_seconds = marker_grace_seconds

    def __repr__(self) -> str:
        return f"Ledger({self.store.url!r})"

    # ------------------------------------------------------------------ changes

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
        if self.store.put_if_absent(self._version_key(key, 0), data):
            self._remember(key, 0, data)
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
            versions = self._versions(key)
            if not versions:
                return None
            record = self._read_version(key, versions[-1], known=True)
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

    # ------------------------------------------------------------------ identities

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

    # ------------------------------------------------------------------ write-ahead of calls

    def note_sending(
        self, job_key: str, *, client_token: str, phase: str, keys: list[str], sent_sha256: str
    ) -> str:
        """Write, before a ModifyDtsJob, which changes it carries under which ClientToken.

        One object per submission, whatever the number of changes: a process that dies (or whose
        ledger write fails) right after DTS carried the call out still leaves the call explained,
        so every write DTS received is one the ledger can name. Another pass sending the same
        token writes another note (same token, later time). Pruned with the closed changes, by age."""
        now = self.clock()
        name = f"{_SENT}{escape_segment(job_key)}/{_ns(now):020d}-{check_key(client_token)}.json"
        body = _dumps(
            {
                "client_token": client_token,
                "phase": phase,
                "keys": sorted(keys),
                "dblist_sha256": sent_sha256,
                "job_key": job_key,
                "at": now,
            },
            what="sending note",
        )
        self.store.put_if_absent(name, body)
        return name

    def sending_notes(self, job_key: str) -> list[dict[str, Any]]:
        """The write-ahead notes of a job, oldest first (for audits and the reliability checks)."""
        prefix = f"{_SENT}{escape_segment(job_key)}/"
        notes = []
        for name in self.store.list(prefix):
            raw = self.store.get(name)
            if raw is not None:
                notes.append(_loads(raw, where=f"{self.store.url}{name}"))
        return notes

    def _prune_sending_notes(self, cutoff_ns: int, deadline: float | None) -> None:
        """Delete write-ahead notes older than the retention; the age is in the name (no reads)."""
        old: list[str] = []
        for name in self.store.list(_SENT):
            if deadline is not None and self.monotonic() >= deadline:
                break
            stamp = name.rsplit("/", 1)[-1].partition("-")[0]
            if stamp.isdigit() and int(stamp) <= cutoff_ns:
                old.append(name)
                if len(old) >= _PRUNE_BATCH:
                    self._delete_many(old)
                    old = []
        self._delete_many(old)

    def _delete_many(self, names: list[str]) -> None:
        if not names:
            return
        delete_many = getattr(self.store, "delete_many", None)
        if delete_many is not None:
            delete_many(names)
            return
        for name in names:
            self.store.delete(name)

    # ------------------------------------------------------------------ leases

    def acquire_lease(self, job_key: str, owner: str, ttl_seconds: float) -> Lease:
        """Take the job's lease by creating its next generation; `LeaseHeldError` while another is live.

        A live lease is never taken over, not even by the same owner name; an expired or released one
        is taken over by creating the next generation, which exactly one contender manages."""
        if not ttl_seconds > 0:
            raise InvalidTransitionError(
                f"Invalid lease ttl {ttl_seconds!r} for job {short_repr(job_key)} -> expected seconds > 0"
            )
        folder = f"{_LEASES}{escape_segment(job_key)}/"
        current: Lease | None = None
        store_error: DtsChangeError | None = None
        for _ in range(_LEASE_ATTEMPTS):
            generations = self._lease_generations(folder)
            latest = generations[-1] if generations else 0
            aged = self._read_lease_aged(folder, latest) if generations else None
            if generations and aged is None:
                continue  # pruned between list and get: look again
            current = aged[0] if aged is not None else None
            if aged is not None and self._live(*aged):
                raise self._lease_held(job_key, aged[0])
            now = self.clock()
            lease = Lease(
                job_key=job_key,
                owner=owner,
                generation=latest + 1,
                acquired_at=now,
                expires_at=now + ttl_seconds,
                token=uuid.uuid4().hex,
                ttl_seconds=ttl_seconds,
            )
            started = self.monotonic()
            try:
                created = self.store.put_if_absent(self._lease_key(folder, lease.generation), self._lease_bytes(lease))
            except DtsChangeError as exc:
                # The answer may be lost after OSS stored it (issue 12.7): the generation, if it
                # exists, is ours and unused, so this instance may take the next one at once.
                self._orphans.add(lease.token)
                store_error = exc
                continue
            store_error = None
            if created:
                self._held_until[lease.token] = started + ttl_seconds
                try:
                    # Pruning frees old generation numbers: a contender that listed long ago can create
                    # one again after newer generations exist. Only the highest generation is the lease.
                    listed = self._lease_generations(folder)
                    newer = [g for g in listed if g > lease.generation]
                    if newer:
                        self.store.delete(self._lease_key(folder, lease.generation))
                        raise self._lease_held(job_key, self._read_lease(folder, newer[-1]))
                    self._prune_generations(folder, generations, keep_from=latest)
                except DtsChangeError:
                    self._give_up(lease)
                    raise
                # What the release deletes, from this listing (it need not list again).
                self._below[lease.token] = [g for g in listed if latest <= g < lease.generation]
                return lease
        if store_error is not None:
            raise store_error  # every attempt failed on the store: not a lease someone holds
        if current is None:
            current = self._latest_lease(folder)
        raise self._lease_held(job_key, current)

    def lease_is_current(self, lease: Lease) -> bool:
        """True while `lease` is unexpired, still stored, and no later generation exists.

        Unexpired by our monotonic clock from before the lease was written (a wall clock that is
        off or jumps changes nothing); a lease this instance did not take falls back on its clock."""
        if lease.released:
            return False
        until = self._held_until.get(lease.token)
        if until is not None:
            if self.monotonic() >= until:
                return False
        elif self.clock() >= lease.expires_at:
            return False
        folder = f"{_LEASES}{escape_segment(lease.job_key)}/"
        if self.store.get(self._lease_key(folder, lease.generation + 1)) is not None:
            return False
        stored = self._read_lease(folder, lease.generation)
        return stored is not None and stored.token == lease.token

    def release_lease(self, lease: Lease) -> None:
        """Give the lease up by creating the next generation marked released (nothing is deleted).

        Never raises for store trouble: a release whose answer was lost leaves either the released
        generation or our own, which this instance no longer counts as live (issue 12.7)."""
        try:
            self._release(lease)
        except DtsChangeError:
            self._give_up(lease)

    def _give_up(self, lease: Lease) -> None:
        self._held_until.pop(lease.token, None)
        self._below.pop(lease.token, None)
        self._orphans.add(lease.token)

    def _release(self, lease: Lease) -> None:
        until = self._held_until.get(lease.token)
        below = self._below.pop(lease.token, None)
        if until is None or below is None or lease.released:
            if not self.lease_is_current(lease):
                return
        elif self.monotonic() >= until:
            return
        # else: a lease this instance took and still holds by its own clock, counted from before
        # the lease was written: the store sees it live too, and a live lease is never taken
        # over, so there is no later generation to look for. Create-if-absent of the next one
        # settles any doubt: it fails if one exists, and under newer generations it is ignored.
        folder = f"{_LEASES}{escape_segment(lease.job_key)}/"
        now = self.clock()
        released = Lease(
            job_key=lease.job_key,
            owner=lease.owner,
            generation=lease.generation + 1,
            acquired_at=now,
            expires_at=now,
            token=uuid.uuid4().hex,
            released=True,
        )
        self._held_until.pop(lease.token, None)
        if self.store.put_if_absent(
            self._lease_key(folder, released.generation), self._lease_bytes(released)
        ):
            if below is None:
                below = self._lease_generations(folder)
            self._prune_generations(folder, below, keep_from=lease.generation)

    # ------------------------------------------------------------------ internals: changes

    def _resequence(self, record: ChangeRecord, seq: str) -> ChangeRecord:
        """Move an open change to `seq`: new marker, then the version carrying it, then the old
        marker goes (a crash in between leaves a marker whose record has another seq, which
        `open_changes` drops)."""
        marker = self._open_marker(record.job_key, seq)
        self._write_open_marker(marker, replace(record, seq=seq), self.clock())
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
        if not self.store.put_if_absent(self._version_key(record.key, new.version), raw):
            raise LedgerConflictError(
                f"Change {record.key} already has version {new.version} in {self.store.url} -> expected "
                f"to write it after version {record.version}",
                details={"key": record.key, "version": new.version, "state": state.value},
            )
        self._remember(record.key, new.version, raw)
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
            written_at = self._marker_written_at(marker)
            if written_at is None:
                return
            if written_at > record.updated_at and self.clock() - written_at < self.marker_grace_seconds:
                return
        closed = f"{_CLOSED}{_ns(record.updated_at):020d}-{record.key}"
        self.store.put_if_absent(
            closed, _dumps({"key": record.key, "version": record.version}, what="marker")
        )
        self.store.delete(marker)

    def _drop_marker_if_old(self, marker: str) -> None:
        written_at = self._marker_written_at(marker)
        if written_at is not None and self.clock() - written_at >= self.marker_grace_seconds:
            self.store.delete(marker)

    def _marker_written_at(self, marker: str) -> float | None:
        raw = self.store.get(marker)
        if raw is None:
            return None
        value = _loads(raw, where=f"{self.store.url}{marker}").get("written_at")
        if not isinstance(value, (int, float)):
            raise CorruptRecordError(
                f"Invalid open marker {self.store.url}{marker}: written_at {short_repr(value)} -> "
                "expected a number"
            )
        return float(value)

    def _write_open_marker(
        self, marker: str, record: ChangeRecord, now: float, *, overwrite: bool = False
    ) -> None:
        body = _dumps(
            {"key": record.key, "seq": record.seq, "job_key": record.job_key, "written_at": now},
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

    def _read_version(self, key: str, version: int, *, known: bool = False) -> ChangeRecord | None:
        """The stored version; with `known`, from the bytes this ledger has just written, if it
        has (see `_known`), parsed again so that every caller gets its own record."""
        name = self._version_key(key, version)
        raw = self._recall(key, version) if known else None
        if raw is None:
            raw = self.store.get(name)
            if raw is None:
                return None
        return ChangeRecord.from_json(raw, where=f"{self.store.url}{name}")

    def _remember(self, key: str, version: int, raw: bytes) -> None:
        """Keep the bytes of a version this ledger created (create-if-absent said so)."""
        entry = (self.monotonic(), self.clock(), raw)
        with self._known_lock:
            self._known.pop((key, version), None)
            self._known[(key, version)] = entry
            while len(self._known) > _KNOWN_VERSIONS:
                del self._known[next(iter(self._known))]

    def _recall(self, key: str, version: int) -> bytes | None:
        """The bytes of a version this ledger wrote less than `_KNOWN_SECONDS` (and half the
        retention) ago, by both its clocks: prune deletes a version, and a replay can write one
        of that number again, only once its change has been closed for the whole retention."""
        with self._known_lock:
            found = self._known.get((key, version))
        if found is None:
            return None
        limit = min(_KNOWN_SECONDS, self.retention_seconds / 2)
        if self.monotonic() - found[0] >= limit or abs(self.clock() - found[1]) >= limit:
            with self._known_lock:
                self._known.pop((key, version), None)
            return None
        return found[2]

    @staticmethod
    def _version_key(key: str, version: int) -> str:
        return f"{_CHANGES}{key}/{version:06d}{_VERSION_SUFFIX}"

    @staticmethod
    def _open_marker(job: str, seq: str) -> str:
        return f"{_OPEN}{escape_segment(job)}/{seq}"

    # ------------------------------------------------------------------ internals: leases

    def _lease_generations(self, folder: str) -> list[int]:
        numbers = (_parse_version(name[len(folder) :]) for name in self.store.list(folder))
        return sorted(n for n in numbers if n is not None)

    def _read_lease(self, folder: str, generation: int) -> Lease | None:
        name = self._lease_key(folder, generation)
        raw = self.store.get(name)
        if raw is None:
            return None
        return Lease.from_dict(_loads(raw, where=f"{self.store.url}{name}"), where=f"{self.store.url}{name}")

    def _read_lease_aged(self, folder: str, generation: int) -> tuple[Lease, float | None] | None:
        """The lease generation and its age on the store's clock (None where the store cannot tell)."""
        name = self._lease_key(folder, generation)
        get_with_age = getattr(self.store, "get_with_age", None) if self.lease_time == "store" else None
        if get_with_age is None:
            lease = self._read_lease(folder, generation)
            return (lease, None) if lease is not None else None
        found: tuple[bytes, float | None] | None = get_with_age(name)
        if found is None:
            return None
        raw, age = found
        where = f"{self.store.url}{name}"
        return Lease.from_dict(_loads(raw, where=where), where=where), age

    def _live(self, lease: Lease, age: float | None) -> bool:
        """Whether a stored lease still holds: by its age on the store's clock when the store tells
        it (issue 12.2: the writer's and the reader's clocks may disagree by more than a lease),
        else by the writer's expiry against our clock."""
        if lease.released or lease.token in self._orphans:
            return False
        if age is not None:
            return age < lease.ttl
        return self.clock() < lease.expires_at

    def _latest_lease(self, folder: str) -> Lease | None:
        generations = self._lease_generations(folder)
        return self._read_lease(folder, generations[-1]) if generations else None

    def _prune_generations(self, folder: str, generations: list[int], *, keep_from: int) -> None:
        """Old generations are noise once two newer exist; the previous one stays so that its holder
        sees the takeover through `lease_is_current`."""
        for generation in generations:
            if generation < keep_from:
                self.store.delete(self._lease_key(folder, generation))

    @staticmethod
    def _lease_key(folder: str, generation: int) -> str:
        return f"{folder}{generation:012d}{_VERSION_SUFFIX}"

    @staticmethod
    def _lease_bytes(lease: Lease) -> bytes:
        return _dumps(lease.to_dict(), what="lease")

    def _lease_held(self, job: str, current: Lease | None) -> LeaseHeldError:
        holder = current.owner if current is not None else None
        until = current.expires_at if current is not None else None
        return LeaseHeldError(
            f"Lease for job {short_repr(job)} is held by {short_repr(holder)} until {until} -> expected "
            "it free, released or expired",
            holder=holder,
            details={"job_key": job, "expires_at": until},
        )


def _seq_ns(seq: str) -> int:
    stamp = seq.partition("-")[0]
    return int(stamp) if stamp.isdigit() else 0


def _parse_version(name: str) -> int | None:
    if not name.endswith(_VERSION_SUFFIX):
        return None
    digits = name[: -len(_VERSION_SUFFIX)]
    return int(digits) if digits.isdigit() else None
