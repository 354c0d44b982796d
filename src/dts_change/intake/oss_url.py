"""FileOssUrl parsing and the rules that decide which OSS objects the handler may read.

The handler never connects to the host a URL names: a URL only yields a bucket and a key, which
are then read through the signed OSS client at the configured endpoint. So a hostile URL cannot
steer a request anywhere (no SSRF), private buckets work with the function's own credentials and
the emulator serves them locally. Every refusal is a `FileOssUrlRefusedError` whose `details`
carry a machine-readable `reason`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from ..core.errors import FileOssUrlRefusedError, short_repr
from ..core.oss_names import version_id_problem
from ..core.values import immutable

# OSS bucket naming rules: 3-63 characters, lower-case letters, digits and hyphens, starting and
# ending with a letter or digit.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
# <bucket>.oss-<region>[-internal].aliyuncs.com; a region has at least one hyphen (cn-hangzhou,
# ap-southeast-1, cn-shanghai-finance-1), which keeps oss-accelerate.* and similar out.
_VIRTUAL_HOST_RE = re.compile(
    r"^(?P<bucket>[a-z0-9][a-z0-9-]{1,61}[a-z0-9])\.oss-"
    r"(?P<region>[a-z]{2,}(?:-[a-z0-9]+)+?)(?P<internal>-internal)?\.aliyuncs\.com$"
)
# DTS's own temporary upload buckets (ModifyDtsJob's FileOssUrl example and the SDK's
# AuthorizeFileUpload flow). Never read from them: they are not ours. UNCONFIRMED: the full list.
DTS_UPLOAD_BUCKETS: frozenset[str] = frozenset({"db-list-os-file"})
MAX_KEY_BYTES = 1023  # OSS object key limit
_DEFAULT_PORTS = {"http": 80, "https": 443}


@immutable
class OssLocation:
    """One OSS object, as bucket + key (+ the region the URL named, when it named one, and the
    version a URL's `versionId` named)."""

    bucket: str
    key: str
    region: str | None = None
    version_id: str | None = None

    def __str__(self) -> str:
        version = f"?versionId={self.version_id}" if self.version_id else ""
        return f"oss://{self.bucket}/{self.key}{version}"


def _refuse(reason: str, message: str, *, hint: str | None = None) -> FileOssUrlRefusedError:
    return FileOssUrlRefusedError(message, hint=hint, details={"reason": reason})


def redact_url(url: str) -> str:
    """The URL without query and fragment: a presigned URL's signature must never reach a log."""
    cut = len(url)
    for mark in ("?", "#"):
        pos = url.find(mark)
        if pos != -1:
            cut = min(cut, pos)
    return url[:cut] + ("?…" if cut < len(url) else "")


def _check_bucket(bucket: str, where: str) -> None:
    if not _BUCKET_RE.fullmatch(bucket):
        raise _refuse(
            "malformed",
            f"Invalid OSS bucket name in {where}: {short_repr(bucket)} is not a valid bucket name "
            "(3-63 lower-case letters, digits and hyphens)",
        )


def _check_key(key: str, where: str) -> None:
    if not key:
        raise _refuse("malformed", f"Invalid {where}: the URL names no object key")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise _refuse("malformed", f"Invalid {where}: object key is over {MAX_KEY_BYTES} bytes")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        raise _refuse(
            "malformed",
            f"Invalid {where}: object key {short_repr(key)} contains control characters",
        )


@immutable
class _Endpoint:
    """The scheme, host and port a URL must match."""

    scheme: str
    host: str
    port: int


def _parse_endpoint(endpoint: str) -> _Endpoint | None:
    text = endpoint.strip()
    if not text:
        return None
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        return None
    return _Endpoint(parts.scheme, parts.hostname.lower(), port)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return True
    # Integer, hex and octal spellings of IPv4 addresses that some resolvers accept (2130706433,
    # 0x7f000001, 0177.0.0.1): refuse them as IP literals too.
    return bool(re.fullmatch(r"(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}", host, re.I))


def _split_url(url: str, where: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError:
        raise _refuse(
            "malformed", f"Invalid {where}: {short_repr(redact_url(url))} is not a valid URL"
        ) from None
    return parts


def parse_file_oss_url(
    url: str, *, oss_endpoint: str | None = None, where: str = "FileOssUrl"
) -> OssLocation:
    """Bucket, key and region named by a FileOssUrl; refuses anything that is not plainly OSS.

    Accepted: ``oss://<bucket>/<key>`` (key taken as is, like ossutil); ``http(s)://<bucket>.oss-<region>[-internal].aliyuncs.com/<key>``;
    a path-style ``<endpoint>/<bucket>/<key>`` whose scheme, host and port equal `oss_endpoint`.
    HTTP(S) paths are percent-decoded into the key.
    """
    if not isinstance(url, str) or not url.strip():
        raise _refuse("malformed", f"Invalid {where}: expected a non-empty URL string, got {short_repr(url)}")
    if url != url.strip() or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise _refuse(
            "malformed",
            f"Invalid {where}: {short_repr(redact_url(url))} contains control characters or "
            "surrounding whitespace",
        )
    shown = short_repr(redact_url(url))
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "oss":
        return _parse_oss_scheme(url, where)
    if scheme not in _DEFAULT_PORTS:
        raise _refuse(
            "scheme",
            f"Refused {where} {shown}: scheme {scheme or '(none)'!r} is not allowed; expected "
            "oss://, https:// or http://",
        )
    parts = _split_url(url, where)
    if "@" in parts.netloc:
        raise _refuse(
            "userinfo",
            f"Refused {where} {shown}: URLs with user information (user@host) are not allowed",
        )
    host = (parts.hostname or "").lower()
    if not host:
        raise _refuse("malformed", f"Invalid {where}: {shown} names no host")
    configured = _parse_endpoint(oss_endpoint) if oss_endpoint else None
    port = parts.port or _DEFAULT_PORTS[parts.scheme.lower()]
    if configured and (parts.scheme.lower(), host, port) == (
        configured.scheme,
        configured.host,
        configured.port,
    ):
        return _parse_path_style(parts, where, shown)
    if _is_ip_literal(host):
        raise _refuse(
            "ip-literal",
            f"Refused {where} {shown}: IP address hosts are not allowed; expected an OSS "
            "bucket host or the configured OSS_ENDPOINT",
        )
    match = _VIRTUAL_HOST_RE.fullmatch(host)
    if not match or parts.port is not None:
        raise _refuse(
            "not-oss-host",
            f"Refused {where} {shown}: host {host!r} is neither an OSS bucket host "
            "(<bucket>.oss-<region>[-internal].aliyuncs.com) nor the configured OSS_ENDPOINT",
        )
    key = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
    _check_key(key, where)
    return OssLocation(match["bucket"], key, match["region"], _url_version(parts, where))


def _url_version(parts: SplitResult, where: str) -> str | None:
    """The `versionId` query parameter of an http(s) URL: the exact version to read (issue 12.4).
    Other parameters (a presigned URL's signature) are ignored: the read is signed anew."""
    values = [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k == "versionId"]
    if not values:
        return None
    problem = version_id_problem(values[0]) if len(values) == 1 else "it is given more than once"
    if problem:
        raise _refuse("malformed", f"Invalid {where} versionId: {problem}")
    return values[0]


def _parse_oss_scheme(url: str, where: str) -> OssLocation:
    rest = url[len("oss://") :] if url[:6].lower() == "oss://" else ""
    if not rest:
        raise _refuse("malformed", f"Invalid {where}: {short_repr(url)} is not oss://<bucket>/<key>")
    bucket, _, key = rest.partition("/")
    if "@" in bucket:
        raise _refuse(
            "userinfo",
            f"Refused {where} {short_repr(redact_url(url))}: URLs with user information are not allowed",
        )
    _check_bucket(bucket, where)
    _check_key(key, where)
    return OssLocation(bucket, key)


def _parse_path_style(parts: SplitResult, where: str, shown: str) -> OssLocation:
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    bucket, _, raw_key = path.partition("/")
    if not bucket:
        raise _refuse("malformed", f"Invalid {where}: {shown} names no bucket in its path")
    _check_bucket(bucket, where)
    key = unquote(raw_key)
    _check_key(key, where)
    return OssLocation(bucket, key, version_id=_url_version(parts, where))


def check_bucket_allowed(
    location: OssLocation,
    *,
    allowed_buckets: Iterable[str],
    also_allowed: Iterable[str] = (),
    oss_region: str | None = None,
    where: str = "FileOssUrl",
) -> None:
    """Refuse reads outside the allow-list, from DTS's upload buckets, or from another region."""
    if location.bucket in DTS_UPLOAD_BUCKETS:
        raise _refuse(
            "dts-upload-bucket",
            f"Refused {where} {location}: bucket {location.bucket!r} is a DTS temporary upload "
            "bucket, not one of yours",
            hint="Put the document in your own bucket and list it in DTS_CHANGE_ALLOWED_BUCKETS",
        )
    allowed = set(allowed_buckets) | set(also_allowed)
    if location.bucket not in allowed:
        listed = ", ".join(sorted(allowed)) or "none"
        raise _refuse(
            "bucket-not-allowed",
            f"Refused {where} {location}: bucket {location.bucket!r} is not in "
            f"DTS_CHANGE_ALLOWED_BUCKETS (allowed: {listed})",
        )
    if location.region and oss_region and location.region != oss_region:
        raise _refuse(
            "region-mismatch",
            f"Refused {where} {location}: the URL names region {location.region!r} but the "
            f"function reads OSS in {oss_region!r}",
            hint="Copy the document to a bucket in the function's OSS region",
        )
