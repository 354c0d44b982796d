"""Fixtures for the ledger, store and dead-letter unit tests: each store runs on disk and on fake OSS."""

from __future__ import annotations

from pathlib import Path

import pytest

from dts_change.state.ledger import Ledger
from dts_change.state.storage import DirectoryStore, OssStore, Store

from .fakes import FakeClock, FakeOssClient


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_oss() -> FakeOssClient:
    return FakeOssClient()


@pytest.fixture(params=["directory", "oss"])
def store(request: pytest.FixtureRequest, tmp_path: Path, fake_oss: FakeOssClient) -> Store:
    """The same tests against both backends: a folder under tmp_path and an in-memory OSS prefix."""
    if request.param == "directory":
        return DirectoryStore(tmp_path / "store")
    return OssStore(fake_oss, "ledger-bucket", "deploy/ledger")


@pytest.fixture
def ledger(store: Store, clock: FakeClock) -> Ledger:
    # Lease time on the fake clock (moved by the tests); the store's own clock is tested through
    # the handler against the emulator (tests/functional/timing).
    return Ledger(store, clock=clock, monotonic=clock, lease_time="local")
