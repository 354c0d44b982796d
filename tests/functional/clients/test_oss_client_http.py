"""OssClient over loopback HTTP (path style): keys on the wire, caps, XML errors, pagination."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timezone
from urllib.parse import quote, unquote

import pytest

from dts_change.clients import signing
from dts_change.clients.credentials import CredentialsProvider
from dts_change.clients.oss import OssClient
from dts_change.clients.transport import Timeouts
from dts_change.core import errors as e
from tests.functional.clients.loopback import Recorded, RecordingServer, Reply

SECRET = "oss-Secret/+="
TOKEN = "STS.oss-token/+="
NEW_TOKEN = "STS.oss-token-2"
WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
KEYS = ["changes/0001.json", "dir/hello world+1.txt", "100%/a b", "表/变更 文件.json", "a~b*c"]


def _client(server: RecordingServer, signature: str = "v4", env: dict[str, str] | None = None) -> OssClient:
    env = (
        env
        if env is not None
        else {
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "STS.id",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET,
            "ALIBABA_CLOUD_SECURITY_TOKEN": TOKEN,
        }
    )
    return OssClient(
        "cn-hangzhou",
        server.url,
        CredentialsProvider(env),
        signature,  # type: ignore[arg-type]
        clock=lambda: WHEN,
        timeouts=Timeouts(connect=2, read=2),
    )


def _xml_error(status: int, code: str, message: str = "msg", ec: str = "0026-00000001") -> Reply:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>'
        f"{code}</Code><Message>{message}</Message><RequestId>RID-1</RequestId>"
        f"<HostId>h</HostId><EC>{ec}</EC></Error>"
    )
    return Reply(status, body, {"Content-Type": "application/xml", "x-oss-request-id": "RID-1"})


def _decoded_key(req: Recorded, bucket: str) -> str:
    return unquote(req.path)[len(f"/{bucket}/") :]


def _verify_v4(req: Recorded, bucket: str, key: str | None, secret: str) -> None:
    """Recompute the V4 signature from what arrived (decoded path and query, signed headers)."""
    sig = signing.oss_v4_sign(
        method=req.method,
        bucket=bucket,
        key=key,
        query=req.query,
        headers={
            k: v
            for k, v in req.headers.items()
            if k.startswith("x-oss-") or k in ("content-type", "content-md5")
        },
        access_key_id="STS.id",
        access_key_secret=secret,
        security_token=req.headers.get("x-oss-security-token"),
        region="cn-hangzhou",
        when=WHEN,
    )
    assert req.headers["authorization"] == sig.headers["authorization"]


@pytest.mark.parametrize("key", KEYS)
def test_put_object_key_encoded_in_path_and_body_exact(server: RecordingServer, key: str) -> None:
    server.responder = lambda _r: Reply(200, b"", {"ETag": '"ABC123"', "x-oss-request-id": "RID"})
    data = b'{"add": {"db": {"name": "db"}}}'
    result = _client(server).put_object("dts-changes", key, data, "application/json")
    req = server.requests[0]
    assert req.method == "PUT"
    assert _decoded_key(req, "dts-changes") == key
    assert req.path == "/dts-changes/" + quote(key, safe="/")
    assert req.body == data
    assert req.headers["content-md5"] == base64.b64encode(hashlib.md5(data).digest()).decode()
    assert req.headers["x-oss-security-token"] == TOKEN
    assert "x-oss-forbid-overwrite" not in req.headers
    _verify_v4(req, "dts-changes", key, SECRET)
    assert (result.etag, result.request_id) == ("ABC123", "RID")


def test_put_object_forbid_overwrite_existing_raises_object_exists(server: RecordingServer) -> None:
    server.responder = lambda _r: _xml_error(
        409, "FileAlreadyExists", "The object you specified already exists"
    )
    with pytest.raises(e.ObjectExistsError) as info:
        _client(server).put_object("b-1", "ledger/lock", b"x", forbid_overwrite=True)
    assert server.requests[0].headers["x-oss-forbid-overwrite"] == "true"
    err = info.value
    assert (err.http_status, err.remote_code, err.request_id, err.action) == (
        409,
        "FileAlreadyExists",
        "RID-1",
        "PutObject",
    )
    assert "0026-00000001" in err.message
    assert err.code == "object-exists"


def test_get_object_returns_body_and_unquoted_etag(server: RecordingServer) -> None:
    server.responder = lambda _r: Reply(200, b"hello", {"ETag": '"E1"', "Content-Type": "text/plain"})
    obj = _client(server).get_object("bkt", "表/a b+c.json", max_bytes=10)
    assert (obj.body, obj.etag, obj.content_type) == (b"hello", "E1", "text/plain")
    _verify_v4(server.requests[0], "bkt", "表/a b+c.json", SECRET)


def test_get_object_no_such_key_is_source_not_found(server: RecordingServer) -> None:
    server.responder = lambda _r: _xml_error(404, "NoSuchKey", "The specified key does not exist.")
    with pytest.raises(e.SourceObjectNotFoundError) as info:
        _client(server).get_object("bkt", "missing.json", max_bytes=10)
    assert "oss://bkt/missing.json" in str(info.value)
    assert info.value.retryable is False


@pytest.mark.parametrize("no_length", [False, True])
def test_get_object_over_cap_raises_input_too_large_naming_cap(
    server: RecordingServer, no_length: bool
) -> None:
    server.responder = lambda _r: Reply(200, b"x" * 200_000, no_length=no_length)
    with pytest.raises(e.InputTooLargeError, match="limit 1000 bytes"):
        _client(server).get_object("bkt", "big", max_bytes=1000)


def test_delete_object_204_returns_request_id(server: RecordingServer) -> None:
    server.responder = lambda _r: Reply(204, b"", {"x-oss-request-id": "RID-D"})
    assert _client(server).delete_object("bkt", "a b") == "RID-D"
    assert server.requests[0].method == "DELETE"


def _list_page(keys: list[str], token: str | None, encoded: bool = True) -> Reply:
    items = "".join(
        f'<Contents><Key>{quote(k, safe="") if encoded else k}</Key><ETag>"E"</ETag><Size>3</Size>'
        "<LastModified>2024-01-02T03:04:05.000Z</LastModified></Contents>"
        for k in keys
    )
    tail = (
        f"<IsTruncated>true</IsTruncated><NextContinuationToken>{token}</NextContinuationToken>"
        if token
        else "<IsTruncated>false</IsTruncated>"
    )
    enc = "<EncodingType>url</EncodingType>" if encoded else ""
    return Reply(
        200,
        f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name>{enc}{items}{tail}</ListBucketResult>',
        {"Content-Type": "application/xml"},
    )


def test_iter_objects_follows_continuation_tokens_and_decodes_keys(server: RecordingServer) -> None:
    def respond(req: Recorded) -> Reply:
        if "continuation-token" not in req.query:
            return _list_page(["changes/a b.json", "changes/表.json"], "tok/2")
        return _list_page(["changes/100%.json"], None)

    server.responder = respond
    objects = list(_client(server).iter_objects("bkt", "changes/", max_keys=2))
    assert [o.key for o in objects] == ["changes/a b.json", "changes/表.json", "changes/100%.json"]
    assert objects[0].size == 3
    first, second = server.requests
    assert first.path == "/bkt/"
    assert first.query == {"list-type": "2", "max-keys": "2", "encoding-type": "url", "prefix": "changes/"}
    assert second.query["continuation-token"] == "tok/2"
    _verify_v4(second, "bkt", None, SECRET)


def test_list_objects_v2_keys_not_url_decoded_when_server_did_not_encode(server: RecordingServer) -> None:
    server.responder = lambda _r: _list_page(["a%20b"], None, encoded=False)
    assert [o.key for o in _client(server).list_objects_v2("bkt", "").objects] == ["a%20b"]


def test_list_objects_v2_xml_with_doctype_refused(server: RecordingServer) -> None:
    server.responder = lambda _r: Reply(
        200, '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><ListBucketResult/>'
    )
    with pytest.raises(e.RemoteError):
        _client(server).list_objects_v2("bkt", "")


def test_oss_expired_token_refreshed_and_retried_once(server: RecordingServer) -> None:
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "STS.id",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET,
        "ALIBABA_CLOUD_SECURITY_TOKEN": TOKEN,
    }

    def respond(req: Recorded) -> Reply:
        if req.headers["x-oss-security-token"] == TOKEN:
            env["ALIBABA_CLOUD_SECURITY_TOKEN"] = NEW_TOKEN
            return _xml_error(403, "SecurityTokenExpired", "The security token you provided has expired.")
        return Reply(200, b"ok", {"ETag": '"E"'})

    server.responder = respond
    assert _client(server, env=env).get_object("bkt", "k", 10).body == b"ok"
    assert [r.headers["x-oss-security-token"] for r in server.requests] == [TOKEN, NEW_TOKEN]
    _verify_v4(server.requests[1], "bkt", "k", SECRET)


def test_oss_redirect_not_followed(server: RecordingServer) -> None:
    server.responder = lambda _r: Reply(301, b"", {"Location": f"{server.url}/other/k"})
    with pytest.raises(e.RemoteError, match="redirect"):
        _client(server).get_object("bkt", "k", 10)
    assert len(server.requests) == 1


def test_oss_errors_never_carry_secrets(server: RecordingServer) -> None:
    server.responder = lambda _r: _xml_error(
        403, "SignatureDoesNotMatch", f"StringToSign x-oss-security-token:{TOKEN} {SECRET}"
    )
    with pytest.raises(e.SignatureMismatchError) as info:
        _client(server).get_object("bkt", "k", 10)
    text = f"{info.value} {info.value!r} {info.value.to_dict()}"
    assert TOKEN not in text
    assert SECRET not in text


def test_oss_5xx_without_xml_is_transient(server: RecordingServer) -> None:
    server.responder = lambda _r: Reply(503, b"busy")
    with pytest.raises(e.RemoteInternalError):
        _client(server).get_object("bkt", "k", 10)


def test_oss_v1_signature_header_verifies(server: RecordingServer) -> None:
    server.responder = lambda _r: Reply(200, b"", {"ETag": '"E"'})
    _client(server, "v1").put_object("bkt", "dir/a b+%.txt", b"x", "text/plain", forbid_overwrite=True)
    req = server.requests[0]
    expected = signing.oss_v1_sign(
        method="PUT",
        bucket="bkt",
        key="dir/a b+%.txt",
        query={},
        headers={
            k: v
            for k, v in req.headers.items()
            if k.startswith("x-oss-") or k in ("content-type", "content-md5")
        },
        access_key_id="STS.id",
        access_key_secret=SECRET,
        when=WHEN,
    )
    assert req.headers["authorization"] == expected.headers["authorization"]
    assert req.headers["authorization"].startswith("OSS STS.id:")
    assert req.headers["date"] == "Tue, 02 Jan 2024 03:04:05 GMT"
