"""Errors that alternate while DTS is blocked must not pile up batch records (issue 12.10).

Through the handler against the emulator (ledger on its OSS). Verdicts from the emulator's own
state (the objects under `batches/` in its bucket) and its call log (each ModifyDtsJob's
DbList), not from the ledger's model.
"""

from __future__ import annotations

import time
from itertools import pairwise
from pathlib import Path

from dts_change.app.handler import App
from dts_change.app.settings import Settings
from dts_change.reconcile.context import NOTE_INTERVAL_SECONDS
from tests.harness import BUCKET, LocalDeployment, manual_change, oss_deployment

OPEN = 12
BLOCKED_PASSES = 8
CODES = ("Throttling.User", "ServiceUnavailable")
"""Two DTS errors that alternate pass after pass (an outage answering one or the other)."""


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _batches(deploy: LocalDeployment) -> list[str]:
    bucket = deploy.server.get_state()["buckets"].get(BUCKET, {})
    return sorted(key for key in bucket if "/batches/" in key)


def _block_alternating(deploy: LocalDeployment, passes: int, app: App | None = None,
                       clock: Clock | None = None, step: float = 0.0) -> tuple[list[int], list[str]]:
    """`passes` timer passes, DescribeDtsJobDetail failing with CODES in turn; the batch count
    after each, and the error each reported; `clock` (the app's) moves on `step` seconds
    before each pass."""
    counts: list[int] = []
    codes: list[str] = []
    for i in range(passes):
        deploy.server.clear_faults()
        deploy.server.add_fault({"action": "DescribeDtsJobDetail", "code": CODES[i % 2], "every": 1})
        if clock is not None:
            clock.now += step
        reports = deploy.tick(app)["reconcile"]
        assert [r["action"] for r in reports] == ["blocked"], reports
        codes.append(reports[0]["error"]["code"])
        counts.append(len(_batches(deploy)))
    deploy.server.clear_faults()
    assert all(a != b for a, b in pairwise(codes)), codes  # they alternate
    return counts, codes


def _open_changes(deploy: LocalDeployment, count: int) -> list[str]:
    deploy.record_while_busy(manual_change(f"alt{i:03d}", add=[f"shop.alt_{i:03d}"]) for i in range(count))
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
        # THEN each blocked pass added at most one batch, whatever the number of open changes:
        # the first pass's notes, then none (another error within NOTE_INTERVAL_SECONDS of the
        # note is not noted again)
        added = [b - a for a, b in zip([before, *counts], counts)]
        assert added == [1] + [0] * (BLOCKED_PASSES - 1), (before, counts, added)
        # and every change carries the error noted, in one entry each
        records = deploy.app.ledger.open_changes("dtsjob1demo/Forward")
        assert len(records) == OPEN
        assert len({str(r.last_error) for r in records}) == 1
        assert {(r.last_error or {}).get("code") for r in records} == {codes[0]}
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
        assert [letter.error["evidence"]["lastError"]["code"] for letter in letters] == [codes[0]] * 4, letters
        assert not deploy.modify_calls(accepted_only=False), "a change past its maximum age was sent"
    finally:
        deploy.stop()


def test_alternating_errors_are_noted_again_once_per_interval(tmp_path: Path) -> None:
    """The error a change shows stays current to within NOTE_INTERVAL_SECONDS: a pass that meets
    another error after that notes it (one batch for all the changes), and one within it does not."""
    deploy = oss_deployment(tmp_path)
    try:
        _open_changes(deploy, OPEN)
        clock = Clock()
        app = App(Settings.from_env(deploy.env, cwd=deploy.tmp_path), clock=clock, sleep=lambda _s: None)
        before = len(_batches(deploy))
        # WHEN four passes meet the two errors in turn, each more than an interval after the last
        counts, codes = _block_alternating(deploy, 4, app, clock, NOTE_INTERVAL_SECONDS + 1)
        # THEN each notes the error it met, one batch for all the changes
        added = [b - a for a, b in zip([before, *counts], counts)]
        assert added == [1, 1, 1, 1], (before, counts, added)
        records = app.ledger.open_changes("dtsjob1demo/Forward")
        assert {(r.last_error or {}).get("code") for r in records} == {codes[-1]}
        assert {r.attempts for r in records} == {4}
        # AND a pass that meets the other error a second later notes nothing
        later, other = _block_alternating(deploy, 1, app, clock, 1.0)
        assert other[0] != codes[-1] and later == [counts[-1]], (other, codes, later, counts)
        # AND the changes are applied once DTS answers again
        deploy.settle(app=app)
        assert set(deploy.states().values()) == {"applied"}, deploy.states()
    finally:
        deploy.stop()
