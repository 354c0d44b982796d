"""The official Alibaba Cloud SDKs, unchanged, against the emulator on loopback (issue 3 "Proof").

If the SDKs can describe and modify a job, list and move objects, and get the documented error
codes, the emulator speaks the real wire protocol; the SDKs are test-only oracles (reference B4
shows how they are pointed at a loopback server).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import alibabacloud_oss_v2 as oss_v2
import oss2
import pytest
from alibabacloud_dts20200101 import models as dts_models
from alibabacloud_dts20200101.client import Client as DtsClient
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException, ThrottlingException
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.core import DaraCore
from darabonba.runtime import RuntimeOptions

from dts_change.emulator import EmulatorServer
from tests.emulator_fixture import emulator_server

AK, SECRET = "LTAIdemo", "demo-secret"
STS_AK, STS_SECRET, STS_TOKEN = "STS.contract", "sts-secret", "CAIS/sts+token=="
JOB, INSTANCE = "dtsjob-demo", "dtsins-demo"
BUCKET = "dts-changes"
DB_LIST: dict[str, Any] = {
    "sales": {"name": "sales", "all": False, "Table": {"orders": {"name": "orders", "all": True}}}
}
NEW_LIST: dict[str, Any] = {
    "sales": {
        "name": "sales",
        "all": False,
        "Table": {"orders": {"name": "orders", "all": True}, "refunds": {"name": "refunds", "all": True}},
    }
}
ODD_KEYS = ["changes/hello world+1.json", "changes/中文 表.json", "changes/a+b%c.json"]
SIGNING = [
    pytest.param(None, AK, SECRET, None, id="acs3"),
    pytest.param("v2", AK, SECRET, None, id="rpc-v1"),
    pytest.param(None, STS_AK, STS_SECRET, STS_TOKEN, id="acs3-sts"),
    pytest.param("v2", STS_AK, STS_SECRET, STS_TOKEN, id="rpc-v1-sts"),
]


def _state() -> dict[str, Any]:
    return {
        "credentials": {
            AK: {"secret": SECRET, "securityToken": None},
            STS_AK: {"secret": STS_SECRET, "securityToken": STS_TOKEN},
        },
        "jobs": {
            JOB: {
                "instanceId": INSTANCE,
                "status": "Synchronizing",
                "direction": "Forward",
                "modifyDurationSeconds": 30,
                "dbList": DB_LIST,
                "reserved": {},
            }
        },
        "buckets": {BUCKET: {"changes/0001.json": '{"add": {}}'}},
        "faults": [],
        "calls": [],
    }


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with emulator_server(_state()) as started:
        yield started


@pytest.fixture
def emu(server: EmulatorServer) -> EmulatorServer:
    server.reset()
    return server


def dts_client(
    emu: EmulatorServer,
    algorithm: str | None = None,
    ak: str = AK,
    secret: str = SECRET,
    token: str | None = None,
) -> DtsClient:
    config = Config(
        access_key_id=ak,
        access_key_secret=secret,
        security_token=token,
        region_id="cn-hangzhou",
        endpoint=f"127.0.0.1:{emu.port}",
        protocol="HTTP",
        read_timeout=5000,
        connect_timeout=5000,
    )
    if algorithm is not None:
        config.signature_algorithm = algorithm
    return DtsClient(config)


def describe(client: DtsClient) -> Any:
    request = dts_models.DescribeDtsJobDetailRequest(
        dts_job_id=JOB, dts_instance_id=INSTANCE, region_id="cn-hangzhou"
    )
    return client.describe_dts_job_detail_with_options(request, RuntimeOptions())


def modify(client: DtsClient, db_list: dict[str, Any], **extra: Any) -> Any:
    request = dts_models.ModifyDtsJobRequest(
        dts_instance_id=INSTANCE, dts_job_id=JOB, region_id="cn-hangzhou", db_list=db_list, **extra
    )
    return client.modify_dts_job_with_options(request, RuntimeOptions())


# ---------------------------------------------------------------- DTS


@pytest.mark.parametrize(("algorithm", "ak", "secret", "token"), SIGNING)
def test_official_dts_sdk_describes_and_modifies_a_job(
    emu: EmulatorServer, algorithm: str | None, ak: str, secret: str, token: str | None
) -> None:
    client = dts_client(emu, algorithm, ak, secret, token)
    # WHEN the SDK reads the job
    detail = describe(client)
    # THEN DbObject is a JSON string with DTS's state keys and the status is lower case
    assert detail.status_code == 200
    assert detail.body.success is True
    assert detail.body.status == "synchronizing"
    assert json.loads(detail.body.db_object)["sales"]["state"] == "normal"
    # WHEN it modifies the job
    result = modify(client, NEW_LIST, client_token="contract-1", data_initialization=True)
    # THEN the answer is the documented one, the job is Modifying, and the DbList was recorded
    assert (result.body.success, result.body.dts_job_id) == (True, JOB)
    after = describe(client)
    assert after.body.status == "Modifying"
    assert [(s.job_type, s.status) for s in after.body.sub_sync_job] == [("subSync", "Prechecking")]
    [call] = emu.calls("ModifyDtsJob")
    assert (call["dbList"], call["clientToken"], call["outcome"]) == (NEW_LIST, "contract-1", "ok")
    assert call["signature"]["securityTokenSent"] is (token is not None)


@pytest.mark.parametrize("algorithm", [None, "v2"], ids=["acs3", "rpc-v1"])
def test_official_dts_sdk_wrong_secret_gets_signature_does_not_match(
    emu: EmulatorServer, algorithm: str | None
) -> None:
    with pytest.raises(ClientException) as raised:
        describe(dts_client(emu, algorithm, secret="not-the-secret"))
    assert (raised.value.code, raised.value.status_code) == ("SignatureDoesNotMatch", 400)


@pytest.mark.parametrize("algorithm", [None, "v2"], ids=["acs3", "rpc-v1"])
def test_official_dts_sdk_body_altered_after_signing_gets_signature_does_not_match(
    emu: EmulatorServer, algorithm: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a transport that swaps the DbList after the SDK signed the request
    original = DaraCore.do_action

    def tamper(request: Any, runtime_option: Any = None) -> Any:
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        request.body = body.replace("refunds", "refundz")
        return original(request, runtime_option)

    monkeypatch.setattr(DaraCore, "do_action", staticmethod(tamper))
    # WHEN the SDK sends ModifyDtsJob
    with pytest.raises(ClientException) as raised:
        modify(dts_client(emu, algorithm), NEW_LIST)
    # THEN the emulator refuses it and the job is untouched
    assert raised.value.code == "SignatureDoesNotMatch"
    assert emu.get_state()["jobs"][JOB]["status"] == "Synchronizing"


def test_official_dts_sdk_sees_documented_modifying_error(emu: EmulatorServer) -> None:
    client = dts_client(emu)
    modify(client, NEW_LIST)
    with pytest.raises(ClientException) as raised:
        modify(client, DB_LIST)
    assert (raised.value.code, raised.value.status_code) == ("OperationDenied.JobStatusModifying", 403)
    assert raised.value.data["Message"] == "jobs state is modifying, please wait sync subtask ends"


def test_official_dts_sdk_maps_injected_faults(emu: EmulatorServer) -> None:
    client = dts_client(emu)
    emu.add_fault({"action": "DescribeDtsJobDetail", "code": "Throttling.User", "retryAfterSeconds": 2})
    with pytest.raises(ThrottlingException):
        describe(client)
    emu.add_fault({"action": "DescribeDtsJobDetail", "code": "ServiceUnavailable"})
    with pytest.raises(ServerException) as raised:
        describe(client)
    assert raised.value.code == "ServiceUnavailable"
    emu.add_fault({"action": "DescribeDtsJobDetail", "tokenExpiry": True})
    with pytest.raises(ClientException) as expired:
        describe(client)
    assert (expired.value.code, expired.value.status_code) == ("InvalidSecurityToken.Expired", 403)


def test_official_dts_sdk_unknown_job_gets_not_found(emu: EmulatorServer) -> None:
    request = dts_models.DescribeDtsJobDetailRequest(dts_job_id="dtsjob-none", region_id="cn-hangzhou")
    with pytest.raises(ClientException) as raised:
        dts_client(emu).describe_dts_job_detail_with_options(request, RuntimeOptions())
    assert (raised.value.code, raised.value.status_code) == ("Forbidden.InstanceNotFound", 404)


def test_official_dts_sdk_lists_sync_jobs_only_with_job_type_sync(emu: EmulatorServer) -> None:
    client = dts_client(emu)
    default = client.describe_dts_jobs_with_options(
        dts_models.DescribeDtsJobsRequest(region="cn-hangzhou"), RuntimeOptions()
    )
    sync = client.describe_dts_jobs_with_options(
        dts_models.DescribeDtsJobsRequest(region="cn-hangzhou", job_type="SYNC", dts_instance_id=INSTANCE),
        RuntimeOptions(),
    )
    assert default.body.total_record_count == 0
    [job] = sync.body.dts_job_list
    assert (job.dts_job_id, job.dts_instance_id, job.status) == (JOB, INSTANCE, "Synchronizing")


# ---------------------------------------------------------------- OSS


def oss2_bucket(emu: EmulatorServer, version: str, secret: str = STS_SECRET) -> oss2.Bucket:
    kwargs = {"auth_version": "v4"} if version == "v4" else {}
    auth = oss2.StsAuth(STS_AK, secret, STS_TOKEN, **kwargs)
    return oss2.Bucket(auth, emu.endpoint, BUCKET, region="cn-hangzhou", connect_timeout=5)


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_oss2_with_sts_puts_gets_and_lists_odd_keys(emu: EmulatorServer, version: str) -> None:
    bucket = oss2_bucket(emu, version)
    for key in ODD_KEYS:
        assert bucket.put_object(key, json.dumps({"key": key})).status == 200
    for key in ODD_KEYS:
        assert json.loads(bucket.get_object(key).read()) == {"key": key}
    listed = [o.key for o in oss2.ObjectIteratorV2(bucket, prefix="changes/", max_keys=2)]
    assert listed == sorted([*ODD_KEYS, "changes/0001.json"])


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_oss2_forbid_overwrite_gets_file_already_exists(emu: EmulatorServer, version: str) -> None:
    bucket = oss2_bucket(emu, version)
    with pytest.raises(oss2.exceptions.OssError) as raised:
        bucket.put_object("changes/0001.json", "x", headers={"x-oss-forbid-overwrite": "true"})
    assert (raised.value.status, raised.value.code) == (409, "FileAlreadyExists")
    assert bucket.get_object("changes/0001.json").read() == b'{"add": {}}'


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_oss2_wrong_secret_gets_signature_does_not_match(emu: EmulatorServer, version: str) -> None:
    with pytest.raises(oss2.exceptions.OssError) as raised:
        oss2_bucket(emu, version, secret="wrong").get_object("changes/0001.json")
    assert (raised.value.status, raised.value.code) == (403, "SignatureDoesNotMatch")


def test_oss2_missing_key_gets_no_such_key(emu: EmulatorServer) -> None:
    with pytest.raises(oss2.exceptions.NoSuchKey):
        oss2_bucket(emu, "v4").get_object("changes/none.json")


def oss_v2_client(emu: EmulatorServer) -> oss_v2.Client:
    cfg = oss_v2.config.load_default()
    cfg.credentials_provider = oss_v2.credentials.StaticCredentialsProvider(STS_AK, STS_SECRET, STS_TOKEN)
    cfg.region = "cn-hangzhou"
    cfg.endpoint = emu.endpoint
    cfg.use_path_style = True
    cfg.retry_max_attempts = 1
    cfg.connect_timeout = 5
    cfg.readwrite_timeout = 5
    return oss_v2.Client(cfg)


def test_oss_v2_path_style_v4_puts_gets_lists_and_deletes(emu: EmulatorServer) -> None:
    client = oss_v2_client(emu)
    for key in ODD_KEYS:
        put = client.put_object(oss_v2.PutObjectRequest(bucket=BUCKET, key=key, body=key.encode()))
        assert put.status_code == 200
    for key in ODD_KEYS:
        got = client.get_object(oss_v2.GetObjectRequest(bucket=BUCKET, key=key))
        assert got.body.read() == key.encode()
    keys: list[str] = []
    paginator = client.list_objects_v2_paginator()
    for page in paginator.iter_page(
        oss_v2.ListObjectsV2Request(bucket=BUCKET, prefix="changes/", max_keys=2)
    ):
        keys += [obj.key for obj in page.contents or []]
    assert keys == sorted([*ODD_KEYS, "changes/0001.json"])
    client.delete_object(oss_v2.DeleteObjectRequest(bucket=BUCKET, key=ODD_KEYS[0]))
    assert ODD_KEYS[0] not in emu.get_state()["buckets"][BUCKET]


def test_oss_v2_forbid_overwrite_gets_file_already_exists(emu: EmulatorServer) -> None:
    client = oss_v2_client(emu)
    request = oss_v2.PutObjectRequest(
        bucket=BUCKET, key="changes/0001.json", body=b"x", forbid_overwrite=True
    )
    with pytest.raises(oss_v2.exceptions.OperationError) as raised:
        client.put_object(request)
    error = raised.value.unwrap()
    assert (error.status_code, error.code) == (409, "FileAlreadyExists")


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_oss2_bucket_versioning_round_trips_and_disables_forbid_overwrite(emu: EmulatorServer, version: str) -> None:
    # GIVEN a bucket that never had versioning: oss2 reads no status
    bucket = oss2_bucket(emu, version)
    assert bucket.get_bucket_versioning().status is None
    # WHEN versioning is enabled, then suspended, through the SDK
    config = oss2.models.BucketVersioningConfig()
    config.status = oss2.BUCKET_VERSIONING_ENABLE
    assert bucket.put_bucket_versioning(config).status == 200
    assert bucket.get_bucket_versioning().status == "Enabled"
    # THEN x-oss-forbid-overwrite has no effect (OSS PutObject docs): the object is overwritten
    result = bucket.put_object("changes/0001.json", "x", headers={"x-oss-forbid-overwrite": "true"})
    assert result.status == 200 and result.versionid
    assert bucket.get_object("changes/0001.json").read() == b"x"
    config.status = oss2.BUCKET_VERSIONING_SUSPEND
    bucket.put_bucket_versioning(config)
    assert bucket.get_bucket_versioning().status == "Suspended"
    bucket.put_object("changes/0001.json", "y", headers={"x-oss-forbid-overwrite": "true"})
    assert bucket.get_object("changes/0001.json").read() == b"y"
