"""Durable stores for the ledger and dead letters: a local directory or an OSS prefix, one interface."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from ...core.errors import (
    ConfigurationError,
    InvalidParameterError,
    InvalidStoreKeyError,
    VersionedStoreBucketError,
    short_repr,
)
from .base import Store, check_key, check_prefix, escape_segment, unescape_segment
from .local import DirectoryStore
from .oss import OssClientLike, OssStore

__all__ = [
    "DirectoryStore",
    "OssClientLike",
    "OssStore",
    "Store",
    "check_create_if_absent",
    "check_key",
    "check_prefix",
    "escape_segment",
    "open_store",
    "unescape_segment",
]

_URL_HINT = "Use file:///absolute/dir or oss://bucket/prefix (DTS_CHANGE_LEDGER, DTS_CHANGE_DEAD_LETTER)"


def open_store(url: str, *, oss_client: OssClientLike | None = None) -> Store:
    """The store a URL names: `file:///abs/dir` -> `DirectoryStore`, `oss://bucket/prefix` -> `OssStore`
    (which needs `oss_client`, built by the caller from the function's credentials)."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.query or parts.fragment:
        raise ConfigurationError(
            f"Invalid store URL {short_repr(url)} -> expected file:///abs/dir or oss://bucket/prefix",
            hint=_URL_HINT,
        )
    if parts.scheme == "file":
        path = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or not path.startswith("/"):
            raise ConfigurationError(
                f"Invalid store URL {short_repr(url)} -> expected file:///absolute/dir (three slashes, "
                "absolute path, no host)",
                hint=_URL_HINT,
            )
        return DirectoryStore(path)
    if parts.scheme == "oss":
        if not parts.netloc:
            raise ConfigurationError(
                f"Invalid store URL {short_repr(url)} -> expected a bucket name after oss://", hint=_URL_HINT
            )
        if oss_client is None:
            raise ConfigurationError(
                f"Store URL {short_repr(url)} names OSS but no OSS client was given -> expected an OssClient",
                hint="Build the OssClient from the function's credentials and pass oss_client=",
            )
        from ...clients.oss import check_bucket  # noqa: PLC0415 - lazy: a local store needs no HTTP client

        try:
            check_bucket(parts.netloc)
            return OssStore(oss_client, parts.netloc, unquote(parts.path))
        except (InvalidParameterError, InvalidStoreKeyError) as exc:
            raise ConfigurationError(
                f"Invalid bucket or prefix in store URL {short_repr(url)} -> expected a bucket of 3-63 "
                "characters of a-z, 0-9 and '-' and a relative prefix without '..'",
                hint=_URL_HINT,
            ) from exc
    raise ConfigurationError(
        f"Unsupported store URL scheme {short_repr(parts.scheme)} in {short_repr(url)} -> expected file or oss",
        hint=_URL_HINT,
    )


def check_create_if_absent(stores: dict[str, Store]) -> None:
    """Refuse stores on which create-if-absent does not hold: an OSS bucket with versioning
    enabled or suspended ignores `x-oss-forbid-overwrite`. One GetBucketVersioning per bucket;
    `stores` maps the setting's name (for the message) to its store."""
    seen: dict[str, str | None] = {}
    for setting, store in stores.items():
        if not isinstance(store, OssStore):
            continue
        if store.bucket not in seen:
            seen[store.bucket] = store.versioning()
        status = seen[store.bucket]
        if status is not None:
            raise VersionedStoreBucketError(
                f"Versioned store bucket: {setting} {store.url} is in bucket {store.bucket!r} whose "
                f"versioning is {status}; OSS ignores x-oss-forbid-overwrite there, so ledger records, "
                "leases and dead letters could silently overwrite each other"
            )
