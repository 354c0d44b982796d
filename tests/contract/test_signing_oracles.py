"""Our signers produce the same string to sign and signature as one official SDK per scheme.

Oracles (reference signing-and-sdks.md, part B): alibabacloud_tea_openapi for ACS3 and RPC V1,
alibabacloud_oss_v2 for OSS V4, oss2 for OSS V1 with STS. Each is run offline, its clock and nonce
pinned, on the reference's vectors and on Hypothesis-generated inputs (unicode, spaces, `+`, `*`,
`~`, `%`, empty values, long DbList JSON; header values without surrounding whitespace).
The string to sign of the tea-openapi helpers is not returned by them, so it is captured at the
HMAC call they make. Besides pure-function comparisons, requests our clients really sent to a
loopback server are re-signed by the oracle from what arrived.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dts_change.clients import signing
from dts_change.clients.credentials import Credentials
from dts_change.clients.dts import DtsClient
from dts_change.clients.oss import OssClient
from tests.functional.clients.loopback import Recorded, RecordingServer, Reply
from tests.unit.clients import vectors as v

tea_utils = pytest.importorskip("alibabacloud_tea_openapi.utils")
oss_v2_signer = pytest.importorskip("alibabacloud_oss_v2.signer")
oss_v2_types = pytest.importorskip("alibabacloud_oss_v2.types")
oss_v2_credentials = pytest.importorskip("alibabacloud_oss_v2.credentials")
oss2 = pytest.importorskip("oss2")
dara_request = pytest.importorskip("darabonba.request")

HYPOTHESIS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# ---------------------------------------------------------------- strategies

SPECIALS = [" ", "+", "*", "~", "%", "/", "=", "&", "?", "#", "中文", "é", "", "a b+c*d~e%f"]
unicode_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
values = st.one_of(
    unicode_text, st.sampled_from(SPECIALS), st.lists(st.sampled_from(SPECIALS), max_size=6).map("".join)
)
# Parameter names: the SDK does not percent-encode names (ours does), so names stay in the
# unreserved set, as every real DTS/OSS parameter name is.
# `Signature` is the one name the V1 scheme itself reserves (it is never signed), so it is not a
# parameter a caller can send.
param_names = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=20
).filter(lambda name: name != "Signature")
header_values = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40
).filter(lambda s: s == s.strip())
header_suffix = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
whens = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2099, 12, 31),
    timezones=st.just(timezone.utc),
)
nonces = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)
table_names = st.one_of(unicode_text.filter(bool), st.sampled_from(["orders", "订单", "a b", "x+y*z~%"]))


@st.composite
def db_list_json(draw: st.DrawFn) -> str:
    """A compact DbList JSON: a few drawn tables, sometimes repeated into hundreds (tens of KB)."""
    names = draw(st.lists(table_names, min_size=0, max_size=5))
    repeat = draw(st.one_of(st.just(1), st.integers(100, 400)))
    tables = {
        f"{name}{i if repeat > 1 else ''}": {"name": name or "t", "all": True}
        for i in range(repeat)
        for name in names
    }
    db = draw(table_names)
    return json.dumps(
        {db: {"name": db, "all": not tables, "Table": tables}}, separators=(",", ":"), ensure_ascii=False
    )


# ---------------------------------------------------------------- capture helpers


@pytest.fixture
def hmac_capture(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Messages the tea-openapi helpers hand to `hmac.new` (= their strings to sign)."""
    seen: list[str] = []
    real_hmac = tea_utils.hmac

    def recording_new(key: bytes, msg: bytes, digestmod: Any) -> Any:
        seen.append(msg.decode("utf-8"))
        return real_hmac.new(key, msg, digestmod)

    monkeypatch.setattr(tea_utils, "hmac", SimpleNamespace(new=recording_new))
    return seen


def _sdk_acs3(
    method: str, query: dict[str, str], headers: dict[str, str], payload: str, ak: str, sk: str
) -> str:
    req = dara_request.DaraRequest()
    req.method = method
    req.pathname = "/"
    req.query = dict(query)
    req.headers = dict(headers)
    return tea_utils.Utils.get_authorization(req, "ACS3-HMAC-SHA256", payload, ak, sk)  # type: ignore[no-any-return]


# ---------------------------------------------------------------- ACS3


def test_acs3_doc_vector_same_as_tea_openapi(hmac_capture: list[str]) -> None:
    ours = signing.acs3_sign(
        method="POST",
        query=v.ACS3_DOC["query"],
        signed_headers=v.ACS3_DOC["headers"],
        payload_sha256=v.EMPTY_SHA256,
        access_key_id=v.ACS3_DOC["access_key_id"],
        access_key_secret=v.ACS3_DOC["access_key_secret"],
    )
    theirs = _sdk_acs3(
        "POST",
        v.ACS3_DOC["query"],
        v.ACS3_DOC["headers"],
        v.EMPTY_SHA256,
        "YourAccessKeyId",
        "YourAccessKeySecret",
    )
    assert hmac_capture == [ours.string_to_sign]
    assert theirs == ours.authorization


def test_acs3_b1_smallest_oracle_same_as_tea_openapi(hmac_capture: list[str]) -> None:
    headers, ours = signing.acs3_request_headers(
        host="dts.cn-hangzhou.aliyuncs.com",
        action="ModifyDtsJob",
        version="2020-01-01",
        query={"DtsJobId": "job1", "RegionId": "cn-hangzhou"},
        body=v.B1_BODY.encode(),
        content_type=signing.FORM_CONTENT_TYPE,
        when=v.B1_WHEN,
        nonce=v.B1_NONCE,
        access_key_id=v.STS_KEY_ID,
        access_key_secret=v.STS_SECRET,
        security_token=v.STS_TOKEN,
    )
    signed = {k: val for k, val in headers.items() if k != "Authorization"}
    theirs = _sdk_acs3(
        "POST",
        {"DtsJobId": "job1", "RegionId": "cn-hangzhou"},
        signed,
        signed["x-acs-content-sha256"],
        v.STS_KEY_ID,
        v.STS_SECRET,
    )
    assert theirs == ours.authorization
    assert hmac_capture == [ours.string_to_sign]
    assert ours.signature == v.B1_SIGNATURE


@HYPOTHESIS
@given(
    query=st.dictionaries(param_names, values, max_size=8),
    db_list=db_list_json(),
    extra=st.dictionaries(header_suffix.map(lambda s: f"x-acs-{s}"), header_values, max_size=3),
    when=whens,
    nonce=nonces,
    token=st.one_of(st.none(), header_values),
    method=st.sampled_from(["POST", "GET"]),
)
def test_acs3_generated_inputs_same_as_tea_openapi(
    hmac_capture: list[str],
    query: dict[str, str],
    db_list: str,
    extra: dict[str, str],
    when: datetime,
    nonce: str,
    token: str | None,
    method: str,
) -> None:
    body = signing.form_encode({"DbList": db_list}).encode()
    headers, _ = signing.acs3_request_headers(
        host="127.0.0.1:8080",
        action="ModifyDtsJob",
        version="2020-01-01",
        query=query,
        body=body,
        content_type=signing.FORM_CONTENT_TYPE,
        when=when,
        nonce=nonce,
        access_key_id="STS.key",
        access_key_secret="sk/+=",
        security_token=token,
        method=method,
    )
    to_sign = {k: val for k, val in headers.items() if k != "Authorization"}
    to_sign.update(extra)
    ours = signing.acs3_sign(
        method=method,
        query=query,
        signed_headers=to_sign,
        payload_sha256=hashlib.sha256(body).hexdigest(),
        access_key_id="STS.key",
        access_key_secret="sk/+=",
    )
    hmac_capture.clear()
    theirs = _sdk_acs3(method, query, to_sign, hashlib.sha256(body).hexdigest(), "STS.key", "sk/+=")
    assert hmac_capture == [ours.string_to_sign]
    assert theirs == ours.authorization


@pytest.fixture
def sdk_dts_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, list[Any]]]:
    """The official DTS client with pinned date/nonce/user-agent and a recording transport (B1)."""
    darabonba_core = pytest.importorskip("darabonba.core")
    response_mod = pytest.importorskip("darabonba.response")
    utils_models = pytest.importorskip("alibabacloud_tea_openapi.utils_models")
    dts_client = pytest.importorskip("alibabacloud_dts20200101.client")
    captured: list[Any] = []

    def do_action(request: Any, runtime_option: Any = None) -> Any:
        captured.append(request)
        response = response_mod.DaraResponse()
        response.status_code = 200
        response.headers = {"content-type": "application/json"}
        response.body = b'{"RequestId":"x","Success":true}'
        return response

    monkeypatch.setattr(tea_utils.Utils, "get_timestamp", staticmethod(lambda: v.B1_DATE))
    monkeypatch.setattr(tea_utils.Utils, "get_nonce", staticmethod(lambda: v.B1_NONCE))
    monkeypatch.setattr(tea_utils.Utils, "get_user_agent", staticmethod(lambda *a, **k: "fixed-ua"))
    monkeypatch.setattr(darabonba_core.DaraCore, "do_action", staticmethod(do_action))
    config = utils_models.Config(
        access_key_id=v.STS_KEY_ID,
        access_key_secret=v.STS_SECRET,
        security_token=v.STS_TOKEN,
        region_id="cn-hangzhou",
        endpoint="dts.cn-hangzhou.aliyuncs.com",
    )
    yield dts_client.Client(config), captured


def test_acs3_sdk_client_modify_request_verifies_with_our_signer(
    sdk_dts_client: tuple[Any, list[Any]],
) -> None:
    # GIVEN the official client's ModifyDtsJob request with the B1 inputs
    models = pytest.importorskip("alibabacloud_dts20200101.models")
    runtime = pytest.importorskip("darabonba.runtime")
    client, captured = sdk_dts_client
    request = models.ModifyDtsJobRequest(
        region_id="cn-hangzhou",
        dts_instance_id="dtsabc123",
        dts_job_id="job1",
        synchronization_direction="Forward",
        client_token="tok-1",
        db_list={"db1": {"name": "db1", "all": True}},
    )
    client.modify_dts_job_with_options(request, runtime.RuntimeOptions())
    sent = captured[-1]
    # WHEN our signer rebuilds the signature from its SignedHeaders list
    auth = sent.headers["Authorization"]
    names = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    ours = signing.acs3_sign(
        method=sent.method,
        query=sent.query,
        signed_headers={n: sent.headers[n] for n in names},
        payload_sha256=hashlib.sha256(sent.body.encode()).hexdigest(),
        access_key_id=v.STS_KEY_ID,
        access_key_secret=v.STS_SECRET,
    )
    # THEN it is the SDK's, which is the reference's pinned value
    assert ours.authorization == auth
    assert ours.signature == "a240b538a51af2b7a5d0460e99651aecab2efe39235ebbdd28051dbe46868f81"


def test_rpc_v1_sdk_client_modify_request_verifies_with_our_signer(
    sdk_dts_client: tuple[Any, list[Any]],
) -> None:
    models = pytest.importorskip("alibabacloud_dts20200101.models")
    runtime = pytest.importorskip("darabonba.runtime")
    client, captured = sdk_dts_client
    client._signature_algorithm = "v2"
    request = models.ModifyDtsJobRequest(
        region_id="cn-hangzhou",
        dts_instance_id="dtsabc123",
        dts_job_id="job1",
        synchronization_direction="Forward",
        client_token="tok-1",
        db_list={"db1": {"name": "db1", "all": True}},
    )
    client.modify_dts_job_with_options(request, runtime.RuntimeOptions())
    sent = captured[-1]
    params = dict(sent.query)
    signature = params.pop("Signature")
    form = dict(pair.split("=", 1) for pair in sent.body.split("&"))
    params.update({k: unquote_plus(val) for k, val in form.items()})
    assert signing.rpc_v1_sign(sent.method, params, v.STS_SECRET).signature == signature
    assert signature == "hppIAVJ+YlGEQQQ/zfxvt/MuRpQ="


# ---------------------------------------------------------------- RPC V1


@pytest.mark.parametrize(
    ("vector", "method", "secret"),
    [(v.RPC_V1_DOC, "GET", "testsecret"), (v.RPC_V1_DTS, "POST", v.STS_SECRET)],
)
def test_rpc_v1_vectors_same_as_tea_openapi(
    hmac_capture: list[str], vector: dict[str, Any], method: str, secret: str
) -> None:
    ours = signing.rpc_v1_sign(method, vector["params"], secret)
    theirs = tea_utils.Utils.get_rpcsignature(dict(vector["params"]), method, secret)
    assert hmac_capture == [ours.string_to_sign]
    assert theirs == ours.signature == vector["signature"]


@HYPOTHESIS
@given(
    params=st.dictionaries(param_names, values, max_size=10),
    db_list=db_list_json(),
    when=whens,
    nonce=nonces,
    token=st.one_of(st.none(), header_values),
    method=st.sampled_from(["POST", "GET"]),
    secret=header_values,
)
def test_rpc_v1_generated_inputs_same_as_tea_openapi(
    hmac_capture: list[str],
    params: dict[str, str],
    db_list: str,
    when: datetime,
    nonce: str,
    token: str | None,
    method: str,
    secret: str,
) -> None:
    full = signing.rpc_v1_common_params(
        action="ModifyDtsJob",
        version="2020-01-01",
        access_key_id="id",
        when=when,
        nonce=nonce,
        security_token=token,
    )
    full.update(params)
    full["DbList"] = db_list
    ours = signing.rpc_v1_sign(method, full, secret)
    hmac_capture.clear()
    theirs = tea_utils.Utils.get_rpcsignature(dict(full), method, secret)
    assert hmac_capture == [ours.string_to_sign]
    assert theirs == ours.signature


# ---------------------------------------------------------------- OSS V4 (alibabacloud-oss-v2)


def _oss_v2_v4(
    method: str,
    url: str,
    headers: dict[str, str],
    bucket: str,
    key: str | None,
    when: datetime,
    token: str | None,
) -> tuple[str, str]:
    req = oss_v2_types.HttpRequest(method, url)
    req.headers.update(headers)
    cred = oss_v2_credentials.StaticCredentialsProvider(v.STS_KEY_ID, v.STS_SECRET, token).get_credentials()
    ctx = oss_v2_types.SigningContext(
        bucket=bucket,
        key=key,
        request=req,
        credentials=cred,
        signing_time=when,
        product="oss",
        region=v.OSS_REGION,
    )
    oss_v2_signer.SignerV4().sign(ctx)
    return ctx.string_to_sign, req.headers["Authorization"]


def _oss_client(signature: str = "v4", endpoint: str | None = None) -> OssClient:
    return OssClient(v.OSS_REGION, endpoint, Credentials(v.STS_KEY_ID, v.STS_SECRET, v.STS_TOKEN), signature)  # type: ignore[arg-type]


def test_oss_v4_vector_same_as_oss_v2() -> None:
    ours = signing.oss_v4_sign(
        method="PUT",
        bucket=v.OSS_BUCKET,
        key=v.OSS_KEY,
        query={"acl": ""},
        headers=v.OSS_V4_HEADERS,
        access_key_id=v.STS_KEY_ID,
        access_key_secret=v.STS_SECRET,
        security_token=v.STS_TOKEN,
        region=v.OSS_REGION,
        when=v.B1_WHEN,
    )
    url = _oss_client()._url(v.OSS_BUCKET, v.OSS_KEY, {"acl": ""})
    string_to_sign, authorization = _oss_v2_v4(
        "PUT", url, dict(v.OSS_V4_HEADERS), v.OSS_BUCKET, v.OSS_KEY, v.B1_WHEN, v.STS_TOKEN
    )
    assert string_to_sign == ours.string_to_sign
    assert authorization == ours.headers["authorization"]
    assert ours.signature == v.OSS_V4_SIGNATURE


@HYPOTHESIS
@given(
    key=values.filter(lambda k: k and not k.startswith("/") and len(k.encode()) <= 1023),
    query=st.dictionaries(
        st.sampled_from(
            ["acl", "prefix", "list-type", "max-keys", "continuation-token", "encoding-type", "x-oss-process"]
        ),
        values,
        max_size=5,
    ),
    meta=st.dictionaries(header_suffix.map(lambda s: f"x-oss-meta-{s}"), header_values, max_size=3),
    content_type=st.one_of(st.none(), header_values),
    when=whens,
    token=st.one_of(st.none(), header_values),
    method=st.sampled_from(["GET", "PUT", "DELETE"]),
    path_style=st.booleans(),
)
def test_oss_v4_generated_inputs_same_as_oss_v2(
    key: str,
    query: dict[str, str],
    meta: dict[str, str],
    content_type: str | None,
    when: datetime,
    token: str | None,
    method: str,
    path_style: bool,
) -> None:
    headers = dict(meta)
    if content_type is not None:
        headers["Content-Type"] = content_type
    ours = signing.oss_v4_sign(
        method=method,
        bucket="examplebucket",
        key=key,
        query=query,
        headers=headers,
        access_key_id=v.STS_KEY_ID,
        access_key_secret=v.STS_SECRET,
        security_token=token,
        region=v.OSS_REGION,
        when=when,
    )
    # the URL is the one our client would send
    url = _oss_client(endpoint="http://127.0.0.1:9000" if path_style else None)._url(
        "examplebucket", key, query
    )
    string_to_sign, authorization = _oss_v2_v4(method, url, headers, "examplebucket", key, when, token)
    assert string_to_sign == ours.string_to_sign
    assert authorization == ours.headers["authorization"]


# ---------------------------------------------------------------- OSS V1 with STS (oss2)


def _oss2_v1(
    method: str, headers: dict[str, str], params: dict[str, str], bucket: str, key: str, date: str, token: str
) -> tuple[bytes, str]:
    auth = oss2.StsAuth(v.STS_KEY_ID, v.STS_SECRET, token)
    req = oss2.http.Request(
        method, f"https://{bucket}.oss-cn-hangzhou.aliyuncs.com/x", params=dict(params), headers=dict(headers)
    )
    original = oss2.utils.http_date
    oss2.utils.http_date = lambda timeval=None: date
    try:
        auth._sign_request(req, bucket, key)
    finally:
        oss2.utils.http_date = original
    inner = auth._StsAuth__auth
    to_sign = inner._ProviderAuth__get_bytes_to_sign(req, bucket, key)
    return to_sign, req.headers["authorization"]


def test_oss_v1_sts_vector_same_as_oss2() -> None:
    ours = signing.oss_v1_sign(
        method="PUT",
        bucket=v.OSS_BUCKET,
        key=v.OSS_KEY,
        query={"acl": ""},
        headers=v.OSS_V1_HEADERS,
        access_key_id=v.STS_KEY_ID,
        access_key_secret=v.STS_SECRET,
        security_token=v.STS_TOKEN,
        when=v.B1_WHEN,
    )
    to_sign, authorization = _oss2_v1(
        "PUT",
        v.OSS_V1_HEADERS,
        {"acl": ""},
        v.OSS_BUCKET,
        v.OSS_KEY,
        signing.http_date(v.B1_WHEN),
        v.STS_TOKEN,
    )
    assert to_sign.decode("utf-8") == ours.string_to_sign
    assert authorization == ours.headers["authorization"] == v.OSS_V1_AUTHORIZATION


@HYPOTHESIS
@given(
    key=values.filter(lambda k: bool(k) and not k.startswith("/")),
    query=st.dictionaries(
        st.sampled_from(
            [
                "acl",
                "prefix",
                "list-type",
                "max-keys",
                "continuation-token",
                "versionId",
                "response-content-type",
                "uploads",
            ]
        ),
        values,
        max_size=5,
    ),
    meta=st.dictionaries(header_suffix.map(lambda s: f"x-oss-meta-{s}"), header_values, max_size=3),
    content_type=st.one_of(st.none(), header_values),
    content_md5=st.one_of(
        st.none(), st.binary(min_size=16, max_size=16).map(lambda b: base64.b64encode(b).decode())
    ),
    when=whens,
    token=header_values,
    method=st.sampled_from(["GET", "PUT", "DELETE"]),
)
def test_oss_v1_sts_generated_inputs_same_as_oss2(
    key: str,
    query: dict[str, str],
    meta: dict[str, str],
    content_type: str | None,
    content_md5: str | None,
    when: datetime,
    token: str,
    method: str,
) -> None:
    headers = dict(meta)
    if content_type is not None:
        headers["Content-Type"] = content_type
    if content_md5 is not None:
        headers["Content-MD5"] = content_md5
    ours = signing.oss_v1_sign(
        method=method,
        bucket="examplebucket",
        key=key,
        query=query,
        headers=headers,
        access_key_id=v.STS_KEY_ID,
        access_key_secret=v.STS_SECRET,
        security_token=token,
        when=when,
    )
    to_sign, authorization = _oss2_v1(
        method, headers, query, "examplebucket", key, signing.http_date(when), token
    )
    assert to_sign.decode("utf-8") == ours.string_to_sign
    assert authorization == ours.headers["authorization"]


# ---------------------------------------------------------------- what our clients really sent


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    srv = RecordingServer()
    try:
        yield srv
    finally:
        srv.stop()


def _json_ok(_req: Recorded) -> Reply:
    return Reply(200, '{"RequestId":"R","Success":true,"DtsJobId":"j"}', {"Content-Type": "application/json"})


@pytest.mark.parametrize("send", ["describe", "modify"])
def test_dts_client_sent_request_resigned_by_tea_openapi(server: RecordingServer, send: str) -> None:
    # GIVEN a request our DtsClient put on the wire (query encoded by us, decoded by the server)
    server.responder = _json_ok
    client = DtsClient("cn-hangzhou", server.url, Credentials(v.STS_KEY_ID, v.STS_SECRET, v.STS_TOKEN))
    actions: dict[str, Callable[[], object]] = {
        "describe": lambda: client.describe_dts_job_detail("job 1+*~", "ins/1"),
        "modify": lambda: client.modify_dts_job(
            "ins1", "j1", '{"订单 +*~":{"name":"x","all":true}}', client_token="t ok"
        ),
    }
    actions[send]()
    req = server.requests[0]
    auth = req.headers["authorization"]
    names = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    # WHEN the oracle signs what arrived with the headers we declared
    theirs = _sdk_acs3(
        req.method,
        req.query,
        {n: req.headers[n] for n in names},
        hashlib.sha256(req.body).hexdigest(),
        v.STS_KEY_ID,
        v.STS_SECRET,
    )
    # THEN it is byte-identical to our Authorization header
    assert theirs == auth


def test_dts_client_v1_sent_request_resigned_by_tea_openapi(server: RecordingServer) -> None:
    server.responder = _json_ok
    client = DtsClient("cn-hangzhou", server.url, Credentials(v.STS_KEY_ID, v.STS_SECRET, v.STS_TOKEN), "v1")
    client.modify_dts_job("ins1", "j1", '{"a b":{"name":"a+b","all":true}}', client_token="t*~")
    req = server.requests[0]
    params = dict(req.query)
    sent_signature = params.pop("Signature")
    params.update(req.form())
    assert tea_utils.Utils.get_rpcsignature(params, "POST", v.STS_SECRET) == sent_signature


@pytest.mark.parametrize("signature", ["v4", "v1"])
def test_oss_client_sent_request_resigned_by_oracle(server: RecordingServer, signature: str) -> None:
    server.responder = lambda _r: Reply(200, b"", {"ETag": '"E"'})
    client = OssClient(
        v.OSS_REGION, server.url, Credentials(v.STS_KEY_ID, v.STS_SECRET, v.STS_TOKEN), signature
    )  # type: ignore[arg-type]
    key = "dir/变更 文件+1%.json"
    client.put_object("examplebucket", key, b"{}", "application/json", forbid_overwrite=True)
    req = server.requests[0]
    signed_names = {h for h in req.headers if h.startswith("x-oss-") or h in ("content-type", "content-md5")}
    headers = {h: req.headers[h] for h in signed_names}
    if signature == "v4":
        when = datetime.strptime(req.headers["x-oss-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        url = f"http://127.0.0.1/examplebucket/{req.path.split('/', 2)[2]}"
        headers.pop("x-oss-date")
        headers.pop("x-oss-content-sha256")
        headers.pop("x-oss-security-token")
        _, theirs = _oss_v2_v4("PUT", url, headers, "examplebucket", key, when, v.STS_TOKEN)
    else:
        headers.pop("x-oss-security-token")
        _, theirs = _oss2_v1("PUT", headers, {}, "examplebucket", key, req.headers["date"], v.STS_TOKEN)
    assert theirs == req.headers["authorization"]
