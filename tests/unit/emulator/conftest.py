"""Fixtures for emulator unit tests: an app on a fake clock, no sockets."""

from __future__ import annotations

import pytest

from tests.unit.emulator.builders import Harness


@pytest.fixture
def harness() -> Harness:
    """A fresh emulator (the builders' base state) driven without sockets."""
    return Harness()
