"""#12.1: a retried ModifyDtsJob never re-sends a list older than the last read (ledger on OSS)."""

from __future__ import annotations

from pathlib import Path

from dts_change.app.handler import App
from dts_change.app.settings import Settings
from tests.harness import JOB, LocalDeployment, manual_change, oss_deployment


def table_names(db_list: dict, db: str) -> set[str]:
    return set((db_list.get(db) or {}).get("Table", {}))


def _app_whose_backoff_lets_the_console_write(deploy: LocalDeployment) -> App:
    """An instance whose back-off sleep is when someone else (the console) adds a table."""

    def console_writes_during_backoff(_seconds: float) -> None:
        state = deploy.server.get_state()
        tables = state["jobs"][JOB]["dbList"]["shop"]["Table"]
        tables.setdefault("console_added", {"name": "console_added", "all": True})
        deploy.server.put_state(state)

    return App(Settings.from_env(deploy.env, cwd=deploy.tmp_path), sleep=console_writes_during_backoff)


def test_throttled_modify_then_console_write_during_backoff_keeps_the_console_table(tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path)
    try:
        app = _app_whose_backoff_lets_the_console_write(deploy)
        # GIVEN DTS throttles our first ModifyDtsJob, and the console adds a table during the back-off
        deploy.server.add_fault({"action": "ModifyDtsJob", "code": "Throttling.User", "count": 1})
        deploy.invoke(manual_change("ours", add=["shop.ours"]), app)
        # WHEN every pass has run
        deploy.settle(app=app)
        # THEN every list DTS accepted (all after the console's write) carries the console's table
        accepted = deploy.modify_calls()
        assert accepted, "our change was never submitted"
        for call in accepted:
            assert "console_added" in table_names(call["dbList"], "shop"), call["dbList"]
        final = deploy.db_list()
        assert {"console_added", "ours", "orders", "customers"} <= table_names(final, "shop")
        assert deploy.states() == {"ours": "applied"}
    finally:
        deploy.stop()


def test_lost_answer_to_a_carried_out_modify_is_recorded_as_our_submission(tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path)
    try:
        # GIVEN DTS carries out our first ModifyDtsJob but its answer is lost (connection reset)
        deploy.server.add_fault({"action": "ModifyDtsJob", "reset": True, "phase": "after", "count": 1})
        deploy.invoke(manual_change("lost", add=["shop.after_lost_answer"]))
        # WHEN every pass has run
        deploy.settle()
        # THEN the re-read before the retry saw our own list: nothing was sent again
        calls = deploy.modify_calls(accepted_only=False)
        assert [c["outcome"] for c in calls] == ["connection-reset"], calls
        # AND the change is applied through that write, which its ledger record names by token
        # (not counted a no-op over its own effect by a later pass)
        (record,) = deploy.app.ledger.all_records()
        assert record.state.value == "applied"
        assert [s["client_token"] for s in record.submissions] == [calls[0]["clientToken"]]
        assert "after_lost_answer" in table_names(deploy.db_list(), "shop")
    finally:
        deploy.stop()
