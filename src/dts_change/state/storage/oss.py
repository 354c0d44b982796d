"""`OssStore`: the deployed store, one OSS object per key under `oss://bucket/prefix/`.

Create-if-absent is `PutObject` with `x-oss-forbid-overwrite: true`, which OSS answers with 409
`FileAlreadyExists` when the key exists (mapped to `ObjectExistsError` by the client). The client
is typed by a Protocol so unit tests run against an in-memory fake and the functional test against
the real `OssClient` and the emulator.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Protocol

from ...core.errors import ObjectExistsError, SourceObjectNotFoundError
from .base import check_key, check_prefix

DEFAULT_MAX_OBJECT_BYTES = 16 * 1024 * 1024  # a record holds at most a 1 MB DbList and its change
_CONTENT_TYPE = "application/json"
_DELETE_BATCH = 1000


class OssBodyLike(Protocol):
    @property
    def body(self) -> bytes: ...


class OssKeyLike(Protocol):
    @property
    def key(self) -> str: ...


class OssClientLike(Protocol):
    """The part of `dts_change.clients.oss.OssClient` a store needs."""

    def get_object(self, bucket: str, key: str, max_bytes: int) -> OssBodyLike: ...

    def put_object(
        self,
        bucket: str,
        key: str,
        data: bytes | str,
        content_type: str | None = None,
        forbid_overwrite: bool = False,
    ) -> object: ...

    def delete_object(self, bucket: str, key: str) -> object: ...

    def iter_objects(
        self, bucket: str, prefix: str = "", max_keys: int = 1000, start_after: str = ""
    ) -> Iterable[OssKeyLike]: ...

    def get_bucket_versioning(self, bucket: str) -> str | None: ...


class OssStore:
    """A `Store` over an OSS bucket and key prefix."""

    def __init__(
        self,
        client: OssClientLike,
        bucket: str,
        prefix: str = "",
        *,
        max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
    ) -> None:
        prefix = prefix.strip("/")
        if prefix:
            check_prefix(prefix + "/")
            prefix += "/"
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.max_object_bytes = max_object_bytes
        self.url = f"oss://{bucket}/{prefix}"

    def __repr__(self) -> str:
        return f"OssStore({self.url!r})"

    def versioning(self) -> str | None:
        """The bucket's versioning state: create-if-absent holds only when this is None."""
        return self.client.get_bucket_versioning(self.bucket)

    def get(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(self.bucket, self._key(key), self.max_object_bytes).body
        except SourceObjectNotFoundError as exc:
            if exc.remote_code == "NoSuchBucket":
                raise  # a missing bucket is a configuration error, not an absent record
            return None

    def get_with_age(self, key: str) -> tuple[bytes, float | None] | None:
        """The object and its age: the answer's `Date` minus the object's `Last-Modified`, both
        stamped by OSS, so a local clock that is off changes nothing (1 s resolution)."""
        try:
            obj = self.client.get_object(self.bucket, self._key(key), self.max_object_bytes)
        except SourceObjectNotFoundError as exc:
            if exc.remote_code == "NoSuchBucket":
                raise
            return None
        return obj.body, _age(getattr(obj, "date", None), getattr(obj, "last_modified", None))

    def put_if_absent(self, key: str, data: bytes) -> bool:
        return self.put_if_absent_tagged(key, data)[0]

    def put_if_absent_tagged(self, key: str, data: bytes) -> tuple[bool, str | None]:
        """Create-if-absent, and the object's ETag as PutObject answered it (`TaggedStore`)."""
        try:
            result = self.client.put_object(
                self.bucket, self._key(key), data, content_type=_CONTENT_TYPE, forbid_overwrite=True
            )
        except ObjectExistsError:
            return False, None
        return True, _tag(getattr(result, "etag", None))

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(self.bucket, self._key(key), data, content_type=_CONTENT_TYPE)

    def delete(self, key: str) -> None:
        self.client.delete_object(self.bucket, self._key(key))

    def delete_many(self, keys: list[str]) -> None:
        """Delete `keys` with DeleteMultipleObjects, 1,000 a call (pruning: one call, not one per
        object); a client without it deletes one by one."""
        names = [self._key(key) for key in keys]
        delete_objects = getattr(self.client, "delete_objects", None)
        if delete_objects is None:
            for name in names:
                self.client.delete_object(self.bucket, name)
            return
        for start in range(0, len(names), _DELETE_BATCH):
            delete_objects(self.bucket, names[start : start + _DELETE_BATCH])

    def list_tagged(self, prefix: str) -> list[tuple[str, str | None]]:
        """The keys under `prefix` with the ETags ListObjectsV2 gives anyway (`TaggedStore`)."""
        check_prefix(prefix)
        start = len(self.prefix)
        listed = (
            (info.key[start:], _tag(getattr(info, "etag", None)))
            for info in self.client.iter_objects(self.bucket, self.prefix + prefix)
            if info.key.startswith(self.prefix) and len(info.key) > start and not info.key.endswith("/")
        )
        return sorted(listed, key=lambda item: item[0])

    def list_dated(self, prefix: str) -> list[tuple[str, float | None]]:
        """The keys under `prefix`, each with its `LastModified` (seconds since the epoch, on
        OSS's clock) as ListObjectsV2 gives it anyway; None when it did not say."""
        check_prefix(prefix)
        start = len(self.prefix)
        listed = (
            (info.key[start:], _epoch(getattr(info, "last_modified", None)))
            for info in self.client.iter_objects(self.bucket, self.prefix + prefix)
            if info.key.startswith(self.prefix) and len(info.key) > start and not info.key.endswith("/")
        )
        return sorted(listed, key=lambda item: item[0])

    def list_stamped(
        self, prefix: str, start_after: str = "", limit: int | None = None
    ) -> list[tuple[str, str | None, float | None]]:
        """The keys under `prefix` (after `start_after`, a key under it), each with its ETag and
        `LastModified` (on OSS's clock): what one ListObjectsV2 gives anyway. The ledger reads
        the dates to skip batches that cannot apply to the versions it resolves (`ledger.py`).
        With `limit`, the first `limit` keys only (pages are fetched as they are needed)."""
        check_prefix(prefix)
        start = len(self.prefix)
        objects = (
            self.client.iter_objects(self.bucket, self.prefix + prefix, start_after=self.prefix + check_key(start_after))
            if start_after else self.client.iter_objects(self.bucket, self.prefix + prefix)
        )
        listed: list[tuple[str, str | None, float | None]] = []
        for info in objects:
            if info.key.startswith(self.prefix) and len(info.key) > start and not info.key.endswith("/"):
                listed.append((info.key[start:], _tag(getattr(info, "etag", None)),
                               _epoch(getattr(info, "last_modified", None))))
                if limit is not None and len(listed) >= limit:
                    break
        return sorted(listed, key=lambda item: item[0])

    def has_any(self, prefix: str) -> bool:
        """Whether any object is under `prefix`: one ListObjectsV2 of one key, however many there are."""
        check_prefix(prefix)
        start = len(self.prefix)
        for info in self.client.iter_objects(self.bucket, self.prefix + prefix, max_keys=1):
            if info.key.startswith(self.prefix) and len(info.key) > start and not info.key.endswith("/"):
                return True
        return False

    def list(self, prefix: str) -> list[str]:
        return [key for key, _ in self.list_tagged(prefix)]

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)


def _tag(etag: object) -> str | None:
    """An ETag as both answers carry it (quotes and case vary between PutObject and listings)."""
    if not isinstance(etag, str):
        return None
    return etag.strip().strip('"').upper() or None


def _epoch(stamp: object) -> float | None:
    """A listing's `LastModified` (ISO 8601, `2026-12-06T20:57:24.000Z`) as seconds since the epoch."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        parsed = datetime.fromisoformat(stamp.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _age(date: str | None, last_modified: str | None) -> float | None:
    if not date or not last_modified:
        return None
    try:
        return max(0.0, (parsedate_to_datetime(date) - parsedate_to_datetime(last_modified)).total_seconds())
    except (TypeError, ValueError):
        return None
