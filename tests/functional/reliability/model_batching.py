"""A plain model run (review tool, not collected by pytest): random short change sequences through
the real handler against the emulator, recorded while the job is busy and then folded together,
against the same sequence delivered and settled one change at a time.

`python -m tests.functional.reliability.model_batching 300 420` prints each seed and fault kind where a
change is left open, the ledger-order oracle rejects an applied change, the final list is not the
ledger-order fold of the applied changes, or a change's outcome differs from the one-at-a-time run
(docs/formats.md §2.6 rule 6: an outcome never depends on which changes share a pass). DTS refuses
for good every list naming `shop.bad`; the fault kinds add a 500 or a reset after the write, or
throttling. Content-based refusals make some differences legitimate (a table added and removed
in one fold never reaches DTS): read each line before calling it a bug."""

from __future__ import annotations

import logging
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

from dts_change.core.dblist import DbList
from tests.functional.reliability.checks import expected_db_list
from tests.harness import manual_change, oss_deployment, seed_state

POOL = [("shop", "orders"), ("shop", "customers"), ("shop", "t1"), ("shop", "t2"), ("staging", "tmp_import"),
        ("staging", "tmp_export"), ("staging", "s1"), ("shop", "bad")]
FAULTS: dict[str, dict[str, Any] | None] = {
    "bad": None,
    "after": {"action": "ModifyDtsJob", "code": "InternalError", "httpStatus": 500, "phase": "after", "count": 2},
    "busy": {"action": "ModifyDtsJob", "code": "Throttling", "count": 7},
    "reset": {"action": "ModifyDtsJob", "reset": True, "phase": "after", "count": 2},
}


def changes_for(rng: random.Random, n: int) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for i in range(n):
        k = rng.random()
        names = [f"{d}.{t}" for d, t in rng.sample(POOL, rng.randint(1, 2))]
        if k < 0.4:
            body: dict[str, Any] = {"add": names}
        elif k < 0.8:
            body = {"remove": names}
        else:
            body = {"add": [names[0]], "remove": names[1:] or ["shop.orders"]}
        out.append((f"c{i}", body))
    return out


def run(changes: list[tuple[str, dict[str, Any]]], *, batched: bool, fault: str) -> tuple[Any, ...]:
    deploy = oss_deployment(Path(tempfile.mkdtemp()), seed_state(modifyDurationSeconds=0.0))
    try:
        initial = deploy.db_list()
        if batched:
            deploy.set_job(status="Modifying")
        deploy.server.add_fault({"action": "ModifyDtsJob", "paramContains": '"bad"', "code": "InvalidParameter",
                                 "message": "refused", "probability": 1.0})
        extra = FAULTS[fault]
        if extra is not None:
            deploy.server.add_fault(extra)
        for cid, body in changes:
            deploy.invoke(manual_change(cid, **body))
            if not batched:
                deploy.settle(passes=20)
        if batched:
            deploy.set_job(status="Synchronizing")
        deploy.settle(passes=60)
        records = deploy.app.ledger.all_records()
        states = {r.change_id: (r.state.value, (r.last_error or {}).get("code")
                                if r.state.value == "dead_lettered" else None) for r in records}
        expected, rejected = expected_db_list(initial, records)
        return states, DbList.from_user(deploy.db_list()), expected, rejected
    finally:
        deploy.stop()


def main(low: int, high: int) -> int:
    logging.disable(logging.CRITICAL)
    bad = 0
    for seed in range(low, high):
        rng = random.Random(seed)
        changes = changes_for(rng, rng.randint(3, 7))
        reference = run(changes, batched=False, fault="bad")
        for fault in FAULTS:
            states, final, expected, rejected = run(changes, batched=True, fault=fault)
            problems = []
            if any(s[0] not in ("applied", "dead_lettered") for s in states.values()):
                problems.append("open")
            if rejected:
                problems.append(f"oracle rejects {rejected}")
            if final != expected:
                problems.append("final != ledger-order fold")
            differ = {k: (reference[0][k], states.get(k)) for k in reference[0] if reference[0][k] != states.get(k)}
            if differ:
                problems.append(f"batching-dependent {differ}")
            if problems:
                bad += 1
                print(seed, fault, changes, problems, flush=True)
    print("runs with a problem:", bad)
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2])))
