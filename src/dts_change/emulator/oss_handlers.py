"""One method per OSS operation on path-style URLs `/<bucket>/<key>`: parse, call, answer XML.

Only what the handler needs is emulated (GetObject and HeadObject, also of one `versionId`,
PutObject with x-oss-forbid-overwrite, DeleteObject, DeleteMultipleObjects, ListObjects V1 and V2, Get/PutBucketVersioning); anything
else is answered `NotImplemented` (501), never a fake success.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Callable, Sequence
from email.utils import formatdate
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

from dts_change.emulator.admin import CallRecord
from dts_change.emulator.oss_state import (
    DEFAULT_MAX_KEYS,
    MAX_MAX_KEYS,
    VERSIONING_STATES,
    ListPage,
    OssBackend,
    StoredObject,
)
from dts_change.emulator.signature import OSS_V1_SUBRESOURCES
from dts_change.emulator.wire import WireRequest, WireResponse, xml_document
from dts_change.emulator.wire_errors import (
    InvalidArgumentError,
    InvalidDigestError,
    MalformedXmlError,
    OssNotImplementedError,
)

# Sub-resources that only shape the answer or carry auth; any other one names an operation
# the emulator does not implement.
_HARMLESS_SUBRESOURCES = frozenset(
    {
        "security-token",
        "continuation-token",
        "response-content-type",
        "response-content-language",
        "response-expires",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
    }
)
_OWNER = {"ID": "emulator", "DisplayName": "emulator"}


def split_path(path: str) -> tuple[str | None, str | None]:
    """`/bucket/key/with/slashes` -> (bucket, key); `/bucket` or `/bucket/` -> (bucket, None)."""
    stripped = path[1:] if path.startswith("/") else path
    if not stripped:
        return None, None
    bucket, _, key = stripped.partition("/")
    return bucket, (key or None)


def oss_action(method: str, bucket: str | None, key: str | None, names: Sequence[str]) -> str:
    """The OSS operation name a request asks for (used for routing, faults and the log)."""
    extra = sorted(n for n in names if n in OSS_V1_SUBRESOURCES and n not in _HARMLESS_SUBRESOURCES)
    suffix = f"?{extra[0]}" if extra else ""
    if bucket is None:
        return f"Service:{method}{suffix}"
    if key is None:
        if method == "GET" and not extra:
            return "ListObjectsV2" if "list-type" in names else "ListObjects"
        if extra == ["versioning"] and method in ("GET", "PUT"):
            return "GetBucketVersioning" if method == "GET" else "PutBucketVersioning"
        return f"Bucket:{method}{suffix}"
    if extra == ["versionId"] and method in ("GET", "HEAD"):
        return "GetObject" if method == "GET" else "HeadObject"
    if extra:
        return f"Object:{method}{suffix}"
    return {
        "GET": "GetObject",
        "HEAD": "HeadObject",
        "PUT": "PutObject",
        "DELETE": "DeleteObject",
    }.get(method, f"Object:{method}")


def _iso_ms(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(at))


def _version_asked(query: dict[str, str]) -> str | None:
    """The `versionId` a GetObject / HeadObject names; present but empty is `InvalidArgument`."""
    if "versionId" not in query:
        return None
    value = query["versionId"]
    if not value:
        raise InvalidArgumentError("Invalid version id specified.", extra={"ArgumentName": "versionId"})
    return value


def _object_headers(obj: StoredObject) -> list[tuple[str, str]]:
    headers = [
        ("Content-Type", obj.content_type or "application/octet-stream"),
        ("ETag", obj.etag),
        ("Last-Modified", formatdate(obj.last_modified, usegmt=True)),
        ("Content-MD5", obj.content_md5),
        ("x-oss-hash-crc64ecma", obj.crc64),
        ("x-oss-object-type", "Normal"),
        ("x-oss-storage-class", "Standard"),
        ("Accept-Ranges", "bytes"),
    ]
    if obj.version_id is not None:
        headers.append(("x-oss-version-id", obj.version_id))
    headers.extend((name, value) for name, value in sorted(obj.meta.items()))
    return headers


class OssHandlers:
    """Operation name -> method returning the success response (errors are raised)."""

    def __init__(self, oss: OssBackend) -> None:
        self.oss = oss
        self._ops: dict[str, Callable[..., WireResponse]] = {
            "GetObject": self.get_object,
            "HeadObject": self.head_object,
            "PutObject": self.put_object,
            "DeleteObject": self.delete_object,
            "Bucket:POST?delete": self.delete_multiple_objects,
            "ListObjectsV2": self.list_objects_v2,
            "ListObjects": self.list_objects,
            "GetBucketVersioning": self.get_bucket_versioning,
            "PutBucketVersioning": self.put_bucket_versioning,
        }

    def dispatch(
        self,
        action: str,
        request: WireRequest,
        bucket: str | None,
        key: str | None,
        query: dict[str, str],
        call: CallRecord,
        now: float,
    ) -> WireResponse:
        handler = self._ops.get(action)
        if handler is None:
            raise OssNotImplementedError(
                f"The emulator does not implement {action} ({request.method} {request.raw_path[:80]})."
            )
        return handler(request, bucket, key, query, call, now)

    def get_object(
        self, request: WireRequest, bucket: str, key: str, query: dict[str, str], call: CallRecord, now: float
    ) -> WireResponse:
        version_id = _version_asked(query)
        if version_id is not None:
            call.set(versionId=version_id)
        obj = self.oss.get_object(bucket, key, version_id)
        headers = _object_headers(obj)
        override = query.get("response-content-type")
        if override:
            headers[0] = ("Content-Type", override)
        return WireResponse(200, headers, obj.body)

    def head_object(
        self, request: WireRequest, bucket: str, key: str, query: dict[str, str], call: CallRecord, now: float
    ) -> WireResponse:
        obj = self.oss.get_object(bucket, key, _version_asked(query))
        # HEAD: the server sends these headers and Content-Length of the object, but no body.
        return WireResponse(200, [*_object_headers(obj), ("Content-Length", str(len(obj.body)))])

    def put_object(
        self, request: WireRequest, bucket: str, key: str, query: dict[str, str], call: CallRecord, now: float
    ) -> WireResponse:
        body = request.body
        md5_header = request.header("content-md5")
        if md5_header is not None:
            try:
                sent = base64.b64decode(md5_header.strip(), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise InvalidDigestError() from exc
            if sent != hashlib.md5(body, usedforsecurity=False).digest():
                raise InvalidDigestError()
        forbid = (request.header("x-oss-forbid-overwrite") or "").strip().lower() == "true"
        meta = {
            name.lower(): value for name, value in request.headers if name.lower().startswith("x-oss-meta-")
        }
        call.set(forbidOverwrite=forbid, size=len(body), versioning=self.oss.versioning.get(bucket))
        obj = self.oss.put_object(
            bucket,
            key,
            body,
            now,
            content_type=request.header("content-type"),
            meta=meta,
            forbid_overwrite=forbid,
        )
        headers = [("ETag", obj.etag), ("Content-MD5", obj.content_md5), ("x-oss-hash-crc64ecma", obj.crc64)]
        if obj.version_id is not None:
            headers.append(("x-oss-version-id", obj.version_id))
        return WireResponse(200, headers)

    def get_bucket_versioning(
        self, request: WireRequest, bucket: str, key: None, query: dict[str, str], call: CallRecord, now: float
    ) -> WireResponse:
        status = self.oss.get_versioning(bucket)
        call.set(status=status)
        if status:
            return _xml(xml_document("VersioningConfiguration", {"Status": status}))
        # Never enabled: no Status element, and (as in the OSS docs' sample) a namespace.
        return _xml(
            b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<VersioningConfiguration xmlns="http://doc.oss-cn-hangzhou.aliyuncs.com"/>'
        )

    def put_bucket_versioning(
        self, request: WireRequest, bucket: str, key: None, query: dict[str, str], call: CallRecord, now: float
    ) -> WireResponse:
        status = _versioning_status(request.body)
        call.set(status=status)
        self.oss.put_versioning(bucket, status)
        return WireResponse(200)

    def delete_object(
        self, request: WireRequest, bucket: str, key: str, query: dict[str, str], call: CallRecord, now: float
    ) -> WireResponse:
        self.oss.delete_object(bucket, key)
        return WireResponse(204)

    def delete_multiple_objects(
        self, request: WireRequest, bucket: str, key: str | None, query: dict[str, str], call: CallRecord, now: float
    ) -> WireResponse:
        """POST /<bucket>?delete with `<Delete><Quiet/><Object><Key/></Object>...</Delete>`: at most
        1,000 keys, Content-MD5 required; missing keys count as deleted, as on OSS."""
        body = request.body
        md5_header = request.header("content-md5")
        try:
            sent = base64.b64decode((md5_header or "").strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidDigestError() from exc
        if sent != hashlib.md5(body, usedforsecurity=False).digest():
            raise InvalidDigestError()
        if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
            raise MalformedXmlError()
        try:
            root = ElementTree.fromstring(body)  # noqa: S314 - DTD/entities refused above
        except ElementTree.ParseError as exc:
            raise MalformedXmlError() from exc
        keys = [item.findtext("Key") or "" for item in root.findall("Object")]
        if root.tag != "Delete" or not keys or len(keys) > 1000 or "" in keys:
            raise MalformedXmlError()
        quiet = (root.findtext("Quiet") or "false").strip().lower() == "true"
        url_encoded = query.get("encoding-type") == "url"
        for name in keys:
            self.oss.delete_object(bucket, name)
        call.set(deleted=len(keys))
        deleted = [] if quiet else [{"Key": quote(k, safe="/") if url_encoded else k} for k in keys]
        children: dict[str, Any] = {"Deleted": deleted}
        if url_encoded:
            children["EncodingType"] = "url"
        return _xml(xml_document("DeleteResult", children))

    def list_objects_v2(
        self,
        request: WireRequest,
        bucket: str,
        key: str | None,
        query: dict[str, str],
        call: CallRecord,
        now: float,
    ) -> WireResponse:
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter", "")
        start_after = query.get("start-after", "")
        token = query.get("continuation-token")
        max_keys = _max_keys(query)
        after = _decode_token(token) if token else start_after
        page = self.oss.list_objects(
            bucket, prefix=prefix, after=after, delimiter=delimiter, max_keys=max_keys
        )
        encode = _encoder(query)
        children: dict[str, Any] = {
            "Name": bucket,
            "Prefix": encode(prefix),
            "MaxKeys": max_keys,
            "Delimiter": encode(delimiter),
        }
        if start_after:
            children["StartAfter"] = encode(start_after)
        if token:
            children["ContinuationToken"] = token
        if "encoding-type" in query:
            children["EncodingType"] = query["encoding-type"]
        children["IsTruncated"] = page.truncated
        children["KeyCount"] = len(page.objects) + len(page.common_prefixes)
        if page.truncated and page.last is not None:
            children["NextContinuationToken"] = _encode_token(page.last)
        owner = query.get("fetch-owner", "").lower() == "true"
        children.update(_listing(page, encode, owner=owner))
        call.set(prefix=prefix, keyCount=children["KeyCount"])
        return _xml(xml_document("ListBucketResult", children))

    def list_objects(
        self,
        request: WireRequest,
        bucket: str,
        key: str | None,
        query: dict[str, str],
        call: CallRecord,
        now: float,
    ) -> WireResponse:
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter", "")
        marker = query.get("marker", "")
        max_keys = _max_keys(query)
        page = self.oss.list_objects(
            bucket, prefix=prefix, after=marker, delimiter=delimiter, max_keys=max_keys
        )
        encode = _encoder(query)
        children: dict[str, Any] = {
            "Name": bucket,
            "Prefix": encode(prefix),
            "Marker": encode(marker),
            "MaxKeys": max_keys,
            "Delimiter": encode(delimiter),
        }
        if "encoding-type" in query:
            children["EncodingType"] = query["encoding-type"]
        children["IsTruncated"] = page.truncated
        if page.truncated and page.last is not None:
            children["NextMarker"] = encode(page.last)
        children.update(_listing(page, encode, owner=True))
        call.set(prefix=prefix, keyCount=len(page.objects) + len(page.common_prefixes))
        return _xml(xml_document("ListBucketResult", children))


def _versioning_status(body: bytes) -> str:
    """`Status` of a `<VersioningConfiguration>` body; anything else is `MalformedXML`."""
    from xml.etree import ElementTree  # noqa: PLC0415 - only this operation parses a body

    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise MalformedXmlError()
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 - DTDs and entities refused above
    except ElementTree.ParseError as exc:
        raise MalformedXmlError() from exc
    status = (root.findtext("Status") or "").strip()
    if root.tag != "VersioningConfiguration" or status not in VERSIONING_STATES:
        raise MalformedXmlError()
    return status


def _xml(body: bytes) -> WireResponse:
    return WireResponse(200, [("Content-Type", "application/xml")], body)


def _max_keys(query: dict[str, str]) -> int:
    raw = query.get("max-keys")
    if raw is None or raw == "":
        return DEFAULT_MAX_KEYS
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidArgumentError(f"max-keys {raw[:20]!r} is not an integer.") from exc
    if not 1 <= value <= MAX_MAX_KEYS:
        raise InvalidArgumentError(f"max-keys must be between 1 and {MAX_MAX_KEYS}.")
    return value


def _encoder(query: dict[str, str]) -> Callable[[str], str]:
    if query.get("encoding-type", "").lower() == "url":
        return lambda text: quote(text, safe="/")
    return lambda text: text


def _encode_token(last: str) -> str:
    """Opaque, URL-safe continuation token (base64url of the last key or prefix, no padding)."""
    return base64.urlsafe_b64encode(last.encode("utf-8")).decode("ascii").rstrip("=")


def _decode_token(token: str) -> str:
    try:
        padded = token + "=" * (-len(token) % 4)
        return base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError) as exc:
        raise InvalidArgumentError("The continuation token provided is incorrect.") from exc


def _listing(page: ListPage, encode: Callable[[str], str], *, owner: bool) -> dict[str, Any]:
    contents = []
    for key, obj in page.objects:
        entry: dict[str, Any] = {
            "Key": encode(key),
            "LastModified": _iso_ms(obj.last_modified),
            "ETag": obj.etag,
            "Type": "Normal",
            "Size": len(obj.body),
            "StorageClass": "Standard",
        }
        if owner:
            entry["Owner"] = dict(_OWNER)
        contents.append(entry)
    return {
        "Contents": contents,
        "CommonPrefixes": [{"Prefix": encode(prefix)} for prefix in page.common_prefixes],
    }
