"""Authenticate DTS and OSS requests against the emulator's credentials.

Every check rebuilds the string to sign from the request as received (the signed-header list it
names, its decoded-then-re-encoded query) with the pure algorithms in `signature.py`, then
applies the credential rules: unknown key, STS token missing / wrong / expired, clock skew,
nonce replay. The result always says which scheme and key were used, so the call log can record
the verdict; secrets, tokens and signatures never leave this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from dts_change.emulator import signature as sig
from dts_change.emulator.state_fields import as_mapping, opt_bool, opt_str, req_str, state_error
from dts_change.emulator.wire import WireRequest
from dts_change.emulator.wire_errors import (
    AccessDeniedError,
    EmulatedApiError,
    IncompleteSignatureError,
    InvalidAccessKeyIdError,
    InvalidAccessKeyIdNotFoundError,
    InvalidArgumentError,
    InvalidSecurityTokenError,
    InvalidSecurityTokenExpiredError,
    InvalidSecurityTokenMismatchWithAccessKeyError,
    InvalidTimeStampExpiredError,
    InvalidTimeStampFormatError,
    MissingParameterError,
    MissingSecurityTokenError,
    OssSignatureDoesNotMatchError,
    RequestTimeTooSkewedError,
    SecurityTokenExpiredError,
    SignatureDoesNotMatchError,
    SignatureNonceUsedError,
)

SCHEME_ACS3 = "ACS3-HMAC-SHA256"
SCHEME_RPC_V1 = "RPC-V1-HMAC-SHA1"
SCHEME_OSS_V1 = "OSS-V1"
SCHEME_OSS_V1_QUERY = "OSS-V1-presigned"
SCHEME_OSS_V4 = "OSS4-HMAC-SHA256"
SCHEME_OSS_V4_QUERY = "OSS4-HMAC-SHA256-presigned"

# Headers A1 says must be signed in ACS3 (host, every x-acs-* header, content-type when sent).
ACS3_REQUIRED_HEADERS = (
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
)
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


@dataclass(frozen=True)
class Credential:
    """An AccessKey pair; `security_token` None means long-term keys, a string means STS."""

    access_key_id: str
    secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)
    expired: bool = False
    expired_tokens: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def from_state(cls, access_key_id: str, value: object) -> Credential:
        where = f"credentials.{access_key_id}"
        obj = as_mapping(value, where)
        secret = req_str(obj, "secret", "", where)
        if not secret:
            raise state_error(f"{where}.secret", "", "a non-empty string")
        old = obj.get("expiredTokens", [])
        if not isinstance(old, list) or not all(isinstance(item, str) for item in old):
            raise state_error(f"{where}.expiredTokens", old, "a list of strings")
        return cls(
            access_key_id,
            secret,
            opt_str(obj, "securityToken", None, where),
            opt_bool(obj, "expired", False, where),
            tuple(old),
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "secret": self.secret,
            "securityToken": self.security_token,
            "expired": self.expired,
            "expiredTokens": list(self.expired_tokens),
        }

    def token_is_expired(self, sent: str) -> bool:
        """A rotated-out token (listed in expiredTokens) or any token of an expired credential."""
        return self.expired or any(sig.constant_time_equal(sent, old) for old in self.expired_tokens)


CredentialLookup = Callable[[str], "Credential | None"]


@dataclass(frozen=True)
class AuthResult:
    """The verdict on one request's signature, fit for the call log (no secret material)."""

    scheme: str | None
    access_key_id: str | None
    error: EmulatedApiError | None = None
    security_token_sent: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_log(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "accessKeyId": self.access_key_id,
            "valid": self.ok,
            "code": None if self.error is None else self.error.code,
            "securityTokenSent": self.security_token_sent,
        }


class NonceCache:
    """Nonces seen inside the skew window; a replay inside it is refused (SignatureNonceUsed)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    def use(self, nonce: str, now: float, window: float) -> bool:
        for old in [n for n, at in self._seen.items() if now - at > window]:
            del self._seen[old]
        if nonce in self._seen:
            return False
        self._seen[nonce] = now
        return True

    def clear(self) -> None:
        self._seen.clear()


@dataclass(frozen=True)
class AuthContext:
    lookup: CredentialLookup
    now: float
    max_skew_seconds: float
    nonces: NonceCache | None


class _RefusedError(Exception):
    """Internal: carries the wire error out of the nested checks."""

    def __init__(self, error: EmulatedApiError) -> None:
        super().__init__(error.code)
        self.error = error


# ---------------------------------------------------------------- DTS


def authenticate_dts(
    request: WireRequest,
    query: Sequence[tuple[str, str]],
    form: Sequence[tuple[str, str]],
    ctx: AuthContext,
) -> AuthResult:
    """ACS3 when the Authorization header says so, else RPC V1 when a Signature is present."""
    header = request.header("authorization")
    if header is not None and header.strip().startswith("ACS3-"):
        return _run(SCHEME_ACS3, lambda holder: _acs3(request, query, header, ctx, holder))
    if any(name == "Signature" for name, _ in [*query, *form]):
        return _run(SCHEME_RPC_V1, lambda holder: _rpc_v1(request, [*query, *form], ctx, holder))
    return AuthResult(
        None,
        None,
        IncompleteSignatureError(
            "The request signature does not conform to Aliyun standards: no ACS3 "
            "Authorization header and no Signature parameter."
        ),
    )


def _run(scheme: str, check: Callable[[dict[str, Any]], None]) -> AuthResult:
    holder: dict[str, Any] = {"ak": None, "token": False}
    try:
        check(holder)
    except _RefusedError as refused:
        return AuthResult(scheme, holder["ak"], refused.error, holder["token"])
    return AuthResult(scheme, holder["ak"], None, holder["token"])


def _credential(ak: str, ctx: AuthContext, unknown: EmulatedApiError) -> Credential:
    cred = ctx.lookup(ak)
    if cred is None:
        raise _RefusedError(unknown)
    return cred


def _check_skew(when: float, ctx: AuthContext, error: EmulatedApiError) -> None:
    if abs(ctx.now - when) > ctx.max_skew_seconds:
        raise _RefusedError(error)


def _check_dts_token(cred: Credential, sent: str | None) -> None:
    if sent and cred.token_is_expired(sent):
        raise _RefusedError(InvalidSecurityTokenExpiredError())
    if cred.security_token is None:
        if sent:
            raise _RefusedError(InvalidSecurityTokenMismatchWithAccessKeyError())
        return
    if not sent:
        raise _RefusedError(MissingSecurityTokenError())
    if not sig.constant_time_equal(sent, cred.security_token):
        raise _RefusedError(InvalidSecurityTokenMismatchWithAccessKeyError())


def _check_nonce(nonce: str, ctx: AuthContext) -> None:
    if ctx.nonces is not None and not ctx.nonces.use(nonce, ctx.now, ctx.max_skew_seconds):
        raise _RefusedError(SignatureNonceUsedError())


def _parse_acs_time(value: str) -> float:
    try:
        parsed = datetime.strptime(value.strip(), "%Y-%m-%dT%H:%M:%SZ")
    except ValueError as exc:
        raise _RefusedError(InvalidTimeStampFormatError()) from exc
    return parsed.replace(tzinfo=timezone.utc).timestamp()


def _acs3(
    request: WireRequest,
    query: Sequence[tuple[str, str]],
    header: str,
    ctx: AuthContext,
    holder: dict[str, Any],
) -> None:
    try:
        parsed = sig.parse_acs3_authorization(header)
    except sig.AuthorizationFormatError as exc:
        raise _RefusedError(IncompleteSignatureError(f"Malformed Authorization header: {exc}.")) from exc
    holder["ak"] = parsed.access_key_id
    headers = request.lower_headers()
    holder["token"] = "x-acs-security-token" in headers
    cred = _credential(parsed.access_key_id, ctx, InvalidAccessKeyIdNotFoundError())
    for name in ACS3_REQUIRED_HEADERS:
        if name not in headers:
            raise _RefusedError(IncompleteSignatureError(f"Header {name} is required."))
    must_sign = [name for name in headers if name.startswith("x-acs-") or name in ("host", "content-type")]
    unsigned = sorted(name for name in must_sign if name not in parsed.signed_headers)
    if unsigned:
        raise _RefusedError(
            IncompleteSignatureError(f"Header(s) {', '.join(unsigned)} must be in SignedHeaders.")
        )
    _check_skew(_parse_acs_time(headers["x-acs-date"][0]), ctx, InvalidTimeStampExpiredError())
    declared_hash = headers["x-acs-content-sha256"][0].strip()
    canonical = sig.acs3_canonical_request(
        request.method, "/", query, headers, parsed.signed_headers, declared_hash
    )
    expected = sig.acs3_signature(cred.secret, sig.acs3_string_to_sign(canonical))
    if not sig.constant_time_equal(expected, parsed.signature):
        raise _RefusedError(SignatureDoesNotMatchError())
    if declared_hash.lower() != hashlib.sha256(request.body).hexdigest():
        raise _RefusedError(
            SignatureDoesNotMatchError(
                "Specified signature is not matched with our calculation: x-acs-content-sha256 "
                "does not match the request body."
            )
        )
    token = headers.get("x-acs-security-token")
    _check_dts_token(cred, token[0] if token else None)
    _check_nonce(headers["x-acs-signature-nonce"][0], ctx)


def _rpc_v1(
    request: WireRequest,
    pairs: Sequence[tuple[str, str]],
    ctx: AuthContext,
    holder: dict[str, Any],
) -> None:
    params: dict[str, str] = {}
    for name, value in pairs:
        params.setdefault(name, value)
    holder["ak"] = params.get("AccessKeyId")
    holder["token"] = "SecurityToken" in params
    for name in ("AccessKeyId", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp"):
        if not params.get(name):
            raise _RefusedError(MissingParameterError(name))
    if params["SignatureMethod"] != "HMAC-SHA1" or params["SignatureVersion"] != "1.0":
        raise _RefusedError(
            IncompleteSignatureError("Only SignatureMethod HMAC-SHA1 with SignatureVersion 1.0 is supported.")
        )
    cred = _credential(params["AccessKeyId"], ctx, InvalidAccessKeyIdNotFoundError())
    _check_skew(_parse_acs_time(params["Timestamp"]), ctx, InvalidTimeStampExpiredError())
    signed = [(name, value) for name, value in pairs if name != "Signature"]
    expected = sig.rpc_v1_signature(cred.secret, sig.rpc_v1_string_to_sign(request.method, signed))
    if not sig.constant_time_equal(expected, params["Signature"]):
        raise _RefusedError(SignatureDoesNotMatchError())
    _check_dts_token(cred, params.get("SecurityToken"))
    _check_nonce(params["SignatureNonce"], ctx)


# ---------------------------------------------------------------- OSS


def authenticate_oss(
    request: WireRequest,
    bucket: str | None,
    key: str | None,
    query: Sequence[tuple[str, str]],
    ctx: AuthContext,
) -> AuthResult:
    """Header V1/V4 or presigned V1/V4; anything unsigned is AccessDenied (buckets are private)."""
    header = (request.header("authorization") or "").strip()
    names = {name for name, _ in query}
    if header.startswith(sig.OSS4_ALGORITHM):
        return _run(SCHEME_OSS_V4, lambda h: _oss_v4_header(request, bucket, key, query, header, ctx, h))
    if header.startswith("OSS "):
        return _run(SCHEME_OSS_V1, lambda h: _oss_v1_header(request, bucket, key, query, header, ctx, h))
    if "x-oss-signature" in names:
        return _run(SCHEME_OSS_V4_QUERY, lambda h: _oss_v4_query(request, bucket, key, query, ctx, h))
    if "Signature" in names and "OSSAccessKeyId" in names:
        return _run(SCHEME_OSS_V1_QUERY, lambda h: _oss_v1_query(request, bucket, key, query, ctx, h))
    return AuthResult(None, None, AccessDeniedError("Anonymous access is forbidden for this operation."))


def _check_oss_token(cred: Credential, sent: str | None) -> None:
    if sent and cred.token_is_expired(sent):
        raise _RefusedError(SecurityTokenExpiredError())
    if cred.security_token is None:
        if sent:
            raise _RefusedError(InvalidSecurityTokenError())
        return
    if not sent or not sig.constant_time_equal(sent, cred.security_token):
        raise _RefusedError(InvalidSecurityTokenError())


def _oss_v1_header(
    request: WireRequest,
    bucket: str | None,
    key: str | None,
    query: Sequence[tuple[str, str]],
    header: str,
    ctx: AuthContext,
    holder: dict[str, Any],
) -> None:
    ak, sep, provided = header[len("OSS ") :].strip().rpartition(":")
    if not sep or not ak or not provided:
        raise _RefusedError(InvalidArgumentError("Authorization header is invalid."))
    holder["ak"] = ak
    headers = request.lower_headers()
    holder["token"] = "x-oss-security-token" in headers
    cred = _credential(ak, ctx, InvalidAccessKeyIdError())
    date_text = (headers.get("x-oss-date") or headers.get("date") or [""])[0]
    try:
        when = parsedate_to_datetime(date_text).timestamp()
    except (TypeError, ValueError) as exc:
        raise _RefusedError(AccessDeniedError("OSS authentication requires a valid Date.")) from exc
    _check_skew(when, ctx, RequestTimeTooSkewedError())
    expected = sig.oss_v1_signature(
        cred.secret, sig.oss_v1_string_to_sign(request.method, headers, bucket, key, query)
    )
    if not sig.constant_time_equal(expected, provided):
        raise _RefusedError(OssSignatureDoesNotMatchError())
    token = headers.get("x-oss-security-token")
    _check_oss_token(cred, token[0] if token else None)


def _oss_v1_query(
    request: WireRequest,
    bucket: str | None,
    key: str | None,
    query: Sequence[tuple[str, str]],
    ctx: AuthContext,
    holder: dict[str, Any],
) -> None:
    params = dict(query)
    holder["ak"] = params["OSSAccessKeyId"]
    holder["token"] = "security-token" in params
    cred = _credential(params["OSSAccessKeyId"], ctx, InvalidAccessKeyIdError())
    try:
        expires = int(params.get("Expires", ""))
    except ValueError as exc:
        raise _RefusedError(AccessDeniedError("Expires is not a Unix time.")) from exc
    if ctx.now > expires:
        raise _RefusedError(AccessDeniedError("Request has expired."))
    headers = request.lower_headers()
    headers.pop("date", None)
    string_to_sign = sig.oss_v1_string_to_sign(
        request.method, headers, bucket, key, query, date_override=str(expires)
    )
    if not sig.constant_time_equal(sig.oss_v1_signature(cred.secret, string_to_sign), params["Signature"]):
        raise _RefusedError(OssSignatureDoesNotMatchError())
    _check_oss_token(cred, params.get("security-token"))


def _parse_oss_v4_time(value: str) -> float:
    try:
        parsed = datetime.strptime(value.strip(), "%Y%m%dT%H%M%SZ")
    except ValueError as exc:
        raise _RefusedError(AccessDeniedError("x-oss-date is not yyyyMMddTHHmmssZ.")) from exc
    return parsed.replace(tzinfo=timezone.utc).timestamp()


def _verify_v4(
    request: WireRequest,
    bucket: str | None,
    key: str | None,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, Sequence[str]],
    auth: sig.OssV4Authorization,
    timestamp: str,
    cred: Credential,
) -> None:
    if timestamp[:8] != auth.date:
        raise _RefusedError(AccessDeniedError("The date in x-oss-credential does not match x-oss-date."))
    canonical = sig.oss_v4_canonical_request(
        request.method, bucket, key, query, headers, auth.additional_headers
    )
    # The server signs as product "oss": a client that scoped another product fails here.
    string_to_sign = sig.oss_v4_string_to_sign(timestamp, auth.scope, canonical)
    expected = sig.oss_v4_signature(cred.secret, auth.date, auth.region, "oss", string_to_sign)
    if not sig.constant_time_equal(expected, auth.signature):
        raise _RefusedError(OssSignatureDoesNotMatchError())


def _oss_v4_header(
    request: WireRequest,
    bucket: str | None,
    key: str | None,
    query: Sequence[tuple[str, str]],
    header: str,
    ctx: AuthContext,
    holder: dict[str, Any],
) -> None:
    try:
        auth = sig.parse_oss_v4_authorization(header)
    except sig.AuthorizationFormatError as exc:
        raise _RefusedError(InvalidArgumentError(f"Authorization header is invalid: {exc}.")) from exc
    holder["ak"] = auth.access_key_id
    headers = request.lower_headers()
    holder["token"] = "x-oss-security-token" in headers
    cred = _credential(auth.access_key_id, ctx, InvalidAccessKeyIdError())
    if (headers.get("x-oss-content-sha256") or [""])[0].strip() != UNSIGNED_PAYLOAD:
        raise _RefusedError(InvalidArgumentError("x-oss-content-sha256 must be UNSIGNED-PAYLOAD."))
    timestamp = (headers.get("x-oss-date") or [""])[0].strip()
    _check_skew(_parse_oss_v4_time(timestamp), ctx, RequestTimeTooSkewedError())
    _verify_v4(request, bucket, key, query, headers, auth, timestamp, cred)
    token = headers.get("x-oss-security-token")
    _check_oss_token(cred, token[0] if token else None)


def _oss_v4_query(
    request: WireRequest,
    bucket: str | None,
    key: str | None,
    query: Sequence[tuple[str, str]],
    ctx: AuthContext,
    holder: dict[str, Any],
) -> None:
    params = dict(query)
    if params.get("x-oss-signature-version") != sig.OSS4_ALGORITHM:
        raise _RefusedError(InvalidArgumentError("x-oss-signature-version must be OSS4-HMAC-SHA256."))
    try:
        ak, date, region, product = sig.parse_oss_v4_credential(params.get("x-oss-credential", ""))
    except sig.AuthorizationFormatError as exc:
        raise _RefusedError(InvalidArgumentError(f"x-oss-credential is invalid: {exc}.")) from exc
    holder["ak"] = ak
    holder["token"] = "x-oss-security-token" in params
    cred = _credential(ak, ctx, InvalidAccessKeyIdError())
    timestamp = params.get("x-oss-date", "")
    signed_at = _parse_oss_v4_time(timestamp)
    try:
        expires = int(params.get("x-oss-expires", ""))
    except ValueError as exc:
        raise _RefusedError(AccessDeniedError("x-oss-expires is not a number of seconds.")) from exc
    if ctx.now > signed_at + expires:
        raise _RefusedError(AccessDeniedError("Request has expired."))
    if ctx.now < signed_at:
        _check_skew(signed_at, ctx, RequestTimeTooSkewedError())
    extra = params.get("x-oss-additional-headers", "")
    auth = sig.OssV4Authorization(
        ak,
        date,
        region,
        product,
        tuple(name for name in extra.split(";") if name),
        params["x-oss-signature"],
    )
    unsigned_query = [(name, value) for name, value in query if name != "x-oss-signature"]
    _verify_v4(request, bucket, key, unsigned_query, request.lower_headers(), auth, timestamp, cred)
    _check_oss_token(cred, params.get("x-oss-security-token"))
