"""Which sub-task may decide a submission: times and lists, read as DTS writes them."""

from __future__ import annotations

import json

import pytest

from dts_change.clients.dts_models import SubSyncJob
from dts_change.reconcile.subtask import (
    CLOCK_SKEW_SECONDS,
    SubTaskMarks,
    canonical_dblist_sha256,
    parse_dts_time,
)

AT = 1_714_550_400.0  # 2024-05-01T08:00:00Z


@pytest.mark.parametrize(
    "text",
    ["2024-05-01T08:00:00Z", "2024-05-01T08:00:00.000Z", "2024-05-01T16:00:00+08:00",
     "2024-05-01T16:00:00.123+0800", "2024-05-01 08:00:00", "2024-05-01T03:00:00-05:00"],
)
def test_dts_times_in_their_spellings(text):
    assert parse_dts_time(text) == AT


@pytest.mark.parametrize("text", [None, "", "yesterday", 1714550400, "2024-13-01T00:00:00Z"])
def test_unreadable_times_are_none(text):
    assert parse_dts_time(text) is None


def test_list_hash_ignores_order_spacing_and_dts_markers_but_not_names():
    a = {"s": {"name": "s", "all": False, "Table": {"t": {"name": "t", "all": True}, "state": {"all": True}}}}
    b = {"s": {"state": "normal", "Table": {"state": {"all": True, "state": "normal"}, "t": {"all": True, "name": "t"}},
               "all": False, "name": "s"}}
    assert canonical_dblist_sha256(json.dumps(a)) == canonical_dblist_sha256(json.dumps(b, indent=2))
    del b["s"]["Table"]["state"]
    assert canonical_dblist_sha256(json.dumps(a)) != canonical_dblist_sha256(json.dumps(b))
    assert canonical_dblist_sha256("") is None and canonical_dblist_sha256("[1]") is None


def sub(create: str | None, db_object: str | None) -> SubSyncJob:
    raw = {"Status": "Failed", "JobType": "subSync"}
    if create is not None:
        raw["CreateTime"] = create
    if db_object is not None:
        raw["DbObject"] = db_object
    return SubSyncJob.from_raw(raw)


SENT = '{"s":{"name":"s","all":true}}'
SUBMISSION = {"phase": "addition", "at": AT, "dblist_canonical_sha256": canonical_dblist_sha256(SENT)}


def test_only_a_sub_task_provably_of_the_submission_decides():
    own = SubTaskMarks.of(sub("2024-05-01T08:00:01Z", '{"s":{"all":true,"name":"s","state":"normal"}}'))
    assert own.is_for(SUBMISSION)
    assert not own.is_for({**SUBMISSION, "phase": "reserved"})
    assert not own.is_for(None)
    older = SubTaskMarks.of(sub(f"2024-05-01T07:59:{59 - int(CLOCK_SKEW_SECONDS) - 1:02d}Z", SENT))
    assert not older.is_for(SUBMISSION)
    skewed = SubTaskMarks.of(sub("2024-05-01T07:59:58Z", SENT))
    assert skewed.is_for(SUBMISSION)
    other_list = SubTaskMarks.of(sub("2024-05-01T09:00:00Z", '{"x":{"name":"x"}}'))
    assert not other_list.is_for(SUBMISSION)
    no_time_same_list = SubTaskMarks.of(sub(None, SENT))
    assert no_time_same_list.is_for(SUBMISSION)
    assert not SubTaskMarks.of(sub(None, None)).is_for(SUBMISSION)
    # a submission recorded before lists were hashed: the time alone decides
    assert SubTaskMarks.of(sub("2024-05-01T08:00:01Z", '{"x":{}}')).is_for({"phase": "addition", "at": AT})
