"""The operator's whole loop as a new user runs it: `dts-change` processes in a fresh directory.

No emulator is started by hand and no variable is exported: every command uses `--local`, the
persistent local deployment under the directory (`.dts-change/local/`). What DTS received is
checked from the emulator's own saved state (its call log), not from what the CLI reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT

CLI = [sys.executable, "-m", "dts_change.app.cli"]
TRACEBACK = "Traceback (most recent call last)"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "DTS_", "OSS_", "FC_"))}
    env.pop("PYTHONPATH", None)  # the installed package, as a user has it
    env.update(extra)
    return env


def dts_change(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*CLI, *args], cwd=cwd, env=env or clean_env(), capture_output=True, text=True,
                          timeout=120, check=False)
    assert TRACEBACK not in proc.stderr, proc.stderr
    return proc


def saved_state(cwd: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((cwd / ".dts-change/local/emulator.json").read_text(encoding="utf-8"))
    return state


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "bad.json").write_text('{"id": "bad-one", "add": {"shop": {"name": "shop", "all": "yes"}}}',
                                       encoding="utf-8")
    (tmp_path / "archive.json").write_text('{"id": "orders-archive", "add": ["shop.orders_archive"]}',
                                           encoding="utf-8")
    (tmp_path / "later.json").write_text(
        '{"id": "later", "add": ["shop.later"], "remove": ["staging.tmp_export"]}', encoding="utf-8")
    return tmp_path


def test_the_whole_loop_in_a_fresh_directory(workdir: Path):
    # GIVEN a fresh deployment where DTS refuses the next modification (a rehearsed failure)
    reset = dts_change(workdir, "local", "reset", "--fail-next", "ModifyDtsJob:InvalidParameter")
    assert reset.returncode == 0, reset.stderr
    original = saved_state(workdir)["jobs"]["dtsjob1demo"]["dbList"]

    # WHEN bad input is invoked THEN exit 1, the dead letter is named, nothing reached DTS
    bad = dts_change(workdir, "invoke", "bad.json", "--local")
    assert bad.returncode == 1
    assert "invalid-change" in bad.stdout and "add.shop.all: expected a boolean" in bad.stdout
    bad_letter = bad.stdout.split("dead letter: ", 1)[1].split()[0]
    assert bad_letter.startswith("_unrouted/")

    # WHEN a good change is invoked and DTS refuses it THEN exit 1 and it is dead-lettered
    refused = dts_change(workdir, "invoke", "archive.json", "--local")
    assert refused.returncode == 1
    assert "change orders-archive: dead_lettered" in refused.stdout
    # ... and the dead-letter log line carries the dead-letter key
    logged = [json.loads(line) for line in refused.stderr.splitlines() if line.startswith("{")]
    dead_logs = [entry for entry in logged if entry["event"] == "change dead-lettered"]
    assert len(dead_logs) == 1 and dead_logs[0]["dead_letter_id"].startswith("dtsjob1demo%2FForward/")

    # THEN status says something waits (exit 1), per job, with the dead letter
    status = dts_change(workdir, "status", "--local", "--json")
    assert status.returncode == 1
    view = json.loads(status.stdout)
    (job,) = view["jobs"]
    assert job["job"] == "dtsjob1demo/Forward" and job["dts_status"]
    assert [d["change_id"] for d in job["dead_letters"]] == ["orders-archive"]
    assert [d["dead_letter_id"] for d in view["unrouted_dead_letters"]] == [bad_letter]

    # WHEN a change is planned THEN it says "would", never "applied", and writes nothing at all
    before = tree(workdir / ".dts-change/local")
    plan = dts_change(workdir, "plan", "later.json", "--local")
    assert plan.returncode == 0, plan.stderr
    assert "would add shop.later" in plan.stdout and "would remove staging.tmp_export" in plan.stdout
    assert "applied" not in plan.stdout
    # ... with every warning invoke gives: from the input, and from the ledger (a known id)
    (workdir / "ddl.sql").write_text("CREATE TABLE shop.events (id INT PRIMARY KEY);\n"
                                     "CREATE INDEX idx_id ON shop.events (id);\n", encoding="utf-8")
    ddl = dts_change(workdir, "plan", "ddl.sql", "--local")
    assert "would add shop.events" in ddl.stdout
    assert [line for line in ddl.stdout.splitlines() if line.startswith("  warning:") and "index" in line]
    known = dts_change(workdir, "plan", "archive.json", "--local")
    assert "already recorded as change" in known.stdout and "dead_lettered" in known.stdout
    assert tree(workdir / ".dts-change/local") == before

    # WHEN reconcile runs THEN nothing is open (the dead letter waits for a person)
    rec = dts_change(workdir, "reconcile", "--local")
    assert rec.returncode == 0 and "no job has open changes" in rec.stdout

    # THEN the dead letters can be listed and shown by change id and by correlation id
    listed = dts_change(workdir, "dlq", "list", "--local")
    assert listed.returncode == 0
    assert "orders-archive" in listed.stdout and bad_letter in listed.stdout
    shown = dts_change(workdir, "dlq", "show", "orders-archive", "--local")
    assert shown.returncode == 0
    letter = json.loads(shown.stdout)
    assert letter["change_id"] == "orders-archive" and letter["error"]["code"] == "invalid-parameter"
    by_correlation = dts_change(workdir, "dlq", "show", letter["correlation_id"], "--local")
    assert json.loads(by_correlation.stdout)["dead_letter_id"] == letter["dead_letter_id"]
    assert "demo-secret" not in shown.stdout  # the emulator's key secret never reaches a letter

    # WHEN the change is replayed THEN it is applied (exit 0) and DTS got every original object too
    replay = dts_change(workdir, "dlq", "replay", "orders-archive", "--local")
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "change orders-archive: applied" in replay.stdout
    modifies = [c for c in saved_state(workdir)["calls"] if c.get("action") == "ModifyDtsJob"]
    assert [c["outcome"] for c in modifies][-1] == "ok"
    sent = modifies[-1]["dbList"]
    assert "orders_archive" in sent["shop"]["Table"]
    for db, entry in original.items():
        assert db in sent
        for table in (entry.get("Table") or {}):
            assert table in sent[db]["Table"]

    # WHEN bad input is replayed THEN the kept input runs again and, still invalid, is dead-lettered
    # again (exit 1) under a new letter; once corrected at its source, that letter is dismissed
    again = dts_change(workdir, "dlq", "replay", bad_letter, "--local")
    assert again.returncode == 1 and "invalid-change" in again.stdout
    new_letter = again.stdout.split("dead letter: ", 1)[1].split()[0]
    assert new_letter != bad_letter and new_letter.startswith("_unrouted/")
    assert dts_change(workdir, "dlq", "dismiss", new_letter, "--local").returncode == 0

    # THEN the audit trail tells the change's story, newest first, with DTS's identifiers
    history = dts_change(workdir, "history", "dtsjob1demo", "--local", "--json")
    assert history.returncode == 0
    (entry,) = json.loads(history.stdout)
    assert entry["change_id"] == "orders-archive" and entry["state"] == "applied"
    assert entry["objects_added"] == ["shop.orders_archive"] and entry["replays"] == 1
    assert entry["client_tokens"] == [modifies[-1]["clientToken"]]
    assert entry["request_ids"] and entry["applied_at"] and entry["recorded_at"]
    (earlier,) = entry["dead_letters"]  # the refusal before the replay is part of the story
    assert earlier["code"] == "invalid-parameter" and earlier["replayed_at"] and earlier["request_ids"]
    assert earlier["dead_letter_id"] == letter["dead_letter_id"]
    touched = dts_change(workdir, "history", "dtsjob1demo", "--local", "--json", "--object", "shop.orders_archive")
    assert [e["change_id"] for e in json.loads(touched.stdout)] == ["orders-archive"]
    untouched = dts_change(workdir, "history", "dtsjob1demo", "--local", "--json", "--object", "staging.tmp_import")
    assert json.loads(untouched.stdout) == []

    # AND status is settled again, with the last modification's ClientToken shown
    final = dts_change(workdir, "status", "--local")
    assert final.returncode == 0, final.stdout
    assert modifies[-1]["clientToken"] in final.stdout and "settled" in final.stdout


def test_status_exits_one_when_a_change_waits_too_long(workdir: Path):
    # GIVEN DTS denies the modification (a deployment problem: the change stays pending)
    dts_change(workdir, "local", "reset", "--fail-next", "ModifyDtsJob:Forbidden.RAM")
    (workdir / "one.json").write_text('{"id": "one", "add": ["shop.one"]}', encoding="utf-8")
    first = dts_change(workdir, "invoke", "one.json", "--local", "--settle-seconds", "0")
    assert first.returncode == 0, first.stdout
    # THEN status is 1 past the threshold, 0 within it
    late = dts_change(workdir, "status", "--local", "--max-pending-age", "0s", "--json")
    assert late.returncode == 1
    (change,) = json.loads(late.stdout)["jobs"][0]["open_changes"]
    assert change["change_id"] == "one" and change["state"] == "pending" and change["overdue"]
    assert dts_change(workdir, "status", "--local", "--max-pending-age", "1h").returncode == 0


def test_local_honours_the_users_settings_and_rejects_invalid_ones(workdir: Path):
    (workdir / "three.json").write_text('{"id": "three", "add": ["shop.a", "shop.b", "shop.c"]}', encoding="utf-8")
    capped = dts_change(workdir, "plan", "three.json", "--local", env=clean_env(DTS_CHANGE_MAX_OBJECTS="2"))
    assert capped.returncode == 1 and "input-too-large" in capped.stdout
    assert dts_change(workdir, "plan", "three.json", "--local").returncode == 0
    invalid = dts_change(workdir, "plan", "three.json", "--local", env=clean_env(DTS_CHANGE_MAX_OBJECTS="many"))
    assert invalid.returncode == 2 and "DTS_CHANGE_MAX_OBJECTS" in invalid.stderr
    typo = dts_change(workdir, "plan", "three.json", "--local", env=clean_env(DTS_CHANGE_MAX_OBJETCS="2"))
    assert "DTS_CHANGE_MAX_OBJETCS is not a setting" in typo.stderr
    # routes: the sample bucket routed to another job is planned against that job
    event = str(REPO_ROOT / "events" / "oss-object-created.json")
    routes = '[{"bucket": "dts-change-config", "dtsJobId": "elsewhere"}]'
    routed = dts_change(workdir, "plan", event, "--local", env=clean_env(DTS_CHANGE_ROUTES=routes))
    assert "(job elsewhere/Forward)" in routed.stdout
    assert "(job dtsjob1demo/Forward)" in dts_change(workdir, "plan", event, "--local").stdout


def test_usage_problems_exit_two_without_a_traceback(workdir: Path):
    missing = dts_change(workdir, "invoke", "nowhere.json", "--local")
    assert missing.returncode == 2 and "nowhere.json" in missing.stderr
    dts_change(workdir, "local", "reset")
    state_file = workdir / ".dts-change/local/emulator.json"
    state_file.write_text(state_file.read_text(encoding="utf-8")[:200], encoding="utf-8")
    broken = dts_change(workdir, "status", "--local")
    assert broken.returncode == 2 and "local reset" in broken.stderr
    unknown = dts_change(workdir, "dlq", "show", "no-such-letter", "--local")
    assert unknown.returncode == 2


def test_a_closed_pipe_is_not_an_error(workdir: Path):
    dts_change(workdir, "local", "reset")
    dts_change(workdir, "invoke", "archive.json", "--local")
    proc = subprocess.run(" ".join([*CLI, "history", "dtsjob1demo", "--local"]) + " | head -1", shell=True,
                          cwd=workdir, env=clean_env(), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0
    assert proc.stdout.count("\n") == 1
    assert TRACEBACK not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_a_change_dead_lettered_by_a_later_timer_pass_still_exits_one(workdir: Path):
    # GIVEN the first pass cannot read the job, and DTS refuses the modification of the next
    dts_change(workdir, "local", "reset", "--fail-next", "DescribeDtsJobDetail:Forbidden.RAM:2",
               "--fail-next", "ModifyDtsJob:InvalidParameter")
    proc = dts_change(workdir, "invoke", "archive.json", "--local")
    # THEN the invocation's own change was pending, the timer pass dead-lettered it: exit 1
    assert "change orders-archive: pending" in proc.stdout
    assert "change orders-archive: dead_lettered" in proc.stdout
    assert proc.returncode == 1


def test_local_cli_change_named_by_instance_id_shares_the_jobs_key(workdir: Path):
    # GIVEN a fresh local deployment, a removal naming the job by id and a re-add naming it by
    # its instance id (the emulator's sample job dtsjob1demo, instance dtsinst1demo)
    (workdir / "rm.json").write_text(
        '{"id": "rm-orders", "job": {"dtsJobId": "dtsjob1demo"}, "remove": ["shop.orders"]}', encoding="utf-8")
    (workdir / "add.json").write_text(
        '{"id": "add-orders", "job": {"dtsInstanceId": "dtsinst1demo"}, "add": ["shop.orders"]}', encoding="utf-8")
    (workdir / "nope.json").write_text(
        '{"id": "nope", "job": {"dtsInstanceId": "dtsinstnope"}, "add": ["shop.x"]}', encoding="utf-8")
    assert dts_change(workdir, "local", "reset").returncode == 0
    # WHEN both are invoked with --local and settled
    for name in ("rm.json", "add.json"):
        proc = dts_change(workdir, "invoke", name, "--local")
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert dts_change(workdir, "reconcile", "--local").returncode in (0, 1)
    # THEN status knows one job key only (no `dtsinst1demo/Forward`), and orders is listed again
    view = json.loads(dts_change(workdir, "status", "--local", "--json").stdout)
    assert [j["job"] for j in view["jobs"]] == ["dtsjob1demo/Forward"], view
    assert "orders" in saved_state(workdir)["jobs"]["dtsjob1demo"]["dbList"]["shop"]["Table"]
    # AND an unknown instance id is refused before the ledger, naming the field
    nope = dts_change(workdir, "invoke", "nope.json", "--local")
    assert nope.returncode == 1 and "job-not-found" in nope.stdout and "dtsInstanceId 'dtsinstnope'" in nope.stdout
