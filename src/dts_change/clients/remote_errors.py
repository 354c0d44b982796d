"""One table per service from a remote error code to a leaf of `errors.py` (DESIGN §5, ref §3.5).

DTS documents most codes twice, bare and with a `DTS.Msg.` prefix; the prefix is stripped before
the lookup, so each row covers both spellings. A code that is in no table falls back on the HTTP
status: 5xx -> `RemoteInternalError` (transient), anything else -> `RemoteError` (permanent).
Messages quoted from the server are scrubbed of the caller's secrets and cut short, since some
services echo the string they signed (with the token inside) in `SignatureDoesNotMatch`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from ..core.errors import (
    CredentialsExpiredError,
    DtsChangeError,
    InvalidParameterError,
    JobModifyingError,
    JobNotConfiguredError,
    JobNotFoundError,
    JobNotRunningError,
    ObjectExistsError,
    PermissionDeniedError,
    RemoteError,
    RemoteInternalError,
    ServiceUnavailableError,
    SignatureMismatchError,
    SourceObjectNotFoundError,
    SourceVersionNotFoundError,
    ThrottledError,
    short_repr,
)
from ..core.values import immutable

DTS_MSG_PREFIX = "DTS.Msg."


@immutable
class ErrorRule:
    """Which leaf a code becomes, and an optional hint more precise than the class default."""

    error: type[DtsChangeError]
    hint: str | None = None


_PARAMETER_HINT = "The service rejected a parameter: fix the input or configuration it names, then replay"
_SIGNING_HINT = "Check the AccessKey id/secret, the STS token and that the clock is in sync"

# Codes from the ModifyDtsJob page (seed), DescribeDtsJobDetail, the reference table §3.5 and the
# generic POP gateway codes it lists. Keys are bare (without `DTS.Msg.`).
DTS_ERRORS: dict[str, ErrorRule] = {
    "OperationDenied.JobStatusModifying": ErrorRule(JobModifyingError),
    "CheckStatus.InvalidInitStatus": ErrorRule(JobNotConfiguredError),
    "InvalidSecurityToken.Expired": ErrorRule(CredentialsExpiredError),
    "Throttling.User": ErrorRule(ThrottledError),
    "Throttling": ErrorRule(ThrottledError),
    "Throttling.Api": ErrorRule(ThrottledError),
    "ServiceUnavailable": ErrorRule(ServiceUnavailableError),
    "InternalError": ErrorRule(RemoteInternalError),
    "InvalidJobStatus": ErrorRule(JobNotRunningError),
    "InvalidTaskStatus": ErrorRule(JobNotRunningError),
    "ModifyDenied.JobStatusNotRunning": ErrorRule(JobNotRunningError),
    "Forbidden.InstanceNotFound": ErrorRule(JobNotFoundError),
    "UpdateJob.OperationDenied.InitStatus": ErrorRule(
        RemoteError, "DTS says the job was configured repeatedly; check it in the console"
    ),
    "MissingParameter": ErrorRule(InvalidParameterError, _PARAMETER_HINT),
    "InvalidParameter": ErrorRule(InvalidParameterError, _PARAMETER_HINT),
    "Forbidden.RAM": ErrorRule(PermissionDeniedError),
    "Forbidden": ErrorRule(PermissionDeniedError),
    "ActionUnauthorized": ErrorRule(PermissionDeniedError),
    "SignatureDoesNotMatch": ErrorRule(SignatureMismatchError),
    "IncompleteSignature": ErrorRule(SignatureMismatchError),
    "InvalidAccessKeyId.NotFound": ErrorRule(SignatureMismatchError),
    "InvalidAccessKeyId.Inactive": ErrorRule(SignatureMismatchError),
    "InvalidSecurityToken.Malformed": ErrorRule(SignatureMismatchError, _SIGNING_HINT),
    "MissingSecurityToken": ErrorRule(SignatureMismatchError, _SIGNING_HINT),
    "InvalidSecurityToken.MismatchWithAccessKey": ErrorRule(SignatureMismatchError, _SIGNING_HINT),
    "InvalidTimeStamp.Expired": ErrorRule(
        SignatureMismatchError, "The request date is too far from server time; sync the clock"
    ),
    "UnsupportedOperation": ErrorRule(
        InvalidParameterError, "The action is not supported here; check API version 2020-01-01"
    ),
    "InvalidAction": ErrorRule(InvalidParameterError, "The action is unknown; check API version 2020-01-01"),
}

# OSS XML error codes (https://www.alibabacloud.com/help/en/document_detail/32005.html).
OSS_ERRORS: dict[str, ErrorRule] = {
    "NoSuchKey": ErrorRule(
        SourceObjectNotFoundError, "The object is gone (deleted or never written); check the key"
    ),
    "NoSuchVersion": ErrorRule(
        SourceVersionNotFoundError, "The object has no such version (deleted, or another bucket's id)"
    ),
    "NoSuchBucket": ErrorRule(
        SourceObjectNotFoundError, "The bucket does not exist in this region; check its name"
    ),
    "AccessDenied": ErrorRule(PermissionDeniedError, "Grant the function role access to the bucket"),
    "SignatureDoesNotMatch": ErrorRule(SignatureMismatchError),
    "InvalidAccessKeyId": ErrorRule(SignatureMismatchError),
    "RequestTimeTooSkewed": ErrorRule(
        SignatureMismatchError, "The request date is too far from server time; sync the clock"
    ),
    "SecurityTokenExpired": ErrorRule(CredentialsExpiredError),
    "InvalidSecurityToken.Expired": ErrorRule(CredentialsExpiredError),
    "InvalidArgument": ErrorRule(InvalidParameterError, _PARAMETER_HINT),
    "InvalidObjectName": ErrorRule(InvalidParameterError, _PARAMETER_HINT),
    "InvalidBucketName": ErrorRule(InvalidParameterError, _PARAMETER_HINT),
    "InternalError": ErrorRule(RemoteInternalError),
    "ServiceUnavailable": ErrorRule(ServiceUnavailableError),
    "FileAlreadyExists": ErrorRule(ObjectExistsError),
}


def normalise_dts_code(code: str) -> str:
    """`DTS.Msg.X` -> `X`: the documented variants of one code classify identically."""
    return code[len(DTS_MSG_PREFIX) :] if code.startswith(DTS_MSG_PREFIX) else code


def lookup_rule(table: dict[str, ErrorRule], code: str | None) -> ErrorRule | None:
    if not code:
        return None
    return table.get(code) or table.get(normalise_dts_code(code))


def fallback_rule(http_status: int | None) -> ErrorRule:
    if http_status is not None and http_status >= 500:
        return ErrorRule(RemoteInternalError)
    return ErrorRule(RemoteError)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret (raw, and percent-encoded once or twice) by `***`."""
    out = text
    for secret in secrets:
        if not secret:
            continue
        once = quote(secret, safe="")
        for form in {secret, once, quote(once, safe=""), quote(secret, safe="~")}:
            out = out.replace(form, "***")
    return out


def remote_error(
    table: dict[str, ErrorRule],
    *,
    action: str,
    where: str,
    http_status: int | None,
    code: str | None,
    server_message: str | None,
    request_id: str | None,
    secrets: Iterable[str] = (),
    retry_after: float | None = None,
) -> DtsChangeError:
    """Build the typed error for one failed call.

    Message order: what failed (action, HTTP status, code) -> where -> the server's words ->
    request id. A positive `retry_after` makes any code a `ThrottledError`.
    """
    rule = lookup_rule(table, code) or fallback_rule(http_status)
    hint = (
        rule.hint
        or rule.error.default_hint
        or (f"Look up {code or f'HTTP {http_status}'} in the service's error center; quote the request id")
    )
    status_text = f"HTTP {http_status}" if http_status is not None else "an error"
    said = scrub(server_message or "", tuple(secrets))
    message = (
        f"{action} answered {status_text} {code or '(no code)'} for {where}: "
        f"{short_repr(said)} (request id {request_id or 'none'})"
    )
    common: dict[str, Any] = {
        "hint": hint,
        "http_status": http_status,
        "remote_code": code,
        "request_id": request_id,
        "action": action,
    }
    if rule.error is ThrottledError or (retry_after is not None and retry_after > 0):
        return ThrottledError(message, retry_after=retry_after, **common)
    return rule.error(message, **common)
