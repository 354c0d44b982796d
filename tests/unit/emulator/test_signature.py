"""The emulator's signature algorithms against the pinned vectors of reference/signing-and-sdks.md."""

from __future__ import annotations

import hashlib

import pytest

from dts_change.emulator import signature as sig

TOKEN = "testSecurityToken/+="
B_AK, B_SECRET = "testAccessKeyId", "testAccessKeySecret"


def _headers(pairs: dict[str, str]) -> dict[str, list[str]]:
    return {name: [value] for name, value in pairs.items()}


def test_acs3_doc_vector_reproduces_hash_and_signature() -> None:
    # GIVEN the "fixed parameter values" example of the V3 doc (reference A1)
    headers = _headers(
        {
            "host": "ecs.cn-shanghai.aliyuncs.com",
            "x-acs-action": "RunInstances",
            "x-acs-version": "2014-05-26",
            "x-acs-date": "2023-10-26T10:22:32Z",
            "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
            "x-acs-content-sha256": sig.EMPTY_SHA256,
        }
    )
    query = [
        ("ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"),
        ("RegionId", "cn-shanghai"),
    ]
    # WHEN the canonical request and signature are computed
    canonical = sig.acs3_canonical_request("POST", "/", query, headers, list(headers), sig.EMPTY_SHA256)
    # THEN both match the published values
    assert (
        hashlib.sha256(canonical.encode()).hexdigest()
        == "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
    )
    assert (
        sig.acs3_signature("YourAccessKeySecret", sig.acs3_string_to_sign(canonical))
        == "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
    )


def _b1_modify_headers() -> dict[str, list[str]]:
    return _headers(
        {
            "accept": "application/json",
            "content-type": "application/x-www-form-urlencoded",
            "host": "dts.cn-hangzhou.aliyuncs.com",
            "user-agent": "fixed-ua",
            "x-acs-accesskey-id": B_AK,
            "x-acs-action": "ModifyDtsJob",
            "x-acs-content-sha256": "971052612e1a70d27cb15b72d4afeb63d6598fc0ba7fee17667b816ddcdd50e3",
            "x-acs-credentials-provider": "static_sts",
            "x-acs-date": "2024-01-02T03:04:05Z",
            "x-acs-security-token": TOKEN,
            "x-acs-signature-nonce": "0123456789abcdef0123456789abcdef",
            "x-acs-version": "2020-01-01",
        }
    )


def test_acs3_sdk_modify_dts_job_vector_with_twelve_signed_headers_matches() -> None:
    # GIVEN the B1 pinned ModifyDtsJob request as the official SDK signs it (STS, 12 headers)
    body = b"DbList=%7B%22db1%22%3A%7B%22name%22%3A%22db1%22%2C%22all%22%3Atrue%7D%7D"
    headers = _b1_modify_headers()
    assert hashlib.sha256(body).hexdigest() == headers["x-acs-content-sha256"][0]
    query = [
        ("ClientToken", "tok-1"),
        ("DtsInstanceId", "dtsabc123"),
        ("DtsJobId", "job1"),
        ("RegionId", "cn-hangzhou"),
        ("SynchronizationDirection", "Forward"),
    ]
    # WHEN signed
    canonical = sig.acs3_canonical_request(
        "POST", "/", query, headers, list(headers), headers["x-acs-content-sha256"][0]
    )
    # THEN the SDK's signature comes out
    assert (
        sig.acs3_signature(B_SECRET, sig.acs3_string_to_sign(canonical))
        == "a240b538a51af2b7a5d0460e99651aecab2efe39235ebbdd28051dbe46868f81"
    )


def test_acs3_smallest_oracle_vector_matches() -> None:
    body = b"DbList=%7B%22a%22%3A1%7D"
    headers = _headers(
        {
            "content-type": "application/x-www-form-urlencoded",
            "host": "dts.cn-hangzhou.aliyuncs.com",
            "x-acs-action": "ModifyDtsJob",
            "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
            "x-acs-date": "2024-01-02T03:04:05Z",
            "x-acs-security-token": TOKEN,
            "x-acs-signature-nonce": "0123456789abcdef0123456789abcdef",
            "x-acs-version": "2020-01-01",
        }
    )
    canonical = sig.acs3_canonical_request(
        "POST",
        "/",
        [("DtsJobId", "job1"), ("RegionId", "cn-hangzhou")],
        headers,
        list(headers),
        hashlib.sha256(body).hexdigest(),
    )
    assert (
        sig.acs3_signature(B_SECRET, sig.acs3_string_to_sign(canonical))
        == "ab5b8b180b58b271ad07254f6994e5c02df871af92ef962685516b2fdb74683f"
    )


def test_acs3_canonical_query_decoded_then_reencoded_is_order_and_plus_independent() -> None:
    # GIVEN the same values as an SDK sends them (space as '+') and as RFC 3986 wants them
    pairs = [("b", "x y*~/"), ("a", "中")]
    # THEN the canonical form encodes space as %20, * as %2A, keeps ~, sorts by name
    assert sig.acs3_canonical_query(pairs) == "a=%E4%B8%AD&b=x%20y%2A~%2F"


def test_rpc_v1_doc_vector_matches() -> None:
    params = [
        ("AccessKeyId", "testid"),
        ("Action", "DescribeDedicatedHosts"),
        ("Format", "JSON"),
        ("RegionId", "cn-beijing"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", "edb2b34af0af9a6d14deaf7c1a5315eb"),
        ("SignatureVersion", "1.0"),
        ("Timestamp", "2023-03-13T08:34:30Z"),
        ("Version", "2014-05-26"),
    ]
    assert (
        sig.rpc_v1_signature("testsecret", sig.rpc_v1_string_to_sign("GET", params))
        == "9NaGiOspFP5UPcwX8Iwt2YJXXuk="
    )


def _b2_common(action: str) -> list[tuple[str, str]]:
    return [
        ("Action", action),
        ("Format", "json"),
        ("Version", "2020-01-01"),
        ("AccessKeyId", B_AK),
        ("SecurityToken", TOKEN),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", "0123456789abcdef0123456789abcdef"),
        ("Timestamp", "2024-01-02T03:04:05Z"),
        ("RegionId", "cn-hangzhou"),
    ]


def test_rpc_v1_describe_dts_job_detail_vector_matches() -> None:
    params = [*_b2_common("DescribeDtsJobDetail"), ("DtsJobId", "job1")]
    assert (
        sig.rpc_v1_signature(B_SECRET, sig.rpc_v1_string_to_sign("POST", params))
        == "Wj94vI47k9SWbjr6vMVmisSKAU4="
    )


def test_rpc_v1_modify_dts_job_vector_includes_form_body_params() -> None:
    params = [
        *_b2_common("ModifyDtsJob"),
        ("DtsInstanceId", "dtsabc123"),
        ("DtsJobId", "job1"),
        ("SynchronizationDirection", "Forward"),
        ("ClientToken", "tok-1"),
        ("DbList", '{"db1":{"name":"db1","all":true}}'),
    ]
    assert (
        sig.rpc_v1_signature(B_SECRET, sig.rpc_v1_string_to_sign("POST", params))
        == "hppIAVJ+YlGEQQQ/zfxvt/MuRpQ="
    )


def test_oss_v1_header_vectors_match() -> None:
    # GIVEN the oss-v2 repo vector (no STS) and the oss2 STS vector with ?acl (reference A3, B3)
    plain = _headers(
        {
            "content-md5": "eB5eJF1ptWaXm4bijSPyxw==",
            "content-type": "text/html",
            "x-oss-meta-author": "alice",
            "x-oss-meta-magic": "abracadabra",
            "x-oss-date": "Wed, 28 Dec 2022 10:27:41 GMT",
        }
    )
    sts = _headers(
        {
            "content-md5": "XUFAKrxLKna5cZ2REBfFkg==",
            "content-type": "text/plain",
            "x-oss-meta-author": "alice",
            "date": "Tue, 02 Jan 2024 03:04:05 GMT",
            "x-oss-security-token": TOKEN,
        }
    )
    # THEN both signatures match
    assert (
        sig.oss_v1_signature("sk", sig.oss_v1_string_to_sign("PUT", plain, "examplebucket", "nelson", []))
        == "kSHKmLxlyEAKtZPkJhG9bZb5k7M="
    )
    string_to_sign = sig.oss_v1_string_to_sign(
        "PUT", sts, "examplebucket", "dir/hello world+1.txt", [("acl", "")]
    )
    assert sig.oss_v1_signature(B_SECRET, string_to_sign) == "e1ccC62ZrplY5uvDLGpAM99DvW0="


@pytest.mark.parametrize(
    ("expires", "expected"),
    [("1704164645", "hifGSYPTPRLSMIvvgUtWWoMcwO0="), ("1704168245", "Ayu/1UMAyzsVBAETXz9EZFgeXTE=")],
)
def test_oss_v1_presigned_vectors_match(expires: str, expected: str) -> None:
    string_to_sign = sig.oss_v1_string_to_sign(
        "GET",
        {},
        "examplebucket",
        "dir/hello world+1.txt",
        [("security-token", TOKEN)],
        date_override=expires,
    )
    assert sig.oss_v1_signature(B_SECRET, string_to_sign) == expected


def test_oss_v4_header_vector_matches() -> None:
    headers = _headers(
        {
            "content-type": "text/plain",
            "x-oss-meta-author": "alice",
            "date": "Tue, 02 Jan 2024 03:04:05 GMT",
            "x-oss-security-token": TOKEN,
            "x-oss-date": "20240102T030405Z",
            "x-oss-content-sha256": "UNSIGNED-PAYLOAD",
        }
    )
    canonical = sig.oss_v4_canonical_request(
        "PUT", "examplebucket", "dir/hello world+1.txt", [("acl", "")], headers, []
    )
    scope = "20240102/cn-hangzhou/oss/aliyun_v4_request"
    string_to_sign = sig.oss_v4_string_to_sign("20240102T030405Z", scope, canonical)
    assert (
        sig.oss_v4_signature(B_SECRET, "20240102", "cn-hangzhou", "oss", string_to_sign)
        == "ff6a71550b27578d0a0f04ebd4701de4fd81793834d450caa6986986f809ebc1"
    )


def test_oss_v4_presigned_vector_matches() -> None:
    query = [
        ("x-oss-signature-version", "OSS4-HMAC-SHA256"),
        ("x-oss-date", "20240102T030405Z"),
        ("x-oss-expires", "3600"),
        ("x-oss-credential", f"{B_AK}/20240102/cn-hangzhou/oss/aliyun_v4_request"),
        ("x-oss-security-token", TOKEN),
    ]
    canonical = sig.oss_v4_canonical_request("GET", "examplebucket", "dir/hello world+1.txt", query, {}, [])
    scope = "20240102/cn-hangzhou/oss/aliyun_v4_request"
    string_to_sign = sig.oss_v4_string_to_sign("20240102T030405Z", scope, canonical)
    assert (
        sig.oss_v4_signature(B_SECRET, "20240102", "cn-hangzhou", "oss", string_to_sign)
        == "8e5cbd791bd21c2bf9581d527b7ce27dd70a0d3dabe651cd3c87754925816700"
    )


@pytest.mark.parametrize(
    "header",
    [
        "OSS4-HMAC-SHA256 Credential=ak/20240102/cn-hangzhou/oss/aliyun_v4_request,"
        "AdditionalHeaders=host;x-a,Signature=abc",
        "OSS4-HMAC-SHA256 Credential=ak/20240102/cn-hangzhou/oss/aliyun_v4_request, "
        "Signature=abc, AdditionalHeaders=host;x-a",
    ],
)
def test_parse_oss_v4_authorization_both_sdk_layouts_same_result(header: str) -> None:
    parsed = sig.parse_oss_v4_authorization(header)
    assert (parsed.access_key_id, parsed.date, parsed.region, parsed.product) == (
        "ak",
        "20240102",
        "cn-hangzhou",
        "oss",
    )
    assert parsed.additional_headers == ("host", "x-a")
    assert parsed.signature == "abc"


def test_parse_acs3_authorization_reads_signed_headers_lower_case() -> None:
    parsed = sig.parse_acs3_authorization(
        "ACS3-HMAC-SHA256 Credential=LTAI1,SignedHeaders=Host;x-acs-date,Signature=ff"
    )
    assert parsed == sig.Acs3Authorization("LTAI1", ("host", "x-acs-date"), "ff")


@pytest.mark.parametrize(
    "header",
    [
        "ACS3-HMAC-SM3 Credential=a,SignedHeaders=host,Signature=f",
        "ACS3-HMAC-SHA256 Credential=a,Signature=f",
        "ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature=f",
    ],
)
def test_parse_acs3_authorization_malformed_raises(header: str) -> None:
    with pytest.raises(sig.AuthorizationFormatError):
        sig.parse_acs3_authorization(header)
