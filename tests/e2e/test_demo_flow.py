"""The product as a user runs it: the `dts-change` command in real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT

CLI = [sys.executable, "-m", "dts_change.app.cli"]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), **(env or {})}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=REPO_ROOT, env=full_env, timeout=timeout, check=False)


@contextmanager
def emulator_process(tmp_path: Path, **job_settings: Any) -> Iterator[str]:
    """An emulator process seeded with the packaged sample job (`job_settings` overrides its
    fields; modifications finish at once); yields its URL and always stops it."""
    state = json.loads((REPO_ROOT / "src/dts_change/samples/local-state.json").read_text(encoding="utf-8"))
    state["jobs"]["dtsjob1demo"].update({"modifyDurationSeconds": 0, **job_settings})
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps(state), encoding="utf-8")
    emulator = subprocess.Popen(
        [sys.executable, "-m", "dts_change.emulator", "--port", "0", "--state", str(state_file)],
        stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")},
    )
    try:
        assert emulator.stdout is not None
        first = emulator.stdout.readline().strip()
        assert first.startswith("listening on http://127.0.0.1:")
        yield first.split("listening on ", 1)[1]
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


def cli_env(url: str, tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment a user exports to point the CLI at an emulator, stores under `tmp_path`."""
    return {
        "DTS_REGION": "cn-hangzhou", "DTS_ENDPOINT": url, "OSS_ENDPOINT": url,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIdemo", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "demo-secret",
        "DTS_JOB_ID": "dtsjob1demo", "DTS_INSTANCE_ID": "dtsinst1demo",
        "DTS_CHANGE_LEDGER": (tmp_path / "ledger").as_uri(),
        "DTS_CHANGE_DEAD_LETTER": (tmp_path / "dl").as_uri(),
        **settings,
    }


def test_demo_shows_before_diff_outcome_and_after(tmp_path: Path):
    proc = run_cli("invoke", "events/oss-object-created.json", "--local", "--state-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "object list before" in out and "object list after" in out
    assert "+ shop.order_items" in out and "+ shop.order_events" in out
    assert "applied" in out
    after = out.split("object list after", 1)[1]
    assert "order_items" in after and "tmp_import" in after and "hr (whole database)" in after
    assert "ModifyDtsJob calls: 1 accepted of 1" in out


def test_invoke_json_reports_every_pass_and_the_final_ledger(tmp_path: Path):
    proc = run_cli("invoke", "events/manual-change.json", "--local", "--json", "--state-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert list(data["ledger"].values()) == ["applied"]
    assert "tmp_import" not in data["after"]["staging"]["Table"]
    assert "order.archive" in data["after"]["shop"]["Table"]
    phases = [r.get("phase") for p in data["passes"] for r in p["reconcile"] if r["action"] == "submitted"]
    assert phases == ["removal", "addition"]


def test_plan_writes_nothing_and_shows_the_diff(tmp_path: Path):
    proc = run_cli("plan", "events/changes/add-tables.json", "--local", "--json", "--state-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    change = data["passes"][0]["changes"][0]
    assert change["outcome"] == "dry_run"
    assert change["plan"]["diff"]["added"] == ["shop.order_items"]
    assert data["before"] == data["after"]
    assert list(tmp_path.iterdir()) == []  # not even the deployment's folder was created


def test_bad_input_exits_one_and_is_dead_lettered(tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "x", "add": {"shop": {"name": "shop", "all": "yes"}}}', encoding="utf-8")
    proc = run_cli("invoke", str(bad), "--local", "--state-dir", str(tmp_path / "state"))
    assert proc.returncode == 1
    assert "invalid-change" in proc.stdout and "add.shop.all: expected a boolean" in proc.stdout
    letters = list((tmp_path / "state" / "dead-letter").rglob("*.json"))
    assert len(letters) == 1
    record = json.loads(letters[0].read_text(encoding="utf-8"))
    assert record["error"]["code"] == "invalid-change"


def test_dlq_list_show_and_replay_against_a_running_emulator(tmp_path: Path):
    # GIVEN an emulator process whose job is not configured yet
    with emulator_process(tmp_path, status="NotConfigured") as url:
        env = cli_env(url, tmp_path, DTS_CHANGE_ALLOWED_BUCKETS="dts-change-config")
        change = tmp_path / "change.json"
        change.write_text(json.dumps({"id": "needs-config", "add": ["shop.later"]}), encoding="utf-8")
        # WHEN the change is invoked THEN it is dead-lettered (job not configured)
        proc = run_cli("invoke", str(change), env=env)
        assert proc.returncode == 1 and "job-not-configured" in proc.stdout
        listed = run_cli("dlq", "list", env=env)
        assert listed.returncode == 0 and "job-not-configured" in listed.stdout
        key = listed.stdout.split()[0]
        shown = run_cli("dlq", "show", key, env=env)
        assert json.loads(shown.stdout)["change_id"] == "needs-config"
        # WHEN the job is configured and the dead letter replayed THEN it is applied
        import urllib.request
        with urllib.request.urlopen(f"{url}/_emulator/state", timeout=10) as resp:
            live = json.load(resp)
        live["jobs"]["dtsjob1demo"]["status"] = "Synchronizing"
        req = urllib.request.Request(f"{url}/_emulator/state", data=json.dumps(live).encode(), method="PUT")
        urllib.request.urlopen(req, timeout=10).close()
        replayed = run_cli("dlq", "replay", key, "--json", env=env)
        assert replayed.returncode == 0, replayed.stderr
        assert json.loads(replayed.stdout)["passes"][0]["reconcile"][0]["action"] == "submitted"
        settle = run_cli("reconcile", env=env)
        assert settle.returncode == 0
        assert run_cli("dlq", "list", env=env).stdout.strip() == "no dead letters"


@pytest.mark.parametrize("event", ["timer.json", "oss-object-deleted.json"])
def test_invoke_other_trigger_shapes_locally_exit_zero(event, tmp_path: Path):
    proc = run_cli("invoke", f"events/{event}", "--local", "--state-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_each_change_tells_its_own_diff_not_the_pass_totals(tmp_path: Path):
    # GIVEN a batch of two uploads folded into one modification
    proc = run_cli("invoke", "events/eventbridge-oss-batch.json", "--local", "--json", "--state-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    first, second = data["passes"][0]["changes"]
    # THEN each change lists only its own objects (the table list vs the DbList fragment)
    assert set(first["objects"]["added"]) == {"crm", "shop.addresses", "shop.`gift.cards`"}
    assert "inventory.warehouses" in second["objects"]["added"]
    assert not set(first["objects"]["added"]) & set(second["objects"]["added"])
    assert first["diff"]["added"] == 3 and second["diff"]["added"] == len(second["objects"]["added"])
    # AND the one modification DTS received carries both
    sent = json.loads((tmp_path / "emulator.json").read_text(encoding="utf-8"))
    (modify,) = [c for c in sent["calls"] if c.get("action") == "ModifyDtsJob"]
    assert "gift.cards" in modify["dbList"]["shop"]["Table"] and "inventory" in modify["dbList"]
