"""A shared emulator for tests at any level: one server per session, reset on demand.

Register in tests/conftest.py with
`from tests.emulator_fixture import emulator, fresh_emulator  # noqa: F401`.
`emulator` starts `EmulatorServer(port=0)` once per session on the demo state (or `state`);
`fresh_emulator` resets that server to its start state before each test that asks for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest

from dts_change.emulator import EmulatorServer


@contextmanager
def emulator_server(state: Mapping[str, Any] | None = None, **kwargs: Any) -> Iterator[EmulatorServer]:
    """A started emulator on 127.0.0.1 with a free port; stopped (and joined) on exit.

    `kwargs` go to `EmulatorServer` (e.g. `clock=`). The server's `endpoint` is the base URL
    for DTS_ENDPOINT / OSS_ENDPOINT.
    """
    server = EmulatorServer("127.0.0.1", 0, state, **kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    """One emulator for the whole session (demo state); tests that mutate it use fresh_emulator."""
    with emulator_server() as server:
        yield server


@pytest.fixture
def fresh_emulator(emulator: EmulatorServer) -> EmulatorServer:
    """The session emulator reset to its start state (jobs, buckets, faults, hooks, calls)."""
    emulator.reset()
    return emulator
