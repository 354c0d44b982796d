"""Errors that alternate while DTS is blocked must not pile up batch records (issue 12.10).

Through the handler against the emulator (ledger on its OSS). Verdicts from the emulator's own
state (the objects under `batches/` in its bucket) and its call log (each ModifyDtsJob's
DbList), not from the ledger's model.
"""

from __future__ import annotations

import time
from itertools import pairwise
from pathlib import Path

from tests.harness import BUCKET, LocalDeployment, manual_change, oss_deployment

OPEN = 12
BLOCKED_PASSES = 8
CODES = ("Throttling.User", "ServiceUnavailable")
"""Two DTS errors that alternate pass after pass (an outage answering one or the other)."""


def _batches(deploy: LocalDeployment) -> list[str]:
    bucket = deploy.server.get_state()["buckets"].get(BUCKET, {})
    return sorted(key for key in bucket if "/batches/" in key)


def _block_alternating(deploy: LocalDeployment, passes: int) -> tuple[list[int], list[str]]:
    """`passes` timer passes, DescribeDtsJobDetail failing with CODES in turn; the batch count
    after each, and the error each reported."""
    counts: list[int] = []
    codes: list[str] = []
    for i in range(passes):
        deploy.server.clear_faults()
        deploy.server.add_fault({"action": "DescribeDtsJobDetail", "code": CODES[i % 2], "every": 1})
        reports = deploy.tick()["reconcile"]
        assert [r["action"] for r in reports] == ["blocked"], reports
        codes.append(reports[0]["error"]["code"])
        counts.append(len(_batches(deploy)))
    deploy.server.clear_faults()
    assert len(set(codes[:2])) == 2 and all(a != b for a, b in pairwise(codes)), codes  # they alternate
    return counts, codes


def _open_changes(deploy: LocalDeployment, count: int) -> list[str]:
    deploy.set_job(status="Modifying")
    for i in range(count):
        deploy.invoke(manual_change(f"alt{i:03d}", add=[f"shop.alt_{i:03d}"]))
    deploy.set_job(status="Synchronizing")
    assert deploy.open_count() == count
    return [f"alt_{i:03d}" for i in range(count)]


def test_alternating_errors_add_at_most_one_batch_per_blocked_pass(tmp_path: Path) -> None:
    """Each pass notes the error it met on every open change; when the error differs from the
    one noted (two codes in turn), that was one batch per change per pass: OPEN x passes objects
    that every later read of the job fetches (1,000 changes blocked for an hour of one-minute
    passes: 60,000). All the notes of a pass go in one batch."""
    deploy = oss_deployment(tmp_path)
    try:
        # GIVEN OPEN changes recorded pending while the job was busy
        tables = _open_changes(deploy, OPEN)
        before = len(_batches(deploy))
        # WHEN DTS answers every pass with one of two errors in turn
        counts, codes = _block_alternating(deploy, BLOCKED_PASSES)
        # THEN each blocked pass added at most one batch, whatever the number of open changes
        added = [b - a for a, b in zip([before, *counts], counts)]
        assert all(n <= 1 for n in added), (before, counts, added)
        # and every change carries the last error noted
        records = deploy.app.ledger.open_changes("dtsjob1demo/Forward")
        assert len(records) == OPEN
        assert len({str(r.last_error) for r in records}) == 1
        assert {(r.last_error or {}).get("code") for r in records} == {codes[-1]}
        # AND once DTS answers again, a cold instance settles them all: the job lists every table
        deploy.settle(app=deploy.new_app())
        assert set(deploy.states().values()) == {"applied"}, deploy.states()
        listed = deploy.db_list()["shop"]["Table"]
        assert all(t in listed for t in tables), sorted(listed)
        sent = [c.get("dbList") or {} for c in deploy.modify_calls()]
        assert sent and all(t in sent[-1]["shop"]["Table"] for t in tables), sent
    finally:
        deploy.stop()


def test_changes_blocked_by_alternating_errors_reach_their_maximum_age(tmp_path: Path) -> None:
    """Notes written as one batch per pass keep what max age needs: a change blocked past its
    maximum age is dead-lettered with the last error noted, and nothing is sent for it."""
    deploy = oss_deployment(tmp_path, DTS_CHANGE_MAX_AGE_SECONDS="3")
    try:
        started = time.monotonic()
        _open_changes(deploy, 4)
        # blocked passes note alternating errors, then the changes outlive their maximum age
        _, codes = _block_alternating(deploy, 3)
        assert time.monotonic() - started < 3, "too slow for this test's maximum age"
        assert deploy.open_count() == 4
        time.sleep(max(0.0, started + 3.5 - time.monotonic()))
        deploy.server.add_fault({"action": "DescribeDtsJobDetail", "code": CODES[1], "every": 1})
        deploy.tick()
        deploy.server.clear_faults()
        # THEN every change is dead-lettered with the last error noted, and nothing was sent
        assert set(deploy.states().values()) == {"dead_lettered"}, deploy.states()
        letters = deploy.dead_letters()
        assert len(letters) == 4
        assert {letter.error["code"] for letter in letters} == {"max-age-exceeded"}, [letter.error for letter in letters]
        assert [letter.error["evidence"]["lastError"]["code"] for letter in letters] == [codes[-1]] * 4, letters
        assert not deploy.modify_calls(accepted_only=False), "a change past its maximum age was sent"
    finally:
        deploy.stop()
