"""In-memory stand-ins for the ledger's collaborators: an OSS client, a clock, and store wrappers."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from dts_change.core.errors import ObjectExistsError, SourceObjectNotFoundError
from dts_change.state.ledger import Ledger
from dts_change.state.records import ChangeRecord
from dts_change.state.storage.base import Store, TaggedStore


@dataclass(frozen=True)
class FakeObject:
    body: bytes


@dataclass(frozen=True)
class FakeInfo:
    key: str
    etag: str
    last_modified: str | None = None


@dataclass(frozen=True)
class FakePut:
    etag: str


def _etag(body: bytes) -> str:
    """As OSS: the quoted upper-case MD5 of the bytes (a listing and PutObject say the same)."""
    return '"' + hashlib.md5(body, usedforsecurity=False).hexdigest().upper() + '"'


class FakeOssClient:
    """The OssClient verbs the store uses, over a dict, with OSS's create-if-absent semantics."""

    def __init__(
        self, buckets: tuple[str, ...] = ("ledger-bucket",), *, clock: Callable[[], float] | None = None
    ) -> None:
        self.buckets: dict[str, dict[str, bytes]] = {name: {} for name in buckets}
        self.lock = threading.Lock()
        self.page_size = 3  # small pages so the store must follow every page
        self.clock = clock
        """With a clock, objects get OSS's `LastModified` (whole seconds) and listings carry it."""
        self.modified: dict[tuple[str, str], float] = {}
        self.listed_pages = 0

    def _bucket(self, bucket: str) -> dict[str, bytes]:
        if bucket not in self.buckets:
            raise SourceObjectNotFoundError(
                f"no bucket {bucket}", remote_code="NoSuchBucket", http_status=404
            )
        return self.buckets[bucket]

    def get_object(self, bucket: str, key: str, max_bytes: int) -> FakeObject:
        with self.lock:
            objects = self._bucket(bucket)
            if key not in objects:
                raise SourceObjectNotFoundError(f"no key {key}", remote_code="NoSuchKey", http_status=404)
            return FakeObject(objects[key][:max_bytes])

    def put_object(
        self,
        bucket: str,
        key: str,
        data: bytes | str,
        content_type: str | None = None,
        forbid_overwrite: bool = False,
    ) -> FakePut:
        payload = data.encode() if isinstance(data, str) else bytes(data)
        with self.lock:
            objects = self._bucket(bucket)
            if forbid_overwrite and key in objects:
                raise ObjectExistsError(f"{key} exists", remote_code="FileAlreadyExists", http_status=409)
            objects[key] = payload
            if self.clock is not None:
                self.modified[(bucket, key)] = float(int(self.clock()))  # OSS: one-second granularity
        return FakePut(_etag(payload))

    def delete_object(self, bucket: str, key: str) -> None:
        with self.lock:
            self._bucket(bucket).pop(key, None)

    def iter_objects(
        self, bucket: str, prefix: str = "", max_keys: int = 1000, start_after: str = ""
    ) -> Iterator[FakeInfo]:
        with self.lock:
            objects = self._bucket(bucket)
            infos = [FakeInfo(k, _etag(objects[k]), self._stamp(bucket, k)) for k in sorted(objects)
                     if k.startswith(prefix) and k > start_after]
        size = min(self.page_size, max_keys)
        for start in range(0, max(len(infos), 1), size):
            self.listed_pages += 1
            yield from infos[start : start + size]

    def _stamp(self, bucket: str, key: str) -> str | None:
        at = self.modified.get((bucket, key))
        if at is None:
            return None
        return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class FakeClock:
    """A settable clock shared by the ledger and the test."""

    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class CountingStore:
    """Delegates to a store and records every read (get/list) by key, to prove what a call reads."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.url = inner.url
        self.reads: list[tuple[str, str]] = []
        self.writes: list[tuple[str, str]] = []

    def get(self, key: str) -> bytes | None:
        self.reads.append(("get", key))
        return self.inner.get(key)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        self.writes.append(("put_if_absent", key))
        return self.inner.put_if_absent(key, data)

    def put(self, key: str, data: bytes) -> None:
        self.writes.append(("put", key))
        self.inner.put(key, data)

    def delete(self, key: str) -> None:
        self.writes.append(("delete", key))
        self.inner.delete(key)

    def list(self, prefix: str) -> list[str]:
        self.reads.append(("list", prefix))
        return self.inner.list(prefix)


class CountingTaggedStore(CountingStore):
    """`CountingStore` over a store that tags its objects (OSS: ETags), passing the tags on."""

    def __init__(self, inner: TaggedStore) -> None:
        super().__init__(inner)
        self.tagged = inner

    def put_if_absent_tagged(self, key: str, data: bytes) -> tuple[bool, str | None]:
        self.writes.append(("put_if_absent", key))
        return self.tagged.put_if_absent_tagged(key, data)

    def list_tagged(self, prefix: str) -> list[tuple[str, str | None]]:
        self.reads.append(("list", prefix))
        return self.tagged.list_tagged(prefix)

    def list_stamped(
        self, prefix: str, start_after: str = "", limit: int | None = None
    ) -> list[tuple[str, str | None, float | None]]:
        """With dates where the inner store lists them (`OssStore`), else none."""
        self.reads.append(("list", prefix))
        stamped = getattr(self.tagged, "list_stamped", None)
        if stamped is not None:
            return list(stamped(prefix, start_after, limit))
        listed = [(name, tag, None) for name, tag in self.tagged.list_tagged(prefix) if name > start_after]
        return listed[:limit] if limit is not None else listed


class SimulatedCrashError(Exception):
    """Raised by `CrashingStore` where the process would have died."""


class CrashingStore(CountingStore):
    """Fails the first write whose key starts with `crash_prefix` (once), like a process dying there."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.crash_prefix: str | None = None
        self.crash_on: tuple[str, ...] = ("put_if_absent", "put", "delete")

    def _maybe_crash(self, verb: str, key: str) -> None:
        if self.crash_prefix is not None and verb in self.crash_on and key.startswith(self.crash_prefix):
            self.crash_prefix = None
            raise SimulatedCrashError(f"crash before {verb} {key}")

    def put_if_absent(self, key: str, data: bytes) -> bool:
        self._maybe_crash("put_if_absent", key)
        return super().put_if_absent(key, data)

    def put(self, key: str, data: bytes) -> None:
        self._maybe_crash("put", key)
        super().put(key, data)

    def delete(self, key: str) -> None:
        self._maybe_crash("delete", key)
        super().delete(key)


def sales_change(name: str) -> dict[str, Any]:
    """A change document adding table `name` to the `sales` database."""
    return {"id": name, "add": {"sales": {"name": "sales", "all": False, "Table": {name: {"name": name}}}}}


def record_change(ledger: Ledger, name: str, job: str) -> ChangeRecord:
    """`sales_change(name)` recorded for `job` under idempotency key `idem-<name>` (a new record)."""
    record, created = ledger.record(idempotency_key=f"idem-{name}", change_id=name, job_key=job,
                                    change=sales_change(name))
    assert created
    return record
