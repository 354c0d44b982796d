"""#12.6 and #12.8: a change DTS rejects for good dead-letters only itself (ledger on OSS).

6. a Reserved change DTS rejects permanently used to block every object change of the job;
8. one bad change folded with others used to dead-letter all of them: the culprit is isolated
   (the batch is halved) and the rest is submitted."""

from __future__ import annotations

from pathlib import Path

from tests.harness import manual_change, oss_deployment, seed_state


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
