"""The handler end to end against the emulator over loopback: every scenario of issue 5."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import read_event_bytes
from tests.harness import JOB, LocalDeployment, manual_change, seed_state


@pytest.fixture
def deploy(tmp_path: Path) -> Iterator[LocalDeployment]:
    d = LocalDeployment(tmp_path)
    yield d
    d.stop()


def table_names(db_list: dict, db: str) -> set[str]:
    return set((db_list.get(db) or {}).get("Table", {}))


def test_handler_single_addition_is_submitted_then_confirmed_applied(deploy):
    # GIVEN the demo OSS event announcing a new table-schema file
    result = deploy.invoke(read_event_bytes("oss-object-created.json"))
    # THEN the change is submitted in one ModifyDtsJob with every old object kept
    assert [c["outcome"] for c in result["changes"]] == ["submitted"]
    assert len(deploy.modify_calls()) == 1
    after = deploy.db_list()
    assert table_names(after, "shop") == {"orders", "customers", "order_items", "order_events"}
    assert table_names(after, "staging") == {"tmp_import", "tmp_export"}
    assert after["shop"]["Table"]["customers"]["primary_key"] == "id"
    # WHEN the timer pass runs after the modification finished THEN it is confirmed applied
    deploy.settle()
    assert set(deploy.states().values()) == {"applied"}
    assert len(deploy.modify_calls()) == 1


def test_handler_removal_and_addition_go_in_two_submissions_removals_first(deploy):
    change = manual_change("mix-1", add=["shop.refunds"], remove=["staging.tmp_import"])
    first = deploy.invoke(change)
    assert first["changes"][0]["outcome"] == "submitted"
    calls = deploy.modify_calls()
    assert len(calls) == 1
    after_removal = deploy.db_list()
    assert "tmp_import" not in table_names(after_removal, "staging")
    assert "refunds" not in table_names(after_removal, "shop")
    deploy.settle()
    final = deploy.db_list()
    assert table_names(final, "shop") == {"orders", "customers", "refunds"}
    assert table_names(final, "staging") == {"tmp_export"}
    assert len(deploy.modify_calls()) == 2
    assert deploy.states() == {"mix-1": "applied"}


def test_handler_duplicate_delivery_modifies_once(deploy):
    event = read_event_bytes("oss-object-created.json")
    deploy.invoke(event)
    again = deploy.invoke(event)
    assert again["changes"][0]["outcome"] == "duplicate"
    deploy.settle()
    assert len(deploy.modify_calls()) == 1


def test_handler_event_while_modifying_stays_pending_then_coalesces(tmp_path):
    deploy = LocalDeployment(tmp_path, seed_state(modifyDurationSeconds=0.0, modifyAfterDescribes=3))
    try:
        # GIVEN a first change is submitted and the job is now Modifying
        deploy.invoke(manual_change("a", add=["shop.t_a"]))
        assert len(deploy.modify_calls()) == 1
        # WHEN two more arrive while it is busy THEN they stay pending, no call is attempted
        r_b = deploy.invoke(manual_change("b", add=["shop.t_b"]))
        r_c = deploy.invoke(manual_change("c", add=["crm.t_c"]))
        assert r_b["changes"][0]["outcome"] == "pending"
        assert r_c["changes"][0]["outcome"] == "pending"
        assert len(deploy.modify_calls(accepted_only=False)) == 1
        # WHEN timer passes run THEN b and c are applied together in ONE more modification
        deploy.settle(passes=20)
        assert deploy.states() == {"a": "applied", "b": "applied", "c": "applied"}
        assert len(deploy.modify_calls()) == 2
        final = deploy.db_list()
        assert {"t_a", "t_b"} <= table_names(final, "shop")
        assert "t_c" in table_names(final, "crm")
    finally:
        deploy.stop()


def test_handler_conflict_is_dead_lettered_and_others_still_apply(deploy):
    conflicting = manual_change("bad", add={"shop": {"name": "shop", "all": False, "Table": {"orders": {"name": "orders_v2", "all": True}}}})
    good = manual_change("good", add=["shop.refunds"])
    deploy.set_job(modifyAfterDescribes=2)
    deploy.invoke(manual_change("first", add=["shop.warmup"]))  # makes the job busy
    deploy.invoke(conflicting)
    deploy.invoke(good)
    deploy.settle(passes=20)
    states = deploy.states()
    assert states["bad"] == "dead_lettered"
    assert states["good"] == "applied"
    letters = [d for d in deploy.dead_letters() if d.change_id == "bad"]
    assert letters and letters[0].error["code"] == "conflict"
    assert deploy.db_list()["shop"]["Table"]["orders"]["name"] == "orders"


def test_handler_not_configured_job_dead_letters(tmp_path):
    deploy = LocalDeployment(tmp_path, seed_state(status="NotConfigured"))
    try:
        result = deploy.invoke(manual_change("nc", add=["shop.x"]))
        assert result["changes"][0]["outcome"] == "dead_lettered"
        assert result["changes"][0]["code"] == "job-not-configured"
        assert deploy.modify_calls(accepted_only=False) == []
    finally:
        deploy.stop()


def test_handler_duplicate_of_a_dead_lettered_change_reports_its_error_from_one_read(tmp_path):
    deploy = LocalDeployment(tmp_path, seed_state(status="NotConfigured"))
    try:
        # GIVEN a change dead-lettered (the job is not configured)
        change = manual_change("nc", add=["shop.x"])
        key = deploy.invoke(change)["changes"][0]["key"]
        # WHEN it is delivered again, to a new instance
        app = deploy.new_app()
        resolved: list[str] = []
        get = app.ledger.get

        def counted(k: str):
            resolved.append(k)
            return get(k)

        app.ledger.get = counted  # type: ignore[method-assign]
        again = deploy.invoke(change, app=app)["changes"][0]
        # THEN it is a duplicate reported with the dead letter's error and state
        assert again["outcome"] == "duplicate"
        assert again["code"] == "job-not-configured"
        # AND the change was resolved once (the record's read; the outcome reuses a closed one)
        assert resolved.count(key) == 1, resolved
    finally:
        deploy.stop()


def test_handler_throttling_and_5xx_are_retried_then_applied(deploy):
    deploy.server.add_fault({"action": "ModifyDtsJob", "code": "Throttling.User", "count": 1})
    deploy.server.add_fault({"action": "DescribeDtsJobDetail", "code": "ServiceUnavailable", "count": 1})
    result = deploy.invoke(manual_change("t1", add=["shop.throttled"]))
    assert result["changes"][0]["outcome"] == "submitted"
    attempted = deploy.modify_calls(accepted_only=False)
    assert [c["outcome"] for c in attempted] == ["Throttling.User", "ok"]
    deploy.settle()
    assert deploy.states() == {"t1": "applied"}


def test_handler_expired_token_is_reloaded_and_applied(deploy):
    deploy.server.add_fault({"action": "ModifyDtsJob", "tokenExpiry": True, "count": 1})
    result = deploy.invoke(manual_change("tok", add=["shop.after_expiry"]))
    assert result["changes"][0]["outcome"] == "submitted"
    deploy.settle()
    assert deploy.states() == {"tok": "applied"}


def test_handler_replay_dead_letter_after_cause_fixed(tmp_path):
    # modifyDurationSeconds 0: settle() does not wait, so a timed modification could outlast it.
    deploy = LocalDeployment(tmp_path, seed_state(status="NotConfigured", modifyDurationSeconds=0.0))
    try:
        deploy.invoke(manual_change("later", add=["shop.replayed"]))
        assert deploy.states() == {"later": "dead_lettered"}
        # WHEN the job is configured and the dead letter replayed
        deploy.set_job(status="Synchronizing")
        letter = deploy.dead_letters()[0]
        record = deploy.app.ledger.replay(letter.key)
        deploy.app.dead_letters.mark_replayed(letter.dl_id or letter.key)
        assert record.state.value == "pending"
        deploy.settle()
        assert deploy.states() == {"later": "applied"}
        assert "replayed" in table_names(deploy.db_list(), "shop")
    finally:
        deploy.stop()


def test_handler_write_from_elsewhere_between_read_and_write_is_not_overwritten(deploy):
    # GIVEN someone else adds a table right after our first DescribeDtsJobDetail
    other = deploy.db_list()
    other["shop"]["Table"]["console_added"] = {"name": "console_added", "all": True}
    deploy.server.add_hook({"jobId": JOB, "dbList": other, "afterDescribes": 1})
    result = deploy.invoke(manual_change("race", add=["shop.ours"]))
    # THEN the pass aborts without writing and the change stays pending
    assert result["reconcile"][0]["action"] == "aborted"
    assert deploy.modify_calls(accepted_only=False) == []
    # AND the next pass merges into the new list: nothing of theirs is lost
    deploy.settle()
    final = table_names(deploy.db_list(), "shop")
    assert {"console_added", "ours"} <= final
    assert deploy.states() == {"race": "applied"}


def test_handler_empty_db_object_blocks_every_write(tmp_path):
    deploy = LocalDeployment(tmp_path, seed_state(switches={"dbObjectViaOssUrl": True}))
    try:
        result = deploy.invoke(manual_change("blind", add=["shop.x"]))
        assert result["changes"][0]["outcome"] == "pending"
        assert result["reconcile"][0]["error"]["code"] == "dbobject-unreadable"
        deploy.settle(passes=3)
        assert deploy.modify_calls(accepted_only=False) == []
        assert "x" not in table_names(deploy.db_list(), "shop")
    finally:
        deploy.stop()


def test_handler_precheck_failure_is_dead_lettered_with_dts_detail(tmp_path):
    deploy = LocalDeployment(tmp_path, seed_state(modifyDurationSeconds=0.0, switches={"failPrecheck": True}))
    try:
        deploy.invoke(manual_change("pf", add=["shop.fails"]))
        deploy.settle()
        assert deploy.states() == {"pf": "dead_lettered"}
        letter = deploy.dead_letters()[0]
        assert letter.error["code"] == "modification-failed"
        assert letter.evidence and letter.evidence.get("precheckDetail") is not None
        assert "fails" not in table_names(deploy.db_list(), "shop")
    finally:
        deploy.stop()


def test_handler_state_keys_are_stripped_so_a_strict_dts_accepts_the_write(tmp_path):
    deploy = LocalDeployment(tmp_path, seed_state(modifyDurationSeconds=0.0, switches={"rejectStateKeys": True}))
    try:
        deploy.invoke(manual_change("st", add=["shop.clean"]))
        deploy.settle()
        assert deploy.states() == {"st": "applied"}
        sent = deploy.modify_calls()[0]
        assert '"state"' not in str(sent.get("dbList"))
    finally:
        deploy.stop()


def test_handler_keeping_state_keys_against_a_strict_dts_dead_letters_without_loss(tmp_path):
    deploy = LocalDeployment(
        tmp_path, seed_state(modifyDurationSeconds=0.0, switches={"rejectStateKeys": True}), DTS_CHANGE_KEEP_SERVER_KEYS="true"
    )
    try:
        before = deploy.db_list()
        deploy.invoke(manual_change("keep", add=["shop.kept"]))
        deploy.settle()
        assert deploy.states() == {"keep": "dead_lettered"}
        assert deploy.db_list() == before
    finally:
        deploy.stop()


def test_handler_two_processes_reconciling_one_job_hold_one_lease_and_lose_nothing(deploy):
    other = deploy.new_app()
    barrier = threading.Barrier(2)
    results = {}

    def run(name, app, change):
        barrier.wait()
        results[name] = deploy.invoke(change, app=app)

    t1 = threading.Thread(target=run, args=("one", deploy.app, manual_change("p1", add=["shop.p1"])))
    t2 = threading.Thread(target=run, args=("two", other, manual_change("p2", add=["shop.p2"])))
    for t in (t1, t2):
        t.start()
    for t in (t1, t2):
        t.join(10)
    actions = sorted(r["reconcile"][0]["action"] for r in results.values())
    # Either one pass waited on the other's lease, or they ran one after the other.
    assert actions in (["lease-held", "submitted"], ["submitted", "waiting-for-modification"], ["submitted", "submitted"])
    tokens = [c.get("clientToken") for c in deploy.modify_calls()]
    assert len(tokens) == len(set(tokens))
    deploy.settle(passes=20)
    assert deploy.states() == {"p1": "applied", "p2": "applied"}
    assert {"p1", "p2"} <= table_names(deploy.db_list(), "shop")
    assert table_names(deploy.db_list(), "staging") == {"tmp_import", "tmp_export"}


def test_handler_reused_id_with_different_content_is_a_new_change_reported_as_such(deploy):
    first = deploy.invoke(manual_change("same-id", add=["shop.one"]))
    second = deploy.invoke(manual_change("same-id", add=["shop.two"]))
    assert first["changes"][0]["outcome"] == "submitted"
    assert second["changes"][0]["outcome"] in ("pending", "submitted")
    assert second["changes"][0].get("reusedId") is True
    assert any("used before for different content" in w for w in second["changes"][0]["warnings"])
    deploy.settle()
    assert {"one", "two"} <= table_names(deploy.db_list(), "shop")


def test_handler_reused_id_markers_are_pruned_with_their_changes(deploy):
    # GIVEN an app whose clock the test moves, and a document id used for two different contents
    from dts_change.app.handler import App
    from dts_change.app.settings import Settings

    now = [1_800_000_000.0]
    app = App(Settings.from_env(deploy.env, cwd=deploy.tmp_path), clock=lambda: now[0], sleep=lambda _s: None)
    deploy.invoke(manual_change("twice", add=["shop.first"]), app)
    deploy.settle(app=app)
    now[0] += 8 * 86400  # past the default retention (7 days)
    second = deploy.invoke(manual_change("twice", add=["shop.second"]), app)
    assert second["changes"][0].get("reusedId") is True
    identity = "id:twice"
    assert len(app.ledger.identity_markers(identity)) == 2
    # WHEN timer passes run: the first change is past the retention, then the second one too
    deploy.settle(app=app)
    assert [r.change["identity"] for r in app.ledger.all_records()] == [identity]
    assert len(app.ledger.identity_markers(identity)) == 1
    now[0] += 8 * 86400
    deploy.tick(app)
    # THEN both changes and their identity markers are gone, and the tables stay listed
    assert app.ledger.all_records() == []
    assert app.ledger.identity_markers(identity) == []
    assert {"first", "second"} <= table_names(deploy.db_list(), "shop")
