"""Bad input kept in its dead letter and replayed after the fix, with real processes: the
emulator and every `dts-change` command run as a user would (issue 11, point 11)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from tests.e2e.test_demo_flow import cli_env, emulator_process, run_cli


def test_unroutable_message_is_kept_and_replays_once_a_job_is_configured(tmp_path: Path):
    with emulator_process(tmp_path) as url:
        env = cli_env(url, tmp_path, DTS_JOB_ID="", DTS_INSTANCE_ID="")
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
