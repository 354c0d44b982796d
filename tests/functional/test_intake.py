"""Intake end to end: the sample events through intake, reading OSS with the real OssClient from the
emulator on loopback (signing, key encoding, 404s and size caps all go over HTTP)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from dts_change.clients.credentials import Credentials
from dts_change.clients.oss import OssClient
from dts_change.clients.transport import Timeouts
from dts_change.emulator import EmulatorServer
from dts_change.intake.accept import intake_event
from dts_change.intake.detect import Caps
from dts_change.intake.settings import IntakeSettings, intake_settings_from_env
from tests.conftest import EVENTS_DIR, load_event_json, read_event_bytes
from tests.emulator_fixture import emulator_server as started_emulator

BUCKET = "dts-change-config"
PREFIX = "dts-change/incoming/"
KEY_ID, KEY_SECRET = "LTAIintaketest", "intake-test-secret"
ODD_KEY = PREFIX + "新表 list+1%.txt"
DECOY_KEY = PREFIX + "新表 list 1%.txt"


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    objects: dict[str, Any] = {
        PREFIX + path.name: path.read_text(encoding="utf-8")
        for path in (EVENTS_DIR / "changes").iterdir()
        if path.is_file()
    }
    objects[ODD_KEY] = "shop.right_one\n"
    objects[DECOY_KEY] = "shop.wrong_one\n"
    objects[PREFIX + "big.txt"] = "shop.t\n" * 50
    state = {
        "credentials": {KEY_ID: {"secret": KEY_SECRET, "securityToken": None}},
        "jobs": {},
        "buckets": {BUCKET: objects},
        "faults": [],
        "calls": [],
    }
    with started_emulator(state) as server:
        yield server


@pytest.fixture
def oss(emulator: EmulatorServer) -> Iterator[OssClient]:
    emulator.reset()
    client = OssClient(
        "cn-hangzhou",
        endpoint=emulator.endpoint,
        credentials=Credentials(KEY_ID, KEY_SECRET),
        timeouts=Timeouts(connect=2.0, read=5.0),
    )
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def settings(emulator: EmulatorServer) -> IntakeSettings:
    return intake_settings_from_env(
        {
            "DTS_JOB_ID": "dtsjob1demo",
            "DTS_REGION": "cn-hangzhou",
            "OSS_REGION": "cn-hangzhou",
            "OSS_ENDPOINT": emulator.endpoint,
            "DTS_CHANGE_ALLOWED_BUCKETS": BUCKET,
        }
    )


def _oss_gets(emulator: EmulatorServer) -> list[str]:
    return [
        c["key"] for c in emulator.calls() if c.get("service") == "oss" and c.get("action") == "GetObject"
    ]


@pytest.mark.parametrize(
    ("name", "formats"),
    [
        ("oss-object-created.json", [["sql-mysql"]]),
        ("eventbridge-oss-object-created.json", [["change-document"]]),
        ("eventbridge-oss-batch.json", [["table-list"], ["dblist"]]),
        ("manual-modify-dts-job.json", [["modify-dts-job", "dblist"]]),
        ("fc-failure-record.json", [["sql-mysql"]]),
    ],
)
def test_intake_with_emulator_oss_samples_read_their_objects(name, formats, oss, settings, emulator):
    outcomes = intake_event(read_event_bytes(name), settings=settings, reader=oss, request_id="fc-1")
    assert [[c.format for c in o.changes] for o in outcomes] == formats, [o.to_dict() for o in outcomes]
    assert all(o.status == "accepted" for o in outcomes)
    assert _oss_gets(emulator), "the objects were read through the emulator"


def test_intake_with_emulator_etag_from_oss_matches_the_event(oss, settings):
    change = intake_event(read_event_bytes("oss-object-created.json"), settings=settings, reader=oss)[
        0
    ].changes[0]
    body = (EVENTS_DIR / "changes" / "new-table.sql").read_bytes()
    assert change.source.etag == hashlib.md5(body).hexdigest().upper()


def test_intake_with_emulator_url_encoded_cjk_key_resolves(oss, settings, emulator):
    # GIVEN an OSS event naming the key URL-encoded (spaces as "+", "+" as %2B, CJK and "%")
    event = load_event_json("oss-object-created.json")
    obj = event["events"][0]["oss"]["object"]
    obj["key"] = "dts-change/incoming/%E6%96%B0%E8%A1%A8+list%2B1%25.txt"
    obj["eTag"] = hashlib.md5(b"shop.right_one\n").hexdigest().upper()
    # WHEN intake reads it through the real client
    outcome = intake_event(json.dumps(event), settings=settings, reader=oss)[0]
    # THEN the raw spelling was tried first, then the decoded one found the right object
    change = outcome.changes[0]
    assert change.add is not None and change.add.to_wire() == {
        "shop": {"all": False, "Table": {"right_one": {}}}
    }
    assert change.source.key == ODD_KEY
    assert _oss_gets(emulator)[-1] == ODD_KEY


def test_intake_with_emulator_raw_cjk_key_is_read_directly(oss, settings, emulator):
    event = load_event_json("oss-object-created.json")
    event["events"][0]["oss"]["object"]["key"] = ODD_KEY
    event["events"][0]["oss"]["object"]["eTag"] = hashlib.md5(b"shop.right_one\n").hexdigest().upper()
    outcome = intake_event(json.dumps(event), settings=settings, reader=oss)[0]
    assert outcome.status == "accepted"
    assert _oss_gets(emulator) == [ODD_KEY]


def test_intake_with_emulator_path_style_file_oss_url_on_the_endpoint(oss, settings, emulator):
    request = load_event_json("manual-modify-dts-job.json")
    request["FileOssUrl"] = f"{emulator.endpoint}/{BUCKET}/{PREFIX}table-names.txt"
    outcome = intake_event(json.dumps(request), settings=settings, reader=oss)[0]
    assert [c.format for c in outcome.changes] == ["modify-dts-job", "table-list"]


def test_intake_with_emulator_metadata_url_is_refused_and_nothing_is_read(oss, settings, emulator):
    request = load_event_json("manual-modify-dts-job.json")
    request["FileOssUrl"] = "http://100.100.100.200/latest/meta-data/"
    outcome = intake_event(json.dumps(request), settings=settings, reader=oss)[0]
    assert outcome.error is not None and outcome.error.code == "oss-url-refused"
    assert outcome.error.details == {"reason": "ip-literal"}
    assert _oss_gets(emulator) == []


def test_intake_with_emulator_missing_object_is_not_found(oss, settings):
    event = load_event_json("oss-object-created.json")
    event["events"][0]["oss"]["object"]["key"] = PREFIX + "deleted-meanwhile.sql"
    outcome = intake_event(json.dumps(event), settings=settings, reader=oss)[0]
    assert outcome.error is not None and outcome.error.code == "source-object-not-found"


def test_intake_with_emulator_object_over_cap_is_input_too_large(oss, settings):
    event = load_event_json("oss-object-created.json")
    event["events"][0]["oss"]["object"]["key"] = PREFIX + "big.txt"
    small = replace(settings, caps=Caps(max_document_bytes=100))
    outcome = intake_event(json.dumps(event), settings=small, reader=oss)[0]
    assert outcome.error is not None and outcome.error.code == "input-too-large"
