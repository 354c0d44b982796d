"""Issue 11, intake points (7, 11, 12, 13, 14): the handler against the emulator over loopback.

Each test checks what the emulator received (raw ModifyDtsJob parameters, OSS calls) or the
dead-letter files on disk, not the handler's own report of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import load_event_json
from tests.harness import BUCKET, INSTANCE, JOB, LocalDeployment

PREFIX = "dts-change/incoming/"


@pytest.fixture
def deploy(tmp_path: Path) -> Iterator[LocalDeployment]:
    d = LocalDeployment(tmp_path)
    yield d
    d.stop()


def _file_url(deploy: LocalDeployment, key: str) -> str:
    return f"{deploy.server.endpoint}/{BUCKET}/{key}"


def _tables_sent(call: dict[str, Any], db: str) -> set[str]:
    sent = call["dbList"]  # the DbList text DTS received, parsed by the emulator
    return set((sent.get(db) or {}).get("Table", {}))


# ---------------------------------------------------------------------- 7: FileOssUrl flags


def test_file_oss_url_objects_are_submitted_with_the_requests_flags(deploy):
    # GIVEN a ModifyDtsJob-shaped request whose objects all come from FileOssUrl, with flags
    request = {
        "DtsInstanceId": INSTANCE,
        "DtsJobId": JOB,
        "ClientToken": "flags-from-file-1",
        "FileOssUrl": _file_url(deploy, PREFIX + "dblist-fragment.json"),
        "StructureInitialization": True,
        "DataInitialization": False,
        "DataSynchronization": True,
    }
    # WHEN the handler runs it and the job settles
    deploy.invoke(request)
    deploy.settle()
    # THEN the ModifyDtsJob that added the file's tables carried the request's flags on the wire
    calls = [c for c in deploy.modify_calls() if "stock_levels" in _tables_sent(c, "inventory")]
    assert len(calls) == 1
    params = calls[0]["params"]
    assert params.get("StructureInitialization") == "true"
    assert params.get("DataInitialization") == "false"
    assert params.get("DataSynchronization") == "true"
    assert set(deploy.states().values()) == {"applied"}


def test_file_oss_url_and_inline_dblist_both_carry_the_flags(deploy):
    request = load_event_json("manual-modify-dts-job.json")
    request["FileOssUrl"] = _file_url(deploy, PREFIX + "dblist-fragment.json")
    request["DataInitialization"] = False
    deploy.invoke(request)
    deploy.settle()
    sent = deploy.modify_calls()
    file_calls = [c for c in sent if "warehouses" in _tables_sent(c, "inventory")]
    inline_calls = [c for c in sent if "campaigns" in _tables_sent(c, "marketing")]
    assert file_calls and inline_calls
    for call in (file_calls[0], inline_calls[0]):
        assert call["params"].get("DataInitialization") == "false"
        assert call["params"].get("StructureInitialization") == "true"


def test_file_oss_url_document_with_other_flags_is_refused(deploy):
    # GIVEN a file that states its own, different flags
    doc = {"add": {"crm": {"name": "crm", "all": True}}, "dataInitialization": True}
    deploy.put_object(PREFIX + "flags-doc.json", json.dumps(doc))
    request = {
        "DtsJobId": JOB,
        "DtsInstanceId": INSTANCE,
        "FileOssUrl": _file_url(deploy, PREFIX + "flags-doc.json"),
        "DataInitialization": False,
    }
    result = deploy.invoke(request)
    assert [c["outcome"] for c in result["changes"]] == ["dead_lettered"]
    assert result["changes"][0]["code"] == "invalid-change"
    assert "DataInitialization" in result["changes"][0]["message"]
    assert deploy.modify_calls(accepted_only=False) == []
