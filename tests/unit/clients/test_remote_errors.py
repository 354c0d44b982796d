"""The one table from remote codes to typed errors, for DTS and OSS."""

from __future__ import annotations

import pytest

from dts_change.clients.remote_errors import DTS_ERRORS, OSS_ERRORS, remote_error, scrub
from dts_change.core import errors as e

# Every code the seed page and reference §3.5 document, with its class.
DOCUMENTED_DTS = [
    (403, "OperationDenied.JobStatusModifying", e.JobModifyingError, True),
    (403, "CheckStatus.InvalidInitStatus", e.JobNotConfiguredError, False),
    (403, "InvalidSecurityToken.Expired", e.CredentialsExpiredError, True),
    (400, "Throttling.User", e.ThrottledError, True),
    (400, "Throttling", e.ThrottledError, True),
    (500, "ServiceUnavailable", e.ServiceUnavailableError, True),
    (503, "ServiceUnavailable", e.ServiceUnavailableError, True),
    (500, "InternalError", e.RemoteInternalError, True),
    (403, "InvalidJobStatus", e.JobNotRunningError, True),
    (403, "InvalidTaskStatus", e.JobNotRunningError, True),
    (403, "ModifyDenied.JobStatusNotRunning", e.JobNotRunningError, True),
    (404, "Forbidden.InstanceNotFound", e.JobNotFoundError, False),
    (403, "UpdateJob.OperationDenied.InitStatus", e.RemoteError, False),
    (400, "MissingParameter", e.InvalidParameterError, False),
    (400, "InvalidParameter", e.InvalidParameterError, False),
    (403, "Forbidden.RAM", e.PermissionDeniedError, False),
    (403, "Forbidden", e.PermissionDeniedError, False),
    (403, "ActionUnauthorized", e.PermissionDeniedError, False),
    (400, "SignatureDoesNotMatch", e.SignatureMismatchError, False),
    (400, "IncompleteSignature", e.SignatureMismatchError, False),
    (404, "InvalidAccessKeyId.NotFound", e.SignatureMismatchError, False),
    (400, "UnsupportedOperation", e.InvalidParameterError, False),
    (400, "InvalidAction", e.InvalidParameterError, False),
]


def _dts(status: int | None, code: str | None, **kw: object) -> e.DtsChangeError:
    args: dict[str, object] = {
        "action": "ModifyDtsJob",
        "where": "job j1 Forward",
        "http_status": status,
        "code": code,
        "server_message": "boom",
        "request_id": "REQ-1",
    }
    args.update(kw)
    return remote_error(DTS_ERRORS, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "code", "cls", "retryable"), DOCUMENTED_DTS)
@pytest.mark.parametrize("prefix", ["", "DTS.Msg."])
def test_remote_error_documented_dts_code_and_msg_variant_map_to_leaf(
    status: int, code: str, cls: type[e.DtsChangeError], retryable: bool, prefix: str
) -> None:
    err = _dts(status, prefix + code)
    assert type(err) is cls
    assert err.retryable is retryable
    assert err.remote_code == prefix + code
    assert err.http_status == status
    assert err.request_id == "REQ-1"
    assert err.action == "ModifyDtsJob"
    assert err.hint


def test_remote_error_message_order_action_status_code_where_server_words_request_id() -> None:
    err = _dts(403, "DTS.Msg.OperationDenied.JobStatusModifying")
    assert err.message == (
        "ModifyDtsJob answered HTTP 403 DTS.Msg.OperationDenied.JobStatusModifying for job j1 "
        "Forward: 'boom' (request id REQ-1)"
    )
    assert "\n" not in str(err)
    assert not err.message.endswith(".")


@pytest.mark.parametrize(
    ("status", "cls"), [(400, e.RemoteError), (404, e.RemoteError), (502, e.RemoteInternalError)]
)
def test_remote_error_unknown_code_falls_back_on_status(status: int, cls: type[e.DtsChangeError]) -> None:
    err = _dts(status, "Some.New.Code")
    assert type(err) is cls
    assert err.remote_code == "Some.New.Code"


def test_remote_error_no_code_on_200_is_permanent_remote_error() -> None:
    assert type(_dts(200, None)) is e.RemoteError


def test_remote_error_retry_after_makes_throttled_with_seconds() -> None:
    err = _dts(400, "Throttling.User", retry_after=1.5)
    assert isinstance(err, e.ThrottledError)
    assert err.retry_after == 1.5


def test_remote_error_positive_retry_after_on_other_code_is_throttled() -> None:
    err = _dts(503, "Unknown", retry_after=2.0)
    assert isinstance(err, e.ThrottledError)


def test_remote_error_server_message_scrubbed_of_secrets() -> None:
    # GIVEN a server that echoes what it signed, token and secret included (also encoded)
    echoed = "server string to sign is:POST&%2F&SecurityToken%3Dtok%252F%252B%253D secret s3cr3t tok/+="
    err = _dts(400, "SignatureDoesNotMatch", server_message=echoed, secrets=("s3cr3t", "tok/+="))
    text = f"{err} {err!r} {err.to_dict()}"
    assert "s3cr3t" not in text
    assert "tok/+=" not in text
    assert "tok%252F%252B%253D" not in text


def test_scrub_replaces_raw_and_encoded_forms() -> None:
    assert scrub("a tok/1 b tok%2F1 c tok%252F1", ["tok/1"]) == "a *** b *** c ***"


def test_remote_error_long_server_message_cut() -> None:
    err = _dts(400, "InvalidParameter", server_message="x" * 500)
    assert len(err.message) < 250


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("NoSuchKey", e.SourceObjectNotFoundError),
        ("NoSuchBucket", e.SourceObjectNotFoundError),
        ("FileAlreadyExists", e.ObjectExistsError),
        ("AccessDenied", e.PermissionDeniedError),
        ("SignatureDoesNotMatch", e.SignatureMismatchError),
        ("InvalidAccessKeyId", e.SignatureMismatchError),
        ("RequestTimeTooSkewed", e.SignatureMismatchError),
        ("SecurityTokenExpired", e.CredentialsExpiredError),
        ("InternalError", e.RemoteInternalError),
        ("InvalidArgument", e.InvalidParameterError),
    ],
)
def test_remote_error_oss_codes_map_to_leaf(code: str, cls: type[e.DtsChangeError]) -> None:
    err = remote_error(
        OSS_ERRORS,
        action="GetObject",
        where="'oss://b/k'",
        http_status=404,
        code=code,
        server_message="m",
        request_id="R",
    )
    assert type(err) is cls


def test_object_exists_error_is_permanent_with_unique_code() -> None:
    codes = [c.code for c in vars(e).values() if isinstance(c, type) and issubclass(c, e.DtsChangeError)]
    assert e.ObjectExistsError.code == "object-exists"
    assert codes.count("object-exists") == 1
    assert e.ObjectExistsError.retryable is False


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("1500", 1.5), ("250.0", 0.25), ("0", None), ("-5", None), ("soon", None), ("", None), (None, None)],
)
def test_retry_after_header_read_as_milliseconds(header: str | None, seconds: float | None) -> None:
    from dts_change.clients.dts import _retry_after_seconds

    assert _retry_after_seconds(header) == seconds
