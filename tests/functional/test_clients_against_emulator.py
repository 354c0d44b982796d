"""Our DTS and OSS clients against the emulator over loopback: the scenarios of issue 3.

The emulator shares no code with the clients, so a signing or encoding mistake on either side
shows up here. Its clock is injected, so the `Modifying` period passes without sleeping.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from dts_change.clients.credentials import Credentials, CredentialsProvider
from dts_change.clients.dts import DtsClient
from dts_change.clients.oss import OssClient
from dts_change.core import errors as e
from tests.emulator_fixture import emulator_server as started_emulator

emulator = pytest.importorskip("dts_change.emulator")

KEY_ID, SECRET = "LTAIdemo", "demo-secret"
STS_ID, STS_SECRET, STS_TOKEN = "STS.demo", "sts-secret/+=", "sts-token/+="
DB_LIST = {"sales": {"name": "sales", "all": False, "Table": {"orders": {"name": "orders", "all": True}}}}


def _state() -> dict[str, Any]:
    return {
        "credentials": {
            KEY_ID: {"secret": SECRET, "securityToken": None},
            STS_ID: {"secret": STS_SECRET, "securityToken": STS_TOKEN},
        },
        "jobs": {
            "dtsjob-demo": {
                "instanceId": "dtsins-demo",
                "status": "Synchronizing",
                "direction": "Forward",
                "modifyDurationSeconds": 2,
                "dbList": DB_LIST,
                "reserved": {},
            },
            "dtsjob-new": {
                "instanceId": "dtsins-new",
                "status": "NotConfigured",
                "direction": "Forward",
                "modifyDurationSeconds": 2,
                "dbList": DB_LIST,
                "reserved": {},
            },
        },
        "buckets": {"dts-changes": {"changes/0001.json": '{"add": {}}'}},
        "faults": [],
        "calls": [],
    }


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> Iterator[Any]:
    with started_emulator(_state(), clock=clock) as server:
        yield server


def _sts() -> Credentials:
    return Credentials(STS_ID, STS_SECRET, STS_TOKEN)


@pytest.mark.parametrize("signature", ["acs3", "v1"])
@pytest.mark.parametrize("creds", [Credentials(KEY_ID, SECRET), _sts()], ids=["long-term", "sts"])
def test_dts_client_describe_against_emulator_reads_db_list(
    emu: Any, signature: str, creds: Credentials
) -> None:
    client = DtsClient("cn-hangzhou", emu.endpoint, creds, signature)  # type: ignore[arg-type]
    detail = client.describe_dts_job_detail("dtsjob-demo", "dtsins-demo")
    assert detail.status_is("synchronizing")
    assert set(detail.db_list().databases) == {"sales"}
    assert detail.request_id


@pytest.mark.parametrize("signature", ["acs3", "v1"])
def test_dts_client_modify_against_emulator_records_db_list_and_goes_modifying(
    emu: Any, clock: Clock, signature: str
) -> None:
    # GIVEN a synchronizing job
    client = DtsClient("cn-hangzhou", emu.endpoint, _sts(), signature)  # type: ignore[arg-type]
    new_list = json.dumps(
        {
            "sales": {
                "name": "sales",
                "all": False,
                "Table": {"orders": {"name": "orders", "all": True}, "订单 +%": {"name": "x", "all": True}},
            }
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )
    # WHEN a modification is submitted
    result = client.modify_dts_job("dtsins-demo", "dtsjob-demo", new_list, "Forward", client_token="tok-1")
    # THEN the emulator logged exactly that list and token, and the job is Modifying
    call = emu.calls("ModifyDtsJob")[-1]
    assert call["outcome"] == "ok"
    assert call["clientToken"] == "tok-1"
    sent = call["dbList"]
    assert (json.loads(sent) if isinstance(sent, str) else sent) == json.loads(new_list)
    assert result.request_id
    assert client.describe_dts_job_detail("dtsjob-demo").status_is("Modifying")
    # AND a second modification while Modifying is "job busy"
    with pytest.raises(e.JobModifyingError) as info:
        client.modify_dts_job("dtsins-demo", "dtsjob-demo", new_list, client_token="tok-2")
    assert info.value.http_status == 403
    # WHEN the modification time has passed
    clock.now += 5
    detail = client.describe_dts_job_detail("dtsjob-demo")
    # THEN the job synchronizes again with the new list and a finished subSync entry
    assert detail.status_is("synchronizing")
    assert "订单 +%" in (detail.db_list().databases["sales"].tables or {})
    assert [(s.job_type, s.status) for s in detail.sub_sync_jobs][-1] == ("subSync", "Finished")


def test_dts_client_not_configured_job_is_permanent(emu: Any) -> None:
    client = DtsClient("cn-hangzhou", emu.endpoint, Credentials(KEY_ID, SECRET))
    with pytest.raises(e.JobNotConfiguredError):
        client.modify_dts_job("dtsins-new", "dtsjob-new", json.dumps(DB_LIST))


def test_dts_client_unknown_job_is_not_found(emu: Any) -> None:
    client = DtsClient("cn-hangzhou", emu.endpoint, Credentials(KEY_ID, SECRET))
    with pytest.raises(e.JobNotFoundError):
        client.describe_dts_job_detail("dtsjob-missing")


@pytest.mark.parametrize(
    "creds",
    [
        Credentials(KEY_ID, "wrong-secret"),
        Credentials("LTAInobody", SECRET),
        Credentials(STS_ID, STS_SECRET, "other-token"),
    ],
    ids=["wrong-secret", "unknown-key", "wrong-token"],
)
def test_dts_client_bad_credentials_are_signature_mismatch_without_secrets(
    emu: Any, creds: Credentials
) -> None:
    client = DtsClient("cn-hangzhou", emu.endpoint, creds)
    with pytest.raises(e.SignatureMismatchError) as info:
        client.describe_dts_job_detail("dtsjob-demo")
    text = f"{info.value} {info.value!r} {info.value.to_dict()}"
    assert creds.access_key_secret not in text
    assert creds.security_token is None or creds.security_token not in text


def test_dts_client_token_expiry_fault_refreshes_once_and_succeeds(emu: Any) -> None:
    # GIVEN the next DescribeDtsJobDetail answers InvalidSecurityToken.Expired
    emu.add_fault({"action": "DescribeDtsJobDetail", "tokenExpiry": True, "count": 1})
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": STS_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": STS_SECRET,
        "ALIBABA_CLOUD_SECURITY_TOKEN": STS_TOKEN,
    }
    reloads: list[int] = []
    client = DtsClient(
        "cn-hangzhou", emu.endpoint, CredentialsProvider(env, reload=lambda: reloads.append(1))
    )
    # WHEN the job is described
    detail = client.describe_dts_job_detail("dtsjob-demo")
    # THEN the provider was asked again once and the retry went through
    assert detail.status_is("synchronizing")
    assert reloads == [1]
    assert [c["outcome"] for c in emu.calls("DescribeDtsJobDetail")] == ["InvalidSecurityToken.Expired", "ok"]


def test_dts_client_throttling_fault_is_throttled_error(emu: Any) -> None:
    emu.add_fault({"action": "DescribeDtsJobDetail", "code": "Throttling.User", "count": 1})
    with pytest.raises(e.ThrottledError):
        DtsClient("cn-hangzhou", emu.endpoint, Credentials(KEY_ID, SECRET)).describe_dts_job_detail(
            "dtsjob-demo"
        )


def test_dts_client_resolves_instance_and_job(emu: Any) -> None:
    client = DtsClient("cn-hangzhou", emu.endpoint, Credentials(KEY_ID, SECRET))
    assert client.resolve_job_id("dtsins-demo") == "dtsjob-demo"
    assert client.resolve_instance_id("dtsjob-demo") == "dtsins-demo"


@pytest.mark.parametrize("signature", ["v4", "v1"])
def test_oss_client_put_get_list_delete_against_emulator(emu: Any, signature: str) -> None:
    client = OssClient("cn-hangzhou", emu.endpoint, _sts(), signature)  # type: ignore[arg-type]
    key = f"changes/{signature}/变更 a+b%.json"
    put = client.put_object("dts-changes", key, b'{"x": 1}', "application/json", forbid_overwrite=True)
    with pytest.raises(e.ObjectExistsError):
        client.put_object("dts-changes", key, b"other", forbid_overwrite=True)
    got = client.get_object("dts-changes", key, max_bytes=100)
    assert got.body == b'{"x": 1}'
    assert got.etag == put.etag
    with pytest.raises(e.InputTooLargeError):
        client.get_object("dts-changes", key, max_bytes=3)
    keys = [o.key for o in client.iter_objects("dts-changes", "changes/", max_keys=1)]
    assert keys == sorted(["changes/0001.json", key])
    client.delete_object("dts-changes", key)
    with pytest.raises(e.SourceObjectNotFoundError):
        client.get_object("dts-changes", key, max_bytes=100)


@pytest.mark.parametrize("signature", ["v4", "v1"])
def test_oss_client_reads_an_exact_version_of_an_overwritten_object(emu: Any, signature: str) -> None:
    # GIVEN a versioned bucket where one key was uploaded twice (a version id with + / = signs)
    state = emu.get_state()
    state["bucketVersioning"] = {"dts-changes": "Enabled"}
    emu.put_state(state)
    client = OssClient("cn-hangzhou", emu.endpoint, _sts(), signature)  # type: ignore[arg-type]
    key = "changes/版本 a+b.json"
    first = client.put_object("dts-changes", key, b"one")
    second = client.put_object("dts-changes", key, b"two")
    assert first.version_id and second.version_id and first.version_id != second.version_id
    # WHEN each version is read by id (signed: V1 sub-resource, V4 query parameter)
    old = client.get_object("dts-changes", key, 100, version_id=first.version_id)
    new = client.get_object("dts-changes", key, 100, version_id=second.version_id)
    # THEN each is its own upload's bytes and eTag
    assert (old.body, old.etag) == (b"one", first.etag)
    assert (new.body, new.etag) == (b"two", second.etag)
    assert [c.get("versionId") for c in emu.calls("GetObject")] == [first.version_id, second.version_id]
    # AND an unknown version is its own not-found error, with OSS's code
    with pytest.raises(e.SourceVersionNotFoundError) as info:
        client.get_object("dts-changes", key, 100, version_id="CAEQ+unknown/=")
    assert (info.value.code, info.value.remote_code, info.value.http_status) == (
        "source-version-not-found", "NoSuchVersion", 404
    )


@pytest.mark.parametrize("bad", ["", "a" * 256, "v1&acl", "v 1", "../x", "v\n"])
def test_oss_client_refuses_a_malformed_version_id_before_sending(emu: Any, bad: str) -> None:
    client = OssClient("cn-hangzhou", emu.endpoint, _sts())
    before = len(emu.calls("GetObject"))
    with pytest.raises(e.InvalidParameterError, match="versionId"):
        client.get_object("dts-changes", "changes/0001.json", 100, version_id=bad)
    assert len(emu.calls("GetObject")) == before


def test_oss_client_wrong_secret_is_signature_mismatch(emu: Any) -> None:
    client = OssClient("cn-hangzhou", emu.endpoint, Credentials(STS_ID, "bad", STS_TOKEN))
    with pytest.raises(e.SignatureMismatchError):
        client.get_object("dts-changes", "changes/0001.json", max_bytes=100)
