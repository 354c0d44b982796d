"""Issue 11, points 1-6, through the real path: the handler against the emulator over loopback.

Every check reads what the emulator received (the ModifyDtsJob `DbList` it parsed from the wire,
its call log, its stored list) and compares it with lists written out here, not with the code's
own DbList model."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functional.reliability.scenario import oss_event
from tests.harness import BUCKET, JOB, LocalDeployment, manual_change, seed_state


def deployment(tmp_path: Path, db_list: dict[str, Any], **env: str) -> LocalDeployment:
    state = seed_state()
    state["jobs"][JOB]["dbList"] = copy.deepcopy(db_list)
    return LocalDeployment(tmp_path, state, **env)


@pytest.fixture
def cleanup() -> Iterator[list[LocalDeployment]]:
    made: list[LocalDeployment] = []
    yield made
    for d in made:
        d.stop()


def sent_lists(deploy: LocalDeployment) -> list[dict[str, Any]]:
    """The DbList of every accepted ModifyDtsJob, as the emulator parsed it from the request."""
    return [c["dbList"] for c in deploy.modify_calls() if "dbList" in c]


def only_change(result: dict[str, Any]) -> dict[str, Any]:
    assert len(result["changes"]) == 1
    return result["changes"][0]


# ---------------------------------------------------------------------- 1. names called `state`

NAMED_STATE = {
    "app": {"name": "app", "all": False, "Table": {
        "state": {"name": "state", "all": True},
        "users": {"name": "users", "all": True,
                  "column": {"state": {"name": "state"}, "id": "id", "flag": "state"},
                  "filter": {"state": "active"}},
    }},
    "state": {"name": "state", "all": True},
}


def test_objects_named_state_reach_dts_intact(tmp_path, cleanup):
    deploy = deployment(tmp_path, NAMED_STATE)
    cleanup.append(deploy)
    deploy.set_job(switches={"rejectStateKeys": True})  # DTS's own markers must not go back
    result = deploy.invoke(manual_change("st", add=["app.orders"]))
    assert only_change(result)["outcome"] == "submitted"
    expected = copy.deepcopy(NAMED_STATE)
    expected["app"]["Table"]["orders"] = {"name": "orders", "all": True}
    assert sent_lists(deploy) == [expected]
    deploy.settle()
    assert deploy.states() == {"st": "applied"}
    assert deploy.db_list() == expected


# ---------------------------------------------------------------------- 2. last listed table

RENAMED = {
    "shop": {"name": "shop_dst", "all": False, "dml_op": "I,U", "ddl_op": "CreateTable", "x_custom": {"k": 1},
             "Table": {"orders": {"name": "orders", "all": True}}},
    "hr": {"name": "hr", "all": True},
}


def test_removing_the_last_table_is_dead_lettered_and_nothing_is_sent(tmp_path, cleanup):
    deploy = deployment(tmp_path, RENAMED)
    cleanup.append(deploy)
    change = only_change(deploy.invoke(manual_change("last", remove=["shop.orders"])))
    assert change["outcome"] == "dead_lettered"
    assert change["code"] == "removal-empties-database"
    assert 'remove: ["shop"]' in change["hint"]
    assert deploy.modify_calls(accepted_only=False) == []
    assert deploy.db_list() == RENAMED
    # AND a later addition still finds the database with its target name and op filters
    deploy.invoke(manual_change("later", add=["shop.refunds"]))
    assert sent_lists(deploy)[-1]["shop"] == {**RENAMED["shop"], "Table": {
        "orders": {"name": "orders", "all": True}, "refunds": {"name": "refunds", "all": True}}}


def test_removing_the_database_explicitly_is_sent(tmp_path, cleanup):
    deploy = deployment(tmp_path, RENAMED)
    cleanup.append(deploy)
    assert only_change(deploy.invoke(manual_change("db", remove=["shop"])))["outcome"] == "submitted"
    assert sent_lists(deploy) == [{"hr": {"name": "hr", "all": True}}]


# ---------------------------------------------------------------------- 3. never {}

def test_removing_the_only_database_is_dead_lettered_never_sent_empty(tmp_path, cleanup):
    deploy = deployment(tmp_path, {"hr": {"name": "hr", "all": True}})
    cleanup.append(deploy)
    change = only_change(deploy.invoke(manual_change("all-gone", remove=["hr"])))
    assert change["outcome"] == "dead_lettered"
    assert change["code"] == "dblist-would-be-empty"
    assert deploy.modify_calls(accepted_only=False) == []
    assert deploy.db_list() == {"hr": {"name": "hr", "all": True}}


# ---------------------------------------------------------------------- 4. names not listed

def test_removing_unlisted_names_is_dead_lettered_with_near_matches_in_result_and_log(tmp_path, cleanup, caplog):
    deploy = LocalDeployment(tmp_path)
    cleanup.append(deploy)
    before = deploy.db_list()
    caplog.set_level(logging.INFO, logger="dts_change")
    change = only_change(deploy.invoke(manual_change("typo", remove=["staging.tmp_import", "shop.Orders", "stagіng"])))
    assert change["outcome"] == "dead_lettered"
    assert change["code"] == "remove-not-listed"
    assert change["errorDetails"] == {
        "notListed": ["shop.Orders", "stagіng"],
        "nearMatches": {"shop.Orders": "shop.orders", "stagіng": "staging"},
    }
    assert "shop.Orders (did you mean shop.orders?)" in change["message"]
    # nothing of the change was applied: not even the listed staging.tmp_import
    assert deploy.modify_calls(accepted_only=False) == []
    assert deploy.db_list() == before
    assert deploy.states() == {"typo": "dead_lettered"}
    lines = [r for r in caplog.records if r.getMessage() == "change dead-lettered"]
    assert lines and lines[0].fields["code"] == "remove-not-listed"
    assert "did you mean shop.orders?" in lines[0].fields["message"]


# ---------------------------------------------------------------------- 5. target names

MAPPED = {
    "shop": {"name": "shop_dst", "all": False, "Table": {"orders": {"name": "orders_v2", "all": True}}},
    "hr": {"name": "hr", "all": True},
}


def test_adding_a_target_name_as_a_source_warns_naming_the_mapping(tmp_path, cleanup, caplog):
    deploy = deployment(tmp_path, MAPPED)
    cleanup.append(deploy)
    caplog.set_level(logging.INFO, logger="dts_change")
    result = deploy.invoke(manual_change("tgt", add=["shop_dst", "shop.orders_v2"]))
    assert only_change(result)["outcome"] == "submitted"
    warnings = result["reconcile"][0]["diff"]["warnings"]
    assert any("shop -> shop_dst" in w for w in warnings)
    assert any("shop.orders -> orders_v2" in w for w in warnings)
    logged = [r for r in caplog.records if r.getMessage() == "modification submitted"]
    assert logged and any("shop -> shop_dst" in w for w in logged[0].fields["warnings"])
    # a warning only: the objects were sent as asked, the mapped ones untouched
    sent = sent_lists(deploy)[0]
    assert sent["shop_dst"] == {"name": "shop_dst", "all": True}
    assert sent["shop"] == {"name": "shop_dst", "all": False, "Table": {
        "orders": {"name": "orders_v2", "all": True}, "orders_v2": {"name": "orders_v2", "all": True}}}


def test_route_option_makes_a_target_name_addition_an_error(tmp_path, cleanup):
    routes = json.dumps([{"bucket": BUCKET, "dtsJobId": JOB, "onTargetNameAdd": "reject"}])
    deploy = deployment(tmp_path, MAPPED, DTS_CHANGE_ROUTES=routes)
    cleanup.append(deploy)
    body = '{"id": "tgt-file", "add": ["shop_dst"]}'
    result = deploy.invoke(put_and_announce(deploy, "dts-change/incoming/target.json", body))
    change = only_change(result)
    assert change["outcome"] == "dead_lettered"
    assert change["code"] == "target-name-added"
    assert "shop -> shop_dst" in change["message"]
    assert deploy.modify_calls(accepted_only=False) == []


# ---------------------------------------------------------------------- 6. drop and recreate

SETTINGS = {
    "shop": {"name": "shop", "all": False, "Table": {
        "orders": {"name": "orders_v2", "all": True, "filter": "id > 10", "column": {"id": "id"}},
        "customers": {"name": "customers", "all": True}}},
    "hr": {"name": "hr", "all": True},
}


def put_and_announce(deploy: LocalDeployment, key: str, body: str) -> str:
    """Upload a change file to the emulator's bucket and return the OSS event announcing it."""
    deploy.put_object(key, body)
    return oss_event(key, body.encode())


def test_remove_and_add_of_a_table_keeps_its_settings_like_ddl_drop_create(tmp_path, cleanup):
    routes = json.dumps([{"bucket": BUCKET, "dtsJobId": JOB, "allowRemovals": True}])
    deploy = deployment(tmp_path, SETTINGS, DTS_CHANGE_ROUTES=routes)
    cleanup.append(deploy)
    # a change document that removes and adds shop.orders, plus a new table so something is sent
    doc = manual_change("doc", remove=["shop.orders"], add=["shop.orders", "shop.refunds"])
    assert only_change(deploy.invoke(doc))["outcome"] == "submitted"
    deploy.settle()
    # a DDL file that drops and creates shop.customers, from a route that allows removals
    sql = "DROP TABLE IF EXISTS shop.customers;\nCREATE TABLE shop.customers (id INT PRIMARY KEY);\n" \
          "CREATE TABLE shop.notes (id INT PRIMARY KEY);\n"
    assert only_change(deploy.invoke(put_and_announce(deploy, "dts-change/incoming/recreate.sql", sql)))["outcome"] == "submitted"
    deploy.settle()
    assert set(deploy.states().values()) == {"applied"}
    expected_tables = {
        **SETTINGS["shop"]["Table"],
        "refunds": {"name": "refunds", "all": True},
        "notes": {"name": "notes", "all": True},
    }
    # only additions were ever sent (no removal phase), each keeping orders' rename, filter and columns
    sent = sent_lists(deploy)
    assert len(sent) == 2
    assert sent[0]["shop"]["Table"]["orders"] == SETTINGS["shop"]["Table"]["orders"]
    assert sent[1]["shop"]["Table"] == expected_tables
    assert deploy.db_list()["shop"]["Table"] == expected_tables


# ---------------------------------------------------------------------- 4. after a lost answer

def test_removal_carried_out_but_answer_lost_is_applied_not_remove_not_listed(tmp_path, cleanup):
    deploy = LocalDeployment(tmp_path)
    cleanup.append(deploy)
    # GIVEN DTS carries out the removal, but every answer to it is lost (connection reset after the write)
    deploy.server.add_fault({"action": "ModifyDtsJob", "reset": True, "phase": "after", "count": 50})
    first = only_change(deploy.invoke(manual_change("rm", remove=["staging.tmp_import"])))
    # the re-read before the retry finds our own list: the write is recorded as submitted (#12.1)
    assert first["outcome"] == "submitted"
    assert "tmp_import" not in deploy.db_list()["staging"]["Table"]  # the write happened
    deploy.server.clear_faults()
    # WHEN the next passes fold the change again against a list that no longer has the name
    deploy.settle()
    # THEN it is applied (its own write removed the name), never dead-lettered remove-not-listed
    assert deploy.states() == {"rm": "applied"}
    assert deploy.dead_letters() == []
    assert set(deploy.db_list()["staging"]["Table"]) == {"tmp_export"}


def test_a_recreating_change_rides_no_removal_phase(tmp_path, cleanup):
    deploy = deployment(tmp_path, {**SETTINGS, "staging": {"name": "staging", "all": False, "Table": {
        "a": {"name": "a", "all": True}, "b": {"name": "b", "all": True}}}})
    cleanup.append(deploy)
    deploy.set_job(modifyAfterDescribes=2)
    deploy.invoke(manual_change("warmup", add=["hr2"]))  # the job is busy: the next two fold together
    deploy.invoke(manual_change("rm", remove=["staging.a"]))
    deploy.invoke(manual_change("again", remove=["shop.orders"], add=["shop.orders", "shop.new"]))
    deploy.settle(passes=30)
    assert deploy.states() == {"warmup": "applied", "rm": "applied", "again": "applied"}
    sent = sent_lists(deploy)
    # the removal phase removes staging.a only; shop.orders keeps its settings in every list sent
    assert [set(s["staging"]["Table"]) for s in sent] == [{"a", "b"}, {"b"}, {"b"}]
    assert all(s["shop"]["Table"]["orders"] == SETTINGS["shop"]["Table"]["orders"] for s in sent)
    assert "new" not in sent[1]["shop"]["Table"] and "new" in sent[2]["shop"]["Table"]
    phases = {r.change_id: [s["phase"] for s in r.submissions] for r in deploy.app.ledger.all_records()}
    assert phases["again"] == ["addition"]
