"""Signature algorithms as pure functions: ACS3-HMAC-SHA256, RPC V1, OSS V1 and OSS V4.

Written from the rules in reference/signing-and-sdks.md A1-A3, independently of the clients'
signers (DESIGN §3: a bug in one must not hide in the other). Every function takes already
*decoded* values; re-encoding happens here, so a verifier never hashes the raw query text.
`auth.py` uses these to check requests against the emulator's credentials.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

ACS3_ALGORITHM = "ACS3-HMAC-SHA256"
OSS4_ALGORITHM = "OSS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# Query parameters that are part of the OSS V1 CanonicalizedResource (reference A3: only a fixed
# list counts). The union of the lists used by oss2 2.19.1 and alibabacloud-oss-v2 1.4.1 plus the
# doc's examples; names outside it are ignored when signing V1.
OSS_V1_SUBRESOURCES = frozenset(
    {
        "acl",
        "append",
        "asyncFetch",
        "bucketInfo",
        "callback",
        "callback-var",
        "cname",
        "comp",
        "continuation-token",
        "cors",
        "delete",
        "encryption",
        "endTime",
        "group",
        "inventory",
        "inventoryId",
        "lifecycle",
        "link",
        "live",
        "location",
        "logging",
        "metaQuery",
        "objectInfo",
        "objectMeta",
        "partNumber",
        "policy",
        "position",
        "qos",
        "qosInfo",
        "referer",
        "regionList",
        "replication",
        "replicationLocation",
        "replicationProgress",
        "requestPayment",
        "resourceGroup",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "response-content-language",
        "response-content-type",
        "response-expires",
        "restore",
        "security-token",
        "sequential",
        "startTime",
        "stat",
        "status",
        "style",
        "styleName",
        "symlink",
        "tagging",
        "transferAcceleration",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "vod",
        "website",
        "worm",
        "wormExtend",
        "wormId",
        "x-oss-ac-forward-allow",
        "x-oss-ac-source-ip",
        "x-oss-ac-subnet-mask",
        "x-oss-ac-vpc-id",
        "x-oss-async-process",
        "x-oss-process",
        "x-oss-request-payer",
        "x-oss-traffic-limit",
        "cloudboxes",
    }
)


class AuthorizationFormatError(ValueError):
    """An Authorization header that does not follow its scheme's syntax."""


def rfc3986(value: str) -> str:
    """Percent-encode UTF-8 keeping only A-Z a-z 0-9 - _ . ~ (space -> %20, * -> %2A)."""
    return quote(value, safe="", encoding="utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac_sha256(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def _hmac_sha1_b64(key: str, message: str) -> str:
    digest = hmac.new(key.encode("utf-8"), message.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _encoded_sorted(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return sorted((rfc3986(name), rfc3986(value)) for name, value in pairs)


# ---------------------------------------------------------------- ACS3-HMAC-SHA256 (A1)


@dataclass(frozen=True)
class Acs3Authorization:
    access_key_id: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_acs3_authorization(header: str) -> Acs3Authorization:
    """`ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=a;b,Signature=hex` (spaces tolerated)."""
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ACS3_ALGORITHM:
        raise AuthorizationFormatError(f"Algorithm {algorithm!r} is not {ACS3_ALGORITHM}")
    fields = _comma_fields(rest)
    try:
        access_key_id = fields["Credential"]
        signed = fields["SignedHeaders"]
        signature = fields["Signature"]
    except KeyError as exc:
        raise AuthorizationFormatError(f"Authorization lacks {exc.args[0]}") from exc
    if not access_key_id or not signed or not signature:
        raise AuthorizationFormatError("Authorization has an empty Credential, SignedHeaders or Signature")
    names = tuple(name.strip().lower() for name in signed.split(";"))
    return Acs3Authorization(access_key_id, names, signature)


def _comma_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in text.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields[name.strip()] = value.strip()
    return fields


def acs3_canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Sorted `name=value` pairs, both RFC 3986 encoded; body parameters never belong here."""
    return "&".join(f"{name}={value}" for name, value in _encoded_sorted(pairs))


def acs3_canonical_headers(headers: Mapping[str, Sequence[str]], signed: Sequence[str]) -> str:
    """`name:value\\n` per signed header; duplicate values sorted and joined by a comma."""
    lines = []
    for name in sorted(signed):
        values = sorted(value.strip() for value in headers.get(name, []))
        lines.append(f"{name}:{','.join(values)}\n")
    return "".join(lines)


def acs3_canonical_request(
    method: str,
    pathname: str,
    query_pairs: Iterable[tuple[str, str]],
    headers: Mapping[str, Sequence[str]],
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    """The six lines of A1; `headers` maps lower-case names to their received values."""
    names = sorted(signed_headers)
    return "\n".join(
        [
            method.upper(),
            pathname or "/",
            acs3_canonical_query(query_pairs),
            acs3_canonical_headers(headers, names),
            ";".join(names),
            payload_hash,
        ]
    )


def acs3_string_to_sign(canonical_request: str) -> str:
    return f"{ACS3_ALGORITHM}\n{sha256_hex(canonical_request.encode('utf-8'))}"


def acs3_signature(secret: str, string_to_sign: str) -> str:
    """Lower-case hex HMAC-SHA256 keyed with the raw secret (no `&`, unlike V1)."""
    return _hmac_sha256(secret.encode("utf-8"), string_to_sign).hex()


# ---------------------------------------------------------------- RPC V1, HMAC-SHA1 (A2)


def rpc_v1_string_to_sign(method: str, params: Iterable[tuple[str, str]]) -> str:
    """METHOD&%2F&encode(sorted encoded pairs); `params` excludes Signature, includes the body."""
    canonical = "&".join(f"{name}={value}" for name, value in _encoded_sorted(params))
    return f"{method.upper()}&%2F&{rfc3986(canonical)}"


def rpc_v1_signature(secret: str, string_to_sign: str) -> str:
    """Base64 HMAC-SHA1 keyed with secret + `&`."""
    return _hmac_sha1_b64(secret + "&", string_to_sign)


# ---------------------------------------------------------------- OSS V1 (A3)


def oss_canonical_resource(bucket: str | None, key: str | None) -> str:
    if not bucket:
        return "/"
    return f"/{bucket}/{key or ''}"


def oss_v1_string_to_sign(
    method: str,
    headers: Mapping[str, Sequence[str]],
    bucket: str | None,
    key: str | None,
    query_pairs: Iterable[tuple[str, str]],
    *,
    date_override: str | None = None,
) -> str:
    """VERB, Content-MD5, Content-Type, Date, x-oss-* headers, resource + sub-resources.

    `headers` maps lower-case names to values; `date_override` carries `Expires` for presigned
    URLs. The key is the decoded key; sub-resource values are decoded values.
    """

    def first(name: str) -> str:
        values = headers.get(name)
        return values[0].strip() if values else ""

    if date_override is not None:
        date = date_override
    else:
        date = first("x-oss-date") or first("date")
    oss_headers = sorted(
        (name, ",".join(value.strip() for value in values))
        for name, values in headers.items()
        if name.startswith("x-oss-")
    )
    canonical_headers = "".join(f"{name}:{value}\n" for name, value in oss_headers)
    sub = sorted((name, value) for name, value in query_pairs if name in OSS_V1_SUBRESOURCES)
    resource = oss_canonical_resource(bucket, key)
    if sub:
        resource += "?" + "&".join(f"{name}={value}" if value else name for name, value in sub)
    return (
        f"{method.upper()}\n{first('content-md5')}\n{first('content-type')}\n{date}\n"
        f"{canonical_headers}{resource}"
    )


def oss_v1_signature(secret: str, string_to_sign: str) -> str:
    """Base64 HMAC-SHA1 keyed with the raw secret."""
    return _hmac_sha1_b64(secret, string_to_sign)


# ---------------------------------------------------------------- OSS V4 (A3)


@dataclass(frozen=True)
class OssV4Authorization:
    access_key_id: str
    date: str
    region: str
    product: str
    additional_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.product}/aliyun_v4_request"


def parse_oss_v4_credential(credential: str) -> tuple[str, str, str, str]:
    """`AK/yyyyMMdd/region/product/aliyun_v4_request` -> (AK, date, region, product)."""
    parts = credential.split("/")
    if len(parts) < 5 or parts[-1] != "aliyun_v4_request":
        raise AuthorizationFormatError("Credential is not AK/date/region/product/aliyun_v4_request")
    access_key_id = "/".join(parts[:-4])
    date, region, product = parts[-4], parts[-3], parts[-2]
    if not access_key_id or len(date) != 8 or not date.isdigit():
        raise AuthorizationFormatError("Credential has an empty AccessKey id or a bad date")
    return access_key_id, date, region, product


def parse_oss_v4_authorization(header: str) -> OssV4Authorization:
    """Both SDK layouts: `,` or `, ` separators, AdditionalHeaders before or after Signature."""
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != OSS4_ALGORITHM:
        raise AuthorizationFormatError(f"Algorithm {algorithm!r} is not {OSS4_ALGORITHM}")
    fields = _comma_fields(rest)
    if "Credential" not in fields or "Signature" not in fields:
        raise AuthorizationFormatError("Authorization lacks Credential or Signature")
    access_key_id, date, region, product = parse_oss_v4_credential(fields["Credential"])
    additional: tuple[str, ...] = ()
    if "AdditionalHeaders" in fields:
        if not fields["AdditionalHeaders"]:
            raise AuthorizationFormatError("AdditionalHeaders is present but empty")
        additional = tuple(name.strip().lower() for name in fields["AdditionalHeaders"].split(";"))
    return OssV4Authorization(access_key_id, date, region, product, additional, fields["Signature"])


def _is_v4_default_header(name: str) -> bool:
    return name.startswith("x-oss-") or name in ("content-type", "content-md5")


def oss_v4_canonical_request(
    method: str,
    bucket: str | None,
    key: str | None,
    query_pairs: Iterable[tuple[str, str]],
    headers: Mapping[str, Sequence[str]],
    additional_headers: Sequence[str],
    payload_hash: str = "UNSIGNED-PAYLOAD",
) -> str:
    """VERB, URI (`/bucket/key` encoded keeping `/`), every query pair, headers, extras, hash."""
    uri = "/"
    if bucket:
        uri += f"{bucket}/"
        if key:
            uri += key
    canonical_uri = quote(uri, safe="/", encoding="utf-8")
    query = "&".join(f"{name}={value}" if value else name for name, value in _encoded_sorted(query_pairs))
    extras = sorted(set(additional_headers))
    signed = sorted(name for name in headers if _is_v4_default_header(name) or name in extras)
    canonical_headers = "".join(
        f"{name}:{','.join(value.strip() for value in headers[name])}\n" for name in signed
    )
    return "\n".join(
        [method.upper(), canonical_uri, query, canonical_headers, ";".join(extras), payload_hash]
    )


def oss_v4_string_to_sign(timestamp: str, scope: str, canonical_request: str) -> str:
    """`OSS4-HMAC-SHA256\\n<x-oss-date>\\n<scope>\\n<hex sha256(canonical request)>`."""
    return f"{OSS4_ALGORITHM}\n{timestamp}\n{scope}\n{sha256_hex(canonical_request.encode('utf-8'))}"


def oss_v4_signature(secret: str, date: str, region: str, product: str, string_to_sign: str) -> str:
    """HMAC chain aliyun_v4+secret -> date -> region -> product -> aliyun_v4_request."""
    key = _hmac_sha256(("aliyun_v4" + secret).encode("utf-8"), date)
    key = _hmac_sha256(key, region)
    key = _hmac_sha256(key, product)
    key = _hmac_sha256(key, "aliyun_v4_request")
    return _hmac_sha256(key, string_to_sign).hex()


def constant_time_equal(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode("utf-8"), right.encode("utf-8"))
