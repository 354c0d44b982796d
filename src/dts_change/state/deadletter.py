"""Dead letters: what could not be applied, with everything needed to inspect and replay it.

Layout on the store (JSON, create-if-absent, so two writers never overwrite each other):

    <job>/<YYYYmmddTHHMMSS.ffffffZ>-<key>.json    active dead letters, `<job>` the escaped job key
    _unrouted/<...>.json                          changes that never reached a job
    _replayed/<id>.json                           dead letters moved aside once replayed

The id is the path without `.json` (what `dts-change dlq show|replay` takes). Secrets never reach
the store: values under secret-looking keys and known secret values are masked on write.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

from ..core.errors import CorruptRecordError, InvalidStoreKeyError, ReplayRefusedError, short_repr
from ..core.observe import redact, redact_text
from .storage.base import Store, check_key, escape_segment

__all__ = ["DeadLetterRecord", "DeadLetterSink"]

UNROUTED = "_unrouted"
REPLAYED = "_replayed/"
_SUFFIX = ".json"
_MAX_SAME_NAME = 100
_SCALARS = (str, bytes, int, float, bool)


@dataclass
class DeadLetterRecord:
    """One dead-lettered change (or unparsable input), as stored."""

    key: str
    change_id: str
    job_key: str
    correlation_id: str | None
    original_event: Any
    change: dict[str, Any] | None
    error: dict[str, Any]
    attempts: int
    first_seen: float
    dead_lettered_at: float
    request_ids: list[str] = field(default_factory=list)
    job_status: str | None = None
    evidence: Any = None
    idempotency_key: str | None = None
    dl_id: str | None = None
    """Set by the sink on write and read: the id to `get`, `mark_replayed` and print."""
    replayed_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "a dead letter") -> DeadLetterRecord:
        known = {f.name for f in fields(cls)}
        try:
            record = cls(**{name: value for name, value in data.items() if name in known})
        except TypeError as exc:
            raise CorruptRecordError(
                f"Invalid dead letter in {where}: {short_repr(exc)} -> expected the fields written by "
                "this project"
            ) from exc
        if not isinstance(record.key, str) or not isinstance(record.error, dict):
            raise CorruptRecordError(
                f"Invalid dead letter in {where}: key {short_repr(record.key)} / error "
                f"{short_repr(record.error)} -> expected a string key and an error object"
            )
        return record


class DeadLetterSink:
    """Writes, lists and retires dead letters on one `Store` (a local folder or an OSS prefix)."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def __repr__(self) -> str:
        return f"DeadLetterSink({self.store.url!r})"

    def write(self, record: DeadLetterRecord) -> str:
        """Store a redacted copy of `record`; returns its id. Never overwrites an earlier dead letter."""
        routed = record.job_key and record.job_key != UNROUTED
        folder = escape_segment(record.job_key) if routed else UNROUTED
        stamp = _stamp(record.dead_lettered_at or self.clock())
        name = escape_segment(record.key) if record.key else "unknown"
        base = f"{folder}/{stamp}-{name}"
        for attempt in range(_MAX_SAME_NAME):
            dl_id = base if attempt == 0 else f"{base}-{attempt}"
            data = redact_record(record.to_dict())
            data["dl_id"] = dl_id
            data["replayed_at"] = None
            if self.store.put_if_absent(dl_id + _SUFFIX, _dumps(data)):
                record.dl_id = dl_id
                return dl_id
        raise InvalidStoreKeyError(
            f"Could not find a free dead-letter id after {_MAX_SAME_NAME} tries for {short_repr(base)} "
            f"in {self.store.url} -> expected one of {base}-N to be free"
        )

    def find_unrouted(self, key: str) -> str | None:
        """The id of an `_unrouted/` dead letter (active or replayed) written for `key`, from the
        names alone (one listing, no reads): lets a writer skip an event delivered twice."""
        suffix = f"-{escape_segment(key)}{_SUFFIX}"
        for folder in (f"{UNROUTED}/", f"{REPLAYED}{UNROUTED}/"):
            for name in self.store.list(folder):
                if name.endswith(suffix):
                    return name.removeprefix(REPLAYED)[: -len(_SUFFIX)]
        return None

    def list(self, *, include_replayed: bool = False) -> list[DeadLetterRecord]:
        """Active dead letters, oldest first (and replayed ones too when asked)."""
        out = []
        for name in self.store.list(""):
            if not name.endswith(_SUFFIX) or (name.startswith(REPLAYED) and not include_replayed):
                continue
            record = self._read(name)
            if record is not None:
                out.append(record)
        return sorted(out, key=lambda r: (r.dead_lettered_at, r.dl_id or ""))

    def get(self, dl_id: str) -> DeadLetterRecord | None:
        """The dead letter with this id (active or replayed); a bare change key finds that change's
        latest dead letter. None when there is none."""
        name = self._resolve(dl_id, include_replayed=True)
        if name is None:
            return None
        return self._read(name) or self._read(REPLAYED + name)

    def mark_replayed(self, dl_id: str) -> None:
        """Move the dead letter (id or change key) under `_replayed/` with the replay time, so `list`
        skips it; replaying it twice is harmless."""
        name = self._resolve(dl_id, include_replayed=False)
        record = self._read(name) if name is not None else None
        if name is None or record is None:
            if self.get(dl_id) is not None:
                return  # replayed already
            raise ReplayRefusedError(
                f"No dead letter {short_repr(dl_id)} in {self.store.url} -> expected an id or change key "
                "printed by `dts-change dlq list`"
            )
        data = record.to_dict()
        data["replayed_at"] = self.clock()
        self.store.put(REPLAYED + name, _dumps(data))
        self.store.delete(name)

    def _resolve(self, dl_id: str, *, include_replayed: bool) -> str | None:
        """The store name (without `_replayed/`) of an id, or of the latest dead letter of a change key."""
        _check_id(dl_id)
        if "/" in dl_id:
            return dl_id + _SUFFIX
        matches = [r for r in self.list(include_replayed=include_replayed) if r.key == dl_id and r.dl_id]
        return matches[-1].dl_id + _SUFFIX if matches and matches[-1].dl_id else None

    def _read(self, name: str) -> DeadLetterRecord | None:
        raw = self.store.get(name)
        if raw is None:
            return None
        where = f"{self.store.url}{name}"
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise CorruptRecordError(f"Unreadable JSON in {where} -> {exc}") from exc
        if not isinstance(data, dict):
            raise CorruptRecordError(f"Unexpected JSON in {where}: {short_repr(data)} -> expected an object")
        record = DeadLetterRecord.from_dict(data, where=where)
        dl_id = name[len(REPLAYED) :] if name.startswith(REPLAYED) else name
        record.dl_id = dl_id[: -len(_SUFFIX)]
        return record


def redact_record(value: Any) -> Any:
    """Mask secrets before anything is stored.

    Values under secret-looking keys are masked only when they are scalars: in a DbList the keys
    are database and table names (`user_tokens`, `password_reset`), whose object values must
    survive. Known secret values are masked inside any string (both via `observe`)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(item, _SCALARS) and not isinstance(item, bool):
                out[str(key)] = redact({str(key): _jsonable(item)})[str(key)]
            else:
                out[str(key)] = redact_record(item)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        return [redact_record(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    """Bytes become base64 (an event's raw payload); anything else that JSON cannot hold, a repr."""
    if isinstance(value, (bytes, bytearray)):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if value is None or isinstance(value, (str, int, float, bool, dict, list)):
        return value
    return short_repr(value, 400)


def _dumps(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, default=_jsonable).encode("utf-8")


def _stamp(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.strftime("%Y%m%dT%H%M%S.%fZ")


def _check_id(dl_id: str) -> str:
    if not isinstance(dl_id, str) or not dl_id:
        raise InvalidStoreKeyError(
            f"Invalid dead-letter id {short_repr(dl_id)} -> expected an id or change key as printed by "
            "`dts-change dlq list`"
        )
    check_key(dl_id + _SUFFIX)
    if dl_id.startswith(REPLAYED) or dl_id.endswith(_SUFFIX):
        raise InvalidStoreKeyError(
            f"Invalid dead-letter id {short_repr(dl_id)} -> expected an id as printed by "
            "`dts-change dlq list` (no '_replayed/' prefix, no '.json')"
        )
    return dl_id
