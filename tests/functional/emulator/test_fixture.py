"""The shared fixtures of tests/emulator_fixture.py, used the way other test modules will."""

from __future__ import annotations

import requests

from dts_change.emulator import EmulatorServer
from tests.emulator_fixture import emulator, fresh_emulator  # noqa: F401 - fixtures used below


def test_emulator_fixture_serves_the_demo_state_and_keeps_changes(emulator: EmulatorServer) -> None:  # noqa: F811
    state = requests.get(f"{emulator.endpoint}/_emulator/state", timeout=5).json()
    assert state["jobs"]["dtsjob-demo"]["instanceId"] == "dtsins-demo"
    # a change made here is still there for the next user of the session emulator...
    emulator.add_fault({"code": "Throttling.User", "count": 5})
    state["jobs"]["dtsjob-demo"]["status"] = "Suspending"
    emulator.put_state(state)
    assert emulator.get_state()["jobs"]["dtsjob-demo"]["status"] == "Suspending"


def test_fresh_emulator_fixture_undoes_earlier_changes(fresh_emulator: EmulatorServer) -> None:  # noqa: F811
    # ...unless it asks for fresh_emulator (runs after the test above in file order)
    state = fresh_emulator.get_state()
    assert (state["faults"], state["jobs"]["dtsjob-demo"]["status"]) == ([], "Synchronizing")
