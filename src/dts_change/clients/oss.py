"""OSS client: GetObject (size-capped), PutObject (optionally create-if-absent), ListObjectsV2, DeleteObject.

Signed with OSS V4 by default (V1 as an option), STS token in `x-oss-security-token`. Real OSS is
addressed virtual-hosted (`https://<bucket>.oss-<region>.aliyuncs.com/<key>`); an explicit endpoint
that is not an `*.aliyuncs.com` host (the emulator, `http://127.0.0.1:PORT`) is addressed path
style (`/<bucket>/<key>`). The key is signed decoded (V1) or RFC 3986 encoded (V4) and sent
encoded with `/` kept, so spaces, `+`, `%` and CJK survive.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote

import requests

from ..core.errors import (
    ConfigurationError,
    DtsChangeError,
    InvalidParameterError,
    RemoteError,
    short_repr,
)
from ..core.oss_names import version_id_problem
from ..core.values import immutable
from . import signing
from .credentials import Credentials, CredentialsSource, as_credentials_source
from .remote_errors import OSS_ERRORS, remote_error
from .transport import Endpoint, HttpTransport, Timeouts, check_region, parse_endpoint, read_capped

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

OssSignatureVersion = Literal["v4", "v1"]
MAX_ERROR_BODY_BYTES = 64 * 1024
MAX_LIST_BODY_BYTES = 16 * 1024 * 1024
MAX_KEY_BYTES = 1023
MAX_DELETE_KEYS = 1000
_EXPIRED_CODES = frozenset({"SecurityTokenExpired", "InvalidSecurityToken.Expired"})
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_XML_DECLARATION_BLOCKERS = (b"<!DOCTYPE", b"<!ENTITY")


@immutable
class OssObject:
    """GetObject's answer: the body and the headers the callers read."""

    body: bytes
    etag: str | None
    content_type: str | None
    request_id: str | None
    last_modified: str | None = None
    """`Last-Modified` and `Date` (RFC 1123): both read on OSS's clock, so their difference is the
    object's age whatever the local clock says (the ledger's lease relies on it)."""
    date: str | None = None


@immutable
class PutResult:
    """PutObject's answer."""

    etag: str | None
    request_id: str | None
    version_id: str | None = None
    """`x-oss-version-id`: the version this write created (versioned buckets only)."""


@immutable
class ObjectInfo:
    """One object of a ListObjectsV2 page."""

    key: str
    etag: str | None
    size: int | None
    last_modified: str | None


@immutable
class ListPage:
    """One ListObjectsV2 page."""

    objects: list[ObjectInfo]
    next_continuation_token: str | None
    is_truncated: bool
    request_id: str | None


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _unquote_etag(value: str | None) -> str | None:
    return value.strip().strip('"') if value else None


def check_bucket(bucket: str) -> None:
    """Bucket names become part of a host name: 3-63 of a-z 0-9 -, no leading/trailing dash."""
    if not isinstance(bucket, str) or not _BUCKET_RE.match(bucket):
        raise InvalidParameterError(
            f"Invalid OSS bucket name {short_repr(bucket)} -> expected 3-63 characters of a-z, 0-9 "
            "and '-', not starting or ending with '-'"
        )


def check_key(key: str) -> None:
    size = len(key.encode("utf-8")) if isinstance(key, str) else 0
    if not size or size > MAX_KEY_BYTES or key.startswith("/"):
        raise InvalidParameterError(
            f"Invalid OSS object key {short_repr(key)} -> expected 1-{MAX_KEY_BYTES} UTF-8 bytes "
            "not starting with '/'"
        )


def check_version_id(version_id: str) -> None:
    problem = version_id_problem(version_id)
    if problem:
        raise InvalidParameterError(f"Invalid OSS versionId -> {problem}")


class OssClient:
    """An OSS client for one region; keeps only its HTTP session between calls."""

    def __init__(
        self,
        region: str,
        endpoint: str | None = None,
        credentials: CredentialsSource | Credentials | None = None,
        signature: OssSignatureVersion = "v4",
        *,
        path_style: bool | None = None,
        timeouts: Timeouts | None = None,
        proxies: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if signature not in ("v4", "v1"):
            raise ConfigurationError(
                f"Invalid OSS signature version {short_repr(signature)} -> expected 'v4' or 'v1'"
            )
        check_region(region, "OSS")
        self.region = region
        self.signature = signature
        self.endpoint: Endpoint = parse_endpoint(
            endpoint or f"https://oss-{region}.aliyuncs.com", setting="OSS endpoint"
        )
        is_aliyun = self.endpoint.host.endswith(".aliyuncs.com")
        self.path_style = (not is_aliyun) if path_style is None else path_style
        self._credentials: CredentialsSource = as_credentials_source(credentials)
        self._transport = HttpTransport(timeouts=timeouts, proxies=proxies)
        self._clock = clock

    def __repr__(self) -> str:
        style = "path" if self.path_style else "virtual-hosted"
        return f"OssClient(region={self.region!r}, endpoint={self.endpoint.base_url!r}, {style})"

    def close(self) -> None:
        self._transport.close()

    # ------------------------------------------------------------------ operations

    def get_object(self, bucket: str, key: str, max_bytes: int, version_id: str | None = None) -> OssObject:
        """The object's bytes; more than `max_bytes` is `InputTooLargeError` (read stops there).
        With `version_id`, that version (`?versionId=`, a signed sub-resource in V1 and a signed
        query parameter in V4); an unknown one is `SourceVersionNotFoundError` (NoSuchVersion)."""
        check_key(key)
        query = None
        if version_id is not None:
            check_version_id(version_id)
            query = {"versionId": version_id}
        response = self._request("GET", "GetObject", bucket, key, query=query, stream=True)
        body = read_capped(response, max_bytes, what=f"OSS object {_where(bucket, key)}")
        return OssObject(
            body=body,
            etag=_unquote_etag(response.headers.get("ETag")),
            content_type=response.headers.get("Content-Type"),
            request_id=response.headers.get("x-oss-request-id"),
            last_modified=response.headers.get("Last-Modified"),
            date=response.headers.get("Date"),
        )

    def put_object(
        self,
        bucket: str,
        key: str,
        data: bytes | str,
        content_type: str | None = None,
        forbid_overwrite: bool = False,
    ) -> PutResult:
        """Write an object. `forbid_overwrite` makes it create-if-absent (`ObjectExistsError`)."""
        check_key(key)
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        headers = {
            "Content-MD5": base64.b64encode(hashlib.md5(payload, usedforsecurity=False).digest()).decode(
                "ascii"
            ),
        }
        if content_type:
            headers["Content-Type"] = content_type
        if forbid_overwrite:
            headers["x-oss-forbid-overwrite"] = "true"
        response = self._request("PUT", "PutObject", bucket, key, headers=headers, body=payload)
        response.close()
        return PutResult(
            etag=_unquote_etag(response.headers.get("ETag")),
            request_id=response.headers.get("x-oss-request-id"),
            version_id=response.headers.get("x-oss-version-id"),
        )

    def delete_object(self, bucket: str, key: str) -> str | None:
        """Delete an object (OSS answers 204 whether or not it existed); returns the request id."""
        check_key(key)
        response = self._request("DELETE", "DeleteObject", bucket, key)
        response.close()
        return response.headers.get("x-oss-request-id")

    def delete_objects(self, bucket: str, keys: list[str]) -> str | None:
        """Delete up to 1,000 objects in one call (DeleteMultipleObjects, quiet: OSS answers only
        failures, and a missing key is not one); returns the request id."""
        if not 1 <= len(keys) <= MAX_DELETE_KEYS:
            raise InvalidParameterError(
                f"Invalid key count {len(keys)} for DeleteMultipleObjects -> expected 1-{MAX_DELETE_KEYS}"
            )
        from xml.sax.saxutils import escape as xml_escape  # noqa: PLC0415 - only pruning needs it (cold start)

        for key in keys:
            check_key(key)
        items = "".join(f"<Object><Key>{xml_escape(key)}</Key></Object>" for key in keys)
        payload = f'<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>true</Quiet>{items}</Delete>'.encode()
        headers = {
            "Content-MD5": base64.b64encode(hashlib.md5(payload, usedforsecurity=False).digest()).decode("ascii"),
            "Content-Type": "application/xml",
        }
        response = self._request(
            "POST", "DeleteMultipleObjects", bucket, None, query={"delete": ""}, headers=headers, body=payload
        )
        response.close()
        return response.headers.get("x-oss-request-id")

    def list_objects_v2(
        self,
        bucket: str,
        prefix: str = "",
        continuation_token: str | None = None,
        max_keys: int = 1000,
        start_after: str = "",
    ) -> ListPage:
        """One page of keys under `prefix` (ListObjectsV2, `encoding-type=url`); with
        `start_after`, only the keys after it (a listing that skips what its caller knows)."""
        if not 1 <= max_keys <= 1000:
            raise InvalidParameterError(f"Invalid max_keys {max_keys!r} for ListObjectsV2 -> expected 1-1000")
        query = {"list-type": "2", "max-keys": str(max_keys), "encoding-type": "url"}
        if prefix:
            query["prefix"] = prefix
        if continuation_token:
            query["continuation-token"] = continuation_token
        elif start_after:
            query["start-after"] = start_after
        response = self._request("GET", "ListObjectsV2", bucket, None, query=query, stream=True)
        raw = read_capped(response, MAX_LIST_BODY_BYTES, what="ListObjectsV2 response")
        return _parse_list(raw, response.headers.get("x-oss-request-id"), bucket)

    def iter_objects(
        self, bucket: str, prefix: str = "", max_keys: int = 1000, start_after: str = ""
    ) -> Iterator[ObjectInfo]:
        """Every object under `prefix` (after `start_after`), following continuation tokens."""
        token: str | None = None
        while True:
            page = self.list_objects_v2(bucket, prefix, token, max_keys, start_after)
            yield from page.objects
            if not page.is_truncated or not page.next_continuation_token:
                return
            token = page.next_continuation_token

    def get_bucket_versioning(self, bucket: str) -> str | None:
        """`Enabled`, `Suspended`, or None when versioning was never enabled (GetBucketVersioning:
        OSS then answers a `VersioningConfiguration` without `Status`)."""
        response = self._request("GET", "GetBucketVersioning", bucket, None, query={"versioning": ""}, stream=True)
        raw = read_capped(response, MAX_ERROR_BODY_BYTES, what="GetBucketVersioning response")
        root = _parse_xml(raw)
        if root is None or _local(root.tag) != "VersioningConfiguration":
            raise RemoteError(
                f"GetBucketVersioning answered HTTP 200 for oss://{bucket}/ with a body that is not a "
                "VersioningConfiguration -> expected the GetBucketVersioning XML",
                http_status=200,
                request_id=response.headers.get("x-oss-request-id"),
                action="GetBucketVersioning",
            )
        # A never-versioned bucket's answer carries an xmlns (OSS docs' sample): match local names.
        status = next(((child.text or "").strip() for child in root if _local(child.tag) == "Status"), "")
        return status or None

    # ------------------------------------------------------------------ one request

    def _url(self, bucket: str, key: str | None, query: Mapping[str, str]) -> str:
        path = "/" + signing.percent_encode(key or "", safe="/")
        if self.path_style:
            url = f"{self.endpoint.base_url}/{bucket}{path}"
        else:
            url = f"{self.endpoint.scheme}://{bucket}.{self.endpoint.netloc}{self.endpoint.path}{path}"
        if query:
            url += "?" + "&".join(
                f"{signing.percent_encode(k)}={signing.percent_encode(v)}" if v else signing.percent_encode(k)
                for k, v in sorted(query.items())
            )
        return url

    def _host(self, bucket: str) -> str:
        return self.endpoint.netloc if self.path_style else f"{bucket}.{self.endpoint.netloc}"

    def _request(
        self,
        method: str,
        action: str,
        bucket: str,
        key: str | None,
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """Sign and send; any status >= 300 raises its typed error. One re-signed retry after an
        expired STS token, with the credentials the provider returns on refresh."""
        check_bucket(bucket)
        query = dict(query or {})
        for attempt in (1, 2):
            credentials = self._credentials.get() if attempt == 1 else self._credentials.refresh()
            signed = self._sign(
                method,
                bucket=bucket,
                key=key,
                query=query,
                headers=dict(headers or {}),
                credentials=credentials,
            )
            response = self._transport.send(
                method,
                self._url(bucket, key, query),
                headers=signed,
                body=body,
                stream=stream,
                what=f"{action} to {self._host(bucket)}",
            )
            if response.status_code < 300:
                return response
            error = self._error(response, action, bucket, key, credentials)
            if attempt == 2 or error.remote_code not in _EXPIRED_CODES:
                raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def _sign(
        self,
        method: str,
        *,
        bucket: str,
        key: str | None,
        query: Mapping[str, str],
        headers: dict[str, str],
        credentials: Credentials,
    ) -> dict[str, str]:
        if self.signature == "v4":
            signed = signing.oss_v4_sign(
                method=method,
                bucket=bucket,
                key=key,
                query=query,
                headers=headers,
                access_key_id=credentials.access_key_id,
                access_key_secret=credentials.access_key_secret,
                security_token=credentials.security_token,
                region=self.region,
                when=self._clock(),
            )
        else:
            signed = signing.oss_v1_sign(
                method=method,
                bucket=bucket,
                key=key,
                query=query,
                headers=headers,
                access_key_id=credentials.access_key_id,
                access_key_secret=credentials.access_key_secret,
                security_token=credentials.security_token,
                when=self._clock(),
            )
        out = dict(signed.headers)
        out["host"] = self._host(bucket)
        return out

    def _error(
        self,
        response: requests.Response,
        action: str,
        bucket: str,
        key: str | None,
        credentials: Credentials,
    ) -> DtsChangeError:
        status = response.status_code
        header_request_id = response.headers.get("x-oss-request-id")
        if status < 400:
            response.close()
            return RemoteError(
                f"{action} answered HTTP {status} (redirect) for {_where(bucket, key)} -> "
                "redirects are never followed; expected an answer from the endpoint itself",
                http_status=status,
                request_id=header_request_id,
                action=action,
                hint="Check OSS_ENDPOINT and OSS_REGION: the bucket may live in another region",
            )
        try:
            raw = read_capped(response, MAX_ERROR_BODY_BYTES, what=f"{action} error body")
        except DtsChangeError:
            raw = b""
        fields = parse_error_xml(raw)
        message = fields.get("Message", "")
        ec = fields.get("EC") or response.headers.get("x-oss-ec")
        if ec:
            message = f"{message} (EC {ec})"
        return remote_error(
            OSS_ERRORS,
            action=action,
            where=_where(bucket, key),
            http_status=status,
            code=fields.get("Code"),
            server_message=message,
            request_id=fields.get("RequestId") or header_request_id,
            secrets=credentials.secrets(),
        )


def _local(tag: str) -> str:
    """An XML tag without its `{namespace}`."""
    return tag.rsplit("}", 1)[-1]


def _where(bucket: str, key: str | None) -> str:
    return short_repr(f"oss://{bucket}/{key or ''}")


def parse_error_xml(raw: bytes) -> dict[str, str]:
    """Code, Message, RequestId, EC... of an OSS `<Error>` body; {} when it is not one."""
    root = _parse_xml(raw)
    if root is None or root.tag != "Error":
        return {}
    return {child.tag: (child.text or "") for child in root if len(child) == 0}


def _parse_xml(raw: bytes) -> Element | None:
    """Parse a response body; DTDs and entities are refused (no entity expansion from a server)."""
    from xml.etree import ElementTree  # noqa: PLC0415 - only needed on lists and errors

    if not raw or any(marker in raw for marker in _XML_DECLARATION_BLOCKERS):
        return None
    try:
        return ElementTree.fromstring(raw)  # noqa: S314 - DTD/entities refused above
    except ElementTree.ParseError:
        return None


def _parse_list(raw: bytes, request_id: str | None, bucket: str) -> ListPage:
    root = _parse_xml(raw)
    if root is None or root.tag != "ListBucketResult":
        raise RemoteError(
            f"ListObjectsV2 answered HTTP 200 for oss://{bucket}/ with a body that is not a "
            "ListBucketResult -> expected the ListObjectsV2 XML",
            http_status=200,
            request_id=request_id,
            action="ListObjectsV2",
        )
    url_encoded = (root.findtext("EncodingType") or "").lower() == "url"

    def decode(text: str) -> str:
        return unquote(text) if url_encoded else text

    objects = []
    for item in root.findall("Contents"):
        size_text = item.findtext("Size")
        objects.append(
            ObjectInfo(
                key=decode(item.findtext("Key") or ""),
                etag=_unquote_etag(item.findtext("ETag")),
                size=int(size_text) if size_text and size_text.isdigit() else None,
                last_modified=item.findtext("LastModified"),
            )
        )
    return ListPage(
        objects=objects,
        next_continuation_token=root.findtext("NextContinuationToken") or None,
        is_truncated=(root.findtext("IsTruncated") or "").lower() == "true",
        request_id=request_id,
    )
