"""The baseline of the burst benchmark: what a straightforward handler does with one event.

Per event, and nothing shared between events or processes: describe the job, merge the event's
addition into the list just read, ModifyDtsJob with the merged list. While the job is busy it
waits and starts over (a fresh describe before every write, so it never writes a list it read
before the previous modification finished); `OperationDenied.JobStatusModifying` from a racing
handler sends it back to the describe as well. It uses the project's own client and merge engine,
so the comparison measures the strategy (one modification per event) and nothing else.

Its weaknesses are the strategy's, not the code's: one ModifyDtsJob per event, each holding the
job in `Modifying` for T, so N events need about N x T; concurrent handlers race for the free
moments and some of their writes are refused. It can still lose an object when a modification
starts and finishes between its describe and its write (no compare-and-set in DTS); the benchmark
counts such losses rather than assuming there are none.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from dts_change.clients.dts import DtsClient
from dts_change.core.dblist import DbList
from dts_change.core.errors import DtsChangeError, JobBusyError
from dts_change.core.merge import ChangeSpec, fold_changes


@dataclass
class NaiveOutcome:
    """What handling one event cost: calls made, how long, and how it ended."""

    change_id: str
    outcome: str  # applied (modification accepted) | no_op | gave_up | rejected
    describes: int = 0
    modify_attempts: int = 0
    modify_accepted: int = 0
    started: float = 0.0
    finished: float = 0.0
    error: str | None = None


def addition_of(event_body: str) -> tuple[str, DbList]:
    """The change id and the DbList fragment of a manual change `{"id", "add": ["db.table", ...]}`."""
    doc = json.loads(event_body)
    fragment: dict[str, dict[str, object]] = {}
    for name in doc["add"]:
        db, _, table = name.partition(".")
        entry = fragment.setdefault(db, {"name": db, "all": False, "Table": {}})
        tables = entry["Table"]
        assert isinstance(tables, dict)
        tables[table] = {"name": table, "all": True}
    return str(doc["id"]), DbList.from_user(fragment)


class NaiveHandler:
    """Describe, merge, modify for every event; wait and start over while the job is busy."""

    def __init__(
        self,
        dts: DtsClient,
        job_id: str,
        instance_id: str,
        direction: str = "Forward",
        *,
        poll_seconds: float = 0.05,
        give_up_seconds: float = 120.0,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.dts = dts
        self.job_id = job_id
        self.instance_id = instance_id
        self.direction = direction
        self.poll_seconds = poll_seconds
        self.give_up_seconds = give_up_seconds
        self.rng = rng or random.Random(0)
        self.sleep = sleep

    def _wait(self) -> None:
        # Jitter keeps concurrent handlers from polling in lockstep.
        self.sleep(self.poll_seconds * self.rng.uniform(0.5, 1.5))

    def handle(self, event_body: str) -> NaiveOutcome:
        change_id, addition = addition_of(event_body)
        out = NaiveOutcome(change_id, "gave_up", started=time.time())
        deadline = time.monotonic() + self.give_up_seconds
        while time.monotonic() < deadline:
            try:
                detail = self.dts.describe_dts_job_detail(self.job_id, self.instance_id, self.direction)
            except DtsChangeError as exc:
                if not exc.retryable:
                    out.outcome, out.error = "rejected", exc.code
                    break
                self._wait()
                continue
            out.describes += 1
            if (detail.status or "").lower() == "modifying":
                self._wait()
                continue
            folded = fold_changes(detail.db_list(), [ChangeSpec(change_id, addition)])
            phases = folded.plan.phases()
            if not phases:
                out.outcome = "no_op"
                break
            _phase, listed = phases[0]
            out.modify_attempts += 1
            try:
                self.dts.modify_dts_job(self.instance_id, self.job_id, listed.to_json(), self.direction)
            except JobBusyError:
                self._wait()  # another handler's modification started since the describe
                continue
            except DtsChangeError as exc:
                if exc.retryable:
                    self._wait()
                    continue
                out.outcome, out.error = "rejected", exc.code
                break
            out.modify_accepted += 1
            out.outcome = "applied"
            break
        out.finished = time.time()
        return out
