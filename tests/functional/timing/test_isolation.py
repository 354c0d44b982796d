"""#12.6 and #12.8: a change DTS rejects for good dead-letters only itself (ledger on OSS).

6. a Reserved change DTS rejects permanently used to block every object change of the job;
8. one bad change folded with others used to dead-letter all of them: the culprit is isolated
   (the batch is halved) and the rest is submitted."""

from __future__ import annotations

from pathlib import Path

from dts_change.core.dblist import DbList
from tests.functional.reliability.checks import expected_db_list
from tests.harness import JOB, manual_change, oss_deployment, seed_state


def table_names(db_list: dict, db: str) -> set[str]:
    return set((db_list.get(db) or {}).get("Table", {}))


def _reject_for_good(deploy, text: str) -> None:
    """DTS refuses every ModifyDtsJob whose parameters mention `text` (a permanent 400)."""
    deploy.server.add_fault({"action": "ModifyDtsJob", "paramContains": text, "code": "InvalidParameter",
                             "message": f"The object {text} is not supported", "probability": 1.0})


def test_reserved_change_rejected_for_good_dead_letters_alone_and_object_changes_proceed(tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path)
    try:
        # GIVEN DTS refuses the Reserved value of one change for good
        _reject_for_good(deploy, "bogusReservedKey")
        deploy.invoke(manual_change("bad-reserved", reserved={"bogusReservedKey": 1}))
        deploy.invoke(manual_change("tables", add=["shop.after_reserved"]))
        # WHEN the timer passes run
        deploy.settle()
        # THEN only the Reserved change is dead-lettered (DTS's error kept) and the table is listed
        assert deploy.states() == {"bad-reserved": "dead_lettered", "tables": "applied"}
        letter = deploy.dead_letters()[0]
        assert letter.change_id == "bad-reserved" and letter.error["code"] == "invalid-parameter"
        assert "after_reserved" in table_names(deploy.db_list(), "shop")
    finally:
        deploy.stop()


def test_one_bad_change_in_a_folded_submission_is_isolated_and_the_rest_applied(tmp_path: Path) -> None:
    # GIVEN five changes folded together while the job is busy, one of which DTS refuses for good
    deploy = oss_deployment(tmp_path, seed_state(modifyDurationSeconds=0.0, modifyAfterDescribes=3))
    try:
        deploy.invoke(manual_change("warmup", add=["shop.warmup"]))  # the job is now Modifying
        names = ["ok1", "ok2", "bad_tbl", "ok3", "ok4"]
        for name in names:
            deploy.invoke(manual_change(name, add=[f"shop.{name}"]))
        _reject_for_good(deploy, "bad_tbl")
        # WHEN the timer passes run
        deploy.settle(passes=30)
        # THEN only the bad change is dead-lettered, with DTS's error; every other one is applied
        states = deploy.states()
        assert states.pop("bad_tbl") == "dead_lettered"
        assert set(states.values()) == {"applied"}, states
        assert [(d.change_id, d.error["code"]) for d in deploy.dead_letters()] == [("bad_tbl", "invalid-parameter")]
        final = table_names(deploy.db_list(), "shop")
        assert {"warmup", "ok1", "ok2", "ok3", "ok4"} <= final and "bad_tbl" not in final
        # AND no accepted submission carried the bad table
        assert all("bad_tbl" not in str(c["dbList"]) for c in deploy.modify_calls())
    finally:
        deploy.stop()


def test_isolating_a_refused_removal_phase_keeps_ledger_order(tmp_path: Path) -> None:
    # Review finding: the halving folded the first half of the *removing* changes ([B]) without
    # A, which B follows; B's removal intent noted for the refused call made its unlisted
    # removal look carried out: B applied as a no-op, then A's table landed after it.
    # GIVEN three changes folded together while the job is busy:
    #   A adds shop.t_new, B removes shop.t_new (after A), C removes staging.tmp_export
    deploy = oss_deployment(tmp_path, seed_state(modifyDurationSeconds=0.0, modifyAfterDescribes=3))
    try:
        deploy.invoke(manual_change("warmup", add=["shop.warmup"]))  # the job is now Modifying
        initial = deploy.db_list()
        deploy.invoke(manual_change("A", add=["shop.t_new"]))
        deploy.invoke(manual_change("B", remove=["shop.t_new"]))
        deploy.invoke(manual_change("C", remove=["staging.tmp_export"]))
        # AND DTS refuses the next ModifyDtsJob (the removal phase carrying B and C) for good
        deploy.server.add_fault({"action": "ModifyDtsJob", "code": "InvalidParameter",
                                 "message": "refused", "count": 1})
        # WHEN the timer passes run
        deploy.settle(passes=30)
        records = deploy.app.ledger.all_records()
        states = {r.change_id: r.state.value for r in records}
        # THEN the final list is the ledger-order fold of the applied changes
        expected, rejected = expected_db_list(initial, records)
        final = DbList.from_user(deploy.server.get_state()["jobs"][JOB]["dbList"])
        assert rejected == [], (states, rejected)
        assert final == expected, (states, sorted(final.databases["shop"].table_map()))
    finally:
        deploy.stop()


def test_dead_letter_after_carried_out_removal_phase_says_so_and_replay_completes_it(tmp_path: Path) -> None:
    # Review finding (model seed 355, reduced): a change with a removal and an addition goes in
    # two phases; DTS carries out the removal and refuses the addition for good. The change is
    # dead-lettered with its removal done (a window that remains, docs/reliability.md): the dead
    # letter must say so, and a replay must complete the change, not meet `remove-not-listed`.
    deploy = oss_deployment(tmp_path, seed_state(modifyDurationSeconds=0.0))
    try:
        # GIVEN DTS refuses for good any list naming shop.bad
        _reject_for_good(deploy, '"bad"')
        # WHEN one change removes staging.tmp_export and adds shop.bad
        deploy.invoke(manual_change("swap", add=["shop.bad"], remove=["staging.tmp_export"]))
        deploy.settle(passes=20)
        # THEN it is dead-lettered and its dead letter (and ledger record) list the removal done
        assert deploy.states() == {"swap": "dead_lettered"}
        assert "tmp_export" not in table_names(deploy.db_list(), "staging")
        letter = deploy.dead_letters()[0]
        assert letter.error["code"] == "invalid-parameter"
        assert letter.error["details"]["removalsCarriedOut"] == ["staging.tmp_export"]
        assert "removal phase was carried out" in letter.error["message"]
        record = deploy.app.ledger.get(letter.key)
        assert record is not None and record.last_error is not None
        assert record.last_error["details"]["removalsCarriedOut"] == ["staging.tmp_export"]
        # WHEN the cause is fixed and the operator replays it (what `dts-change dlq replay` does)
        deploy.server.clear_faults()
        deploy.app.ledger.replay(letter.key)
        deploy.app.dead_letters.mark_replayed(letter.dl_id)
        deploy.settle(passes=20)
        # THEN its confirmed removal stays confirmed: applied, not `remove-not-listed`
        assert deploy.states() == {"swap": "applied"}, [d.error for d in deploy.dead_letters()]
        final = deploy.db_list()
        assert "bad" in table_names(final, "shop") and "tmp_export" not in table_names(final, "staging")
    finally:
        deploy.stop()
