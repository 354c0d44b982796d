"""Errors the emulator answers on the wire, and the one place that renders them.

Leaves are named after the cloud's code with dots dropped plus `Error` (STYLE §2.2). They carry
no `retryable` or `hint`: classifying is the client's job. Codes and statuses: DTS ModifyDtsJob
page (seed), the POP common-error tables (reference dts-api §3.5, A4) and OSS's error page; where
the reference marks a code or status UNCONFIRMED, docs/emulator.md says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar
from urllib.parse import urlencode

from dts_change.emulator.wire import WireResponse, json_body, xml_document


class EmulatedApiError(Exception):
    """An error answer: code, message and HTTP status, plus extra XML elements / headers."""

    CODE: ClassVar[str] = "InternalError"
    HTTP_STATUS: ClassVar[int] = 500
    MESSAGE: ClassVar[str] = "The request processing has failed due to some unknown error."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        http_status: int | None = None,
        extra: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.code = code or self.CODE
        self.http_status = http_status or self.HTTP_STATUS
        self.message = message or self.MESSAGE
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})
        super().__init__(f"{self.code}: {self.message}")


# ---------------------------------------------------------------- DTS / POP (JSON bodies)


class SignatureDoesNotMatchError(EmulatedApiError):
    """The recomputed signature (or the body hash) differs from what the request carries."""

    CODE = "SignatureDoesNotMatch"
    HTTP_STATUS = 400
    MESSAGE = "Specified signature is not matched with our calculation."


class IncompleteSignatureError(EmulatedApiError):
    """The request is not signed the way the scheme requires (missing or unsigned parts)."""

    CODE = "IncompleteSignature"
    HTTP_STATUS = 400
    MESSAGE = "The request signature does not conform to Aliyun standards."


class InvalidAccessKeyIdNotFoundError(EmulatedApiError):
    """The AccessKey id is not in the emulator's credentials."""

    CODE = "InvalidAccessKeyId.NotFound"
    HTTP_STATUS = 404
    MESSAGE = "Specified access key is not found."


class InvalidSecurityTokenExpiredError(EmulatedApiError):
    """The STS token is expired (documented on the ModifyDtsJob page, 403)."""

    CODE = "InvalidSecurityToken.Expired"
    HTTP_STATUS = 403
    MESSAGE = "Specified SecurityToken is expired."


class InvalidSecurityTokenMismatchWithAccessKeyError(EmulatedApiError):
    """The STS token does not belong to the AccessKey id (or a long-term key sent one)."""

    CODE = "InvalidSecurityToken.MismatchWithAccessKey"
    HTTP_STATUS = 400
    MESSAGE = "Specified SecurityToken mismatch with the AccessKey."


class MissingSecurityTokenError(EmulatedApiError):
    """An STS AccessKey id was used without its token."""

    CODE = "MissingSecurityToken"
    HTTP_STATUS = 400
    MESSAGE = "SecurityToken is mandatory for this AccessKey."


class InvalidTimeStampExpiredError(EmulatedApiError):
    """x-acs-date / Timestamp is more than the allowed skew away from the server clock."""

    CODE = "InvalidTimeStamp.Expired"
    HTTP_STATUS = 400
    MESSAGE = "Specified time stamp or date value is expired."


class InvalidTimeStampFormatError(EmulatedApiError):
    """x-acs-date / Timestamp is not yyyy-MM-ddTHH:mm:ssZ."""

    CODE = "InvalidTimeStamp.Format"
    HTTP_STATUS = 400
    MESSAGE = "Specified time stamp or date value is not well formatted."


class SignatureNonceUsedError(EmulatedApiError):
    """The nonce was already used inside the replay window."""

    CODE = "SignatureNonceUsed"
    HTTP_STATUS = 400
    MESSAGE = "Specified signature nonce was used already."


class MissingParameterError(EmulatedApiError):
    """A mandatory parameter is absent."""

    CODE = "MissingParameter"
    HTTP_STATUS = 400

    def __init__(self, name: str) -> None:
        super().__init__(
            f'The input parameter "{name}" that is mandatory for processing this request is not supplied.'
        )


class InvalidParameterError(EmulatedApiError):
    """A parameter has the wrong type or value."""

    CODE = "InvalidParameter"
    HTTP_STATUS = 400

    def __init__(self, name: str, reason: str, *, code: str | None = None) -> None:
        super().__init__(f'The specified parameter "{name}" is not valid: {reason}', code=code)


class InvalidActionNotFoundError(EmulatedApiError):
    """The action does not exist (or the emulator does not implement it): never a fake success."""

    CODE = "InvalidAction.NotFound"
    HTTP_STATUS = 404
    MESSAGE = "Specified api is not found, please check your url and method."


class InvalidVersionError(EmulatedApiError):
    """The API version is not 2020-01-01."""

    CODE = "InvalidVersion"
    HTTP_STATUS = 400
    MESSAGE = "Specified parameter Version is not valid."


class OperationDeniedJobStatusModifyingError(EmulatedApiError):
    """A modification is still running (seed page, 403)."""

    CODE = "OperationDenied.JobStatusModifying"
    HTTP_STATUS = 403
    MESSAGE = "jobs state is modifying, please wait sync subtask ends"


class CheckStatusInvalidInitStatusError(EmulatedApiError):
    """The job is NotConfigured (seed page, 403)."""

    CODE = "CheckStatus.InvalidInitStatus"
    HTTP_STATUS = 403
    MESSAGE = "Task has not been configured, please configure job first"


class ThrottlingUserError(EmulatedApiError):
    """Rate limited (seed page, 400)."""

    CODE = "Throttling.User"
    HTTP_STATUS = 400
    MESSAGE = "Request was denied due to user flow control."


class ServiceUnavailableError(EmulatedApiError):
    """Temporary server failure (seed page, 500)."""

    CODE = "ServiceUnavailable"
    HTTP_STATUS = 500
    MESSAGE = "The request has failed due to a temporary failure of the server."


class InternalError(EmulatedApiError):
    """Unknown server error; also what an emulator bug is answered with."""


class IdempotentParameterMismatchError(EmulatedApiError):
    """A ClientToken was reused with a different request (ECS's documented code; DTS documents none)."""

    CODE = "IdempotentParameterMismatch"
    HTTP_STATUS = 400
    MESSAGE = "The specified parameter has changed while using an already used clientToken."


# Statuses for codes a fault may name without giving one (seed page and POP tables).
KNOWN_DTS_STATUSES: dict[str, int] = {
    cls.CODE: cls.HTTP_STATUS
    for cls in (
        SignatureDoesNotMatchError,
        IncompleteSignatureError,
        InvalidAccessKeyIdNotFoundError,
        InvalidSecurityTokenExpiredError,
        InvalidSecurityTokenMismatchWithAccessKeyError,
        MissingSecurityTokenError,
        InvalidTimeStampExpiredError,
        InvalidTimeStampFormatError,
        SignatureNonceUsedError,
        InvalidActionNotFoundError,
        InvalidVersionError,
        OperationDeniedJobStatusModifyingError,
        CheckStatusInvalidInitStatusError,
        ThrottlingUserError,
        ServiceUnavailableError,
        InternalError,
        IdempotentParameterMismatchError,
    )
}
KNOWN_DTS_STATUSES.update(
    {
        "DTS.Msg.OperationDenied.JobStatusModifying": 403,
        "DTS.Msg.CheckStatus.InvalidInitStatus": 403,
        "DTS.Msg.Throttling.User": 400,
        "Throttling": 400,
        "MissingParameter": 400,
        "InvalidParameter": 400,
        "Forbidden.RAM": 403,
        "Forbidden": 403,
        "Forbidden.InstanceNotFound": 404,
    }
)


# ---------------------------------------------------------------- OSS (XML bodies)


class NoSuchKeyError(EmulatedApiError):
    """The object does not exist."""

    CODE = "NoSuchKey"
    HTTP_STATUS = 404
    MESSAGE = "The specified key does not exist."


class NoSuchVersionError(EmulatedApiError):
    """GetObject / HeadObject with a `versionId` the object never had (or that was deleted)."""

    CODE = "NoSuchVersion"
    HTTP_STATUS = 404
    MESSAGE = "The specified version does not exist."


class NoSuchBucketError(EmulatedApiError):
    """The bucket is not in the emulator's state."""

    CODE = "NoSuchBucket"
    HTTP_STATUS = 404
    MESSAGE = "The specified bucket does not exist."


class FileAlreadyExistsError(EmulatedApiError):
    """PutObject with x-oss-forbid-overwrite: true on an existing key."""

    CODE = "FileAlreadyExists"
    HTTP_STATUS = 409
    MESSAGE = "The object you specified already exists and can not be overwritten."


class OssSignatureDoesNotMatchError(EmulatedApiError):
    """OSS answers a bad signature with 403 (unlike POP's 400)."""

    CODE = "SignatureDoesNotMatch"
    HTTP_STATUS = 403
    MESSAGE = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method."
    )


class AccessDeniedError(EmulatedApiError):
    """Anonymous or otherwise unauthorised OSS request."""

    CODE = "AccessDenied"
    HTTP_STATUS = 403
    MESSAGE = "You have no right to access this object because of bucket acl."


class InvalidAccessKeyIdError(EmulatedApiError):
    """OSS's code for an unknown AccessKey id."""

    CODE = "InvalidAccessKeyId"
    HTTP_STATUS = 403
    MESSAGE = "The OSS Access Key Id you provided does not exist in our records."


class InvalidSecurityTokenError(EmulatedApiError):
    """OSS: missing or wrong STS token for the AccessKey id."""

    CODE = "InvalidSecurityToken"
    HTTP_STATUS = 403
    MESSAGE = "The security token you provided is not valid."


class SecurityTokenExpiredError(EmulatedApiError):
    """OSS: the STS token expired."""

    CODE = "SecurityTokenExpired"
    HTTP_STATUS = 403
    MESSAGE = "The security token you provided has expired."


class RequestTimeTooSkewedError(EmulatedApiError):
    """OSS: Date / x-oss-date more than 15 minutes from the server clock."""

    CODE = "RequestTimeTooSkewed"
    HTTP_STATUS = 403
    MESSAGE = "The difference between the request time and the current time is too large."


class InvalidArgumentError(EmulatedApiError):
    """OSS: a header or parameter value is not acceptable."""

    CODE = "InvalidArgument"
    HTTP_STATUS = 400
    MESSAGE = "Invalid argument."


class InvalidDigestError(EmulatedApiError):
    """OSS: Content-MD5 does not match the body."""

    CODE = "InvalidDigest"
    HTTP_STATUS = 400
    MESSAGE = "The Content-MD5 you specified is not valid."


class EntityTooLargeError(EmulatedApiError):
    """The request body is larger than the emulator accepts."""

    CODE = "EntityTooLarge"
    HTTP_STATUS = 400
    MESSAGE = "Your proposed upload exceeds the maximum allowed object size."


class OssNotImplementedError(EmulatedApiError):
    """An OSS operation the emulator does not implement: explicit, never a fake success."""

    CODE = "NotImplemented"
    HTTP_STATUS = 501
    MESSAGE = "A header or operation you provided implies functionality that is not implemented."


class MalformedXmlError(EmulatedApiError):
    """OSS: a request body is not the XML the operation expects."""

    CODE = "MalformedXML"
    HTTP_STATUS = 400
    MESSAGE = "The XML you provided was not well-formed or did not validate against our published schema."


class MethodNotAllowedError(EmulatedApiError):
    """HTTP method not allowed on this resource."""

    CODE = "MethodNotAllowed"
    HTTP_STATUS = 405
    MESSAGE = "The specified method is not allowed against this resource."


KNOWN_OSS_STATUSES: dict[str, int] = {
    cls.CODE: cls.HTTP_STATUS
    for cls in (
        NoSuchKeyError,
        NoSuchVersionError,
        NoSuchBucketError,
        FileAlreadyExistsError,
        OssSignatureDoesNotMatchError,
        AccessDeniedError,
        InvalidAccessKeyIdError,
        InvalidSecurityTokenError,
        SecurityTokenExpiredError,
        RequestTimeTooSkewedError,
        InvalidArgumentError,
        InvalidDigestError,
        MalformedXmlError,
        EntityTooLargeError,
        OssNotImplementedError,
        MethodNotAllowedError,
    )
}
KNOWN_OSS_STATUSES.update({"InternalError": 500, "ServiceUnavailable": 503, "SlowDown": 503})


# ---------------------------------------------------------------- rendering (the one place)


def recommend_url(code: str, request_id: str) -> str:
    query = urlencode({"q": code, "product": "Dts", "requestId": request_id})
    return f"https://api.aliyun.com/troubleshoot?{query}"


def render_dts_error(
    error: EmulatedApiError, request_id: str, host_id: str, *, xml: bool = False
) -> WireResponse:
    """POP error body: {RequestId, HostId, Code, Message, Recommend}, JSON unless Format=XML."""
    payload = {
        "RequestId": request_id,
        "HostId": host_id,
        "Code": error.code,
        "Message": error.message,
        "Recommend": recommend_url(error.code, request_id),
    }
    headers = [("x-acs-request-id", request_id), *error.headers.items()]
    if xml:
        headers.insert(0, ("Content-Type", "text/xml;charset=utf-8"))
        return WireResponse(error.http_status, headers, xml_document("Error", payload))
    headers.insert(0, ("Content-Type", "application/json;charset=utf-8"))
    return WireResponse(error.http_status, headers, json_body(payload))


def render_oss_error(error: EmulatedApiError, request_id: str, host_id: str) -> WireResponse:
    """OSS error body: <Error><Code/><Message/><RequestId/><HostId/>...extra</Error>."""
    children: dict[str, str] = {
        "Code": error.code,
        "Message": error.message,
        "RequestId": request_id,
        "HostId": host_id,
    }
    children.update(error.extra)
    headers = [
        ("Content-Type", "application/xml"),
        ("x-oss-request-id", request_id),
        ("Server", "AliyunOSS"),
        *error.headers.items(),
    ]
    return WireResponse(error.http_status, headers, xml_document("Error", children))


def injected_error(
    service: str, code: str, *, http_status: int | None = None, message: str | None = None
) -> EmulatedApiError:
    """An error for a fault naming only a code: documented status and message when known."""
    known = _DTS_CLASSES if service == "dts" else _OSS_CLASSES
    statuses = KNOWN_DTS_STATUSES if service == "dts" else KNOWN_OSS_STATUSES
    cls = known.get(code)
    status = http_status or (cls.HTTP_STATUS if cls is not None else statuses.get(code))
    if status is None:
        raise ValueError(f"Code {code!r} has no known HTTP status for {service}; give httpStatus")
    text = message or (cls.MESSAGE if cls is not None else f"Injected fault {code}.")
    return EmulatedApiError(text, code=code, http_status=status)


def is_known_code(code: str) -> bool:
    return code in KNOWN_DTS_STATUSES or code in KNOWN_OSS_STATUSES


_DTS_CLASSES: dict[str, type[EmulatedApiError]] = {
    cls.CODE: cls
    for cls in (
        SignatureDoesNotMatchError,
        InvalidAccessKeyIdNotFoundError,
        InvalidSecurityTokenExpiredError,
        InvalidSecurityTokenMismatchWithAccessKeyError,
        InvalidTimeStampExpiredError,
        SignatureNonceUsedError,
        InvalidActionNotFoundError,
        OperationDeniedJobStatusModifyingError,
        CheckStatusInvalidInitStatusError,
        ThrottlingUserError,
        ServiceUnavailableError,
        InternalError,
        IdempotentParameterMismatchError,
    )
}
_OSS_CLASSES: dict[str, type[EmulatedApiError]] = {
    cls.CODE: cls
    for cls in (
        NoSuchKeyError,
        NoSuchVersionError,
        NoSuchBucketError,
        FileAlreadyExistsError,
        OssSignatureDoesNotMatchError,
        AccessDeniedError,
        InvalidAccessKeyIdError,
        InvalidSecurityTokenError,
        SecurityTokenExpiredError,
        RequestTimeTooSkewedError,
        InvalidArgumentError,
        InvalidDigestError,
        EntityTooLargeError,
    )
}
