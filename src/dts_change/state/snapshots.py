"""Per-job snapshot of open changes' versions: a persisted read cache for cold instances (issue 12.10).

`snapshots/<job>.json` (overwritten by the job's lease holder) holds, for open changes of the
job, the bytes of a version and the tag (OSS ETag) the store gave it. A cold instance reads it
once instead of one GetObject per open change. It is a cache only: a reader takes an entry's
bytes only when the listing of `changes/` names that version with a tag equal to the MD5 of
those very bytes (the ETag of a simple PutObject), so a stale, corrupt, missing, oversized or
half-written snapshot, or another job's, can only cost reads, never change a record a reader
computes. Anything wrong with it is logged at debug and ignored. Two instances may overwrite
each other's snapshot (a lease holder that lost its lease, or a cold one): that too costs reads.
"""

from __future__ import annotations

import hashlib
import json
import logging

from ..core.errors import InvalidStoreKeyError
from .storage.base import escape_segment, unescape_segment

__all__ = [
    "SNAPSHOTS",
    "SNAPSHOT_MAX_BYTES",
    "SNAPSHOT_MAX_ENTRIES",
    "Entry",
    "decode_snapshot",
    "encode_snapshot",
    "snapshot_job",
    "snapshot_name",
    "snapshot_written_at",
    "tag_of",
]

SNAPSHOTS = "snapshots/"
SNAPSHOT_MAX_BYTES = 8 * 1024 * 1024
"""A snapshot is written up to this size (entries beyond it are left out, newest open changes
first) and one larger is ignored when read: the changes it lacks are read one by one."""
SNAPSHOT_MAX_ENTRIES = 10_000
"""As many entries as a ledger holds versions in memory (`_KNOWN_VERSIONS`); more is ignored."""
_FORMAT = 1
_SUFFIX = ".json"

Entry = tuple[int, str, bytes]
"""(version, tag, bytes) of a change's version."""

log = logging.getLogger(__name__)


def snapshot_name(job_key: str) -> str:
    return f"{SNAPSHOTS}{escape_segment(job_key)}{_SUFFIX}"


def snapshot_job(name: str) -> str | None:
    """The job key of a snapshot's name (from a listing of `snapshots/`); None for other names."""
    leaf = name[len(SNAPSHOTS) :] if name.startswith(SNAPSHOTS) else ""
    if not leaf.endswith(_SUFFIX) or "/" in leaf:
        return None
    try:
        return unescape_segment(leaf[: -len(_SUFFIX)])
    except InvalidStoreKeyError:
        return None


def tag_of(raw: bytes) -> str:
    """The ETag OSS gives these bytes in a simple PutObject (MD5, upper-case, unquoted)."""
    return hashlib.md5(raw, usedforsecurity=False).hexdigest().upper()


def encode_snapshot(
    job_key: str,
    entries: list[tuple[str, Entry]],
    *,
    written_at: float,
    max_bytes: int = SNAPSHOT_MAX_BYTES,
    max_entries: int = SNAPSHOT_MAX_ENTRIES,
) -> bytes:
    """The snapshot of `entries` (key, entry) in the order given (oldest open change first), cut
    where it would pass `max_bytes` or `max_entries`. Bytes that are not UTF-8 text are left out
    (the ledger writes JSON text)."""
    head = json.dumps({"format": _FORMAT, "job": job_key, "written_at": written_at})
    parts: list[str] = []
    size = len(head) + 32
    for key, (version, tag, raw) in entries:
        if len(parts) >= max_entries:
            break
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        part = json.dumps([key, version, tag, text], ensure_ascii=False)
        size += len(part.encode("utf-8")) + 1
        if size > max_bytes:
            break
        parts.append(part)
    return ('{"head":' + head + ',"entries":[' + ",".join(parts) + "]}").encode("utf-8")


def decode_snapshot(
    raw: bytes | None,
    job_key: str,
    *,
    where: str,
    max_bytes: int | None = None,
    max_entries: int | None = None,
) -> dict[str, Entry]:
    """Key -> entry of a snapshot; empty (and logged at debug) for anything unexpected: not
    JSON, another format or job, more than `max_bytes` or `max_entries` (by default
    `SNAPSHOT_MAX_BYTES`, `SNAPSHOT_MAX_ENTRIES`). An entry whose bytes do not have the tag it
    names is dropped: the tag is what readers compare with the listing."""
    if raw is None:
        return {}
    max_bytes = SNAPSHOT_MAX_BYTES if max_bytes is None else max_bytes
    max_entries = SNAPSHOT_MAX_ENTRIES if max_entries is None else max_entries
    try:
        if len(raw) > max_bytes:
            raise ValueError(f"{len(raw)} bytes, more than {max_bytes}")
        data = json.loads(raw.decode("utf-8"))
        head = data["head"]
        if head.get("format") != _FORMAT or head.get("job") != job_key:
            raise ValueError(f"format {head.get('format')!r} of job {head.get('job')!r}")
        listed = data["entries"]
        if not isinstance(listed, list) or len(listed) > max_entries:
            raise ValueError(f"entries: expected a list of at most {max_entries}")
        out: dict[str, Entry] = {}
        for key, version, tag, text in listed:
            if not (isinstance(key, str) and type(version) is int and isinstance(tag, str)
                    and isinstance(text, str)):
                continue
            body = text.encode("utf-8")
            if tag_of(body) == tag:
                out[key] = (version, tag, body)
        return out
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        log.debug("ignoring the unreadable snapshot %s: %s", where, exc)
        return {}


def snapshot_written_at(raw: bytes) -> float | None:
    """The writer's clock when it wrote the snapshot (its head), None if unreadable: what prune
    ages it by where the store's listing gives no date."""
    try:
        head = json.loads(raw.decode("utf-8"))["head"]
        value = head["written_at"]
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
