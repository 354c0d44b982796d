"""The wire guard through the real path: the handler against the emulator over HTTP.

A loss is injected where only the wire can show it (the text the client sends), or comes from a
job whose names collide with DTS's own marker; the emulator's call log is the independent picture.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dts_change.core.dblist import DbList
from tests.harness import JOB, LocalDeployment, manual_change, seed_state


@pytest.fixture
def deploy(tmp_path: Path) -> Iterator[LocalDeployment]:
    d = LocalDeployment(tmp_path)
    yield d
    d.stop()


def guard_letters(deploy: LocalDeployment) -> list[dict[str, Any]]:
    return [d.error for d in deploy.dead_letters() if (d.error or {}).get("code") == "guard-violation"]


def test_an_object_dropped_on_the_wire_sends_nothing_and_dead_letters_naming_the_path(deploy, monkeypatch):
    # GIVEN a serialisation bug that drops the database `hr` from the text sent (the model still has it)
    real = DbList.to_json

    def lossy(self: DbList, *, keep_server_keys: bool = False) -> str:
        data = json.loads(real(self, keep_server_keys=keep_server_keys))
        data.pop("hr", None)
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    monkeypatch.setattr(DbList, "to_json", lossy)
    before = deploy.db_list()
    # WHEN a change is handled
    result = deploy.invoke(manual_change("g-1", add=["shop.refunds"]))
    # THEN DTS received no ModifyDtsJob at all, the job is unchanged
    assert deploy.server.calls("ModifyDtsJob") == []
    assert deploy.db_list() == before
    # AND the change is dead-lettered with guard-violation naming /hr
    assert result["changes"][0]["outcome"] == "dead_lettered"
    assert result["changes"][0]["code"] == "guard-violation"
    letters = guard_letters(deploy)
    assert len(letters) == 1 and letters[0]["details"]["paths"] == ["/hr"]
    assert deploy.states() == {"g-1": "dead_lettered"}


def test_a_key_dts_keeps_dropped_on_the_wire_is_caught_although_every_object_is_kept(deploy, monkeypatch):
    # GIVEN a bug that drops only `primary_key` of shop.customers: every object is still listed
    real = DbList.to_json

    def lossy(self: DbList, *, keep_server_keys: bool = False) -> str:
        data = json.loads(real(self, keep_server_keys=keep_server_keys))
        data["shop"]["Table"]["customers"].pop("primary_key", None)
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    monkeypatch.setattr(DbList, "to_json", lossy)
    deploy.invoke(manual_change("g-2", add=["crm.leads"]))
    assert deploy.server.calls("ModifyDtsJob") == []
    assert [e["details"]["paths"] for e in guard_letters(deploy)] == [["/shop/Table/customers/primary_key"]]


def test_a_removal_phase_is_guarded_too(deploy, monkeypatch):
    real = DbList.to_json

    def lossy(self: DbList, *, keep_server_keys: bool = False) -> str:
        data = json.loads(real(self, keep_server_keys=keep_server_keys))
        data["shop"].pop("name", None)
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    monkeypatch.setattr(DbList, "to_json", lossy)
    deploy.invoke(manual_change("g-3", remove=["staging.tmp_import"]))
    assert deploy.server.calls("ModifyDtsJob") == []
    assert [e["details"]["paths"] for e in guard_letters(deploy)] == [["/shop/name"]]


ADVERSARIAL = {
    "shop": {
        "name": "shop",
        "all": False,
        "Table": {
            "orders": {"name": "orders", "all": True},
            "state": {"name": "state", "all": True},
            "all": {"name": "all", "all": True, "column": {"state": {"name": "state_dst"}}},
            "a.b c": {"name": "a.b c", "all": True, "filter": {"state": "open"}},
            "訂單": {"name": "訂單", "all": True},
        },
    },
    "state": {"name": "state", "all": True},
}


def wire_paths(data: Any, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    out = set()
    if isinstance(data, dict):
        for key, value in data.items():
            out.add((*path, key))
            out |= wire_paths(value, (*path, key))
    return out


def test_names_like_dts_markers_never_leave_the_wire_silently(tmp_path):
    # GIVEN a job whose tables, columns and a filter are called like DTS's `state` marker
    deploy = LocalDeployment(tmp_path, seed_state(dbList=ADVERSARIAL))
    try:
        # WHEN a table is added
        result = deploy.invoke(manual_change("adv-1", add=["shop.refunds"]))
        deploy.settle()
        outcome = deploy.states()["adv-1"]
        sent = [c["dbList"] for c in deploy.modify_calls()]
        if sent:
            # THEN either every path of the job went to DTS (the merge keeps names) ...
            assert outcome == "applied"
            assert wire_paths(ADVERSARIAL) <= wire_paths(sent[0])
        else:
            # ... or nothing was sent and the guard named what the merge would have lost
            assert outcome == "dead_lettered"
            assert result["changes"][0]["code"] == "guard-violation"
            paths = guard_letters(deploy)[0]["details"]["paths"]
            assert "/shop/Table/state" in paths and "/shop/Table/all/column/state" in paths
        assert wire_paths(ADVERSARIAL) <= wire_paths(deploy.server.get_state()["jobs"][JOB]["dbList"])
    finally:
        deploy.stop()


def test_the_guard_reads_the_text_of_the_last_describe(tmp_path):
    # GIVEN another writer adds a table named `state` between the pass's read and its re-read
    deploy = LocalDeployment(tmp_path)
    try:
        changed = deploy.db_list()
        changed["shop"]["Table"]["state"] = {"name": "state", "all": True}
        deploy.server.add_hook({"jobId": JOB, "afterDescribes": 1, "dbList": changed})
        deploy.invoke(manual_change("late-1", add=["shop.refunds"]))
        # THEN no list without shop.state ever reached DTS (the pass waits, or the guard refuses)
        for call in deploy.modify_calls(accepted_only=False):
            assert "state" in call["dbList"]["shop"]["Table"], call["dbList"]
        assert "state" in deploy.db_list()["shop"]["Table"]
    finally:
        deploy.stop()


def test_a_reserved_change_passes_the_guard_and_reaches_dts(deploy):
    result = deploy.invoke(manual_change("res-1", reserved={"maxRetryTime": 3600}))
    assert result["reconcile"][0]["action"] == "submitted", result
    calls = deploy.modify_calls()
    assert len(calls) == 1 and calls[0].get("dbList") is None
    assert guard_letters(deploy) == []


def test_a_change_folded_with_the_one_that_lost_data_is_not_dead_lettered_with_it(tmp_path):
    # GIVEN two removals folded into one write while the job was busy: one removes staging's last
    # tables (dropping staging's own settings, issue 11 point 2), the other a table of shop
    deploy = LocalDeployment(tmp_path, seed_state(modifyAfterDescribes=2))
    try:
        deploy.invoke(manual_change("warm", add=["shop.warm"]))
        deploy.invoke(manual_change("rm-last", remove=["staging.tmp_import", "staging.tmp_export"]))
        deploy.invoke(manual_change("rm-shop", remove=["shop.orders"]))
        deploy.settle(passes=20)
        # THEN staging's settings never left DTS, the culprit is dead-lettered, the other applied
        for call in deploy.modify_calls():
            if call.get("dbList") is not None:
                assert call["dbList"]["staging"]["name"] == "staging", call["dbList"]
        states = deploy.states()
        assert states["rm-last"] == "dead_lettered"
        assert states["rm-shop"] == "applied" and states["warm"] == "applied"
        assert "orders" not in deploy.db_list()["shop"]["Table"]
    finally:
        deploy.stop()


def test_a_removal_the_merge_invents_is_not_released_by_the_guard(deploy, monkeypatch):
    # GIVEN a merge bug: the plan drops database hr and claims it as a removal nobody asked for
    from dts_change.core.dblist import ObjectRef
    from dts_change.core.merge import FoldPlan
    from dts_change.reconcile import fold as reconcile

    real = reconcile.fold_changes

    def inventive(current, specs):
        result = real(current, specs)
        phase = result.plan.addition_phase
        if phase is None or "hr" not in phase.databases:
            return result
        dropped = DbList({db: e for db, e in phase.databases.items() if db != "hr"})
        result.plan = FoldPlan(removal_phase=None, addition_phase=dropped)
        result.removals = frozenset({*result.removals, ObjectRef("hr")})
        return result

    monkeypatch.setattr(reconcile, "fold_changes", inventive)
    # WHEN an addition is handled (the model's own no-loss check accepts the claimed removal)
    deploy.invoke(manual_change("inv-1", add=["shop.refunds"]))
    # THEN nothing reached DTS: only a removal the change itself asked for releases a path
    assert deploy.server.calls("ModifyDtsJob") == []
    assert [e["details"]["paths"] for e in guard_letters(deploy)] == [["/hr"]]
    assert "hr" in deploy.db_list()
