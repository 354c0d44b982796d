"""The emulator's verifiers accept what the official signers produce, on generated inputs.

Oracles (reference B1-B3): `alibabacloud_tea_openapi.utils.Utils` for ACS3 and RPC V1,
`alibabacloud_oss_v2.signer` for OSS V4 and V1. Inputs cover unicode, spaces, `+`, `*`, `~`,
`%`, `/`, empty values and long DbList-like texts; a one-character change of the secret must
then be refused, so acceptance is not vacuous.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any
from urllib.parse import quote, urlencode

from alibabacloud_oss_v2.credentials import StaticCredentialsProvider
from alibabacloud_oss_v2.signer import SignerV1, SignerV4
from alibabacloud_oss_v2.types import HttpRequest, SigningContext
from alibabacloud_tea_openapi.utils import Utils
from darabonba.request import DaraRequest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dts_change.emulator.auth import AuthContext, Credential, authenticate_dts, authenticate_oss
from dts_change.emulator.wire import WireRequest

AK, SECRET, TOKEN = "STS.oracle", "oracle-secret/+=", "oracle-token/+="
WHEN = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
HOST = "127.0.0.1:8000"
EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=40,
) | st.sampled_from(["", " ", "+", "*", "~", "%", "a b+c*d~e%f/g", "中文 表", "%2B", "=&"])
PARAM_NAMES = st.sampled_from(
    ["DtsJobId", "DtsInstanceId", "RegionId", "ClientToken", "FileOssUrl", "FilterTableName", "X-y_z.~"]
)
DBLIST_TEXT = st.dictionaries(TEXT, st.just({"all": True}), max_size=30).map(lambda d: str(d))
KEYS = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(list(" +*~%/中")),
    min_size=1,
    max_size=40,
).filter(lambda k: not k.startswith("/"))


def _context(secret: str = SECRET, token: str | None = TOKEN) -> AuthContext:
    credential = Credential(AK, secret, token)
    return AuthContext(
        lookup=lambda ak: credential if ak == AK else None,
        now=WHEN.timestamp(),
        max_skew_seconds=900,
        nonces=None,
    )


def _both_verdicts(check: Any, token: str | None = TOKEN) -> tuple[bool, bool]:
    good = check(_context(SECRET, token))
    bad = check(_context(SECRET + "x", token))
    return good.ok, bad.ok


@EXAMPLES
@given(query=st.dictionaries(PARAM_NAMES, TEXT, max_size=5), db_list=DBLIST_TEXT)
def test_emulator_accepts_tea_openapi_acs3_signatures(query: dict[str, str], db_list: str) -> None:
    # GIVEN a POST signed by the official ACS3 signer over generated query values and body
    body = urlencode({"DbList": db_list}).encode()
    payload = hashlib.sha256(body).hexdigest()
    headers = {
        "host": HOST,
        "x-acs-action": "ModifyDtsJob",
        "x-acs-version": "2020-01-01",
        "x-acs-date": WHEN.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": "0123456789abcdef0123456789abcdef",
        "x-acs-content-sha256": payload,
        "x-acs-security-token": TOKEN,
        "content-type": "application/x-www-form-urlencoded",
    }
    request = DaraRequest()
    request.method, request.pathname, request.query, request.headers = "POST", "/", dict(query), dict(headers)
    authorization = Utils.get_authorization(request, "ACS3-HMAC-SHA256", payload, AK, SECRET)
    # WHEN the emulator checks the request as it would arrive (query urlencoded like the SDK)
    wire = WireRequest.build(
        "POST", "/?" + urlencode(query) if query else "/", {**headers, "Authorization": authorization}, body
    )

    def check(ctx: AuthContext) -> Any:
        return authenticate_dts(wire, wire.query_pairs(), wire.form_pairs(), ctx)

    # THEN the right secret passes and a wrong one does not
    assert _both_verdicts(check) == (True, False)


@EXAMPLES
@given(
    query=st.dictionaries(PARAM_NAMES, TEXT, max_size=5),
    db_list=DBLIST_TEXT,
    method=st.sampled_from(["GET", "POST"]),
)
def test_emulator_accepts_tea_openapi_rpc_v1_signatures(
    query: dict[str, str], db_list: str, method: str
) -> None:
    common = {
        "Action": "ModifyDtsJob",
        "Format": "json",
        "Version": "2020-01-01",
        "AccessKeyId": AK,
        "SecurityToken": TOKEN,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": "0123456789abcdef0123456789abcdef",
        "Timestamp": WHEN.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    params = {**query, **common}
    form = {"DbList": db_list} if method == "POST" else {}
    signature = Utils.get_rpcsignature({**params, **form}, method, SECRET)
    headers = {"host": HOST}
    if form:
        headers["content-type"] = "application/x-www-form-urlencoded"
    wire = WireRequest.build(
        method, "/?" + urlencode({**params, "Signature": signature}), headers, urlencode(form).encode()
    )

    def check(ctx: AuthContext) -> Any:
        return authenticate_dts(wire, wire.query_pairs(), wire.form_pairs(), ctx)

    assert _both_verdicts(check) == (True, False)


def _oss_wire(signed: HttpRequest) -> WireRequest:
    url = signed.url.split("://", 1)[1]
    target = url[url.index("/") :]
    return WireRequest.build(signed.method, target, {"host": HOST, **dict(signed.headers.items())})


@EXAMPLES
@given(
    key=KEYS,
    query=st.dictionaries(st.sampled_from(["prefix", "marker", "x-a", "acl"]), TEXT, max_size=3),
    version=st.sampled_from(["v1", "v4"]),
)
def test_emulator_accepts_oss_v2_signatures(key: str, query: dict[str, str], version: str) -> None:
    # GIVEN a path-style request signed by the official oss-v2 signer (V1 without STS, as the
    # reference advises; V4 with STS)
    token = TOKEN if version == "v4" else None
    credentials = StaticCredentialsProvider(AK, SECRET, token).get_credentials()
    url = f"http://{HOST}/bucket/{quote(key, safe='/')}"
    if query:
        url += "?" + urlencode(query, quote_via=quote)
    request = HttpRequest("PUT", url)
    request.headers.update({"Content-Type": "text/plain", "x-oss-meta-author": "alice"})
    ctx = SigningContext(
        bucket="bucket",
        key=key,
        request=request,
        credentials=credentials,
        signing_time=WHEN,
        product="oss",
        region="cn-hangzhou",
    )
    (SignerV4() if version == "v4" else SignerV1()).sign(ctx)
    wire = _oss_wire(request)

    def check(c: AuthContext) -> Any:
        return authenticate_oss(wire, "bucket", key, wire.query_pairs(), c)

    # THEN the emulator accepts it with the right secret only
    assert _both_verdicts(check, token) == (True, False)
