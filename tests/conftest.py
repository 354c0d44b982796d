"""Fixtures shared by every test level. Folder-specific fixtures live in each folder's conftest."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.emulator_fixture import emulator, fresh_emulator  # noqa: F401  (shared fixtures)
from tests.secret_scan import pytest_runtest_makereport, secret_scan_everywhere  # noqa: F401  (no secret in any output, suite-wide)

REPO_ROOT = Path(__file__).resolve().parent.parent
EVENTS_DIR = REPO_ROOT / "events"


def read_event_bytes(name: str) -> bytes:
    """The raw bytes of a sample under events/ (what FC would hand the handler)."""
    return (EVENTS_DIR / name).read_bytes()


def load_event_json(name: str) -> Any:
    return json.loads(read_event_bytes(name))


@pytest.fixture
def load_event() -> Callable[[str], Any]:
    """Parsed JSON of a sample under events/ (one shared set of samples for every test)."""
    return load_event_json


@pytest.fixture
def event_bytes() -> Callable[[str], bytes]:
    return read_event_bytes


@pytest.fixture(autouse=True)
def _project_logger_restored() -> Any:
    """`configure_logging` (run by the CLI and FC entry) stops propagation to the root logger, as FC
    wants; restore the logger after each test so caplog works whatever ran before."""
    logger = logging.getLogger("dts_change")
    saved = (logger.propagate, list(logger.handlers), logger.level)
    logger.propagate = True
    yield
    logger.propagate, logger.handlers[:], level = saved[0], saved[1], saved[2]
    logger.setLevel(level)


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback tests must never go through a proxy from the environment."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
