"""OSS semantics on path-style URLs: objects, forbid-overwrite, listings, errors (no sockets)."""

from __future__ import annotations

import base64
import hashlib
import re
import xml.etree.ElementTree as ET

import pytest

from dts_change.emulator.oss_state import crc64_ecma
from tests.unit.emulator.builders import Harness

BUCKET = "dts-changes"
ODD_KEYS = ["dir/hello world+1.txt", "中文/表 1.json", "pct%25/x", "a//b", "plus+/x y"]


def _put(harness: Harness, key: str, body: bytes = b"data", **headers: str) -> int:
    return harness.oss("PUT", BUCKET, key, body=body, headers=headers).status


def _list(harness: Harness, **query: str) -> ET.Element:
    response = harness.oss("GET", BUCKET, query={"list-type": "2", **query})
    assert response.status == 200, response.body
    return ET.fromstring(response.body)


@pytest.mark.parametrize("key", ODD_KEYS)
def test_put_then_get_round_trips_keys_with_odd_characters(harness: Harness, key: str) -> None:
    assert _put(harness, key, "ü".encode()) == 200
    response = harness.oss("GET", BUCKET, key)
    assert (response.status, response.body) == (200, "ü".encode())
    assert key in harness.core.get_state()["buckets"][BUCKET]


def test_put_object_returns_quoted_upper_md5_etag_and_crc64(harness: Harness) -> None:
    response = harness.oss("PUT", BUCKET, "k", body=b"hello")
    assert response.header("ETag") == '"' + hashlib.md5(b"hello").hexdigest().upper() + '"'
    assert response.header("x-oss-hash-crc64ecma") == str(crc64_ecma(b"hello"))
    assert re.fullmatch(r"[0-9A-F]{24}", response.header("x-oss-request-id") or "")


def test_crc64_matches_the_crc64_xz_check_value() -> None:
    assert crc64_ecma(b"123456789") == 0x995DC9BBDF1939FA


def test_get_object_returns_stored_content_type_and_metadata(harness: Harness) -> None:
    _put(harness, "k.json", b"{}", **{"Content-Type": "application/json", "x-oss-meta-author": "me"})
    response = harness.oss("GET", BUCKET, "k.json")
    assert response.header("Content-Type") == "application/json"
    assert response.header("x-oss-meta-author") == "me"


def test_put_object_forbid_overwrite_on_existing_key_returns_409(harness: Harness) -> None:
    # GIVEN an existing object
    assert _put(harness, "once", b"first") == 200
    # WHEN created again with x-oss-forbid-overwrite
    response = harness.oss("PUT", BUCKET, "once", body=b"second", headers={"x-oss-forbid-overwrite": "true"})
    # THEN 409 FileAlreadyExists and the first body stays
    assert response.status == 409
    assert b"<Code>FileAlreadyExists</Code>" in response.body
    assert harness.oss("GET", BUCKET, "once").body == b"first"


def test_put_object_forbid_overwrite_on_new_key_creates_it(harness: Harness) -> None:
    assert _put(harness, "new", b"x", **{"x-oss-forbid-overwrite": "true"}) == 200


def test_put_object_forbid_overwrite_false_overwrites(harness: Harness) -> None:
    _put(harness, "k", b"1")
    assert _put(harness, "k", b"2", **{"x-oss-forbid-overwrite": "false"}) == 200
    assert harness.oss("GET", BUCKET, "k").body == b"2"


def test_put_object_wrong_content_md5_returns_invalid_digest(harness: Harness) -> None:
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    response = harness.oss("PUT", BUCKET, "k", body=b"data", headers={"Content-MD5": wrong})
    assert response.status == 400
    assert b"<Code>InvalidDigest</Code>" in response.body


def test_get_missing_key_returns_no_such_key_xml_with_key(harness: Harness) -> None:
    response = harness.oss("GET", BUCKET, "missing/key")
    root = ET.fromstring(response.body)
    assert response.status == 404
    assert [root.findtext(n) for n in ("Code", "Key")] == ["NoSuchKey", "missing/key"]
    assert root.findtext("RequestId") == response.header("x-oss-request-id")


def test_unknown_bucket_returns_no_such_bucket(harness: Harness) -> None:
    response = harness.oss("GET", "nobucket", "k")
    assert (response.status, b"<Code>NoSuchBucket</Code>" in response.body) == (404, True)


def test_delete_object_removes_it_and_missing_key_is_204_too(harness: Harness) -> None:
    _put(harness, "k")
    assert harness.oss("DELETE", BUCKET, "k").status == 204
    assert harness.oss("DELETE", BUCKET, "k").status == 204
    assert harness.oss("GET", BUCKET, "k").status == 404


def test_head_object_answers_headers_with_content_length(harness: Harness) -> None:
    _put(harness, "k", b"12345")
    response = harness.oss("HEAD", BUCKET, "k")
    assert (response.status, response.header("Content-Length"), response.body) == (200, "5", b"")


def test_list_objects_v2_paginates_with_continuation_token(harness: Harness) -> None:
    # GIVEN five objects under a prefix and one outside it
    for index in range(5):
        _put(harness, f"changes/{index}.json")
    _put(harness, "other/x")
    # WHEN listed two at a time
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        query = {"prefix": "changes/", "max-keys": "2"}
        if token:
            query["continuation-token"] = token
        root = _list(harness, **query)
        pages += 1
        seen += [c.findtext("Key") or "" for c in root.findall("Contents")]
        if root.findtext("IsTruncated") != "true":
            break
        token = root.findtext("NextContinuationToken")
    # THEN every key under the prefix comes once, in order (0001.json came from the base state)
    assert seen == [
        "changes/0.json",
        "changes/0001.json",
        "changes/1.json",
        "changes/2.json",
        "changes/3.json",
        "changes/4.json",
    ]
    assert pages == 3


def test_list_objects_v2_url_encoding_type_encodes_keys(harness: Harness) -> None:
    _put(harness, "x/a b+中")
    root = _list(harness, prefix="x/", **{"encoding-type": "url"})
    assert root.findtext("Contents/Key") == "x/a%20b%2B%E4%B8%AD"
    assert root.findtext("EncodingType") == "url"


def test_list_objects_v2_delimiter_rolls_up_common_prefixes(harness: Harness) -> None:
    for key in ("d/a/1", "d/a/2", "d/b/1", "d/top"):
        _put(harness, key)
    root = _list(harness, prefix="d/", delimiter="/")
    assert [p.findtext("Prefix") for p in root.findall("CommonPrefixes")] == ["d/a/", "d/b/"]
    assert [c.findtext("Key") for c in root.findall("Contents")] == ["d/top"]
    assert root.findtext("KeyCount") == "3"


def test_list_objects_v2_bad_max_keys_returns_invalid_argument(harness: Harness) -> None:
    response = harness.oss("GET", BUCKET, query={"list-type": "2", "max-keys": "5000"})
    assert (response.status, b"InvalidArgument" in response.body) == (400, True)


def test_list_objects_v1_paginates_with_marker(harness: Harness) -> None:
    _put(harness, "changes/a")
    response = harness.oss("GET", BUCKET, query={"prefix": "changes/", "max-keys": "1"})
    root = ET.fromstring(response.body)
    assert root.findtext("IsTruncated") == "true"
    marker = root.findtext("NextMarker") or ""
    second = ET.fromstring(harness.oss("GET", BUCKET, query={"prefix": "changes/", "marker": marker}).body)
    assert [c.findtext("Key") for c in second.findall("Contents")] == ["changes/a"]


def test_unsupported_operation_returns_not_implemented(harness: Harness) -> None:
    response = harness.oss("GET", BUCKET, "k", query={"acl": ""})
    assert response.status == 501
    assert b"<Code>NotImplemented</Code>" in response.body


def test_binary_object_appears_as_base64_in_state(harness: Harness) -> None:
    _put(harness, "bin", b"\xff\x00")
    assert harness.core.get_state()["buckets"][BUCKET]["bin"] == {"base64": "/wA="}


def _versioning(harness: Harness) -> ET.Element:
    response = harness.oss("GET", BUCKET, query={"versioning": ""})
    assert response.status == 200, response.body
    return ET.fromstring(response.body)


def test_bucket_versioning_never_enabled_has_no_status(harness: Harness) -> None:
    root = _versioning(harness)
    assert root.tag.endswith("VersioningConfiguration") and len(root) == 0


@pytest.mark.parametrize("status", ["Enabled", "Suspended"])
def test_put_bucket_versioning_then_forbid_overwrite_is_ignored(harness: Harness, status: str) -> None:
    body = f"<VersioningConfiguration><Status>{status}</Status></VersioningConfiguration>".encode()
    assert harness.oss("PUT", BUCKET, query={"versioning": ""}, body=body).status == 200
    assert _versioning(harness).findtext("Status") == status
    assert harness.core.get_state()["bucketVersioning"] == {BUCKET: status}
    _put(harness, "k", b"one", **{"x-oss-forbid-overwrite": "true"})
    response = harness.oss("PUT", BUCKET, "k", body=b"two", headers={"x-oss-forbid-overwrite": "true"})
    assert response.status == 200
    assert (response.header("x-oss-version-id") == "null") == (status == "Suspended")
    assert harness.oss("GET", BUCKET, "k").body == b"two"


@pytest.mark.parametrize(
    "body",
    [b"<VersioningConfiguration><Status>On</Status></VersioningConfiguration>", b"<x/>", b"not xml",
     b'<!DOCTYPE x [<!ENTITY e "Enabled">]><VersioningConfiguration><Status>&e;</Status></VersioningConfiguration>'],
)
def test_put_bucket_versioning_bad_body_is_malformed_xml(harness: Harness, body: bytes) -> None:
    response = harness.oss("PUT", BUCKET, query={"versioning": ""}, body=body)
    assert response.status == 400
    assert b"<Code>MalformedXML</Code>" in response.body
    assert harness.core.get_state()["bucketVersioning"] == {}


def test_state_bucket_versioning_other_value_is_refused(harness: Harness) -> None:
    state = harness.core.get_state()
    state["bucketVersioning"] = {BUCKET: "On"}
    with pytest.raises(Exception, match="bucketVersioning"):
        harness.core.put_state(state)
def _delete_body(*keys: str, quiet: bool = False) -> bytes:
    items = "".join(f"<Object><Key>{k}</Key></Object>" for k in keys)
    return f"<Delete><Quiet>{str(quiet).lower()}</Quiet>{items}</Delete>".encode()


def _md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def test_delete_multiple_objects_deletes_listed_keys_and_answers_deleted_unless_quiet(harness: Harness) -> None:
    _put(harness, "a")
    _put(harness, "b")
    body = _delete_body("a", "missing")
    response = harness.oss("POST", BUCKET, None, body=body, query={"delete": ""}, headers={"content-md5": _md5(body)})
    assert response.status == 200
    assert [k.text for k in ET.fromstring(response.body).iter("Key")] == ["a", "missing"]
    assert harness.oss("GET", BUCKET, "a").status == 404 and harness.oss("GET", BUCKET, "b").status == 200
    quiet = _delete_body("b", quiet=True)
    answer = harness.oss("POST", BUCKET, None, body=quiet, query={"delete": ""}, headers={"content-md5": _md5(quiet)})
    assert answer.status == 200 and b"<Key>" not in answer.body


@pytest.mark.parametrize(
    ("body", "md5", "code"),
    [
        (_delete_body("a"), "AAAA", b"InvalidDigest"),
        (b"<Delete><Quiet>true</Quiet></Delete>", None, b"MalformedXML"),
        (b"not xml", None, b"MalformedXML"),
    ],
)
def test_delete_multiple_objects_refuses_bad_digest_and_bad_xml(harness: Harness, body: bytes, md5: str | None, code: bytes) -> None:
    _put(harness, "a")
    response = harness.oss("POST", BUCKET, None, body=body, query={"delete": ""}, headers={"content-md5": md5 or _md5(body)})
    assert response.status == 400 and code in response.body
    assert harness.oss("GET", BUCKET, "a").status == 200


def _enable_versioning(harness: Harness, status: str = "Enabled") -> None:
    body = f"<VersioningConfiguration><Status>{status}</Status></VersioningConfiguration>".encode()
    assert harness.oss("PUT", BUCKET, query={"versioning": ""}, body=body).status == 200


def _put_version(harness: Harness, key: str, body: bytes) -> str:
    response = harness.oss("PUT", BUCKET, key, body=body)
    assert response.status == 200, response.body
    version = response.header("x-oss-version-id")
    assert version
    return version


@pytest.mark.parametrize("signature", ["v4", "v1"])
def test_get_object_with_version_id_reads_that_version_after_an_overwrite(harness: Harness, signature: str) -> None:
    # GIVEN a versioned bucket where a key was written twice
    _enable_versioning(harness)
    first, second = _put_version(harness, "k", b"one"), _put_version(harness, "k", b"two")
    assert first != second
    # WHEN each version is read by id (versionId is a signed sub-resource in V1)
    old = harness.oss("GET", BUCKET, "k", query={"versionId": first}, version=signature)
    new = harness.oss("GET", BUCKET, "k", query={"versionId": second}, version=signature)
    # THEN each answer is that version's bytes, eTag and id; without an id, the current one
    assert (old.status, old.body, old.header("x-oss-version-id")) == (200, b"one", first)
    assert old.header("ETag") == '"' + hashlib.md5(b"one").hexdigest().upper() + '"'
    assert (new.status, new.body, new.header("x-oss-version-id")) == (200, b"two", second)
    assert harness.oss("GET", BUCKET, "k").body == b"two"
    head = harness.oss("HEAD", BUCKET, "k", query={"versionId": first})
    assert (head.status, head.header("Content-Length")) == (200, "3")
    logged = [c.get("versionId") for c in harness.core.calls.entries() if c.get("action") == "GetObject"]
    assert logged == [first, second, None]


def test_get_object_unknown_version_is_404_no_such_version_and_empty_is_invalid_argument(harness: Harness) -> None:
    _enable_versioning(harness)
    _put_version(harness, "k", b"one")
    unknown = harness.oss("GET", BUCKET, "k", query={"versionId": "CAEQunknown"})
    assert unknown.status == 404
    assert b"<Code>NoSuchVersion</Code>" in unknown.body and b"<VersionId>CAEQunknown</VersionId>" in unknown.body
    missing_key = harness.oss("GET", BUCKET, "nope", query={"versionId": "CAEQunknown"})
    assert (missing_key.status, b"<Code>NoSuchKey</Code>" in missing_key.body) == (404, True)
    empty = harness.oss("GET", BUCKET, "k", query={"versionId": ""})
    assert (empty.status, b"<Code>InvalidArgument</Code>" in empty.body) == (400, True)


def test_versions_survive_delete_and_a_state_round_trip_and_delete_of_a_version_is_not_implemented(
    harness: Harness,
) -> None:
    _enable_versioning(harness)
    first = _put_version(harness, "k", b"one")
    _put_version(harness, "k", b"two")
    assert harness.oss("DELETE", BUCKET, "k").status == 204
    assert harness.oss("GET", BUCKET, "k").status == 404
    harness.core.put_state(harness.core.get_state())
    assert harness.oss("GET", BUCKET, "k", query={"versionId": first}).body == b"one"
    refused = harness.oss("DELETE", BUCKET, "k", query={"versionId": first})
    assert refused.status == 501


def test_unversioned_object_is_the_null_version_and_suspended_writes_replace_it(harness: Harness) -> None:
    _put(harness, "k", b"before")
    assert harness.oss("GET", BUCKET, "k", query={"versionId": "null"}).body == b"before"
    _enable_versioning(harness, "Suspended")
    assert _put_version(harness, "k", b"after") == "null"
    assert harness.oss("GET", BUCKET, "k", query={"versionId": "null"}).body == b"after"
