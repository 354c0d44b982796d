"""Batch records: every transition a lease holder makes to open changes (issue 12.10).

    batches/<job>/<number:012d>.json

One per-job sequence, each object created with create-if-absent. A writer numbers its batch one
above the highest number it listed when it read the records the transition is based on (a record
carries that number, `ChangeRecord.read_batch`), never re-listed at write time: two writers that
based their decisions on different reads always want the same number, and the later one gets
`LedgerConflictError`. A pass's transition of many changes (submitted, a confirmed phase, applied)
is one batch; an individual one (dead letter, error noted, expiry, re-sequencing) a one-entry
batch. Each entry names a change, the own version (`changes/<key>/...`) and `seq` it was based on,
and the fields the transition set. A change's effective record is its latest own version, then
the entries based on exactly that version and seq, in batch order (readers list the job's
batches and read them by number); an own version written later (a replay, which reopens a
closed change) makes the older entries stale for that change, and a change recorded again after
a prune has another seq.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from ..core.errors import CorruptRecordError, short_repr
from ..core.values import immutable
from .records import _BATCHES, _VERSION_SUFFIX, CLOSED_STATES, ChangeRecord, _dumps, _loads
from .storage.base import escape_segment

__all__ = ["Batch", "BatchEntry", "Settled", "apply_batches", "batch_folder", "batch_name", "decode_batch", "encode_batch",
           "index_entries", "parse_batch_name"]

_CLOSED_VALUES = frozenset(state.value for state in CLOSED_STATES)


@immutable
class BatchEntry:
    """One change's part of a batch: what it was based on and the fields the transition set."""

    key: str
    seq: str
    based_on: int
    fields: dict[str, Any]


@immutable
class Batch:
    """A stored batch, parsed (batches are immutable once created)."""

    name: str
    number: int
    at: float
    job_key: str
    entries: tuple[BatchEntry, ...]


def batch_folder(job_key: str) -> str:
    return f"{_BATCHES}{escape_segment(job_key)}/"


def batch_name(job_key: str, number: int) -> str:
    return f"{batch_folder(job_key)}{number:012d}{_VERSION_SUFFIX}"


def parse_batch_name(name: str) -> int | None:
    """The number of a batch object's name, or None for anything else."""
    leaf = name.rsplit("/", 1)[-1]
    if not leaf.endswith(_VERSION_SUFFIX):
        return None
    number = leaf[: -len(_VERSION_SUFFIX)]
    return int(number) if number.isdigit() else None


def encode_batch(job_key: str, number: int, at: float, entries: Iterable[BatchEntry]) -> bytes:
    return _dumps(
        {
            "job_key": job_key,
            "number": number,
            "at": at,
            "entries": [
                {"key": e.key, "seq": e.seq, "based_on": e.based_on, "fields": e.fields} for e in entries
            ],
        },
        what="batch record",
    )


def decode_batch(name: str, raw: bytes, *, where: str) -> Batch:
    parsed = parse_batch_name(name)
    data = _loads(raw, where=where)
    entries = data.get("entries")
    job_key = data.get("job_key")
    at = data.get("at")
    if (parsed is None or not isinstance(entries, list) or not isinstance(job_key, str)
            or not isinstance(at, (int, float)) or data.get("number") != parsed):
        raise CorruptRecordError(f"Invalid batch record {where}: {short_repr(data)} -> expected the fields "
                                 "written by this ledger")
    out = []
    for item in entries:
        ok = (
            isinstance(item, dict)
            and isinstance(item.get("key"), str)
            and isinstance(item.get("seq"), str)
            and isinstance(item.get("based_on"), int)
            and isinstance(item.get("fields"), dict)
        )
        if not ok:
            raise CorruptRecordError(f"Invalid batch entry in {where}: {short_repr(item)} -> expected key, seq, "
                                     "based_on and fields")
        out.append(BatchEntry(item["key"], item["seq"], item["based_on"], item["fields"]))
    return Batch(name, parsed, float(at), job_key, tuple(out))


def index_entries(batches: Iterable[Batch]) -> dict[str, list[BatchEntry]]:
    """Change key -> its entries, in batch order (`batches` come sorted by number)."""
    index: dict[str, list[BatchEntry]] = {}
    for batch in batches:
        for entry in batch.entries:
            index.setdefault(entry.key, []).append(entry)
    return index


def apply_batches(record: ChangeRecord, entries: list[BatchEntry] | None, *, where: str) -> ChangeRecord:
    """The effective record: `record` (an own version), then the entries based on it, in order.

    The result keeps the own version's number and seq as its base (`base_seq`); an entry may move
    the change to another seq (re-sequencing), which becomes the effective `seq`. A closed change
    stays closed: a batch never closes and reopens a change (`transition_many` refuses closed
    records), so an entry after the closing one is ignored."""
    if not entries or record.state in CLOSED_STATES:
        return record
    data: dict[str, Any] | None = None
    for entry in entries:
        if entry.based_on == record.version and entry.seq == record.seq:
            if data is not None and data.get("state") in _CLOSED_VALUES:
                break
            if data is None:
                data = record.to_dict()
            data.update(copy.deepcopy(entry.fields))  # the cached batch stays as read
            data.update(version=record.version, key=record.key)
    if data is None:
        return record
    out = ChangeRecord.from_dict(data, where=where)
    out.base_seq = record.seq
    return out


class Settled:
    """Which of some own versions a batch read in number order has seen closed, so a reader
    stops there: `apply_batches` ignores every entry after the first that closes a version (and
    all of them for a version that is closed itself), and nothing names a version again once
    it is closed (a batch moves only open changes; a replay or an update of a closed change
    writes the next own version, which starts anew). A version still open needs every batch."""

    def __init__(self, records: Iterable[ChangeRecord]) -> None:
        self._open = {(r.key, r.version, r.seq) for r in records if r.state not in CLOSED_STATES}

    @property
    def done(self) -> bool:
        return not self._open

    def closes(self, batch: Batch) -> bool:
        """Note the versions `batch` closes; whether none of them is left open now."""
        for entry in batch.entries:
            if entry.fields.get("state") in _CLOSED_VALUES:
                self._open.discard((entry.key, entry.based_on, entry.seq))
        return not self._open
