"""Kill the handler process at chosen and at random moments, restart it, and compare with a run
that was never interrupted: same final DbList, every change applied once, nothing lost.

The handler runs as a real subprocess (`crash_driver`) against the emulator in this process,
sharing the ledger directory across restarts, as FC instances share the ledger bucket. Crash
points: `DTS_CHANGE_TEST_CRASH_AT` (between ledger write and modify, between modify and recording
it) and SIGKILL at random times while the driver delivers and reconciles. The lease of a killed
process is left behind, so the lease is short here (1 s) and the restart waits it out.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dts_change.core.dblist import DbList
from tests.conftest import REPO_ROOT
from tests.functional.reliability.checks import (
    carried_out,
    double_submissions,
    expected_db_list,
    lost_objects,
    noted_tokens,
    parse_seeds,
    repeated_removals,
    unnoted_calls,
    unsettled_changes,
)
from tests.functional.reliability.scenario import make_change
from tests.harness import LocalDeployment, oss_deployment, seed_state

CRASH_EXIT = 17
RUN_TIMEOUT = 40.0
TIMING = {"modifyDurationSeconds": 0.0, "modifyAfterDescribes": 2}
KILL_SEEDS = parse_seeds(os.environ.get("DTS_CHANGE_CRASH_SEEDS") or "11-12")
"""Seeds of the SIGKILL runs: two in CI; set DTS_CHANGE_CRASH_SEEDS ("1-30") for more."""


def change_events(seed: int, count: int = 7) -> list[str]:
    rng = random.Random(seed)
    docs = [make_change(rng, f"k{seed}-{i:02d}") for i in range(count)]
    docs.append({"id": f"k{seed}-mix", "remove": ["staging.tmp_import"], "add": ["shop.crash_mix"]})
    return [json.dumps(doc) for doc in docs]


class Driver:
    """Starts and always reaps `crash_driver` processes against one deployment."""

    def __init__(self, deploy: LocalDeployment, events: list[str], tmp_path: Path) -> None:
        self.events_file = tmp_path / "events.json"
        self.events_file.write_text(json.dumps(events), encoding="utf-8")
        self.env = {**os.environ, **deploy.env, "DTS_CHANGE_LEASE_SECONDS": "1", "DTS_CHANGE_LOG_LEVEL": "ERROR"}
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *, crash_at: str | None = None, safe_first: int = 0) -> subprocess.Popen[bytes]:
        env = dict(self.env)
        if crash_at:
            env["DTS_CHANGE_TEST_CRASH_AT"] = crash_at
        cmd = [sys.executable, "-m", "tests.functional.reliability.crash_driver", str(self.events_file),
               "--safe-first", str(safe_first), "--settle", "20"]
        self.progress = self.tmp_path / f"driver-{len(self.procs)}.out"
        with self.progress.open("wb") as out:
            proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def started_work(self, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> bool:
        """Wait until the process reports its first step (imports done), or ends."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if b"delivered" in self.progress.read_bytes():
                return True
            time.sleep(0.02)
        return False

    def run(self, **kwargs: Any) -> int:
        return self.start(**kwargs).wait(RUN_TIMEOUT)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


@pytest.fixture
def crash_deploy(tmp_path: Path) -> Iterator[LocalDeployment]:
    deploy = oss_deployment(tmp_path / "crashed", seed_state(**TIMING))  # ledger on OSS, as deployed
    yield deploy
    deploy.stop()


def uninterrupted(tmp_path: Path, events: list[str]) -> tuple[DbList, dict[str, str]]:
    """The reference: the same events, in the same order, by one process that never dies."""
    deploy = oss_deployment(tmp_path / "reference", seed_state(**TIMING))
    try:
        for event in events:
            deploy.invoke(event)
        deploy.settle(passes=40)
        return DbList.from_user(deploy.db_list()), deploy.states()
    finally:
        deploy.stop()


def assert_converged(deploy: LocalDeployment, initial: dict[str, Any], reference: tuple[DbList, dict[str, str]]) -> None:
    records = deploy.app.ledger.all_records()
    letters = {d.key: (d.error or {}).get("code") for d in deploy.dead_letters()}
    modifies = carried_out(deploy.server.calls())
    final = deploy.db_list()
    # THEN the restarted handler reached the reference's final list and change states
    assert DbList.from_user(final) == reference[0]
    assert deploy.states() == reference[1]
    assert unsettled_changes(records, letters) == []
    expected, rejected = expected_db_list(initial, records)
    assert rejected == [] and DbList.from_user(final) == expected
    # AND nothing was lost or removed twice on the way; each change rode one accepted submission
    # per phase; a call whose process was killed before recording it is still named by the
    # write-ahead note written before it, so no accepted call is unexplained
    assert lost_objects(initial, modifies, final, records) == []
    assert repeated_removals(initial, modifies, final, records) == []
    noted = noted_tokens(deploy.app.ledger, records)
    assert double_submissions(records, modifies, noted=noted) == []
    assert unnoted_calls(noted, modifies) == []


@pytest.mark.parametrize(
    ("point", "safe_first"),
    [("after-ledger-write", 2), ("after-modify", 0), ("after-modify", 4)],
)
def test_crash_point_then_restart_converges_to_uninterrupted_state(
    crash_deploy: LocalDeployment, tmp_path: Path, point: str, safe_first: int
) -> None:
    events = change_events(safe_first + len(point))
    reference = uninterrupted(tmp_path, events)
    initial = crash_deploy.db_list()
    driver = Driver(crash_deploy, events, tmp_path)
    try:
        # GIVEN the handler process dies at the crash point
        assert driver.run(crash_at=point, safe_first=safe_first) == CRASH_EXIT
        # WHEN it is restarted and FC redelivers every event (at least once)
        assert driver.run() == 0
    finally:
        driver.close()
    assert_converged(crash_deploy, initial, reference)


@pytest.mark.parametrize("seed", KILL_SEEDS)
def test_sigkill_at_random_times_then_restart_converges_to_uninterrupted_state(
    crash_deploy: LocalDeployment, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    events = change_events(seed)
    reference = uninterrupted(tmp_path, events)
    initial = crash_deploy.db_list()
    driver = Driver(crash_deploy, events, tmp_path)
    kills = 0
    try:
        # GIVEN the driver is SIGKILLed at random moments while it delivers and reconciles
        for round_ in range(3):
            proc = driver.start()
            if driver.started_work(proc):
                # the first kill lands early, while the first deliveries are under way (a run can
                # finish within a few hundred ms on an idle machine, and then nothing was killed)
                time.sleep(rng.uniform(0.0, 0.6 if round_ else 0.05))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(10)
        # WHEN it finally runs to the end
        assert driver.run() == 0
    finally:
        driver.close()
    assert kills >= 1
    assert_converged(crash_deploy, initial, reference)
    print(f"seed {seed}: {kills} kills, {len(carried_out(crash_deploy.server.calls()))} ModifyDtsJob carried out")


def test_crash_between_the_two_writes_of_a_dead_letter_leaves_no_change_without_its_record(
    crash_deploy: LocalDeployment, tmp_path: Path
) -> None:
    # GIVEN changes of which some are dead-lettered (k12-01 conflicts with the job's settings)
    events = change_events(12)
    driver = Driver(crash_deploy, events, tmp_path)
    try:
        # WHEN the process dies between the dead letter's two writes, and is restarted
        assert driver.run(crash_at="between-dead-letter-writes") == CRASH_EXIT
        assert driver.run() == 0
    finally:
        driver.close()
    # THEN every dead-lettered change has its dead-letter record (none is closed and invisible)
    records = crash_deploy.app.ledger.all_records()
    letters = {d.key: (d.error or {}).get("code") for d in crash_deploy.dead_letters()}
    assert any(r.state.value == "dead_lettered" for r in records)
    assert unsettled_changes(records, letters) == []
