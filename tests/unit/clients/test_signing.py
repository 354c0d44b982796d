"""Our signers against the pinned vectors of the reference, plus the encoding rules they rest on."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest

from dts_change.clients import signing
from tests.unit.clients import vectors as v

# ---------------------------------------------------------------- encoding and dates


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("a b", "a%20b"),
        ("*", "%2A"),
        ("~", "~"),
        ("+", "%2B"),
        ("/", "%2F"),
        ("%", "%25"),
        ("AZaz09-_.", "AZaz09-_."),
        ("中", "%E4%B8%AD"),
        ("", ""),
    ],
)
def test_percent_encode_rfc3986_characters_encoded_as_documented(raw: str, encoded: str) -> None:
    assert signing.percent_encode(raw) == encoded


def test_percent_encode_safe_slash_kept_when_asked() -> None:
    assert signing.percent_encode("a/b c", safe="/") == "a/b%20c"


def test_http_date_rfc1123_gmt_regardless_of_locale() -> None:
    assert signing.http_date(v.B1_WHEN) == "Tue, 02 Jan 2024 03:04:05 GMT"


def test_timestamps_other_timezone_converted_to_utc() -> None:
    # GIVEN 11:04:05 at UTC+8
    when = datetime(2024, 1, 2, 11, 4, 5, tzinfo=timezone(timedelta(hours=8)))
    # THEN every format shows 03:04:05 UTC
    assert signing.acs_timestamp(when) == v.B1_DATE
    assert signing.oss_v4_timestamp(when) == "20240102T030405Z"


def test_timestamps_naive_datetime_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        signing.acs_timestamp(datetime(2024, 1, 2))


def test_form_encode_sorted_and_rfc3986() -> None:
    assert signing.form_encode({"b": "x y", "a": '{"k":1}'}) == "a=%7B%22k%22%3A1%7D&b=x%20y"


# ---------------------------------------------------------------- ACS3


def test_acs3_sign_doc_vector_matches_published_hash_and_signature() -> None:
    sig = signing.acs3_sign(
        method=v.ACS3_DOC["method"],
        query=v.ACS3_DOC["query"],
        signed_headers=v.ACS3_DOC["headers"],
        payload_sha256=v.EMPTY_SHA256,
        access_key_id=v.ACS3_DOC["access_key_id"],
        access_key_secret=v.ACS3_DOC["access_key_secret"],
    )
    assert sig.string_to_sign == f"ACS3-HMAC-SHA256\n{v.ACS3_DOC['hashed_canonical_request']}"
    assert sig.signature == v.ACS3_DOC["signature"]
    assert sig.authorization == (
        "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;"
        "x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,"
        f"Signature={v.ACS3_DOC['signature']}"
    )


def test_acs3_canonical_request_layout_blank_line_after_headers() -> None:
    sig = signing.acs3_sign(
        method="post",
        query={"b": "2 3", "a": ""},
        signed_headers={"Host": " h ", "x-acs-date": "d"},
        payload_sha256="p",
        access_key_id="id",
        access_key_secret="s",
    )
    assert sig.canonical_request == "POST\n/\na=&b=2%203\nhost:h\nx-acs-date:d\n\nhost;x-acs-date\np"


def test_acs3_canonical_headers_duplicate_names_joined_sorted() -> None:
    block, names = signing.acs3_canonical_headers({"X-Acs-A": "2", "x-acs-a": "1"})
    assert (block, names) == ("x-acs-a:1,2\n", "x-acs-a")


def test_acs3_request_headers_b1_sts_vector_matches_sdk_signature() -> None:
    # GIVEN the B1 smallest-oracle request (query DtsJobId/RegionId, STS, form body)
    headers, sig = signing.acs3_request_headers(
        host="dts.cn-hangzhou.aliyuncs.com",
        action="ModifyDtsJob",
        version="2020-01-01",
        query={"DtsJobId": "job1", "RegionId": "cn-hangzhou"},
        body=v.B1_BODY.encode(),
        content_type="application/x-www-form-urlencoded",
        when=v.B1_WHEN,
        nonce=v.B1_NONCE,
        access_key_id=v.STS_KEY_ID,
        access_key_secret=v.STS_SECRET,
        security_token=v.STS_TOKEN,
    )
    # THEN the signature, signed header list and headers are the SDK's
    assert sig.signature == v.B1_SIGNATURE
    assert sig.signed_headers == v.B1_SIGNED_HEADERS
    assert headers["x-acs-content-sha256"] == hashlib.sha256(v.B1_BODY.encode()).hexdigest()
    assert headers["x-acs-security-token"] == v.STS_TOKEN
    assert headers["Authorization"].endswith(f"Signature={v.B1_SIGNATURE}")


def test_acs3_request_headers_no_body_no_content_type_empty_hash() -> None:
    headers, sig = signing.acs3_request_headers(
        host="h",
        action="A",
        version="V",
        query={},
        body=b"",
        content_type=None,
        when=v.B1_WHEN,
        nonce="n",
        access_key_id="id",
        access_key_secret="s",
    )
    assert "content-type" not in headers
    assert "x-acs-security-token" not in headers
    assert headers["x-acs-content-sha256"] == v.EMPTY_SHA256
    assert sig.canonical_request.split("\n")[2] == ""


def test_acs3_signature_repr_hides_signature() -> None:
    sig = signing.acs3_sign(
        method="GET",
        query={},
        signed_headers={"host": "h"},
        payload_sha256="p",
        access_key_id="id",
        access_key_secret="s",
    )
    assert sig.signature not in repr(sig)


# ---------------------------------------------------------------- RPC V1


def test_rpc_v1_sign_doc_vector_matches() -> None:
    sig = signing.rpc_v1_sign("GET", v.RPC_V1_DOC["params"], v.RPC_V1_DOC["secret"])
    assert sig.signature == v.RPC_V1_DOC["signature"]
    assert sig.string_to_sign.startswith("GET&%2F&AccessKeyId%3Dtestid%26Action%3D")


def test_rpc_v1_sign_dts_sts_vector_matches() -> None:
    sig = signing.rpc_v1_sign("POST", v.RPC_V1_DTS["params"], v.STS_SECRET)
    assert sig.signature == v.RPC_V1_DTS["signature"]


def test_rpc_v1_sign_signature_parameter_ignored() -> None:
    params = dict(v.RPC_V1_DOC["params"], Signature="anything")
    assert signing.rpc_v1_sign("GET", params, "testsecret").signature == v.RPC_V1_DOC["signature"]


def test_rpc_v1_string_to_sign_encodes_query_twice() -> None:
    sig = signing.rpc_v1_sign("POST", {"k": "a b*~"}, "s")
    assert sig.canonical_query == "k=a%20b%2A~"
    assert sig.string_to_sign == "POST&%2F&k%3Da%2520b%252A~"


def test_rpc_v1_common_params_sts_token_included() -> None:
    params = signing.rpc_v1_common_params(
        action="A", version="V", access_key_id="id", when=v.B1_WHEN, nonce="n", security_token="t"
    )
    assert params["SecurityToken"] == "t"
    assert params["Timestamp"] == v.B1_DATE
    assert params["SignatureMethod"] == "HMAC-SHA1"
    assert params["SignatureVersion"] == "1.0"


# ---------------------------------------------------------------- OSS V1


def test_oss_v1_sign_sts_vector_matches_oss2() -> None:
    sig = signing.oss_v1_sign(
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
    assert sig.headers["authorization"] == v.OSS_V1_AUTHORIZATION
    assert sig.headers["x-oss-security-token"] == v.STS_TOKEN
    assert sig.string_to_sign == (
        "PUT\nXUFAKrxLKna5cZ2REBfFkg==\ntext/plain\nTue, 02 Jan 2024 03:04:05 GMT\n"
        "x-oss-meta-author:alice\nx-oss-security-token:testSecurityToken/+=\n"
        "/examplebucket/dir/hello world+1.txt?acl"
    )


def test_oss_v1_sign_repo_vector_x_oss_date_wins_over_date() -> None:
    sig = signing.oss_v1_sign(
        method="PUT",
        bucket="examplebucket",
        key="nelson",
        query={},
        headers=v.OSS_V1_REPO["headers"],
        access_key_id="ak",
        access_key_secret="sk",
        when=v.B1_WHEN,
    )
    assert sig.headers["authorization"] == v.OSS_V1_REPO["authorization"]


def test_oss_v1_canonical_resource_only_subresources_kept() -> None:
    resource = signing.oss_v1_canonical_resource(
        "b", "k", {"list-type": "2", "continuation-token": "t/1", "prefix": "p", "acl": ""}
    )
    assert resource == "/b/k?acl&continuation-token=t/1"


def test_oss_v1_canonical_resource_bucket_only_and_service() -> None:
    assert signing.oss_v1_canonical_resource("b", None, {}) == "/b/"
    assert signing.oss_v1_canonical_resource(None, None, {}) == "/"


# ---------------------------------------------------------------- OSS V4


def test_oss_v4_sign_sts_vector_matches_both_sdks() -> None:
    sig = signing.oss_v4_sign(
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
    assert sig.signature == v.OSS_V4_SIGNATURE
    assert sig.headers["authorization"] == (
        "OSS4-HMAC-SHA256 Credential=testAccessKeyId/20240102/cn-hangzhou/oss/aliyun_v4_request,"
        f"Signature={v.OSS_V4_SIGNATURE}"
    )
    assert sig.headers["x-oss-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert sig.headers["x-oss-date"] == "20240102T030405Z"


def test_oss_v4_canonical_request_encodes_key_and_query() -> None:
    sig = signing.oss_v4_sign(
        method="GET",
        bucket="b",
        key="a b+c%/中",
        query={"prefix": "x/y", "list-type": "2", "flag": ""},
        headers={},
        access_key_id="id",
        access_key_secret="s",
        region="cn-hangzhou",
        when=v.B1_WHEN,
    )
    lines = sig.canonical_request.split("\n")
    assert lines[1] == "/b/a%20b%2Bc%25/%E4%B8%AD"
    assert lines[2] == "flag&list-type=2&prefix=x%2Fy"


def test_oss_v4_additional_headers_signed_and_named() -> None:
    sig = signing.oss_v4_sign(
        method="GET",
        bucket="b",
        key="k",
        query={},
        headers={"Host": "b.example", "Content-Type": "t"},
        access_key_id="id",
        access_key_secret="s",
        region="r",
        when=v.B1_WHEN,
        additional_headers=["host", "content-type", "absent"],
    )
    assert ",AdditionalHeaders=host," in sig.headers["authorization"]
    assert "\nhost:b.example\n" in sig.canonical_request
    assert sig.canonical_request.split("\n")[-2] == "host"


def test_oss_v4_scope_and_signing_key_date_region_product() -> None:
    assert signing.oss_v4_scope(v.B1_WHEN, "cn-hangzhou") == "20240102/cn-hangzhou/oss/aliyun_v4_request"
    key_a = signing.oss_v4_signing_key("s", v.B1_WHEN, "cn-hangzhou")
    key_b = signing.oss_v4_signing_key("s", v.B1_WHEN, "cn-shanghai")
    assert key_a != key_b
