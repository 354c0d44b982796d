"""Batch transition records: one ledger object for a transition a pass makes to many changes at
once (submitted, a confirmed phase, applied), instead of one version per change (issue 12.10).

    batches/<job>/<number:012d>-<at_ns:020d>.json

`number` is one more than the highest the writer listed for the job (writers of a job's open
changes hold its lease, so they come one after another); the listing gives the batches in that
order. `at_ns` (the writer's clock) lets a reader skip batches written long before the versions
it resolves. Each entry names a change, the own version (`changes/<key>/...`) and `seq` it was
based on, and the fields the transition set. A change's effective record is its latest own
version, then the entries based on exactly that version and seq, in batch order; an own version
written later (any individual transition materialises the effective record) makes the older
entries stale for that change, and a change recorded again after a prune has another seq.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from ..core.errors import CorruptRecordError, short_repr
from ..core.values import immutable
from .records import _BATCHES, _VERSION_SUFFIX, ChangeRecord, _dumps, _loads, _ns
from .storage.base import escape_segment

__all__ = ["Batch", "BatchEntry", "apply_batches", "batch_folder", "batch_name", "decode_batch", "encode_batch",
           "index_entries", "parse_batch_name"]


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
    at_ns: int
    job_key: str
    entries: tuple[BatchEntry, ...]


def batch_folder(job_key: str) -> str:
    return f"{_BATCHES}{escape_segment(job_key)}/"


def batch_name(job_key: str, number: int, at: float) -> str:
    return f"{batch_folder(job_key)}{number:012d}-{_ns(at):020d}{_VERSION_SUFFIX}"


def parse_batch_name(name: str) -> tuple[int, int] | None:
    """(number, at_ns) of a batch object's name, or None for anything else."""
    leaf = name.rsplit("/", 1)[-1]
    if not leaf.endswith(_VERSION_SUFFIX):
        return None
    number, _, stamp = leaf[: -len(_VERSION_SUFFIX)].partition("-")
    if not (number.isdigit() and stamp.isdigit()):
        return None
    return int(number), int(stamp)


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
    if parsed is None or not isinstance(entries, list) or not isinstance(job_key, str):
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
    return Batch(name, parsed[0], parsed[1], job_key, tuple(out))


def index_entries(batches: Iterable[Batch]) -> dict[str, list[BatchEntry]]:
    """Change key -> its entries, in batch order (`batches` come sorted by number, then name)."""
    index: dict[str, list[BatchEntry]] = {}
    for batch in batches:
        for entry in batch.entries:
            index.setdefault(entry.key, []).append(entry)
    return index


def apply_batches(record: ChangeRecord, entries: list[BatchEntry] | None, *, where: str) -> ChangeRecord:
    """The effective record: `record` (an own version), then the entries based on it, in order."""
    if not entries:
        return record
    data: dict[str, Any] | None = None
    for entry in entries:
        if entry.based_on == record.version and entry.seq == record.seq:
            if data is None:
                data = record.to_dict()
            data.update(copy.deepcopy(entry.fields))  # the cached batch stays as read
            data.update(version=record.version, seq=record.seq, key=record.key)
    if data is None:
        return record
    return ChangeRecord.from_dict(data, where=where)
