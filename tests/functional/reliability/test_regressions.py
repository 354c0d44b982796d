"""Regression tests for the bugs the randomised fault and crash runs found (docs/reliability.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dts_change.app.handler import App
from dts_change.app.history import collect_history
from dts_change.app.settings import Settings
from dts_change.app.status import collect_status, render_status
from dts_change.core.dblist import DbList
from dts_change.core.errors import LeaseStoreError
from dts_change.state.records import ChangeRecord, ChangeState
from tests.functional.reliability.checks import (
    carried_out,
    double_submissions,
    expected_db_list,
    noted_tokens,
    unnoted_calls,
)
from tests.harness import JOB, LocalDeployment, manual_change, oss_deployment, seed_state


def tables(db_list: dict[str, Any], db: str) -> dict[str, Any]:
    return dict((db_list.get(db) or {}).get("Table") or {})


def pending_while_busy(deploy: LocalDeployment, *changes: dict[str, Any]) -> None:
    """A warm-up change makes the job busy, so `changes` are recorded pending, in this order."""
    deploy.invoke(manual_change("warmup", add=["shop.warmup"]))
    for change in changes:
        assert deploy.invoke(change)["changes"][0]["outcome"] == "pending"


def fold_while_busy(deploy: LocalDeployment, *changes: dict[str, Any]) -> None:
    """`changes` pending while the job is busy, then folded together in one later pass."""
    pending_while_busy(deploy, *changes)
    deploy.settle(passes=20)


def assert_each_change_submitted_once(deploy: LocalDeployment) -> None:
    records = deploy.app.ledger.all_records()
    modifies = carried_out(deploy.server.calls())
    assert double_submissions(records, modifies) == []
    assert unnoted_calls(noted_tokens(deploy.app.ledger, records), modifies) == []
    assert {r.state.value for r in records} == {"applied"}


def test_confirm_addition_later_removal_in_same_fold_is_not_re_added(busy_deploy: LocalDeployment) -> None:
    # GIVEN a pending addition of shop.x and, after it, a removal of shop.x, folded together
    fold_while_busy(
        busy_deploy,
        manual_change("add-x", add=["shop.x"]),
        manual_change("rm-x", remove=["shop.x"]),
    )
    # THEN in ledger order x is added then removed: absent, and the addition is not sent again
    assert "x" not in tables(busy_deploy.db_list(), "shop")
    assert_each_change_submitted_once(busy_deploy)


def test_confirm_removal_later_readdition_in_same_fold_is_not_removed_again(busy_deploy: LocalDeployment) -> None:
    # GIVEN a change removing staging.tmp_import and adding shop.y, then one adding tmp_import back
    fold_while_busy(
        busy_deploy,
        manual_change("rm-add", remove=["staging.tmp_import"], add=["shop.y"]),
        manual_change("re-add", add=["staging.tmp_import"]),
    )
    # THEN both hold in ledger order: tmp_import is back, y is there, nothing was sent twice
    final = busy_deploy.db_list()
    assert "tmp_import" in tables(final, "staging")
    assert "y" in tables(final, "shop")
    assert_each_change_submitted_once(busy_deploy)


def test_confirm_replaced_settings_later_replacement_in_same_fold_wins(busy_deploy: LocalDeployment) -> None:
    # GIVEN two replacements of shop.customers' primary_key folded together, "code" last
    def replace(change_id: str, key: str) -> dict[str, Any]:
        table = {"name": "customers", "all": True, "primary_key": key}
        return manual_change(
            change_id, add={"shop": {"name": "shop", "all": False, "Table": {"customers": table}}}, onConflict="replace"
        )

    fold_while_busy(busy_deploy, replace("pk-uuid", "uuid"), replace("pk-code", "code"))
    # THEN the later one wins and the earlier one is not re-sent over it
    assert tables(busy_deploy.db_list(), "shop")["customers"]["primary_key"] == "code"
    assert_each_change_submitted_once(busy_deploy)


def test_fold_addition_then_removal_of_same_object_is_applied_not_left_pending(busy_deploy: LocalDeployment) -> None:
    # GIVEN an addition of shop.x and a later removal of it, folded together: the net change is none
    fold_while_busy(
        busy_deploy,
        manual_change("add-only", add=["shop.x"]),
        manual_change("rm-only", remove=["shop.x"]),
    )
    # THEN both are applied (as a no-op together) instead of staying pending forever
    assert busy_deploy.states() == {"warmup": "applied", "add-only": "applied", "rm-only": "applied"}
    assert "x" not in tables(busy_deploy.db_list(), "shop")


def test_confirm_removal_with_earlier_addition_waiting_keeps_ledger_order(busy_deploy: LocalDeployment) -> None:
    # GIVEN an addition of shop.x, then a removal of shop.x and one of staging.tmp_import, folded
    # together: the removal phase carries both removals and leaves the earlier addition waiting
    fold_while_busy(
        busy_deploy,
        manual_change("add-first", add=["shop.x"]),
        manual_change("rm-x-later", remove=["shop.x"]),
        manual_change("rm-tmp", remove=["staging.tmp_import"]),
    )
    # THEN the earlier addition does not land after the later removal: x stays absent
    final = busy_deploy.db_list()
    assert "x" not in tables(final, "shop")
    assert "tmp_import" not in tables(final, "staging")
    assert_each_change_submitted_once(busy_deploy)


def test_removal_phase_confirmed_removal_refolded_does_not_ride_a_second_removal(busy_deploy: LocalDeployment) -> None:
    # GIVEN an addition of shop.x, a later removal of shop.x and a removal of staging.tmp_import:
    # the removal phase carries both removals; the earlier addition waits
    busy_deploy.invoke(manual_change("warmup", add=["shop.warmup"]))
    for change in (
        manual_change("add-x", add=["shop.x"]),
        manual_change("rm-x", remove=["shop.x"]),
        manual_change("rm-import", remove=["staging.tmp_import"]),
    ):
        busy_deploy.invoke(change)
    for _ in range(20):
        report = busy_deploy.tick()["reconcile"][0]
        if report.get("phase") == "removal" and report["action"] == "submitted":
            break
    else:
        raise AssertionError("no removal phase was submitted")
    # WHEN another removal arrives while that phase runs, so the next fold has a removal phase too
    # (shop.customers, not staging's last table: that would drop staging's own settings, issue 11)
    busy_deploy.invoke(manual_change("rm-customers", remove=["shop.customers"]))
    busy_deploy.settle(passes=30)
    # THEN rm-x, folded again only to keep ledger order, is not sent in the second removal phase
    assert_each_change_submitted_once(busy_deploy)
    final = busy_deploy.db_list()
    assert "x" not in tables(final, "shop")
    assert "customers" not in tables(final, "shop")
    assert set(tables(final, "staging")) == {"tmp_export"}


def test_refold_after_lost_addition_answer_does_not_remove_objects_again(busy_deploy: LocalDeployment) -> None:
    # GIVEN a change removing staging.tmp_import and adding shop.y, its removal phase submitted
    busy_deploy.invoke(manual_change("rm-add", remove=["staging.tmp_import"], add=["shop.y"]))
    # AND a later change adding tmp_import back, pending while the job is busy
    busy_deploy.invoke(manual_change("re-add", add=["staging.tmp_import"]))
    # WHEN the addition phase is carried out but every answer to it is lost (reset after the write)
    busy_deploy.server.add_fault({"action": "ModifyDtsJob", "reset": True, "phase": "after", "count": 50})
    for _ in range(20):
        report = busy_deploy.tick()["reconcile"][0]
        # The retry re-reads first (#12.1): it finds the write done (the job Modifying) and stops.
        if report["action"] == "retry-later" or (report.get("phase") == "addition" and report["action"] == "aborted"):
            break
    else:
        raise AssertionError("the addition phase never failed")
    busy_deploy.server.clear_faults()
    busy_deploy.settle(passes=30)
    # THEN the next passes see the list already holds both changes: no second removal of
    # tmp_import (which would make DTS drop and re-synchronize it), nothing sent again
    carried = carried_out(busy_deploy.server.calls())
    assert [c.db_list is not None for c in carried] == [True, True]
    assert "tmp_import" in tables(busy_deploy.db_list(), "staging")
    assert busy_deploy.states() == {"rm-add": "applied", "re-add": "applied"}


def test_admit_change_visible_after_later_ones_applied_moves_to_the_end(tmp_path: Path) -> None:
    deploy = LocalDeployment(tmp_path)
    initial = deploy.db_list()
    try:
        # GIVEN a removal of shop.orders recorded and applied
        deploy.invoke(manual_change("rm-x", remove=["shop.orders"]))
        deploy.settle()
        assert deploy.states() == {"rm-x": "applied"}
        assert "orders" not in tables(deploy.db_list(), "shop")
        # WHEN an addition of shop.orders shows up whose seq is older (its slow writer read the
        # clock before the removal was recorded)
        earlier = deploy.app.ledger.all_records()[0].created_at - 1.0
        slow = App(Settings.from_env(deploy.env, cwd=tmp_path), clock=lambda: earlier, sleep=lambda _s: None)
        deploy.invoke(manual_change("add-x", add=["shop.orders"]), app=slow)
        deploy.settle()
        # THEN it is applied after the removal, and the ledger's order says so: orders is present
        records = deploy.app.ledger.all_records()
        assert [r.change_id for r in records] == ["rm-x", "add-x"]
        assert "orders" in tables(deploy.db_list(), "shop")
        expected, _ = expected_db_list(initial, records)
        assert DbList.from_user(deploy.db_list()) == expected
    finally:
        deploy.stop()


def test_fold_group_of_flags_stops_at_first_change_with_other_flags(busy_deploy: LocalDeployment) -> None:
    # GIVEN pending: c (no flags), then add-x asking for structure initialization, then rm-x
    initial = busy_deploy.db_list()
    fold_while_busy(
        busy_deploy,
        manual_change("c", add=["shop.c"]),
        manual_change("add-x", add=["shop.x"], structureInitialization=True),
        manual_change("rm-x", remove=["shop.x"]),
    )
    # THEN rm-x is not folded ahead of add-x with c's group: in ledger order x ends up absent
    records = busy_deploy.app.ledger.all_records()
    expected, _ = expected_db_list(initial, records)
    assert "x" not in tables(busy_deploy.db_list(), "shop")
    assert DbList.from_user(busy_deploy.db_list()) == expected
    assert {r.state.value for r in records} == {"applied"}


def test_confirm_reserved_later_change_setting_same_key_is_not_dead_lettered(busy_deploy: LocalDeployment) -> None:
    # GIVEN two changes setting Reserved.maxRetryTime, submitted together; the later one wins
    fold_while_busy(
        busy_deploy,
        manual_change("retry-long", reserved={"maxRetryTime": 43200}),
        manual_change("retry-short", reserved={"maxRetryTime": 3600}),
    )
    # THEN both are applied (the earlier one is not "unconfirmed" and dead-lettered) and the
    # job keeps the later value
    assert busy_deploy.states() == {"warmup": "applied", "retry-long": "applied", "retry-short": "applied"}
    assert busy_deploy.server.get_state()["jobs"]["dtsjob1demo"]["reserved"]["maxRetryTime"] == 3600


def test_pass_stopped_after_confirming_notes_error_on_fresh_records_not_stale_ones(tmp_path: Path) -> None:
    deploy = LocalDeployment(tmp_path)
    try:
        # GIVEN a change whose removal phase was carried out; its addition comes next
        deploy.invoke(manual_change("rm-add", remove=["staging.tmp_import"], add=["shop.y"]))
        real_describe = deploy.app.dts.describe_dts_job_detail
        calls = {"n": 0}

        def describe_then_throttle(*args: Any, **kwargs: Any) -> Any:
            # the first describe of the pass succeeds (the removal is confirmed, the record
            # written); from then on DTS throttles every call until retries run out
            calls["n"] += 1
            detail = real_describe(*args, **kwargs)
            if calls["n"] == 1:
                deploy.server.add_fault({"action": "DescribeDtsJobDetail", "code": "Throttling.User", "count": 20})
            return detail

        deploy.app.dts.describe_dts_job_detail = describe_then_throttle  # type: ignore[method-assign]
        # WHEN the pass stops on the throttled re-read before its write
        report = deploy.tick()["reconcile"][0]
        # THEN it stops cleanly (no ledger conflict escapes) and the change stays open with the error
        assert report["action"] == "blocked"
        assert report["error"]["code"] == "throttled"
        deploy.app.dts.describe_dts_job_detail = real_describe  # type: ignore[method-assign]
        deploy.server.clear_faults()
        deploy.settle()
        assert deploy.states() == {"rm-add": "applied"}
    finally:
        deploy.stop()


def test_removal_emptying_a_database_an_earlier_change_refills_waits_and_applies(busy_deploy: LocalDeployment) -> None:
    # GIVEN a pending addition of staging.s9, then a removal of both tables staging listed, folded
    # together: their shared removal phase (sent first) would list staging with no table
    fold_while_busy(
        busy_deploy,
        manual_change("add-s9", add=["staging.s9"]),
        manual_change("rm-both", remove=["staging.tmp_import", "staging.tmp_export"]),
    )
    # THEN the removal is not refused (crash seed 15 found its fate depended on which changes
    # shared a pass): it waited for the addition and then applied, as in ledger order
    assert busy_deploy.states() == {"warmup": "applied", "add-s9": "applied", "rm-both": "applied"}
    assert busy_deploy.dead_letters() == []
    assert tables(busy_deploy.db_list(), "staging") == {"s9": {"name": "s9", "all": True}}
    # AND no list DTS received ever held staging without a table
    for call in carried_out(busy_deploy.server.calls()):
        staging = (call.db_list or {}).get("staging")
        assert staging is None or staging.get("Table"), call
    assert_each_change_submitted_once(busy_deploy)


def test_a_change_riding_on_a_refused_addition_is_not_applied(tmp_path: Path) -> None:
    # Review finding: B is a no-op only because A (earlier, same fold) adds its table; it was
    # marked APPLIED before the call, DTS refused the call for good, A was dead-lettered and B
    # stayed applied with its table never listed (check 3: final list = applied changes folded).
    deploy = oss_deployment(tmp_path, seed_state(modifyDurationSeconds=0.0))
    try:
        initial = deploy.db_list()
        deploy.set_job(status="Modifying")  # busy: both changes are only recorded, then folded together
        # GIVEN A adds shop.t2 and shop.bad_tbl, which DTS refuses for good; B (later) adds shop.t2
        deploy.invoke(manual_change("A", add=["shop.t2", "shop.bad_tbl"]))
        deploy.invoke(manual_change("B", add=["shop.t2"]))
        deploy.server.add_fault({"action": "ModifyDtsJob", "paramContains": "bad_tbl", "code": "InvalidParameter",
                                 "message": "The object bad_tbl is not supported", "probability": 1.0})
        deploy.set_job(status="Synchronizing")
        # WHEN the timer passes run
        deploy.settle(passes=30)
        records = deploy.app.ledger.all_records()
        states = {r.change_id: r.state.value for r in records}
        # THEN A alone is dead-lettered, and B is applied only with its table listed
        assert states["A"] == "dead_lettered"
        expected, rejected = expected_db_list(initial, records)
        final = DbList.from_user(deploy.db_list())
        assert rejected == []
        assert final == expected, (states, sorted(final.databases["shop"].table_map()))
    finally:
        deploy.stop()


def test_a_removal_marked_applied_is_not_undone_by_an_isolation_resend(tmp_path: Path) -> None:
    # Review model run, seed 217: c2's removal phase (shop.orders) was carried out; the addition
    # phase was refused for c1's table and the halved resend carried c0's shop.t2 and shop.orders
    # alone, after c2's removal: c2, folded again, took them for a later change's work and kept
    # them (t2 ended listed although c2, after c0, removed it).
    deploy = oss_deployment(tmp_path, seed_state(modifyDurationSeconds=0.0))
    try:
        initial = deploy.db_list()
        deploy.set_job(status="Modifying")
        deploy.server.add_fault({"action": "ModifyDtsJob", "paramContains": '"bad"', "code": "InvalidParameter",
                                 "message": "refused", "probability": 1.0})
        for cid, body in [("c0", {"add": ["shop.t2", "shop.orders"]}), ("c1", {"add": ["staging.tmp_export", "shop.bad"]}),
                          ("c2", {"remove": ["shop.t2", "shop.orders"]}), ("c3", {"add": ["shop.customers", "shop.orders"]})]:
            deploy.invoke(manual_change(cid, **body))
        deploy.set_job(status="Synchronizing")
        deploy.settle(passes=30)
        records = deploy.app.ledger.all_records()
        states = {r.change_id: r.state.value for r in records}
        expected, rejected = expected_db_list(initial, records)
        final = DbList.from_user(deploy.db_list())
        assert rejected == []
        assert final == expected, (states, sorted(final.databases["shop"].table_map()))
    finally:
        deploy.stop()


def test_refold_after_lost_answer_keeps_database_removal_cancelling_earlier_additions(
    busy_deploy: LocalDeployment,
) -> None:
    # GIVEN, while the job is busy: add-c0 adds crm.c0, then rm-crm removes staging.tmp_export
    # and the whole crm database, then add-c2 adds crm.c2 (found by fault seed 30 under load)
    initial = busy_deploy.db_list()
    assert "crm" not in initial
    pending_while_busy(busy_deploy, manual_change("add-c0", add=["crm.c0"]),
                       manual_change("rm-crm", remove=["staging.tmp_export", "crm"]),
                       manual_change("add-c2", add=["crm.c2"]))
    # WHEN rm-crm's removal phase lands, then the addition phase (crm with c2 only, as ledger
    # order says) is carried out but every answer to it is lost
    _removal_lands_then_addition_answers_lost(busy_deploy)
    busy_deploy.settle(passes=30)
    # THEN the refold keeps rm-crm cancelling add-c0 (it comes before it): crm holds c2 only, and
    # no carried-out ModifyDtsJob ever listed crm.c0
    final = busy_deploy.db_list()
    assert set(tables(final, "crm")) == {"c2"}
    records = busy_deploy.app.ledger.all_records()
    expected, _ = expected_db_list(initial, records)
    assert DbList.from_user(final) == expected
    listed_c0 = [c.seq for c in carried_out(busy_deploy.server.calls())
                 if c.db_list is not None and "c0" in tables(c.db_list, "crm")]
    assert listed_c0 == []
    assert busy_deploy.states() == {"warmup": "applied", "add-c0": "applied", "rm-crm": "applied",
                                    "add-c2": "applied"}


def _removal_lands_then_addition_answers_lost(deploy: LocalDeployment) -> None:
    """Ticks until a removal phase is submitted, then, with every ModifyDtsJob answer lost (the
    write carried out), until the addition phase's pass gives up; the faults are cleared after."""
    for _ in range(30):
        report = deploy.tick()["reconcile"][0]
        if report.get("phase") == "removal" and report["action"] == "submitted":
            break
    else:
        raise AssertionError("the removal phase was never submitted")
    deploy.server.add_fault({"action": "ModifyDtsJob", "reset": True, "phase": "after", "count": 50})
    for _ in range(30):
        report = deploy.tick()["reconcile"][0]
        if report["action"] == "retry-later" or (report.get("phase") == "addition" and report["action"] == "aborted"):
            break
    else:
        raise AssertionError("the addition phase never failed")
    deploy.server.clear_faults()


def _tick_until_lost_answer(deploy: LocalDeployment, phase: str) -> None:
    """Ticks with every ModifyDtsJob answer lost (the write carried out) until a `phase` write was
    carried out and its pass gave up; the faults are cleared after."""
    deploy.server.add_fault({"action": "ModifyDtsJob", "reset": True, "phase": "after", "count": 50})
    try:
        for _ in range(30):
            before = len(carried_out(deploy.server.calls()))
            report = deploy.tick()["reconcile"][0]
            if len(carried_out(deploy.server.calls())) > before:
                assert report.get("phase") == phase, report
                return
        raise AssertionError(f"no {phase} phase was carried out")
    finally:
        deploy.server.clear_faults()


def test_removal_whose_answer_was_lost_does_not_remove_what_a_later_change_added_back(
    busy_deploy: LocalDeployment,
) -> None:
    # GIVEN, while the job is busy: rm-o removes shop.orders and adds crm.c0, rm-crm removes the
    # whole crm (so rm-o is never a no-op on its own), then re-add adds shop.orders back (found
    # by fault seed 99 under load)
    initial = busy_deploy.db_list()
    assert "orders" in tables(initial, "shop")
    pending_while_busy(busy_deploy, manual_change("rm-o", remove=["shop.orders"], add=["crm.c0"]),
                       manual_change("rm-crm", remove=["crm"]),
                       manual_change("re-add", add=["shop.orders"]))
    # WHEN rm-o's removal phase is carried out with its answer lost, and then the addition phase
    # (orders back, as ledger order says) too
    _tick_until_lost_answer(busy_deploy, "removal")
    _tick_until_lost_answer(busy_deploy, "addition")
    # AND a later, unrelated removal lands before rm-o is settled (the list is not the one rm-o's
    # last write would leave any more)
    assert busy_deploy.invoke(manual_change("rm-t", remove=["staging.tmp_export"]))["changes"][0]["outcome"] == "pending"
    busy_deploy.settle(passes=30)
    # THEN orders stays: no later write takes it out again
    final = busy_deploy.db_list()
    assert "orders" in tables(final, "shop")
    assert "tmp_export" not in tables(final, "staging")
    records = busy_deploy.app.ledger.all_records()
    expected, _ = expected_db_list(initial, records)
    assert DbList.from_user(final) == expected
    assert busy_deploy.states() == {"warmup": "applied", "rm-o": "applied", "rm-crm": "applied",
                                    "re-add": "applied", "rm-t": "applied"}
    removed_orders = [c.seq for c in carried_out(busy_deploy.server.calls())[2:]
                      if c.db_list is not None and "orders" not in tables(c.db_list, "shop")]
    assert removed_orders == []
    # AND `history` names rm-o's recorded removal among what it removed, dated by calls only
    rm_o = next(e for e in collect_history(records, JOB) if e["change_id"] == "rm-o")
    assert "shop.orders" in rm_o["objects_removed"]
    sent = {c.client_token for c in carried_out(busy_deploy.server.calls())}
    assert len(rm_o["submitted_at"]) == len(rm_o["client_tokens"]) and set(rm_o["client_tokens"]) <= sent


def test_net_zero_fold_cut_after_its_first_change_closed_keeps_the_rest_consistent(
    busy_deploy: LocalDeployment, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN add-x (adds shop.x) and then rm-x (removes it), folded together: nothing to send,
    # both are applied as no-ops (found by fault seed 62 under load: an OSS failure between the
    # two ledger writes)
    initial = busy_deploy.db_list()
    ledger = busy_deploy.app.ledger
    real_transition = ledger.transition
    failed: list[str] = []

    def transition(record: ChangeRecord, state: ChangeState, **updates: Any) -> ChangeRecord:
        if record.change_id == "rm-x" and state is ChangeState.APPLIED and not failed:
            failed.append(record.change_id)
            raise LeaseStoreError("Store unavailable: injected between the no-op group's writes")
        return real_transition(record, state, **updates)

    # WHEN the ledger write closing rm-x fails once, after add-x's closed
    monkeypatch.setattr(ledger, "transition", transition)
    fold_while_busy(
        busy_deploy,
        manual_change("add-x", add=["shop.x"]),
        manual_change("rm-x", remove=["shop.x"]),
    )
    assert failed == ["rm-x"]
    # THEN rm-x, folded again alone, is applied too (its removal is add-x's undoing, not a
    # `remove-not-listed`), so the ledger agrees with the list DTS holds: no x
    assert busy_deploy.states() == {"warmup": "applied", "add-x": "applied", "rm-x": "applied"}
    final = busy_deploy.db_list()
    assert "x" not in tables(final, "shop")
    expected, rejected = expected_db_list(initial, busy_deploy.app.ledger.all_records())
    assert rejected == []
    assert DbList.from_user(final) == expected


C2_ONLY = {"name": "crm", "all": False, "Table": {"c2": {"name": "c2", "all": True}}}


@pytest.mark.parametrize(("earlier_add", "later_add", "crm_after"), [
    # the whole crm database (all: true), then crm.c2 table by table
    (["crm"], ["crm.c2"], C2_ONLY),
    # crm under a target name of its own, then crm.c2 under its source name
    ({"crm": {"name": "crm_t", "all": False, "Table": {"c0": {"name": "c0", "all": True}}}}, ["crm.c2"], C2_ONLY),
    # crm.c0 with a filter, then the whole crm database
    ({"crm": {"name": "crm", "all": False, "Table": {"c0": {"name": "c0", "all": True, "filter": "id > 0"}}}},
     ["crm"], {"name": "crm", "all": True}),
], ids=["whole-database", "mapped-name", "table-settings-under-whole"])
def test_refold_after_lost_answer_does_not_dead_letter_an_earlier_addition_the_removal_cancels(
    busy_deploy: LocalDeployment, earlier_add: Any, later_add: Any, crm_after: dict[str, Any],
) -> None:
    # GIVEN, while the job is busy: add-crm adds crm with settings of its own (the whole database, a
    # target name, a table filter), then rm-crm removes the whole crm database, then add-c2 adds
    # crm again (crm.c2, or the whole database)
    initial = busy_deploy.db_list()
    assert "crm" not in initial
    pending_while_busy(busy_deploy, manual_change("add-crm", add=earlier_add),
                       manual_change("rm-crm", remove=["staging.tmp_export", "crm"]),
                       manual_change("add-c2", add=later_add))
    # WHEN rm-crm's removal phase lands, then the addition phase (add-c2's crm only) is carried
    # out but every answer to it is lost
    _removal_lands_then_addition_answers_lost(busy_deploy)
    busy_deploy.settle(passes=30)
    # THEN in ledger order add-crm's entry went with rm-crm: nothing conflicts with it, every
    # change is applied and crm is what add-c2 made of it
    assert busy_deploy.states() == {"warmup": "applied", "add-crm": "applied", "rm-crm": "applied",
                                    "add-c2": "applied"}
    final = busy_deploy.db_list()
    records = busy_deploy.app.ledger.all_records()
    expected, _ = expected_db_list(initial, records)
    assert DbList.from_user(final) == expected
    assert DbList.from_user({"crm": final["crm"]}) == DbList.from_user({"crm": crm_after})


def test_status_last_modification_is_a_call_not_a_recorded_removal_intent(busy_deploy: LocalDeployment) -> None:
    # GIVEN rm-o (removes shop.orders, adds crm.c0), rm-crm and re-add as in the seed-99 test
    pending_while_busy(busy_deploy, manual_change("rm-o", remove=["shop.orders"], add=["crm.c0"]),
                       manual_change("rm-crm", remove=["crm"]),
                       manual_change("re-add", add=["shop.orders"]))
    # WHEN the removal and addition phases are carried out with their answers lost, and the next
    # pass finds the job listing exactly what rm-o's removal intent noted (recorded, no call made)
    _tick_until_lost_answer(busy_deploy, "removal")
    _tick_until_lost_answer(busy_deploy, "addition")
    busy_deploy.tick()
    records = busy_deploy.app.ledger.all_records()
    landed = [s for r in records for s in r.submissions if (s.get("evidence") or {}).get("removalIntentListed")]
    assert landed, "the pass did not record rm-o's removal from its intent"
    # THEN status names a ModifyDtsJob DTS was sent as the last modification, never "ClientToken None"
    view = collect_status(records, [], lambda target: "Synchronizing", now=busy_deploy.app.ledger.clock(),
                          max_pending_age=900)
    last = view["jobs"][0]["last_modification"]
    assert last is not None and last["client_token"], last
    assert not any("ClientToken None" in line for line in render_status(view, now=0))


def test_isolating_a_refused_call_does_not_remove_again_what_a_write_from_elsewhere_listed_again(
    tmp_path: Path,
) -> None:
    # docs/reliability.md, Limits: a change does not remove a second time what a write from
    # elsewhere listed again after its removal. Without a refused change in the batch it holds
    # (orders stays); with one, the halving put rm-o back to pending with a removal intent on the
    # list read, orders included, and the next pass removed orders again as asked.
    deploy = oss_deployment(tmp_path, seed_state(modifyDurationSeconds=0.0))
    try:
        deploy.set_job(status="Modifying")
        deploy.server.add_fault({"action": "ModifyDtsJob", "paramContains": '"bad"', "code": "InvalidParameter",
                                 "message": "refused", "probability": 1.0})
        # GIVEN a adds shop.a1, rm-o removes shop.orders and adds shop.z1, bad adds a table DTS refuses
        for cid, body in [("a", {"add": ["shop.a1"]}), ("rm-o", {"remove": ["shop.orders"], "add": ["shop.z1"]}),
                          ("bad", {"add": ["shop.bad"]})]:
            deploy.invoke(manual_change(cid, **body))
        deploy.set_job(status="Synchronizing")
        assert deploy.tick()["reconcile"][0]["phase"] == "removal"
        # WHEN the console lists orders again right after rm-o's removal phase landed
        listed = deploy.db_list()
        listed["shop"]["Table"]["orders"] = {"name": "orders", "all": True}
        deploy.server.add_hook({"jobId": JOB, "afterDescribes": 1, "dbList": listed})
        deploy.settle(passes=30)
        # THEN orders stays listed (the later write wins), bad alone is dead-lettered
        final = deploy.db_list()
        assert deploy.states() == {"a": "applied", "rm-o": "applied", "bad": "dead_lettered"}
        assert {"a1", "z1", "orders"} <= set(tables(final, "shop"))
        removed_again = [c.seq for c in carried_out(deploy.server.calls())[1:]
                         if c.db_list is not None and "orders" not in tables(c.db_list, "shop")]
        assert removed_again == []
    finally:
        deploy.stop()
