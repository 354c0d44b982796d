"""Bad input kept in its dead letter and replayed after the fix, with real processes: the
emulator and every `dts-change` command run as a user would (issue 11, point 11)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.conftest import REPO_ROOT
from tests.e2e.test_demo_flow import run_cli


def test_unroutable_message_is_kept_and_replays_once_a_job_is_configured(tmp_path: Path):
    state_file = tmp_path / "state.json"
    state = json.loads((REPO_ROOT / "src/dts_change/samples/local-state.json").read_text(encoding="utf-8"))
    state["jobs"]["dtsjob1demo"]["modifyDurationSeconds"] = 0
    state_file.write_text(json.dumps(state), encoding="utf-8")
    emulator = subprocess.Popen(
        [sys.executable, "-m", "dts_change.emulator", "--port", "0", "--state", str(state_file)],
        stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")},
    )
    try:
        assert emulator.stdout is not None
        url = emulator.stdout.readline().strip().split("listening on ", 1)[1]
        env = {
            "DTS_REGION": "cn-hangzhou", "DTS_ENDPOINT": url, "OSS_ENDPOINT": url,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIdemo", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "demo-secret",
            "DTS_JOB_ID": "", "DTS_INSTANCE_ID": "",
            "DTS_CHANGE_LEDGER": (tmp_path / "ledger").as_uri(),
            "DTS_CHANGE_DEAD_LETTER": (tmp_path / "dl").as_uri(),
        }
        # GIVEN an MNS topic message whose change names no job, and no default job
        event = tmp_path / "message.json"
        body = "# format: table-list\nshop.replayed_later\n"
        event.write_text(json.dumps({"TopicOwner": "1", "TopicName": "dts-change-topic",
                                     "MessageId": "e2e-kept-1", "Message": body}), encoding="utf-8")
        proc = run_cli("invoke", str(event), env=env)
        assert proc.returncode == 1 and "unroutable-change" in proc.stdout
        # THEN the dead letter on disk keeps the message body and its id
        [letter_file] = list((tmp_path / "dl").rglob("*.json"))
        letter = json.loads(letter_file.read_text(encoding="utf-8"))
        assert letter["original_event"]["raw"]["text"] == body
        assert letter["original_event"]["locators"]["messageId"] == "e2e-kept-1"
        # WHEN the default job is configured and the dead letter replayed
        fixed = {**env, "DTS_JOB_ID": "dtsjob1demo", "DTS_INSTANCE_ID": "dtsinst1demo"}
        replayed = run_cli("dlq", "replay", letter["dl_id"], "--json", env=fixed)
        assert replayed.returncode == 0, replayed.stderr
        assert [c["outcome"] for c in json.loads(replayed.stdout)["changes"]] == ["submitted"]
        # THEN the emulator's job lists the table and no dead letter is left
        with urllib.request.urlopen(f"{url}/_emulator/state", timeout=10) as resp:
            live = json.load(resp)
        assert "replayed_later" in live["jobs"]["dtsjob1demo"]["dbList"]["shop"]["Table"]
        assert run_cli("dlq", "list", env=fixed).stdout.strip() == "no dead letters"
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
