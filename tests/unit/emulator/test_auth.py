"""Signature and credential checks of DTS (ACS3, RPC V1) and OSS (V1, V4) requests, no sockets."""

from __future__ import annotations

import time
from urllib.parse import quote, urlencode

import pytest

from dts_change.emulator import signature as sig
from dts_change.emulator.wire import WireRequest
from tests.unit.emulator.builders import AK, HOST, SECRET, STS_AK, STS_SECRET, STS_TOKEN, Harness

DETAIL = {"DtsJobId": "dtsjob-demo"}


def test_acs3_valid_request_answers_200_and_logs_verdict(harness: Harness) -> None:
    response = harness.dts("DescribeDtsJobDetail", DETAIL)
    assert response.status == 200
    signature = harness.calls()[-1]["signature"]
    assert signature == {
        "scheme": "ACS3-HMAC-SHA256",
        "accessKeyId": AK,
        "valid": True,
        "code": None,
        "securityTokenSent": False,
    }


def test_acs3_wrong_secret_returns_signature_does_not_match(harness: Harness) -> None:
    response = harness.dts("DescribeDtsJobDetail", DETAIL, secret="wrong")
    body = response.json()
    assert (response.status, body["Code"]) == (400, "SignatureDoesNotMatch")
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert body["HostId"] == HOST
    assert harness.calls()[-1]["outcome"] == "SignatureDoesNotMatch"


def test_acs3_body_altered_after_signing_returns_signature_does_not_match(harness: Harness) -> None:
    # GIVEN a ModifyDtsJob signed for one DbList, sent with another
    request = harness.acs3(
        "ModifyDtsJob",
        {"DtsInstanceId": "dtsins-demo"},
        form={"DbList": '{"a":{"name":"a","all":true}}'},
        body_override=b"DbList=%7B%22b%22%3A%7B%7D%7D",
    )
    # WHEN sent
    response = harness.send(request)
    # THEN the body hash check refuses it and nothing was modified
    assert (response.status, response.json()["Code"]) == (400, "SignatureDoesNotMatch")
    assert "x-acs-content-sha256" in response.json()["Message"]
    assert harness.core.get_state()["jobs"]["dtsjob-demo"]["status"] == "Synchronizing"


def test_acs3_query_sent_with_plus_for_space_verifies(harness: Harness) -> None:
    # GIVEN a query value with a space, encoded by the sender as '+' (what urlencode does)
    request = harness.acs3("DescribeDtsJobDetail", {"DtsJobId": "dtsjob-demo", "X": "a b*~"})
    assert "X=a+b%2A~" in request.target
    # THEN the verifier decodes and re-encodes before hashing
    assert harness.send(request).status == 200


def test_acs3_unknown_key_returns_invalid_access_key_id_not_found(harness: Harness) -> None:
    response = harness.dts("DescribeDtsJobDetail", DETAIL, ak="LTAInobody")
    assert (response.status, response.json()["Code"]) == (404, "InvalidAccessKeyId.NotFound")


def test_acs3_sts_key_with_its_token_is_accepted(harness: Harness) -> None:
    response = harness.dts("DescribeDtsJobDetail", DETAIL, ak=STS_AK, secret=STS_SECRET, token=STS_TOKEN)
    assert response.status == 200
    assert harness.calls()[-1]["signature"]["securityTokenSent"] is True


@pytest.mark.parametrize(
    ("token", "code", "status"),
    [
        (None, "MissingSecurityToken", 400),
        ("other-token", "InvalidSecurityToken.MismatchWithAccessKey", 400),
    ],
)
def test_acs3_sts_key_without_right_token_is_refused(
    harness: Harness, token: str | None, code: str, status: int
) -> None:
    response = harness.dts("DescribeDtsJobDetail", DETAIL, ak=STS_AK, secret=STS_SECRET, token=token)
    assert (response.status, response.json()["Code"]) == (status, code)


def test_acs3_long_term_key_sending_a_token_is_refused(harness: Harness) -> None:
    response = harness.dts("DescribeDtsJobDetail", DETAIL, token="unexpected")
    assert response.json()["Code"] == "InvalidSecurityToken.MismatchWithAccessKey"


def test_acs3_rotated_out_token_returns_expired(harness: Harness) -> None:
    # GIVEN the credential's token was rotated: the old one is listed in expiredTokens
    state = harness.core.get_state()
    state["credentials"][STS_AK] = {
        "secret": STS_SECRET,
        "securityToken": "new-token",
        "expiredTokens": [STS_TOKEN],
    }
    harness.core.put_state(state)
    # WHEN the old token is sent, THEN 403 Expired; the new one works
    old = harness.dts("DescribeDtsJobDetail", DETAIL, ak=STS_AK, secret=STS_SECRET, token=STS_TOKEN)
    assert (old.status, old.json()["Code"]) == (403, "InvalidSecurityToken.Expired")
    new = harness.dts("DescribeDtsJobDetail", DETAIL, ak=STS_AK, secret=STS_SECRET, token="new-token")
    assert new.status == 200


@pytest.mark.parametrize("offset", [-901, 901])
def test_acs3_date_skewed_over_15_minutes_is_refused(harness: Harness, offset: int) -> None:
    response = harness.dts("DescribeDtsJobDetail", DETAIL, at=harness.clock() + offset)
    assert (response.status, response.json()["Code"]) == (400, "InvalidTimeStamp.Expired")


def test_acs3_date_skew_of_14_minutes_is_accepted(harness: Harness) -> None:
    assert harness.dts("DescribeDtsJobDetail", DETAIL, at=harness.clock() - 840).status == 200


def test_acs3_reused_nonce_returns_signature_nonce_used(harness: Harness) -> None:
    assert harness.dts("DescribeDtsJobDetail", DETAIL, nonce="n-1").status == 200
    response = harness.dts("DescribeDtsJobDetail", DETAIL, nonce="n-1")
    assert response.json()["Code"] == "SignatureNonceUsed"


def test_acs3_unsigned_acs_header_returns_incomplete_signature(harness: Harness) -> None:
    response = harness.dts("DescribeDtsJobDetail", DETAIL, unsigned_headers={"x-acs-accesskey-id": AK})
    assert response.json()["Code"] == "IncompleteSignature"
    assert "x-acs-accesskey-id" in response.json()["Message"]


def test_acs3_signed_header_subset_of_doc_minimum_is_accepted(harness: Harness) -> None:
    # The doc example signs only host and the x-acs-* headers: the verifier follows SignedHeaders.
    response = harness.dts("DescribeDtsJobDetail", DETAIL, extra_headers={"user-agent": "x"})
    assert response.status == 200


def test_unsigned_dts_request_returns_incomplete_signature(harness: Harness) -> None:
    response = harness.send(WireRequest.build("GET", "/?Action=DescribeDtsJobDetail", {"host": HOST}))
    assert response.status == 400
    assert b"IncompleteSignature" in response.body


def test_rpc_v1_post_with_form_body_is_verified(harness: Harness) -> None:
    request = harness.rpc_v1(
        "ModifyDtsJob",
        {"DtsInstanceId": "dtsins-demo", "DtsJobId": "dtsjob-demo"},
        form={"DbList": '{"x":{"name":"x","all":true}}'},
    )
    assert harness.send(request).status == 200
    assert harness.calls()[-1]["signature"]["scheme"] == "RPC-V1-HMAC-SHA1"


def test_rpc_v1_get_with_sts_token_is_verified(harness: Harness) -> None:
    request = harness.rpc_v1(
        "DescribeDtsJobDetail", DETAIL, ak=STS_AK, secret=STS_SECRET, token=STS_TOKEN, method="GET"
    )
    assert harness.send(request).status == 200


def test_rpc_v1_wrong_secret_returns_signature_does_not_match(harness: Harness) -> None:
    response = harness.send(harness.rpc_v1("DescribeDtsJobDetail", DETAIL, secret="nope"))
    assert (response.status, response.json()["Code"]) == (400, "SignatureDoesNotMatch")


def test_rpc_v1_missing_timestamp_returns_missing_parameter(harness: Harness) -> None:
    request = harness.rpc_v1("DescribeDtsJobDetail", DETAIL)
    target = "&".join(p for p in request.target.split("&") if not p.startswith("Timestamp="))
    response = harness.send(WireRequest.build("POST", target, request.headers, b""))
    body = response.json()
    assert body["Code"] == "MissingParameter"
    assert "Timestamp" in body["Message"]


def test_rpc_v1_without_format_answers_xml_like_dts_default(harness: Harness) -> None:
    response = harness.send(harness.rpc_v1("DescribeDtsJobDetail", DETAIL, fmt=None))
    assert response.header("Content-Type") == "text/xml;charset=utf-8"
    assert response.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<DescribeDtsJobDetailResponse>')


def test_rpc_v1_xml_error_body_has_the_pop_fields(harness: Harness) -> None:
    response = harness.send(harness.rpc_v1("DescribeDtsJobDetail", DETAIL, secret="x", fmt="XML"))
    assert response.header("Content-Type") == "text/xml;charset=utf-8"
    for element in (b"<RequestId>", b"<HostId>", b"<Code>SignatureDoesNotMatch</Code>", b"<Recommend>"):
        assert element in response.body


# ---------------------------------------------------------------- OSS


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_oss_signed_get_with_long_term_key_succeeds(harness: Harness, version: str) -> None:
    response = harness.oss("GET", "dts-changes", "changes/0001.json", version=version)
    assert (response.status, response.body) == (200, b'{"add": {}}')


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_oss_wrong_secret_returns_403_signature_does_not_match(harness: Harness, version: str) -> None:
    response = harness.oss("GET", "dts-changes", "changes/0001.json", version=version, secret="bad")
    assert response.status == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in response.body
    assert response.header("x-oss-request-id") is not None


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_oss_sts_requires_matching_token(harness: Harness, version: str) -> None:
    ok = harness.oss(
        "GET",
        "dts-changes",
        "changes/0001.json",
        version=version,
        ak=STS_AK,
        secret=STS_SECRET,
        token=STS_TOKEN,
    )
    missing = harness.oss(
        "GET", "dts-changes", "changes/0001.json", version=version, ak=STS_AK, secret=STS_SECRET
    )
    assert ok.status == 200
    assert missing.status == 403
    assert b"<Code>InvalidSecurityToken</Code>" in missing.body


def test_oss_anonymous_request_returns_access_denied(harness: Harness) -> None:
    response = harness.send(WireRequest.build("GET", "/dts-changes/changes/0001.json", {"host": HOST}))
    assert response.status == 403
    assert b"<Code>AccessDenied</Code>" in response.body


def test_oss_unknown_key_returns_invalid_access_key_id(harness: Harness) -> None:
    response = harness.oss("GET", "dts-changes", "changes/0001.json", ak="nobody")
    assert b"<Code>InvalidAccessKeyId</Code>" in response.body


def test_oss_v4_skewed_date_returns_request_time_too_skewed(harness: Harness) -> None:
    response = harness.oss("GET", "dts-changes", "changes/0001.json", at=harness.clock() - 3600)
    assert b"<Code>RequestTimeTooSkewed</Code>" in response.body


def test_oss_v1_presigned_url_until_expiry(harness: Harness) -> None:
    # GIVEN a V1 presigned GET valid for 60 s
    expires = str(int(harness.clock()) + 60)
    string_to_sign = sig.oss_v1_string_to_sign(
        "GET", {}, "dts-changes", "changes/0001.json", [], date_override=expires
    )
    query = urlencode(
        {"OSSAccessKeyId": AK, "Expires": expires, "Signature": sig.oss_v1_signature(SECRET, string_to_sign)}
    )
    request = WireRequest.build("GET", f"/dts-changes/changes/0001.json?{query}", {"host": HOST})
    # THEN it works now and is refused after expiry
    assert harness.send(request).status == 200
    harness.clock.advance(61)
    late = harness.send(request)
    assert late.status == 403
    assert b"Request has expired" in late.body


def test_oss_v4_presigned_url_is_verified(harness: Harness) -> None:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(harness.clock()))
    scope = f"{stamp[:8]}/cn-hangzhou/oss/aliyun_v4_request"
    query = [
        ("x-oss-signature-version", "OSS4-HMAC-SHA256"),
        ("x-oss-date", stamp),
        ("x-oss-expires", "60"),
        ("x-oss-credential", f"{AK}/{scope}"),
    ]
    canonical = sig.oss_v4_canonical_request("GET", "dts-changes", "changes/0001.json", query, {}, [])
    signature = sig.oss_v4_signature(
        SECRET, stamp[:8], "cn-hangzhou", "oss", sig.oss_v4_string_to_sign(stamp, scope, canonical)
    )
    text = urlencode([*query, ("x-oss-signature", signature)], quote_via=quote)
    request = WireRequest.build("GET", f"/dts-changes/changes/0001.json?{text}", {"host": HOST})
    assert harness.send(request).status == 200
