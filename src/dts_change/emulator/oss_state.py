"""OSS buckets and objects: get, put (optionally create-only), delete, list by prefix, and each
bucket's versioning state.

No HTTP here. Objects are bytes plus the metadata OSS returns (ETag = quoted upper-case MD5
hex, CRC-64/XZ as `x-oss-hash-crc64ecma`, Content-Type, Last-Modified, x-oss-meta-*). In the
state JSON a UTF-8 object body is a plain string (the contract); anything else is
`{"base64": ...}`; metadata sits beside it under `objectMeta`.

Versioning (`bucketVersioning.<bucket>`: `Enabled` or `Suspended`; absent = never enabled) is
modelled for what the handler depends on: OSS ignores `x-oss-forbid-overwrite` on a bucket
whose versioning is enabled or suspended, so a create-only write there overwrites; and every
version written is kept (`objectVersions`), so GetObject with `versionId` reads the version an
event names even after the key was overwritten or deleted (issue 12.4). A write while versioning
is suspended replaces the `null` version, as on OSS.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from dts_change.emulator.state_fields import as_mapping, opt_mapping, opt_number, opt_str, state_error
from dts_change.emulator.wire_errors import (
    FileAlreadyExistsError,
    NoSuchBucketError,
    NoSuchKeyError,
    NoSuchVersionError,
)

VERSIONING_STATES = ("Enabled", "Suspended")
# OSS ListObjects: max-keys defaults to 100 and cannot exceed 1000 (OSS API reference).
DEFAULT_MAX_KEYS = 100
MAX_MAX_KEYS = 1000

_CRC64_POLY_REFLECTED = 0xC96C5795D7870F42
_CRC64_MASK = 0xFFFFFFFFFFFFFFFF


def _crc64_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC64_POLY_REFLECTED if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC64_TABLE = _crc64_table()


def crc64_ecma(data: bytes) -> int:
    """CRC-64/XZ (ECMA-182, reflected, init and xorout all ones), what OSS reports."""
    crc = _CRC64_MASK
    table = _CRC64_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ _CRC64_MASK


@dataclass
class StoredObject:
    body: bytes
    last_modified: float
    content_type: str | None = None
    meta: dict[str, str] = field(default_factory=dict)
    version_id: str | None = None
    """`x-oss-version-id` of a write to a versioned bucket (`null` while suspended)."""

    @cached_property
    def etag(self) -> str:
        return '"' + hashlib.md5(self.body, usedforsecurity=False).hexdigest().upper() + '"'

    @property
    def content_md5(self) -> str:
        return base64.b64encode(hashlib.md5(self.body, usedforsecurity=False).digest()).decode()

    @cached_property
    def crc64(self) -> str:
        return str(crc64_ecma(self.body))

    def body_state(self) -> str | dict[str, str]:
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(self.body).decode("ascii")}

    def meta_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "contentType": self.content_type,
            "lastModified": self.last_modified,
            "meta": dict(self.meta),
        }
        if self.version_id is not None:
            out["versionId"] = self.version_id
        return out


@dataclass(frozen=True)
class ListPage:
    """One page of a listing: objects, rolled-up prefixes, and where the next page starts."""

    objects: list[tuple[str, StoredObject]]
    common_prefixes: list[str]
    truncated: bool
    last: str | None


class OssBackend:
    """Every bucket of the emulator; buckets exist only if the state names them."""

    def __init__(
        self,
        buckets: dict[str, dict[str, StoredObject]],
        versioning: dict[str, str] | None = None,
        versions: dict[str, dict[str, dict[str, StoredObject]]] | None = None,
    ) -> None:
        self.buckets = buckets
        self.versioning: dict[str, str] = dict(versioning or {})
        self.versions: dict[str, dict[str, dict[str, StoredObject]]] = versions or {}
        """bucket -> key -> version id -> object: every version written to a versioned bucket
        (the current one included), kept after overwrites and deletes."""

    @classmethod
    def from_state(cls, state: Mapping[str, Any], now: float) -> OssBackend:
        metas = opt_mapping(state, "objectMeta", "state")
        buckets: dict[str, dict[str, StoredObject]] = {}
        for bucket, objects in opt_mapping(state, "buckets", "state").items():
            where = f"buckets.{bucket}"
            bucket_meta = opt_mapping(metas, str(bucket), "objectMeta")
            stored: dict[str, StoredObject] = {}
            for key, raw in as_mapping(objects, where).items():
                spot = f"objectMeta.{bucket}.{key}"
                meta = opt_mapping(bucket_meta, str(key), f"objectMeta.{bucket}")
                stored[str(key)] = StoredObject(
                    body=_body_from_state(raw, f"{where}.{key}"),
                    last_modified=opt_number(meta, "lastModified", now, spot) or now,
                    content_type=opt_str(meta, "contentType", None, spot),
                    meta={str(k): str(v) for k, v in opt_mapping(meta, "meta", spot).items()},
                    version_id=opt_str(meta, "versionId", None, spot),
                )
            buckets[str(bucket)] = stored
        versioning: dict[str, str] = {}
        for bucket, status in opt_mapping(state, "bucketVersioning", "state").items():
            if status not in VERSIONING_STATES:
                raise state_error(f"bucketVersioning.{bucket}", status, '"Enabled" or "Suspended"')
            versioning[str(bucket)] = status
        versions: dict[str, dict[str, dict[str, StoredObject]]] = {}
        for bucket, keys in opt_mapping(state, "objectVersions", "state").items():
            for key, by_id in as_mapping(keys, f"objectVersions.{bucket}").items():
                where = f"objectVersions.{bucket}.{key}"
                versions.setdefault(str(bucket), {})[str(key)] = {
                    str(vid): StoredObject(_body_from_state(raw, f"{where}.{vid}"), now, version_id=str(vid))
                    for vid, raw in as_mapping(by_id, where).items()
                }
        backend = cls(buckets, versioning, versions)
        for bucket, objects in buckets.items():
            for key, obj in objects.items():
                if obj.version_id is not None:
                    backend._keep_version(bucket, key, obj.version_id, obj)
        return backend

    def to_state(self) -> dict[str, Any]:
        return {
            "buckets": {
                bucket: {key: obj.body_state() for key, obj in objects.items()}
                for bucket, objects in self.buckets.items()
            },
            "objectMeta": {
                bucket: {key: obj.meta_state() for key, obj in objects.items()}
                for bucket, objects in self.buckets.items()
            },
            "bucketVersioning": dict(self.versioning),
            "objectVersions": {
                bucket: {key: {vid: obj.body_state() for vid, obj in by_id.items()} for key, by_id in keys.items()}
                for bucket, keys in self.versions.items()
            },
        }

    def _bucket(self, bucket: str) -> dict[str, StoredObject]:
        objects = self.buckets.get(bucket)
        if objects is None:
            raise NoSuchBucketError(extra={"BucketName": bucket})
        return objects

    def get_object(self, bucket: str, key: str, version_id: str | None = None) -> StoredObject:
        """The current object, or with `version_id` that version (`null`: the version written
        while versioning was never enabled or suspended)."""
        current = self._bucket(bucket).get(key)
        if version_id is None:
            if current is None:
                raise NoSuchKeyError(extra={"Key": key})
            return current
        if current is not None and (current.version_id or "null") == version_id:
            return current
        kept = self.versions.get(bucket, {}).get(key, {})
        if version_id in kept:
            return kept[version_id]
        if current is None and not kept:
            raise NoSuchKeyError(extra={"Key": key})
        raise NoSuchVersionError(extra={"Key": key, "VersionId": version_id})

    def _keep_version(self, bucket: str, key: str, version_id: str, obj: StoredObject) -> None:
        self.versions.setdefault(bucket, {}).setdefault(key, {})[version_id] = obj

    def put_object(
        self,
        bucket: str,
        key: str,
        body: bytes,
        now: float,
        *,
        content_type: str | None = None,
        meta: Mapping[str, str] | None = None,
        forbid_overwrite: bool = False,
        create_bucket: bool = False,
    ) -> StoredObject:
        if create_bucket:
            self.buckets.setdefault(bucket, {})
        objects = self._bucket(bucket)
        versioning = self.versioning.get(bucket)
        # OSS: x-oss-forbid-overwrite has no effect once versioning is enabled or suspended.
        if forbid_overwrite and versioning is None and key in objects:
            raise FileAlreadyExistsError(extra={"Key": key})
        version_id = None
        if versioning == "Enabled":
            version_id = "CAEQ" + uuid.uuid4().hex.upper()
        elif versioning == "Suspended":
            version_id = "null"
        obj = StoredObject(body, now, content_type, dict(meta or {}), version_id)
        objects[key] = obj
        if version_id is not None:
            self._keep_version(bucket, key, version_id, obj)
        return obj

    def get_versioning(self, bucket: str) -> str | None:
        """`Enabled`, `Suspended`, or None for a bucket whose versioning was never enabled."""
        self._bucket(bucket)
        return self.versioning.get(bucket)

    def put_versioning(self, bucket: str, status: str) -> None:
        """Set a bucket's versioning state (once enabled, it can only be suspended, as on OSS)."""
        self._bucket(bucket)
        self.versioning[bucket] = status

    def delete_object(self, bucket: str, key: str) -> None:
        """Deleting a missing key succeeds, as on OSS (204). In a versioned bucket the versions
        stay readable by id (OSS adds a delete marker; the emulator only drops the current one)."""
        self._bucket(bucket).pop(key, None)

    def list_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        after: str = "",
        delimiter: str = "",
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> ListPage:
        """Keys in UTF-8 byte order (= code-point order) after `after`, prefixes rolled up."""
        objects = self._bucket(bucket)
        found: list[tuple[str, StoredObject]] = []
        prefixes: list[str] = []
        last: str | None = None
        truncated = False
        for key in sorted(objects):
            if not key.startswith(prefix) or key <= after:
                continue
            rolled = None
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    rolled = key[: cut + len(delimiter)]
            if rolled is not None and (rolled <= after or (prefixes and prefixes[-1] == rolled)):
                continue
            if len(found) + len(prefixes) >= max_keys:
                truncated = True
                break
            if rolled is not None:
                prefixes.append(rolled)
                last = rolled
            else:
                found.append((key, objects[key]))
                last = key
        return ListPage(found, prefixes, truncated, last)


def _body_from_state(raw: object, where: str) -> bytes:
    if isinstance(raw, str):
        return raw.encode("utf-8")
    obj = as_mapping(raw, where)
    encoded = obj.get("base64")
    if not isinstance(encoded, str):
        raise state_error(where, raw, 'a string or {"base64": "..."}')
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise state_error(f"{where}.base64", encoded, "valid base64") from exc
