"""Change records and their states, and how the ledger lays them out on the store (keys, codec).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any

from ..core.errors import (
    CorruptRecordError,
    InvalidStoreKeyError,
    InvalidTransitionError,
    short_repr,
)
from .storage.base import check_key

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
_BATCHES = "batches/"
_VERSION_SUFFIX = ".json"
_LEASE_ATTEMPTS = 3
_PRUNE_BATCH = 250
_KNOWN_VERSIONS = 10_000
"""Versions held in memory (a few MB: one change is a few hundred bytes to a few KB)."""
_KNOWN_BATCHES = 20_000
"""Batch records held in memory: every transition of an open change is one (most name one change),
and a reader resolves a change with all of its job's batches, so a warm instance must hold them."""
_KNOWN_BATCH_ENTRIES = 50_000
"""Entries the batches in memory may hold together (a few hundred bytes each: about 25 MB)."""
_KNOWN_SECONDS = 900.0
_BATCH_MARGIN_SECONDS = 300.0
"""How much older than the oldest own version it resolves a batch may be and still be read: a
batch entry is written after the version it is based on existed, so on one store clock its
`LastModified` is not older (one-second granularity, and OSS nodes' clocks agree to far less than
this). A batch older than that cannot name the versions being resolved and is not read; twice
the margin below them, not even listed (`Ledger._batch_hint`)."""
_BATCH_MAX_ENTRIES = 1000
"""Changes one batch names at most (`Ledger.transition_many`): about 770 bytes each for a
submission or a confirmation, so a batch stays far below the store's 16 MB read cap."""
_WHOLE_LISTING_MIN = 64
"""From this many open changes a pass lists `changes/` once (1,000 names a call) instead of one
listing per change, unless the last whole listing showed that would cost more."""


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
    """How many times an error was noted on the change (`note_error`: at most once per
    `NOTE_INTERVAL_SECONDS`, the same error again not at all), not how many calls were made;
    0 again at a replay. Shown in dead letters; nothing decides by it."""
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
    answer, then the pass ended), for people: a new one is kept only when the change's note is
    written (at most once per `NOTE_INTERVAL_SECONDS`), the latest `MAX_NOTED_TOKENS` of them.
    Nothing decides by them; every ClientToken sent is in its write-ahead note under `sent/`."""
    read_batch: int | None = field(default=None, compare=False, repr=False)
    """Not stored: the highest batch number of its job the ledger listed when it read this record
    (or wrote it); a batch based on it is numbered one above (`batches.py`). None: not read
    through the batches (`record`, `first_open_change`), read again before a write."""
    base_seq: str = field(default="", compare=False, repr=False)
    """Not stored: the seq of the own version the effective record is based on, when a batch
    entry re-sequenced the change (empty: `seq`)."""
    stored_at: float | None = field(default=None, compare=False, repr=False)
    """Not stored: the `LastModified` (store clock) of the own version this record was read
    from, as the listing that named it gave it; None when unknown. A batch entry based on that
    version was written after it, so a reader skips batches older than it (`ledger.py`)."""

    @property
    def own_seq(self) -> str:
        """The seq batch entries based on this record name (its own version's)."""
        return self.base_seq or self.seq

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def to_dict(self) -> dict[str, Any]:
        """Shallow: nested values are the record's own, and every caller serialises the result
        (asdict's deep copy of the change document was most of a burst's ledger CPU time)."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_STORED}
        data["state"] = self.state.value
        data["format"] = RECORD_FORMAT
        return data

    def to_json(self) -> str:
        return _dumps(self.to_dict(), what=f"change record {self.key}").decode("utf-8")

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "a change record") -> ChangeRecord:
        known = {f.name for f in fields(cls)} - _NOT_STORED
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


_NOT_STORED = frozenset({"read_batch", "base_seq", "stored_at"})


def _seq_ns(seq: str) -> int:
    stamp = seq.partition("-")[0]
    return int(stamp) if stamp.isdigit() else 0


def _parse_version(name: str) -> int | None:
    if not name.endswith(_VERSION_SUFFIX):
        return None
    digits = name[: -len(_VERSION_SUFFIX)]
    return int(digits) if digits.isdigit() else None
