"""Fixtures of the reliability tests: a local deployment whose job stays busy for a while."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import LocalDeployment, seed_state


@pytest.fixture
def busy_deploy(tmp_path: Path) -> Iterator[LocalDeployment]:
    """Each modification finishes after four describes, so changes pile up and fold together."""
    deploy = LocalDeployment(tmp_path, seed_state(modifyDurationSeconds=0.0, modifyAfterDescribes=4))
    yield deploy
    deploy.stop()
