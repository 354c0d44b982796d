"""Review 3 of note_error (5be916c and the merge 2e2fc4a): a note skipped within
NOTE_INTERVAL_SECONDS, a new unanswered ClientToken included, must change only what the ledger
shows, never what the handler does.

Through the handler against the emulator, ledger on its OSS; verdicts from the emulator's call log
(each carried-out ModifyDtsJob's DbList) and its DbList.
"""

from __future__ import annotations

from pathlib import Path

from dts_change.core.dblist import DbList
from dts_change.state.records import ChangeRecord
from tests.functional.reliability.checks import carried_out, expected_db_list
from tests.harness import LocalDeployment, manual_change, oss_deployment


def _record(deploy: LocalDeployment, change_id: str) -> ChangeRecord:
    (record,) = [r for r in deploy.app.ledger.all_records() if r.change_id == change_id]
    return record


def test_a_lost_answer_whose_token_was_not_noted_is_still_recognised_and_nothing_is_sent_twice(
    tmp_path: Path,
) -> None:
    """Change `a` is noted with the token of a throttled call; within the interval a second call
    (carrying `a` and `b`, a new token) is carried out by DTS but its answer is lost on the last
    attempt, so the pass ends not knowing. The new token is NOT noted on `a` (5be916c: noted at
    most once per interval). The next passes must still see the write as done: both changes
    applied, no second ModifyDtsJob carried out, the job's list exactly the ledger's."""
    deploy = oss_deployment(tmp_path)
    try:
        initial = deploy.db_list()
        # GIVEN a pass whose ModifyDtsJob is throttled: `a` noted with its token T1
        deploy.server.add_fault({"action": "ModifyDtsJob", "code": "Throttling.User", "httpStatus": 400, "every": 1})
        deploy.invoke(manual_change("a", add=["shop.rv3_a"]))
        first = _record(deploy, "a")
        assert first.attempts == 1 and len(first.unanswered_tokens) == 1, first
        deploy.server.clear_faults()
        # WHEN `b` arrives: its pass sends a and b with a new token T2; attempts 1-4 throttled,
        # the 5th (the last the retry loop makes) carried out with its answer lost
        deploy.server.add_fault({"action": "ModifyDtsJob", "code": "Throttling.User", "httpStatus": 400, "count": 4})
        deploy.server.add_fault({"action": "ModifyDtsJob", "reset": True, "phase": "after", "every": 5})
        report = deploy.invoke(manual_change("b", add=["shop.rv3_b"]))["reconcile"]
        deploy.server.clear_faults()
        lost = carried_out(deploy.server.calls())
        assert [c.answer_lost for c in lost] == [True], (report, lost)
        t2 = lost[0].client_token
        # the skipped note: `a` keeps T1 only, `b` (first note) has T2
        assert _record(deploy, "a").unanswered_tokens == first.unanswered_tokens, _record(deploy, "a")
        assert _record(deploy, "a").attempts == 1
        assert _record(deploy, "b").unanswered_tokens == [t2]
        # THEN the next passes find the write done: both applied, nothing carried out again
        deploy.settle()
        assert deploy.states() == {"a": "applied", "b": "applied"}, deploy.states()
        assert len(carried_out(deploy.server.calls())) == 1, carried_out(deploy.server.calls())
        expected, rejected = expected_db_list(initial, deploy.app.ledger.all_records())
        assert rejected == []
        assert DbList.from_user(deploy.db_list()) == expected
    finally:
        deploy.stop()


def test_a_permanent_error_within_the_interval_dead_letters_with_that_error(tmp_path: Path) -> None:
    """A change noted with a retryable error, then refused by DTS for good within
    NOTE_INTERVAL_SECONDS: the skipped-note rule must not touch the dead letter (its error is the
    refusal, not the noted throttling)."""
    deploy = oss_deployment(tmp_path)
    try:
        deploy.server.add_fault({"action": "ModifyDtsJob", "code": "Throttling.User", "httpStatus": 400, "every": 1})
        deploy.invoke(manual_change("p", add=["shop.rv3_p"]))
        noted = _record(deploy, "p").last_error or {}
        assert noted.get("code") == "throttled", noted
        deploy.server.clear_faults()
        deploy.server.add_fault({"action": "ModifyDtsJob", "code": "InvalidParameter", "httpStatus": 400, "every": 1})
        deploy.tick()
        deploy.server.clear_faults()
        assert deploy.states() == {"p": "dead_lettered"}, deploy.states()
        (letter,) = deploy.dead_letters()
        assert letter.error.get("code") == "invalid-parameter", letter.error
        assert (_record(deploy, "p").last_error or {}).get("code") == "invalid-parameter"
    finally:
        deploy.stop()
