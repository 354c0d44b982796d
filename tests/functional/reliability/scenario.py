"""A seeded randomised run: changes, faults, duplicate and out-of-order deliveries, concurrent
instances, then settling. `run_scenario(seed, tmp_path)` returns what happened for the checks.

Reproducible: the seed fixes the changes, the delivery schedule, the job's modification timing
and the emulator's fault draws (`settings.seed`). Thread interleavings are not fixed, so a seed
replays the same inputs and fault plan, not the same schedule to the microsecond.
"""

from __future__ import annotations

import hashlib
import json
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dts_change.app.handler import App
from dts_change.core.errors import DtsChangeError
from tests.conftest import load_event_json
from tests.harness import JOB, LocalDeployment, oss_deployment, seed_state
from tests.reference.generators import ADVERSARIAL_NAMES

INITIAL_TABLES = [("shop", "orders"), ("staging", "tmp_import"), ("staging", "tmp_export")]
TABLE_POOL = [("shop", f"t{i}") for i in range(5)] + [("staging", f"s{i}") for i in range(3)] + [
    ("crm", f"c{i}") for i in range(3)
]
WORKERS = 3
MAX_FC_RETRIES = 6
SETTLE_PASSES = 40
RUN_DEADLINE_SECONDS = 25.0
LEASE_SECONDS = 4
CONTENT_CODES = frozenset({
    "conflict", "removal-needs-table-list", "settings-under-whole-database",
    # issue 11: removing an unlisted name, a database's last table or everything
    "remove-not-listed", "removal-empties-database", "dblist-would-be-empty",
})
"""Dead-letter codes a change's own content explains; a fault must never dead-letter a change."""


@dataclass
class Delivery:
    change_id: str
    event: str
    attempts: int = 0


@dataclass
class RunResult:
    seed: int
    deploy: LocalDeployment
    initial: dict[str, Any]
    change_ids: list[str]
    deliveries: int
    fault_kinds: dict[str, str]
    duplicates: int = 0
    unexpected: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    initial_reserved: dict[str, Any] = field(default_factory=dict)


def _name(ref: tuple[str, str]) -> str:
    return f"{ref[0]}.{ref[1]}"


# Names from the reference generators (tests/reference/generators.py) that a DbList must carry as
# plain data. `state` is left out until issue #11 point 1 is in the engine (it is dropped today).
ODD_NAMES = [n for n in ADVERSARIAL_NAMES if n != "state"]


ADVERSARIAL_SHARE = 0.12


def adversarial_change(rng: random.Random) -> dict[str, Any]:
    """What the older mix never sent (drawn from its own random stream, so the other changes of a
    seed stay what they were): odd names, a missing `all`, database-level settings and
    renames, table filters and column maps, several databases in one change."""
    name = rng.choice(ODD_NAMES)
    variant = rng.randrange(4)
    if variant == 0:  # a new database without `all` (whole), renamed, with its own settings
        return {"add": {f"db_{name}": {"name": f"{name}_dst", "dml_op": rng.choice(["I,U,D", "I"])}}}
    if variant == 1:  # a table with an odd name, a filter and a column map
        return {"add": {"shop": {"all": False, "Table": {name: {
            "filter": f"id > {rng.randint(1, 3)}", "column": {name: f"{name}_dst"}}}}}}
    if variant == 2:  # database-level settings of a listed database, replaced
        return {"add": {"shop": {"ddl_op": rng.choice(["I,U,D", "U"]), "all": False, "Table": {"orders": {}}}},
                "onConflict": "replace"}
    return {"add": {"staging": {"all": False, "Table": {name: {}}}, f"db_{name}": {"all": True}},
            "remove": {f"db_{rng.choice(ODD_NAMES)}": True}}


def make_change(rng: random.Random, change_id: str) -> dict[str, Any]:
    """One change document; the mix makes later changes depend on earlier ones."""
    kind = rng.choices(
        ["add", "remove", "remove_add", "conflict", "whole_removal", "replace", "add_db", "remove_db", "flags",
         "reserved"],
        weights=[35, 15, 15, 7, 5, 8, 8, 7, 4, 4],
    )[0]
    doc: dict[str, Any] = {"id": change_id}
    if kind == "flags":
        doc["add"] = [_name(rng.choice(TABLE_POOL))]
        doc["structureInitialization"] = True
    elif kind == "reserved":
        doc["reserved"] = {"maxRetryTime": rng.choice([3600, 7200, 43200])}
        if rng.random() < 0.5:
            doc["add"] = [_name(rng.choice(TABLE_POOL))]
    elif kind == "add":
        doc["add"] = [_name(r) for r in rng.sample(TABLE_POOL, rng.randint(1, 3))]
    elif kind == "remove":
        doc["remove"] = [_name(r) for r in rng.sample(TABLE_POOL + INITIAL_TABLES, rng.randint(1, 2))]
    elif kind == "remove_add":
        removed, added = rng.sample(TABLE_POOL + INITIAL_TABLES, 2)
        doc["remove"], doc["add"] = [_name(removed)], [_name(added)]
    elif kind == "conflict":
        doc["add"] = {"shop": {"name": "shop", "all": False, "Table": {
            "orders": {"name": "orders", "all": True, "filter": f"id > {rng.randint(1, 99)}"}}}}
    elif kind == "whole_removal":
        doc["remove"] = ["hr.payroll"]
    elif kind == "replace":
        doc["add"] = {"shop": {"name": "shop", "all": False, "Table": {
            "customers": {"name": "customers", "all": True, "primary_key": rng.choice(["id", "uuid", "code"])}}}}
        doc["onConflict"] = "replace"
    elif kind == "add_db":
        doc["add"] = ["analytics"]
    else:
        doc["remove"] = [rng.choice(["crm", "analytics"])]
    return doc


def oss_event(key: str, body: bytes) -> str:
    event = load_event_json("oss-object-created.json")
    obj = event["events"][0]["oss"]["object"]
    obj.update(key=key, size=len(body), deltaSize=len(body), eTag=hashlib.md5(body).hexdigest().upper())  # OSS's ETag is the MD5
    return json.dumps(event)


def fault_plan(rng: random.Random) -> list[dict[str, Any]]:
    """Faults on a share of calls, drawn by the emulator's seeded RNG."""
    p = rng.uniform(0.04, 0.12)
    return [
        {"id": "throttle", "service": "dts", "code": "Throttling.User", "httpStatus": 400, "probability": p},
        {"id": "unavailable", "service": "dts", "code": "ServiceUnavailable", "httpStatus": 503, "probability": p / 2},
        {"id": "internal-after", "service": "dts", "action": "ModifyDtsJob", "code": "InternalError",
         "httpStatus": 500, "phase": "after", "probability": 0.1},
        {"id": "reset", "service": "dts", "reset": True, "probability": p / 2},
        {"id": "reset-after", "service": "dts", "action": "ModifyDtsJob", "reset": True, "phase": "after",
         "probability": 0.1},
        {"id": "latency", "latencySeconds": rng.choice([0.05, 0.1]), "probability": 0.03},
        {"id": "token-expiry", "service": "dts", "tokenExpiry": True, "probability": p / 2},
        # The ledger is on OSS: an invocation makes about ten OSS calls, so OSS faults stay rare
        # enough per call that most invocations still reach DTS and meet its faults.
        {"id": "oss-unavailable", "service": "oss", "action": "GetObject", "code": "InternalError",
         "httpStatus": 500, "probability": 0.03},
        {"id": "oss-reset", "service": "oss", "reset": True, "probability": 0.01},
        {"id": "oss-lease-lost", "service": "oss", "action": "PutObject", "keyContains": "leases/", "reset": True,
         "phase": "after", "probability": 0.1},
    ]


FAULT_KINDS = {
    "throttle": "throttling",
    "unavailable": "5xx",
    "internal-after": "5xx after the write",
    "reset": "connection reset",
    "reset-after": "connection reset after the write",
    "latency": "latency spike",
    "token-expiry": "token expiry",
    "oss-unavailable": "OSS 5xx",
    "oss-reset": "OSS connection reset",
    "oss-lease-lost": "OSS answer lost after a lease write",
}


def job_timing(rng: random.Random) -> dict[str, Any]:
    mode = rng.choice(["instant", "describes", "timed"])
    if mode == "instant":
        return {"modifyDurationSeconds": 0.0, "modifyAfterDescribes": None}
    if mode == "describes":
        return {"modifyDurationSeconds": 0.0, "modifyAfterDescribes": rng.randint(1, 3)}
    return {"modifyDurationSeconds": rng.choice([0.02, 0.05]), "modifyAfterDescribes": None}


class _Instances:
    """Worker threads, each its own `App` (an FC instance), delivering with FC's at-least-once retry."""

    def __init__(self, deploy: LocalDeployment, rng: random.Random, result: RunResult) -> None:
        self.deploy = deploy
        self.worker_seeds = [rng.random() for _ in range(WORKERS)]
        self.result = result
        self.lock = threading.Lock()
        self.failed: list[Delivery] = []

    def deliver(self, app: App, delivery: Delivery) -> bool:
        delivery.attempts += 1
        with self.lock:
            self.result.deliveries += 1
        try:
            self.deploy.invoke(delivery.event, app=app)
        except DtsChangeError as exc:
            if not exc.retryable:
                self._unexpected(f"{delivery.change_id}: non-retryable {exc.code} raised: {exc.message}")
            return False
        except Exception as exc:
            self._unexpected(f"{delivery.change_id}: {type(exc).__name__}: {exc}")
            return False
        return True

    def tick(self, app: App) -> bool:
        """One timer pass; True when it found a job's lease held by another instance."""
        try:
            reports = self.deploy.tick(app)["reconcile"]
            return any(r["action"] == "lease-held" for r in reports)
        except DtsChangeError as exc:
            # The ledger's store failing raises (FC retries the timer; the next one runs anyway).
            if not exc.retryable:
                self._unexpected(f"timer: non-retryable {exc.code} raised: {exc.message}")
        except Exception as exc:
            self._unexpected(f"timer: {type(exc).__name__}: {exc}")
        return False

    def _unexpected(self, text: str) -> None:
        with self.lock:
            self.result.unexpected.append(text)

    def run(self, worker: int, work: queue.Queue[Delivery], deadline: float) -> None:
        app = self.deploy.new_app()
        ticks = random.Random(self.worker_seeds[worker])
        while time.monotonic() < deadline:
            try:
                delivery = work.get_nowait()
            except queue.Empty:
                return
            if not self.deliver(app, delivery):
                if delivery.attempts < MAX_FC_RETRIES:
                    work.put(delivery)
                else:
                    with self.lock:
                        self.failed.append(delivery)
            if ticks.random() < 0.2:
                self.tick(app)


def run_scenario(seed: int, tmp_path: Path) -> RunResult:
    """Deliver, race and settle one seeded run; the caller checks the result and stops `deploy`."""
    started = time.monotonic()
    rng = random.Random(seed)
    adversarial = random.Random(f"adversarial-{seed}")
    timing = job_timing(rng)
    state = seed_state(**timing)
    state["settings"] = {"seed": seed}
    state["faults"] = fault_plan(rng)
    # The ledger and dead letters on OSS, as deployed. A lease write whose answer is lost, by an
    # instance whose next calls fail too, stays live for other instances until it expires: short
    # here so that settling waits seconds for it, not the deployed 300 s.
    deploy = oss_deployment(tmp_path, state, DTS_CHANGE_LEASE_SECONDS=str(LEASE_SECONDS))
    initial = deploy.db_list()
    result = RunResult(seed, deploy, initial, [], 0, dict(FAULT_KINDS))
    result.initial_reserved = dict(deploy.server.get_state()["jobs"][JOB]["reserved"])
    # GIVEN N changes, a third of them as OSS objects, the rest as manual invocations
    deliveries: list[Delivery] = []
    for i in range(rng.randint(14, 22)):
        change_id = f"r{seed}-{i:03d}"
        doc = make_change(rng, change_id)
        if adversarial.random() < ADVERSARIAL_SHARE:
            doc = {"id": change_id, **adversarial_change(adversarial)}
        result.change_ids.append(change_id)
        if rng.random() < 0.3:
            key = f"dts-change/incoming/{change_id}.json"
            body = json.dumps(doc).encode()
            deploy.put_object(key, body.decode())
            deliveries.append(Delivery(change_id, oss_event(key, body)))
        else:
            deliveries.append(Delivery(change_id, json.dumps(doc)))
    # duplicates of about a third, anywhere later; then the whole schedule shuffled (out of order)
    duplicates = [Delivery(d.change_id, d.event) for d in deliveries if rng.random() < 0.35]
    result.duplicates = len(duplicates)
    deliveries += duplicates
    rng.shuffle(deliveries)
    instances = _Instances(deploy, rng, result)
    deadline = started + RUN_DEADLINE_SECONDS
    # WHEN a removal and an addition of the same table race from two instances
    racing = rng.choice(TABLE_POOL + INITIAL_TABLES)
    pair = [Delivery(f"r{seed}-race-rm", json.dumps({"id": f"r{seed}-race-rm", "remove": [_name(racing)]})),
            Delivery(f"r{seed}-race-add", json.dumps({"id": f"r{seed}-race-add", "add": [_name(racing)]}))]
    result.change_ids += [d.change_id for d in pair]
    barrier = threading.Barrier(2)

    def race(delivery: Delivery) -> None:
        app = deploy.new_app()
        barrier.wait(5)
        if not instances.deliver(app, delivery):
            with instances.lock:
                instances.failed.append(delivery)

    threads = [threading.Thread(target=race, args=(d,)) for d in pair]
    # AND the rest arrives concurrently at several instances, with timer passes in between
    work: queue.Queue[Delivery] = queue.Queue()
    for d in deliveries:
        work.put(d)
    threads += [threading.Thread(target=instances.run, args=(i, work, deadline)) for i in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(RUN_DEADLINE_SECONDS + 5)
    while not work.empty():
        instances.failed.append(work.get_nowait())
    # THEN settle: a few passes under faults, then faults cleared, FC's last retries, timer passes
    app = deploy.app
    for _ in range(3):
        instances.tick(app)
    deploy.server.clear_faults()
    for delivery in instances.failed:
        for _ in range(MAX_FC_RETRIES):
            if instances.deliver(app, delivery):
                break
    pause = float(timing["modifyDurationSeconds"])
    for _ in range(SETTLE_PASSES):
        if not app.ledger.jobs_with_open_changes():
            break
        if pause:
            time.sleep(pause)
        if instances.tick(app):
            time.sleep(LEASE_SECONDS / 4)  # a lease left by an instance that is gone: wait it out
    result.elapsed = time.monotonic() - started
    assert JOB in deploy.server.get_state()["jobs"]
    return result
