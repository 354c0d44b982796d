"""DtsClient over loopback HTTP: what goes on the wire and how answers are classified."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

import pytest

from dts_change.clients import signing
from dts_change.clients.credentials import Credentials, CredentialsProvider
from dts_change.clients.dts import DtsClient
from dts_change.clients.transport import Timeouts
from dts_change.core import errors as e
from tests.functional.clients.loopback import Recorded, RecordingServer, Reply

SECRET = "s3cr3t-Secret/+="
TOKEN = "STS.token-one/+="
NEW_TOKEN = "STS.token-two/+="
WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
JSON = {"Content-Type": "application/json"}
DB_LIST = '{"sales":{"name":"sales","all":false,"Table":{"订单 +*~%":{"name":"orders","all":true}}}}'


def _env(token: str | None = TOKEN) -> dict[str, str]:
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "STS.id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET}
    if token:
        env["ALIBABA_CLOUD_SECURITY_TOKEN"] = token
    return env


def _client(server: RecordingServer, env: dict[str, str] | None = None, **kw: object) -> DtsClient:
    return DtsClient(
        "cn-hangzhou",
        server.url,
        CredentialsProvider(env if env is not None else _env()),
        clock=lambda: WHEN,
        nonce=lambda: "0123456789abcdef0123456789abcdef",
        timeouts=Timeouts(connect=2, read=2),
        **kw,  # type: ignore[arg-type]
    )


def _ok(body: dict[str, object]) -> Reply:
    return Reply(200, json.dumps(body), JSON)


def _error(status: int, code: str, message: str = "m", **extra: object) -> Reply:
    return Reply(
        status,
        json.dumps({"RequestId": "REQ-9", "HostId": "h", "Code": code, "Message": message, **extra}),
        JSON,
    )


def _verify_acs3(req: Recorded, secret: str) -> None:
    """Rebuild the canonical request from what arrived (decoded query, SignedHeaders) and check."""
    auth = req.headers["authorization"]
    fields = dict(part.split("=", 1) for part in auth.split(" ", 1)[1].split(","))
    names = fields["SignedHeaders"].split(";")
    sig = signing.acs3_sign(
        method=req.method,
        query=req.query,
        signed_headers={n: req.headers[n] for n in names},
        payload_sha256=hashlib.sha256(req.body).hexdigest(),
        access_key_id=fields["Credential"],
        access_key_secret=secret,
    )
    assert sig.signature == fields["Signature"]


# ---------------------------------------------------------------- DescribeDtsJobDetail


def test_describe_dts_job_detail_sends_dts_instance_id_capital_id_and_parses(server: RecordingServer) -> None:
    # GIVEN a job whose DbObject is a JSON string
    server.responder = lambda _r: _ok(
        {"RequestId": "R1", "DtsJobId": "j1", "Status": "synchronizing", "DbObject": DB_LIST, "Success": True}
    )
    # WHEN the client describes it with an instance id and history
    detail = _client(server).describe_dts_job_detail("j1", "ins1", "Reverse", sync_sub_job_history=True)
    # THEN the query spells DtsInstanceID, the call is a signed POST to / with no body
    req = server.requests[0]
    assert (req.method, req.path, req.body) == ("POST", "/", b"")
    assert req.query == {
        "DtsJobId": "j1",
        "DtsInstanceID": "ins1",
        "SynchronizationDirection": "Reverse",
        "SyncSubJobHistory": "true",
        "RegionId": "cn-hangzhou",
    }
    assert "DtsInstanceId" not in req.query
    assert req.headers["x-acs-action"] == "DescribeDtsJobDetail"
    assert req.headers["x-acs-version"] == "2020-01-01"
    assert req.headers["host"] == f"127.0.0.1:{server.port}"
    assert req.headers["x-acs-security-token"] == TOKEN
    _verify_acs3(req, SECRET)
    assert detail.status == "synchronizing"
    assert detail.db_list().databases["sales"].name == "sales"


def test_describe_dts_job_detail_empty_db_object_blocks_instead_of_empty_list(
    server: RecordingServer,
) -> None:
    server.responder = lambda _r: _ok(
        {"RequestId": "R1", "DbObject": "", "DbObjectOssUrl": "https://x.oss/y"}
    )
    detail = _client(server).describe_dts_job_detail("j1")
    with pytest.raises(e.UnreadableDbObjectError):
        detail.db_list()
    assert len(server.requests) == 1  # the OSS URL is not fetched


# ---------------------------------------------------------------- ModifyDtsJob


def test_modify_dts_job_db_list_sent_exactly_as_given_in_form_body(server: RecordingServer) -> None:
    server.responder = lambda _r: _ok({"RequestId": "R2", "DtsJobId": "j1", "Success": True})
    result = _client(server).modify_dts_job("ins1", "j1", DB_LIST, "Forward", client_token="tok-1")
    req = server.requests[0]
    # THEN DbList is a single form field whose decoded value is byte-identical to the input
    assert req.form() == {"DbList": DB_LIST}
    assert req.body == f"DbList={signing.percent_encode(DB_LIST)}".encode()
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert req.headers["x-acs-content-sha256"] == hashlib.sha256(req.body).hexdigest()
    assert req.query == {
        "DtsInstanceId": "ins1",
        "DtsJobId": "j1",
        "RegionId": "cn-hangzhou",
        "SynchronizationDirection": "Forward",
        "ClientToken": "tok-1",
    }
    _verify_acs3(req, SECRET)
    assert (result.request_id, result.job_id) == ("R2", "j1")


def test_modify_dts_job_every_documented_parameter_placed_per_reference(server: RecordingServer) -> None:
    server.responder = lambda _r: _ok({"RequestId": "R", "Success": True})
    _client(server).modify_dts_job(
        "ins1",
        "j1",
        DB_LIST,
        "Reverse",
        client_token="t",
        reserved={"autoStartModulesAfterConfig": "none"},
        modify_type="SOMETHING",
        structure_initialization=True,
        data_initialization=False,
        data_synchronization=True,
        file_oss_url="https://b.oss-cn-hangzhou.aliyuncs.com/k",
        filter_table_name="t1",
        etl_operator_column_reference='{"a":1}',
        zero_etl_job=False,
        resource_group_id="rg-1",
        region_id="cn-shanghai",
    )
    req = server.requests[0]
    assert set(req.form()) == {
        "DbList",
        "Reserved",
        "ModifyTypeEnum",
        "FilterTableName",
        "EtlOperatorColumnReference",
    }
    assert req.form()["Reserved"] == '{"autoStartModulesAfterConfig":"none"}'
    assert req.query == {
        "DtsInstanceId": "ins1",
        "DtsJobId": "j1",
        "RegionId": "cn-shanghai",
        "SynchronizationDirection": "Reverse",
        "ClientToken": "t",
        "StructureInitialization": "true",
        "DataInitialization": "false",
        "DataSynchronization": "true",
        "FileOssUrl": "https://b.oss-cn-hangzhou.aliyuncs.com/k",
        "ZeroEtlJob": "false",
        "ResourceGroupId": "rg-1",
    }
    _verify_acs3(req, SECRET)


def test_modify_dts_job_reserved_only_sets_update_reserved(server: RecordingServer) -> None:
    server.responder = lambda _r: _ok({"RequestId": "R", "Success": True})
    _client(server).modify_dts_job("ins1", "j1", reserved={"maxRetryTime": "720"})
    assert server.requests[0].form() == {
        "Reserved": '{"maxRetryTime":"720"}',
        "ModifyTypeEnum": "UPDATE_RESERVED",
    }


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"client_token": "x" * 65}, e.InvalidParameterError),
        ({"client_token": "tök"}, e.InvalidParameterError),
        ({"direction": "forward"}, e.InvalidParameterError),
        ({"db_list_json": '{"a":"' + "x" * 1_048_576 + '"}'}, e.DbListTooLargeError),
    ],
)
def test_modify_dts_job_invalid_input_refused_before_sending(
    server: RecordingServer, kwargs: dict[str, object], error: type[e.DtsChangeError]
) -> None:
    with pytest.raises(error):
        _client(server).modify_dts_job("ins1", "j1", **kwargs)  # type: ignore[arg-type]
    assert server.requests == []


# ---------------------------------------------------------------- errors


def test_call_success_false_on_http_200_raises_mapped_error(server: RecordingServer) -> None:
    server.responder = lambda _r: _ok(
        {
            "RequestId": "R3",
            "Success": False,
            "ErrCode": "DTS.Msg.OperationDenied.JobStatusModifying",
            "ErrMessage": "jobs state is modifying, please wait sync subtask ends",
            "HttpStatusCode": 403,
        }
    )
    with pytest.raises(e.JobModifyingError) as info:
        _client(server).modify_dts_job("ins1", "j1", DB_LIST)
    err = info.value
    assert (err.http_status, err.remote_code, err.request_id, err.action) == (
        403,
        "DTS.Msg.OperationDenied.JobStatusModifying",
        "R3",
        "ModifyDtsJob",
    )
    assert err.retryable is True


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (403, "CheckStatus.InvalidInitStatus", e.JobNotConfiguredError),
        (404, "Forbidden.InstanceNotFound", e.JobNotFoundError),
        (400, "InvalidParameter", e.InvalidParameterError),
        (500, "ServiceUnavailable", e.ServiceUnavailableError),
        (418, "Brand.New", e.RemoteError),
        (502, "Brand.New", e.RemoteInternalError),
    ],
)
def test_call_http_error_body_mapped(
    server: RecordingServer, status: int, code: str, cls: type[e.DtsChangeError]
) -> None:
    server.responder = lambda _r: _error(status, code)
    with pytest.raises(cls) as info:
        _client(server).describe_dts_job_detail("j1")
    assert info.value.http_status == status
    assert info.value.request_id == "REQ-9"
    assert len(server.requests) == 1


def test_call_throttled_retry_after_header_in_seconds(server: RecordingServer) -> None:
    server.responder = lambda _r: Reply(
        400, json.dumps({"Code": "Throttling.User", "RequestId": "R"}), {**JSON, "x-acs-retry-after": "1500"}
    )
    with pytest.raises(e.ThrottledError) as info:
        _client(server).describe_dts_job_detail("j1")
    assert info.value.retry_after == 1.5


def test_call_non_json_5xx_is_transient(server: RecordingServer) -> None:
    server.responder = lambda _r: Reply(503, "<html>bad gateway</html>", {"Content-Type": "text/html"})
    with pytest.raises(e.RemoteInternalError):
        _client(server).describe_dts_job_detail("j1")


def test_call_redirect_not_followed(server: RecordingServer) -> None:
    server.responder = lambda _r: Reply(302, b"", {"Location": f"{server.url}/elsewhere"})
    with pytest.raises(e.RemoteError, match="redirect"):
        _client(server).describe_dts_job_detail("j1")
    assert [r.path for r in server.requests] == ["/"]


def test_call_secrets_never_in_error_strings(server: RecordingServer) -> None:
    # GIVEN a server that echoes the signed string (token and secret inside, also URL-encoded)
    echoed = f"server string to sign is:POST&%2F&SecurityToken%3D{signing.percent_encode(signing.percent_encode(TOKEN))} {SECRET} {TOKEN}"
    server.responder = lambda _r: _error(400, "SignatureDoesNotMatch", echoed)
    with pytest.raises(e.SignatureMismatchError) as info:
        _client(server).describe_dts_job_detail("j1")
    err = info.value
    text = " ".join([str(err), repr(err), json.dumps(err.to_dict()), err.hint])
    for secret in (
        SECRET,
        TOKEN,
        signing.percent_encode(TOKEN),
        signing.percent_encode(signing.percent_encode(TOKEN)),
    ):
        assert secret not in text
    assert server.requests[0].headers["authorization"].split("Signature=")[1] not in text


# ---------------------------------------------------------------- token rotation


def test_call_expired_token_refreshed_and_retried_once_with_new_token(server: RecordingServer) -> None:
    # GIVEN the first answer says the token expired, and the environment then holds a new one
    env = _env(TOKEN)

    def respond(req: Recorded) -> Reply:
        if req.headers.get("x-acs-security-token") == TOKEN:
            env["ALIBABA_CLOUD_SECURITY_TOKEN"] = NEW_TOKEN
            return _error(403, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")
        return _ok({"RequestId": "R-ok", "DtsJobId": "j1", "Success": True})

    server.responder = respond
    # WHEN a modification is sent
    result = _client(server, env).modify_dts_job("ins1", "j1", DB_LIST, client_token="t")
    # THEN exactly one retry carried the new token, re-signed, with the same body
    tokens = [r.headers["x-acs-security-token"] for r in server.requests]
    assert tokens == [TOKEN, NEW_TOKEN]
    assert server.requests[0].body == server.requests[1].body
    _verify_acs3(server.requests[1], SECRET)
    assert result.request_id == "R-ok"


def test_call_expired_twice_raises_credentials_expired_after_one_retry(server: RecordingServer) -> None:
    server.responder = lambda _r: _error(403, "InvalidSecurityToken.Expired")
    with pytest.raises(e.CredentialsExpiredError) as info:
        _client(server).describe_dts_job_detail("j1")
    assert len(server.requests) == 2
    assert info.value.remote_code == "InvalidSecurityToken.Expired"


def test_call_long_term_keys_send_no_token_header(server: RecordingServer) -> None:
    _client(server, _env(None)).describe_dts_job_detail("j1")
    assert "x-acs-security-token" not in server.requests[0].headers


# ---------------------------------------------------------------- network


def test_call_read_timeout_is_network_error(server: RecordingServer) -> None:
    server.responder = lambda _r: Reply(200, b"{}", JSON, delay=0.6)
    client = DtsClient(
        "cn-hangzhou", server.url, Credentials("id", SECRET, TOKEN), timeouts=Timeouts(connect=1, read=0.2)
    )
    with pytest.raises(e.NetworkError, match="timed out") as info:
        client.describe_dts_job_detail("j1")
    assert info.value.retryable is True


def test_call_connection_refused_is_network_error_without_secrets() -> None:
    # GIVEN a port nobody listens on (a server started and stopped)
    srv = RecordingServer()
    url = srv.url
    srv.stop()
    client = DtsClient("cn-hangzhou", url, Credentials("id", SECRET, TOKEN), signature="v1")
    with pytest.raises(e.NetworkError) as info:
        client.describe_dts_job_detail("j1")
    text = f"{info.value} {info.value!r} {info.value.to_dict()}"
    assert SECRET not in text
    assert "Signature" not in text
    assert signing.percent_encode(TOKEN) not in text


def test_client_plain_http_to_remote_host_refused() -> None:
    with pytest.raises(e.InsecureEndpointError):
        DtsClient("cn-hangzhou", "http://dts.cn-hangzhou.aliyuncs.com", Credentials("id", "s"))


def test_client_default_endpoint_is_regional_https() -> None:
    client = DtsClient("ap-northeast-1", None, Credentials("id", SECRET, TOKEN))
    assert client.endpoint.base_url == "https://dts.ap-northeast-1.aliyuncs.com"
    assert SECRET not in repr(client)
    assert TOKEN not in repr(client)


# ---------------------------------------------------------------- RPC V1


def test_v1_signature_all_params_signed_form_body_kept(server: RecordingServer) -> None:
    server.responder = lambda _r: _ok({"RequestId": "R", "Success": True})
    _client(server, signature="v1").modify_dts_job("ins1", "j1", DB_LIST)
    req = server.requests[0]
    assert req.form() == {"DbList": DB_LIST}
    q = dict(req.query)
    assert (q["Action"], q["Version"], q["Format"], q["SecurityToken"]) == (
        "ModifyDtsJob",
        "2020-01-01",
        "JSON",
        TOKEN,
    )
    assert q["SignatureMethod"] == "HMAC-SHA1"
    expected = signing.rpc_v1_sign("POST", {**q, **req.form()}, SECRET).signature
    assert q.pop("Signature") == expected
    assert "authorization" not in req.headers


# ---------------------------------------------------------------- DescribeDtsJobs


def test_describe_dts_jobs_sync_type_and_resolution_both_ways(server: RecordingServer) -> None:
    server.responder = lambda _r: _ok(
        {
            "RequestId": "R",
            "TotalRecordCount": 1,
            "DtsJobList": [{"DtsJobId": "j1", "DtsInstanceID": "ins1", "Status": "Synchronizing"}],
        }
    )
    client = _client(server)
    assert client.resolve_job_id("ins1") == "j1"
    assert client.resolve_instance_id("j1") == "ins1"
    first, second = server.requests
    assert first.query["JobType"] == "SYNC"
    assert first.query["DtsInstanceId"] == "ins1"
    assert first.query["WithoutDbList"] == "true"
    assert second.query["DtsJobId"] == "j1"


def test_resolve_job_id_none_or_many_raise(server: RecordingServer) -> None:
    jobs: list[dict[str, str]] = []
    server.responder = lambda _r: _ok({"RequestId": "R", "TotalRecordCount": len(jobs), "DtsJobList": jobs})
    with pytest.raises(e.JobNotFoundError):
        _client(server).resolve_job_id("ins1")
    jobs.extend([{"DtsJobId": "a", "DtsInstanceID": "ins1"}, {"DtsJobId": "b", "DtsInstanceID": "ins1"}])
    with pytest.raises(e.ConfigurationError, match="Ambiguous"):
        _client(server).resolve_job_id("ins1")


def test_iter_dts_jobs_follows_pages(server: RecordingServer) -> None:
    def respond(req: Recorded) -> Reply:
        page = int(req.query["PageNumber"])
        return _ok(
            {
                "RequestId": "R",
                "TotalRecordCount": 3,
                "DtsJobList": [{"DtsJobId": f"j{page}{i}"} for i in range(2 if page == 1 else 1)],
            }
        )

    server.responder = respond
    ids = [j.job_id for j in _client(server).iter_dts_jobs(page_size=2)]
    assert ids == ["j10", "j11", "j20"]
    assert [r.query["PageNumber"] for r in server.requests] == ["1", "2"]
