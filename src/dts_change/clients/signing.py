"""Request signing for the DTS OpenAPI and OSS, as pure functions.

No clock and no randomness in here: the date and the nonce are inputs, so every signature can be
compared with the official SDKs (tests/contract) and with pinned vectors. Each signer returns the
intermediate strings (canonical request, string to sign) as well as the signature, because a
mismatch is only debuggable when the step that differs is visible.

Rules: the project's signing reference (signing-and-sdks §A1 ACS3, §A2 RPC V1, §A3 OSS V1 and V4),
cross-checked against the official SDKs by tests/contract.
Nothing returned here may be logged as is: signatures and tokens are secrets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import field
from datetime import datetime, timezone
from urllib.parse import quote

from ..core.values import immutable

ACS3_ALGORITHM = "ACS3-HMAC-SHA256"
OSS_V4_ALGORITHM = "OSS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

# Query parameters OSS V1 counts as sub-resources (the union of the sets in oss2 2.19.1 and
# alibabacloud-oss-v2 1.4.1, reference §A3); every other query parameter is left out of V1 signing.
OSS_V1_SUBRESOURCES = frozenset(
    {
        "acl", "append", "asyncFetch", "bucketInfo", "callback", "callback-var", "cname",
        "cloudboxes", "comp", "continuation-token", "cors", "delete", "encryption", "endTime",
        "group", "inventory", "inventoryId", "lifecycle", "link", "live", "location", "logging",
        "metaQuery", "objectInfo", "objectMeta", "partNumber", "policy", "position", "qos",
        "qosInfo", "referer", "regionList", "replication", "replicationLocation",
        "replicationProgress", "requestPayment", "resourceGroup", "response-cache-control",
        "response-content-disposition", "response-content-encoding", "response-content-language",
        "response-content-type", "response-expires", "restore", "security-token", "sequential",
        "startTime", "stat", "status", "style", "styleName", "symlink", "tagging",
        "transferAcceleration", "uploadId", "uploads", "versionId", "versioning", "versions",
        "vod", "website", "worm", "wormExtend", "wormId", "x-oss-process", "x-oss-request-payer",
        "x-oss-traffic-limit",
    }
)  # fmt: skip


# ---------------------------------------------------------------- encoding and dates


def percent_encode(value: str, safe: str = "") -> str:
    """RFC 3986 percent-encoding of UTF-8: keep A-Z a-z 0-9 - _ . ~ (and `safe`), else %XX upper hex.

    Space becomes %20 (never +), `*` becomes %2A; this is the encoding every Alibaba signature uses.
    """
    return quote(value, safe=safe, encoding="utf-8", errors="strict")


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("Signing time must be timezone-aware -> got a naive datetime")
    return when.astimezone(timezone.utc)


def acs_timestamp(when: datetime) -> str:
    """`x-acs-date` / RPC `Timestamp`: UTC `yyyy-MM-ddTHH:mm:ssZ`."""
    return _utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def oss_v4_timestamp(when: datetime) -> str:
    """`x-oss-date` for V4: UTC `yyyyMMddTHHmmssZ`."""
    return _utc(when).strftime("%Y%m%dT%H%M%SZ")


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(when: datetime) -> str:
    """RFC 1123 `Date` header in GMT, independent of the process locale (strftime %a is not)."""
    t = _utc(when)
    return (
        f"{_DAYS[t.weekday()]}, {t.day:02d} {_MONTHS[t.month - 1]} {t.year:04d} "
        f"{t.hour:02d}:{t.minute:02d}:{t.second:02d} GMT"
    )


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac_sha256(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def form_encode(fields: Mapping[str, str]) -> str:
    """An x-www-form-urlencoded body with RFC 3986 escapes, keys sorted.

    Any self-consistent form encoding works (the body is covered by its SHA-256); %20 for space
    keeps the bytes identical whichever decoder the server uses.
    """
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(fields.items()))


# ---------------------------------------------------------------- ACS3-HMAC-SHA256 (DTS default)


@immutable
class Acs3Signature:
    """Every step of an ACS3 signature; `authorization` is the header value to send."""

    canonical_request: str
    string_to_sign: str
    signature: str
    signed_headers: str
    authorization: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Acs3Signature(signed_headers={self.signed_headers!r}, signature=<redacted>)"


def acs3_canonical_query(query: Mapping[str, str]) -> str:
    """Parameters sorted by encoded name, `name=value` RFC 3986 encoded, `&`-joined."""
    pairs = sorted((percent_encode(k), percent_encode(v)) for k, v in query.items())
    return "&".join(f"{k}={v}" for k, v in pairs)


def acs3_canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
    """(canonical headers block, SignedHeaders) for exactly the headers given.

    Names are lower-cased and sorted, values trimmed; the same name twice (differing only in case)
    becomes one entry with its sorted values joined by `,`.
    """
    grouped: dict[str, list[str]] = {}
    for name, value in headers.items():
        grouped.setdefault(name.strip().lower(), []).append(value.strip())
    names = sorted(grouped)
    block = "".join(f"{n}:{','.join(sorted(grouped[n]))}\n" for n in names)
    return block, ";".join(names)


def acs3_sign(
    *,
    method: str,
    query: Mapping[str, str],
    signed_headers: Mapping[str, str],
    payload_sha256: str,
    access_key_id: str,
    access_key_secret: str,
    path: str = "/",
) -> Acs3Signature:
    """Sign an OpenAPI V3 request. `signed_headers` are the headers to sign (host, x-acs-*, ...)."""
    canonical_headers, signed_names = acs3_canonical_headers(signed_headers)
    canonical_request = "\n".join(
        (
            method.upper(),
            percent_encode(path, safe="/") or "/",
            acs3_canonical_query(query),
            canonical_headers,
            signed_names,
            payload_sha256,
        )
    )
    string_to_sign = f"{ACS3_ALGORITHM}\n{sha256_hex(canonical_request.encode('utf-8'))}"
    signature = _hmac_sha256(access_key_secret.encode("utf-8"), string_to_sign).hex()
    authorization = (
        f"{ACS3_ALGORITHM} Credential={access_key_id},SignedHeaders={signed_names},Signature={signature}"
    )
    return Acs3Signature(canonical_request, string_to_sign, signature, signed_names, authorization)


def acs3_request_headers(
    *,
    host: str,
    action: str,
    version: str,
    query: Mapping[str, str],
    body: bytes,
    content_type: str | None,
    when: datetime,
    nonce: str,
    access_key_id: str,
    access_key_secret: str,
    security_token: str | None = None,
    method: str = "POST",
) -> tuple[dict[str, str], Acs3Signature]:
    """The complete header set of an RPC call signed with ACS3 (host, x-acs-*, content-type signed).

    `Action` and `Version` travel as headers in V3, never as query parameters.
    """
    signed: dict[str, str] = {
        "host": host,
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": acs_timestamp(when),
        "x-acs-signature-nonce": nonce,
        "x-acs-content-sha256": sha256_hex(body),
    }
    if content_type is not None:
        signed["content-type"] = content_type
    if security_token:
        signed["x-acs-security-token"] = security_token
    sig = acs3_sign(
        method=method,
        query=query,
        signed_headers=signed,
        payload_sha256=signed["x-acs-content-sha256"],
        access_key_id=access_key_id,
        access_key_secret=access_key_secret,
    )
    headers = dict(signed)
    headers["Authorization"] = sig.authorization
    return headers, sig


# ---------------------------------------------------------------- RPC V1 (HMAC-SHA1, option)


@immutable
class RpcV1Signature:
    """Every step of an RPC V1 signature; `signature` goes into the `Signature` parameter."""

    canonical_query: str
    string_to_sign: str
    signature: str = field(repr=False)


def rpc_v1_sign(method: str, params: Mapping[str, str], access_key_secret: str) -> RpcV1Signature:
    """Sign every parameter (query and form body, without `Signature`) with HMAC-SHA1.

    String to sign = METHOD & %2F & encode(canonical query); key = secret + "&".
    """
    canonical_query = acs3_canonical_query({k: v for k, v in params.items() if k != "Signature"})
    string_to_sign = f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical_query)}"
    digest = hmac.new(f"{access_key_secret}&".encode(), string_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return RpcV1Signature(canonical_query, string_to_sign, base64.b64encode(digest).decode("ascii"))


def rpc_v1_common_params(
    *,
    action: str,
    version: str,
    access_key_id: str,
    when: datetime,
    nonce: str,
    security_token: str | None = None,
    response_format: str = "JSON",
) -> dict[str, str]:
    """The common parameters of a V1 call (everything but `Signature`)."""
    params = {
        "Action": action,
        "Version": version,
        "Format": response_format,
        "AccessKeyId": access_key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": nonce,
        "Timestamp": acs_timestamp(when),
    }
    if security_token:
        params["SecurityToken"] = security_token
    return params


# ---------------------------------------------------------------- OSS


@immutable
class OssSignature:
    """Every step of an OSS signature; `headers` is the full header set to send (with Authorization).

    `canonical_request` is empty for V1, which has no canonical request besides the string to sign.
    """

    canonical_request: str
    string_to_sign: str
    signature: str = field(repr=False)
    headers: dict[str, str] = field(repr=False)


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.strip().lower(): v.strip() for k, v in headers.items()}


def oss_resource_path(bucket: str | None, key: str | None) -> str:
    """The decoded `/bucket/key` OSS signs: `/bucket/` for bucket operations, `/` for none."""
    if not bucket:
        return "/"
    return f"/{bucket}/{key or ''}"


def oss_v4_canonical_uri(bucket: str | None, key: str | None) -> str:
    """URI-encoded `/bucket/key`, `/` kept (space %20, `+` %2B)."""
    return percent_encode(oss_resource_path(bucket, key), safe="/")


def oss_v4_canonical_query(query: Mapping[str, str]) -> str:
    """All query parameters, names and values encoded (`/` too), sorted; bare name when empty."""
    pairs = sorted((percent_encode(k), percent_encode(v)) for k, v in query.items())
    return "&".join(f"{k}={v}" if v else k for k, v in pairs)


def oss_v4_scope(when: datetime, region: str, product: str = "oss") -> str:
    return f"{oss_v4_timestamp(when)[:8]}/{region}/{product}/aliyun_v4_request"


def oss_v4_signing_key(access_key_secret: str, when: datetime, region: str, product: str = "oss") -> bytes:
    key = _hmac_sha256(f"aliyun_v4{access_key_secret}".encode(), oss_v4_timestamp(when)[:8])
    key = _hmac_sha256(key, region)
    key = _hmac_sha256(key, product)
    return _hmac_sha256(key, "aliyun_v4_request")


def _is_v4_default_signed(name: str) -> bool:
    return name.startswith("x-oss-") or name in ("content-type", "content-md5")


def oss_v4_sign(
    *,
    method: str,
    bucket: str | None,
    key: str | None,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    access_key_id: str,
    access_key_secret: str,
    region: str,
    when: datetime,
    security_token: str | None = None,
    additional_headers: Iterable[str] = (),
    product: str = "oss",
) -> OssSignature:
    """OSS4-HMAC-SHA256 in the Authorization header.

    Adds `x-oss-date`, `x-oss-content-sha256: UNSIGNED-PAYLOAD`, `Date` and, with STS,
    `x-oss-security-token` to `headers`, then signs x-oss-*, content-type, content-md5 and the
    `additional_headers` that are present.
    """
    out = _lower_headers(headers)
    out["x-oss-date"] = oss_v4_timestamp(when)
    out["x-oss-content-sha256"] = UNSIGNED_PAYLOAD
    out["date"] = http_date(when)
    if security_token:
        out["x-oss-security-token"] = security_token
    extra = sorted(
        {h.strip().lower() for h in additional_headers} - {h for h in out if _is_v4_default_signed(h)}
    )
    extra = [h for h in extra if out.get(h)]
    signed = sorted(h for h in out if _is_v4_default_signed(h) or h in extra)
    canonical_request = "\n".join(
        (
            method.upper(),
            oss_v4_canonical_uri(bucket, key),
            oss_v4_canonical_query(query),
            "".join(f"{h}:{out[h]}\n" for h in signed),
            ";".join(extra),
            out["x-oss-content-sha256"],
        )
    )
    scope = oss_v4_scope(when, region, product)
    string_to_sign = "\n".join(
        (
            OSS_V4_ALGORITHM,
            out["x-oss-date"],
            scope,
            sha256_hex(canonical_request.encode("utf-8")),
        )
    )
    signing_key = oss_v4_signing_key(access_key_secret, when, region, product)
    signature = hmac.new(signing_key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    authorization = f"{OSS_V4_ALGORITHM} Credential={access_key_id}/{scope}"
    if extra:
        authorization += f",AdditionalHeaders={';'.join(extra)}"
    authorization += f",Signature={signature}"
    out["authorization"] = authorization
    return OssSignature(canonical_request, string_to_sign, signature, out)


def oss_v1_canonical_resource(bucket: str | None, key: str | None, query: Mapping[str, str]) -> str:
    """Decoded `/bucket/key` plus the sub-resource parameters, sorted, `k=v` or bare `k`."""
    subs = sorted((k, v) for k, v in query.items() if k in OSS_V1_SUBRESOURCES)
    suffix = "&".join(f"{k}={v}" if v else k for k, v in subs)
    return oss_resource_path(bucket, key) + (f"?{suffix}" if suffix else "")


def oss_v1_sign(
    *,
    method: str,
    bucket: str | None,
    key: str | None,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    access_key_id: str,
    access_key_secret: str,
    when: datetime,
    security_token: str | None = None,
) -> OssSignature:
    """OSS V1 (HMAC-SHA1) in the Authorization header; adds `Date` and `x-oss-security-token`."""
    out = _lower_headers(headers)
    out["date"] = http_date(when)
    if security_token:
        out["x-oss-security-token"] = security_token
    oss_headers = "".join(f"{h}:{out[h]}\n" for h in sorted(out) if h.startswith("x-oss-"))
    string_to_sign = "\n".join(
        (
            method.upper(),
            out.get("content-md5", ""),
            out.get("content-type", ""),
            out.get("x-oss-date") or out["date"],
            oss_headers + oss_v1_canonical_resource(bucket, key, query),
        )
    )
    digest = hmac.new(
        access_key_secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1
    ).digest()
    signature = base64.b64encode(digest).decode("ascii")
    out["authorization"] = f"OSS {access_key_id}:{signature}"
    return OssSignature("", string_to_sign, signature, out)
