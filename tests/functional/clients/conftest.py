"""Fixtures for client tests over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.functional.clients.loopback import RecordingServer


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    srv = RecordingServer()
    try:
        yield srv
    finally:
        srv.stop()
