"""Reading a body from OSS: the exact object (and version) an event or a `FileOssUrl` names,
through an injected `ObjectReader`, never by connecting to a host a URL names; capped, with
the eTag checked and URL-encoded keys tried as a fallback.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import unquote, unquote_plus

from ..core.errors import (
    ConfigurationError,
    DtsChangeError,
    InputTooLargeError,
    InternalError,
    SourceObjectNotFoundError,
    SourceVersionNotFoundError,
)
from ..core.values import immutable
from .oss_url import OssLocation, check_bucket_allowed, parse_file_oss_url
from .settings import IntakeSettings
from .split import Envelope


class ObjectReader(Protocol):
    """What intake needs of OSS: one bounded read. Returns bytes, or an object with `.body`
    (and optionally `.etag`), as `clients.oss.OssClient.get_object` does. `version_id` is passed
    only when an event or URL names a version (a reader for unversioned tests need not take it)."""

    def get_object(self, bucket: str, key: str, max_bytes: int, version_id: str | None = None) -> Any: ...


def is_not_found(exc: DtsChangeError) -> bool:
    return isinstance(exc, SourceObjectNotFoundError) or exc.http_status == 404


def key_candidates(key: str) -> list[str]:
    """The key as given, then URL-decoded forms (UNCONFIRMED whether OSS events encode keys)."""
    out = [key]
    if "%" in key or "+" in key:
        for decoded in (unquote_plus(key), unquote(key)):
            if decoded not in out:
                out.append(decoded)
    return out


@immutable
class _Read:
    """A body read from OSS, the key it was read under, its eTag."""

    body: bytes
    key: str
    etag: str | None


def read_object(
    reader: ObjectReader | None,
    bucket: str,
    key: str,
    *,
    max_bytes: int,
    expected_etag: str | None = None,
    version_id: str | None = None,
) -> _Read:
    """Read an object, trying URL-decoded forms of the key when the key as given does not exist.

    When the event names an eTag and two spellings of the key both exist, the object whose eTag
    matches wins; otherwise the first spelling found (raw first) is used. With `version_id` that
    exact version is read (GetObject `?versionId=`), so an overwrite since the event does not
    matter; a version the object does not have is `SourceVersionNotFoundError`.
    """
    if reader is None:
        raise ConfigurationError(
            f"Cannot read oss://{bucket}/{key}: no OSS client is configured",
            hint="Set OSS_ENDPOINT and the function's credentials",
        )
    tried: list[str] = []
    found: _Read | None = None
    no_version: DtsChangeError | None = None
    for candidate in key_candidates(key):
        tried.append(candidate)
        try:
            if version_id is None:
                result = reader.get_object(bucket, candidate, max_bytes)
            else:
                result = reader.get_object(bucket, candidate, max_bytes, version_id=version_id)
        except DtsChangeError as exc:
            if is_not_found(exc):
                if version_id is not None and exc.remote_code == "NoSuchVersion":
                    no_version = no_version or exc
                continue
            raise
        read = _as_read(result, bucket, candidate, max_bytes)
        if expected_etag is None or same_etag(read.etag, expected_etag):
            return read
        found = found or read
    if found is not None:
        return found
    also = f" (also tried {', '.join(repr(k) for k in tried[1:])})" if len(tried) > 1 else ""
    if no_version is not None:
        raise SourceVersionNotFoundError(
            f"Source object version not found: oss://{bucket}/{key} has no version {version_id!r} "
            f"(OSS NoSuchVersion){also}",
            details={"bucket": bucket, "key": key, "versionId": version_id},
            http_status=404,
            remote_code="NoSuchVersion",
            request_id=no_version.request_id,
        )
    raise SourceObjectNotFoundError(
        f"Source object not found: oss://{bucket}/{key} does not exist{also}",
        hint="The object may have been deleted or overwritten since the event; upload it again",
    )


def same_etag(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.strip('"').upper() == b.strip('"').upper()


def _as_read(result: Any, bucket: str, key: str, max_bytes: int) -> _Read:
    body = result if isinstance(result, bytes | bytearray) else getattr(result, "body", None)
    if not isinstance(body, bytes | bytearray):
        raise InternalError(
            f"OSS reader returned {type(result).__name__} without bytes for oss://{bucket}/{key}"
        )
    if len(body) > max_bytes:
        raise InputTooLargeError(
            f"Input too large: oss://{bucket}/{key} is {len(body)} bytes, over the cap of "
            f"{max_bytes} bytes (DTS_CHANGE_MAX_DOCUMENT_BYTES)",
            hint="Split the change into smaller documents or raise DTS_CHANGE_MAX_DOCUMENT_BYTES",
        )
    etag = getattr(result, "etag", None)
    return _Read(bytes(body), key, etag.strip('"') if isinstance(etag, str) else None)


def load_file_oss_url(
    url: str, envelope: Envelope, settings: IntakeSettings, reader: ObjectReader | None
) -> tuple[OssLocation, _Read]:
    location = parse_file_oss_url(url, oss_endpoint=settings.oss_endpoint)
    own = (
        (envelope.source.bucket,)
        if envelope.source.bucket and envelope.kind in ("oss", "eventbridge-oss")
        else ()
    )
    check_bucket_allowed(
        location,
        allowed_buckets=settings.allowed_buckets,
        also_allowed=own,
        oss_region=settings.oss_region,
    )
    read = read_object(
        reader,
        location.bucket,
        location.key,
        max_bytes=settings.caps.max_document_bytes,
        version_id=location.version_id,
    )
    return location, read
