"""FileOssUrl: the accepted forms, and every refusal with its reason (no host is ever contacted)."""

from __future__ import annotations

import pytest

from dts_change.core.errors import FileOssUrlRefusedError
from dts_change.intake.oss_url import OssLocation, check_bucket_allowed, parse_file_oss_url, redact_url

ENDPOINT = "http://127.0.0.1:9123"


def _refused(url: str, *, endpoint: str | None = ENDPOINT) -> FileOssUrlRefusedError:
    with pytest.raises(FileOssUrlRefusedError) as info:
        parse_file_oss_url(url, oss_endpoint=endpoint)
    assert info.value.code == "oss-url-refused"
    return info.value


def test_parse_file_oss_url_oss_scheme_gives_bucket_and_key():
    assert parse_file_oss_url("oss://dts-change-config/dts-change/a b.json") == OssLocation(
        "dts-change-config", "dts-change/a b.json"
    )


def test_parse_file_oss_url_virtual_hosted_gives_region_and_decoded_key():
    url = "https://dts-change-config.oss-cn-hangzhou.aliyuncs.com/dts-change/%E6%96%B0%20t%2B1.json"
    assert parse_file_oss_url(url) == OssLocation(
        "dts-change-config", "dts-change/新 t+1.json", "cn-hangzhou"
    )


def test_parse_file_oss_url_internal_host_is_accepted():
    loc = parse_file_oss_url("http://cfg-1.oss-ap-southeast-1-internal.aliyuncs.com/x.json")
    assert (loc.bucket, loc.region) == ("cfg-1", "ap-southeast-1")


def test_parse_file_oss_url_query_is_dropped_from_location():
    loc = parse_file_oss_url(
        "https://cfg-1.oss-cn-hangzhou.aliyuncs.com/x.json?Expires=1&OSSAccessKeyId=a&Signature=s"
    )
    assert loc == OssLocation("cfg-1", "x.json", "cn-hangzhou")


def test_parse_file_oss_url_version_id_names_the_version_to_read():
    url = "https://cfg-1.oss-cn-hangzhou.aliyuncs.com/x.json?versionId=CAEQ%2Bab%2F%3D&Expires=1"
    loc = parse_file_oss_url(url)
    assert loc == OssLocation("cfg-1", "x.json", "cn-hangzhou", "CAEQ+ab/=")
    assert str(loc) == "oss://cfg-1/x.json?versionId=CAEQ+ab/="
    path_style = parse_file_oss_url(f"{ENDPOINT}/dts-change-config/k.txt?versionId=null", oss_endpoint=ENDPOINT)
    assert path_style.version_id == "null"


@pytest.mark.parametrize(
    "query", ["versionId=", "versionId=a%26acl", "versionId=" + "a" * 256, "versionId=a&versionId=b"]
)
def test_parse_file_oss_url_malformed_version_id_is_refused_naming_the_field(query):
    error = _refused(f"https://cfg-1.oss-cn-hangzhou.aliyuncs.com/x.json?{query}")
    assert error.message.startswith("Invalid FileOssUrl versionId: ")
    assert error.details == {"reason": "malformed"}


def test_parse_file_oss_url_path_style_on_configured_endpoint_is_accepted():
    loc = parse_file_oss_url(f"{ENDPOINT}/dts-change-config/k%20ey.txt", oss_endpoint=ENDPOINT)
    assert loc == OssLocation("dts-change-config", "k ey.txt")


def test_parse_file_oss_url_path_style_with_other_port_is_refused():
    error = _refused("http://127.0.0.1:9124/dts-change-config/k.txt")
    assert error.details == {"reason": "ip-literal"}
    assert error.message == (
        "Refused FileOssUrl 'http://127.0.0.1:9124/dts-change-config/k.txt': IP address hosts are "
        "not allowed; expected an OSS bucket host or the configured OSS_ENDPOINT"
    )


def test_parse_file_oss_url_path_style_with_other_scheme_than_endpoint_is_refused():
    error = _refused("https://127.0.0.1:9123/dts-change-config/k.txt")
    assert error.details == {"reason": "ip-literal"}


@pytest.mark.parametrize(
    "url",
    [
        "http://100.100.100.200/latest/meta-data/",
        "http://169.254.169.254/x",
        "http://[::1]/bucket/key",
        "http://2130706433/bucket/key",
        "http://0x7f000001/bucket/key",
    ],
)
def test_parse_file_oss_url_ip_literals_are_refused(url):
    error = _refused(url)
    assert error.details == {"reason": "ip-literal"}
    assert "IP address hosts are not allowed" in error.message


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://cfg-1.oss-cn-hangzhou.aliyuncs.com/x",
        "gopher://x/",
        "//cfg-1.oss-cn-hangzhou.aliyuncs.com/x",
    ],
)
def test_parse_file_oss_url_other_schemes_are_refused(url):
    error = _refused(url)
    assert error.details == {"reason": "scheme"}
    assert "is not allowed; expected oss://, https:// or http://" in error.message


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pw@cfg-1.oss-cn-hangzhou.aliyuncs.com/x.json",
        "https://cfg-1.oss-cn-hangzhou.aliyuncs.com@evil.example/x.json",
        "oss://user@cfg-1/x.json",
    ],
)
def test_parse_file_oss_url_userinfo_is_refused(url):
    error = _refused(url)
    assert error.details == {"reason": "userinfo"}
    assert "user information" in error.message


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/cfg-1/x.json",
        "https://cfg-1.oss-cn-hangzhou.aliyuncs.com.evil.example/x.json",
        "https://cfg-1.oss-accelerate.aliyuncs.com/x.json",
        "https://cfg-1.oss-cn-hangzhou.aliyuncs.com:8443/x.json",
        "http://localhost:9123/cfg-1/x.json",
    ],
)
def test_parse_file_oss_url_non_oss_hosts_are_refused(url):
    error = _refused(url)
    assert error.details == {"reason": "not-oss-host"}
    assert "is neither an OSS bucket host" in error.message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "oss://Bad_Bucket/x",
            "Invalid OSS bucket name in FileOssUrl: 'Bad_Bucket' is not a valid bucket name",
        ),
        ("oss://cfg-1/", "Invalid FileOssUrl: the URL names no object key"),
        ("https://cfg-1.oss-cn-hangzhou.aliyuncs.com/", "Invalid FileOssUrl: the URL names no object key"),
        ("oss://cfg-1/a\tb", "Invalid FileOssUrl: 'oss://cfg-1/a\\tb' contains control characters"),
        (" oss://cfg-1/a", "Invalid FileOssUrl: ' oss://cfg-1/a' contains control characters or surr"),
        ("", "Invalid FileOssUrl: expected a non-empty URL string, got ''"),
    ],
)
def test_parse_file_oss_url_malformed_is_refused(url, expected):
    error = _refused(url)
    assert error.details == {"reason": "malformed"}
    assert error.message.startswith(expected)


def test_parse_file_oss_url_oss_scheme_key_is_not_percent_decoded():
    assert parse_file_oss_url("oss://cfg-1/100%25 done+1.txt").key == "100%25 done+1.txt"


def test_parse_file_oss_url_control_characters_in_decoded_key_are_refused():
    error = _refused("https://cfg-1.oss-cn-hangzhou.aliyuncs.com/a%0Ab")
    assert error.message == "Invalid FileOssUrl: object key 'a\\nb' contains control characters"


def test_parse_file_oss_url_messages_never_show_the_query():
    error = _refused("https://evil.example/x?Signature=SECRETSIG")
    assert "SECRETSIG" not in error.message
    assert redact_url("https://h/x?Signature=S#f") == "https://h/x?…"


def test_check_bucket_allowed_refuses_unlisted_bucket():
    with pytest.raises(FileOssUrlRefusedError) as info:
        check_bucket_allowed(OssLocation("other", "k"), allowed_buckets={"cfg-1"})
    assert info.value.details == {"reason": "bucket-not-allowed"}
    assert info.value.message == (
        "Refused FileOssUrl oss://other/k: bucket 'other' is not in DTS_CHANGE_ALLOWED_BUCKETS "
        "(allowed: cfg-1)"
    )


def test_check_bucket_allowed_accepts_the_events_own_bucket():
    check_bucket_allowed(OssLocation("own", "k"), allowed_buckets=set(), also_allowed=["own"])


def test_check_bucket_allowed_refuses_dts_upload_bucket_even_if_listed():
    loc = parse_file_oss_url("http://db-list-os-file.oss-cn-shanghai.aliyuncs.com/some/key")
    with pytest.raises(FileOssUrlRefusedError) as info:
        check_bucket_allowed(loc, allowed_buckets={"db-list-os-file"})
    assert info.value.details == {"reason": "dts-upload-bucket"}
    assert "is a DTS temporary upload bucket" in info.value.message


def test_check_bucket_allowed_refuses_other_region():
    with pytest.raises(FileOssUrlRefusedError) as info:
        check_bucket_allowed(
            OssLocation("cfg-1", "k", "cn-shanghai"), allowed_buckets={"cfg-1"}, oss_region="cn-hangzhou"
        )
    assert info.value.details == {"reason": "region-mismatch"}
    assert info.value.message == (
        "Refused FileOssUrl oss://cfg-1/k: the URL names region 'cn-shanghai' but the function "
        "reads OSS in 'cn-hangzhou'"
    )
