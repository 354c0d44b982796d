"""OssClient addressing and argument checks (no network)."""

from __future__ import annotations

import pytest

from dts_change.clients.credentials import Credentials
from dts_change.clients.oss import OssClient, check_bucket, check_key, parse_error_xml
from dts_change.core.errors import ConfigurationError, InsecureEndpointError, InvalidParameterError

CREDS = Credentials("id", "secret-value", "token-value")


def test_oss_client_default_virtual_hosted_url() -> None:
    client = OssClient("cn-hangzhou", None, CREDS)
    assert not client.path_style
    assert client._url("bkt", "a b/中+", {}) == "https://bkt.oss-cn-hangzhou.aliyuncs.com/a%20b/%E4%B8%AD%2B"
    assert client._host("bkt") == "bkt.oss-cn-hangzhou.aliyuncs.com"


def test_oss_client_explicit_aliyun_endpoint_stays_virtual_hosted() -> None:
    client = OssClient("cn-hangzhou", "https://oss-cn-hangzhou-internal.aliyuncs.com", CREDS)
    assert client._url("bkt", "k", {}) == "https://bkt.oss-cn-hangzhou-internal.aliyuncs.com/k"


def test_oss_client_custom_endpoint_path_style_with_query() -> None:
    client = OssClient("cn-hangzhou", "http://127.0.0.1:9000", CREDS)
    assert client.path_style
    url = client._url("bkt", None, {"list-type": "2", "prefix": "a/b c", "flag": ""})
    assert url == "http://127.0.0.1:9000/bkt/?flag&list-type=2&prefix=a%2Fb%20c"


def test_oss_client_plain_http_remote_refused() -> None:
    with pytest.raises(InsecureEndpointError):
        OssClient("cn-hangzhou", "http://oss-cn-hangzhou.aliyuncs.com", CREDS)


def test_oss_client_bad_signature_version_refused() -> None:
    with pytest.raises(ConfigurationError):
        OssClient("cn-hangzhou", None, CREDS, "v2")  # type: ignore[arg-type]


def test_oss_client_repr_has_no_secrets() -> None:
    text = repr(OssClient("cn-hangzhou", None, CREDS))
    assert "secret-value" not in text
    assert "token-value" not in text


@pytest.mark.parametrize("bucket", ["ab", "-abc", "abc-", "ABC", "a.b.c", "b/../x", "a" * 64, "evil.com#"])
def test_check_bucket_invalid_refused(bucket: str) -> None:
    with pytest.raises(InvalidParameterError):
        check_bucket(bucket)


@pytest.mark.parametrize("key", ["", "/abs", "x" * 1024])
def test_check_key_invalid_refused(key: str) -> None:
    with pytest.raises(InvalidParameterError):
        check_key(key)


def test_parse_error_xml_fields_and_junk() -> None:
    body = b"<Error><Code>NoSuchKey</Code><Message>m</Message><RequestId>r</RequestId><EC>e</EC><Extra><X/></Extra></Error>"
    assert parse_error_xml(body) == {"Code": "NoSuchKey", "Message": "m", "RequestId": "r", "EC": "e"}
    assert parse_error_xml(b"not xml") == {}
    assert parse_error_xml(b"") == {}
