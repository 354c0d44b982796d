"""A crash at every ledger write of the reconcile passes, in turn: the restarted handler completes.

The changes are recorded while the job is busy; then timer passes run with the ledger's store
wrapped so that the process "dies" (an exception nothing catches) right before its N-th write
(create-if-absent, overwrite, delete or DeleteMultipleObjects: leases, order cursor,
write-ahead note, versions, `closed/` markers, open markers), for every N of
an uninterrupted run. A new `App` then takes over (the dead one's lease deleted, as its expiry
would) and settles. Every run must end where the uninterrupted one does, with checks 2-7 of the
fault runs: nothing lost or removed twice, no change in two accepted submissions of a phase,
every accepted ModifyDtsJob named by a write-ahead note. The ledger is on the emulator's OSS.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dts_change.app.handler import App
from dts_change.core.dblist import DbList
from tests.functional.reliability.checks import (
    carried_out,
    double_submissions,
    expected_db_list,
    lost_objects,
    noted_tokens,
    repeated_removals,
    unnoted_calls,
    unsettled_changes,
)
from tests.functional.reliability.test_crash_restart import change_events
from tests.harness import TIMER, LocalDeployment, fc_context, oss_deployment, seed_state

WRITES = ("put_if_absent", "put_if_absent_tagged", "put", "delete", "delete_many")


class Died(BaseException):
    """Where the process would have died (a BaseException: no handler code catches it)."""


class DyingStore:
    """The ledger's store, dying before its `die_at`-th write (counting from 1); 0 never dies."""

    def __init__(self, inner: Any, die_at: int) -> None:
        self._inner = inner
        self.die_at = die_at
        self.writes: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in WRITES:
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            self.writes.append(f"{name} {args[0] if isinstance(args[0], str) else args[0][:1]}")
            if len(self.writes) == self.die_at:
                raise Died(self.writes[-1])
            return attr(*args, **kwargs)

        return write


def backlog(tmp_path: Path, seed: int) -> LocalDeployment:
    """A deployment whose changes (two-phase ones among them) are recorded, none submitted yet."""
    deploy = oss_deployment(tmp_path, seed_state())
    deploy.set_job(status="Modifying")
    for event in change_events(seed):
        deploy.invoke(event)
    deploy.set_job(status="Synchronizing")
    return deploy


def passes(app: App, limit: int = 30) -> None:
    for _ in range(limit):
        if not app.ledger.jobs_with_open_changes():
            return
        app.handle(TIMER, fc_context())


@pytest.mark.parametrize("seed", [11, 12])
def test_a_crash_before_any_write_of_the_passes_then_a_restart_ends_as_the_uninterrupted_run(
    tmp_path: Path, seed: int
) -> None:
    # GIVEN the uninterrupted run, its writes counted (seed 11 folds several changes into one
    # submission; seed 12 dead-letters a change and moves the others one by one)
    reference = backlog(tmp_path / "reference", seed)
    try:
        store = DyingStore(reference.app.ledger.store, 0)
        reference.app.ledger.store = store
        passes(reference.app)
        total = len(store.writes)
        expected_states = reference.states()
        expected_list = DbList.from_user(reference.db_list())
    finally:
        reference.stop()
    assert total > 10, store.writes
    problems: dict[int, Any] = {}
    for die_at in range(1, total + 1):
        deploy = backlog(tmp_path / f"crash-{die_at}", seed)
        try:
            initial = deploy.db_list()
            dying = DyingStore(deploy.app.ledger.store, die_at)
            deploy.app.ledger.store = dying
            # WHEN the process dies right before that write
            died = False
            try:
                passes(deploy.app)
            except Died:
                died = True
            # AND a new instance takes over once the dead one's lease is gone
            restarted = deploy.new_app()
            for name in restarted.ledger.store.list("leases/"):
                restarted.ledger.store.delete(name)
            passes(restarted)
            deploy.app = restarted
            # THEN it ends where the uninterrupted run did, with nothing lost or sent twice
            records = restarted.ledger.all_records()
            letters = {d.key: (d.error or {}).get("code") for d in deploy.dead_letters()}
            modifies = carried_out(deploy.server.calls())
            final = deploy.db_list()
            noted = noted_tokens(restarted.ledger, records)
            expected, rejected = expected_db_list(initial, records)
            found = {
                "died": died,
                "states": deploy.states() == expected_states,
                "list": DbList.from_user(final) == expected_list == expected and not rejected,
                "unsettled": unsettled_changes(records, letters),
                "lost": lost_objects(initial, modifies, final, records),
                "removed twice": repeated_removals(initial, modifies, final, records),
                "sent twice": double_submissions(records, modifies, noted=noted),
                "unnoted": unnoted_calls(noted, modifies),
                "open": restarted.ledger.jobs_with_open_changes(),
            }
            if found != {"died": True, "states": True, "list": True, "unsettled": [], "lost": [],
                         "removed twice": [], "sent twice": [], "unnoted": [], "open": []}:
                problems[die_at] = (dying.writes[-1:], found)
        finally:
            deploy.stop()
    assert problems == {}, json.dumps({str(k): v for k, v in problems.items()}, default=str)[:4000]
