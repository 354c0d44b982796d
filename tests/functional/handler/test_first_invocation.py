"""The guide's first invocation is safe: the dry-run sample reports the diff and changes nothing.

Run as `s dts-change invoke -f events/first-dry-run.json` would run it: the real handler against
the emulator over loopback; what DTS received is read from the emulator's call log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EVENTS_DIR
from tests.harness import LocalDeployment


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[LocalDeployment]:
    run = LocalDeployment(tmp_path)
    try:
        yield run
    finally:
        run.stop()


def test_first_dry_run_sample_reports_the_diff_and_writes_nothing(deployment: LocalDeployment) -> None:
    before = deployment.db_list()
    result = deployment.invoke((EVENTS_DIR / "first-dry-run.json").read_bytes())
    (change,) = result["changes"]
    assert change["outcome"] == "dry_run"
    assert change["plan"]["diff"]["added"] == ["shop.payments"]
    assert deployment.server.calls("ModifyDtsJob") == []
    assert deployment.db_list() == before
    assert deployment.app.ledger.all_records() == []


def test_dry_run_setting_turns_any_change_into_a_report(deployment: LocalDeployment) -> None:
    # DTS_CHANGE_DRY_RUN=true (s.yaml's DTS_CHANGE_DRY_RUN) with a sample that is not a dry run itself
    app = deployment.new_app(DTS_CHANGE_DRY_RUN="true")
    before = deployment.db_list()
    result = deployment.invoke((EVENTS_DIR / "manual-change.json").read_bytes(), app=app)
    assert [c["outcome"] for c in result["changes"]] == ["dry_run"]
    assert result["changes"][0]["plan"]["diff"]["removed"] == ["staging.tmp_import"]
    assert deployment.server.calls("ModifyDtsJob") == []
    assert deployment.db_list() == before
