"""A local deployment for tests: the real handler (`App`) against the emulator over loopback.

Same wiring as `dts-change invoke --local`: the emulator seeded from the sample job (src/dts_change/samples/local-state.json)
(optionally changed per test), a ledger and dead letters under tmp_path, env-var configuration.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from dts_change.app.handler import App
from dts_change.app.local_deploy import sample_state
from dts_change.app.settings import Settings
from dts_change.emulator import EmulatorServer
from dts_change.state.records import ChangeState

JOB = "dtsjob1demo"
INSTANCE = "dtsinst1demo"
JOB_KEY = f"{JOB}/Forward"
BUCKET = "dts-change-config"
TIMER = json.dumps({"triggerTime": "2024-05-01T00:01:00Z", "triggerName": "reconcile", "payload": '{"action":"reconcile"}'})


def seed_state(**job_overrides: Any) -> dict[str, Any]:
    """The demo seed; modifications finish at once unless the test asks otherwise."""
    state = sample_state()
    state["jobs"][JOB].update({"modifyDurationSeconds": 0.0, **job_overrides})
    return state


def fc_context(timeout: float = 30.0) -> Any:
    return SimpleNamespace(request_id=f"req-{time.monotonic_ns()}", function=SimpleNamespace(timeout=timeout))


class LocalDeployment:
    def __init__(self, tmp_path: Path, state: dict[str, Any] | None = None, **env: str) -> None:
        self.server = EmulatorServer("127.0.0.1", 0, state or seed_state())
        self.server.start()
        self.tmp_path = tmp_path
        self.env = {
            "DTS_REGION": "cn-hangzhou",
            "DTS_ENDPOINT": self.server.endpoint,
            "OSS_ENDPOINT": self.server.endpoint,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIdemo",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "demo-secret",
            "DTS_JOB_ID": JOB,
            "DTS_INSTANCE_ID": INSTANCE,
            "DTS_CHANGE_LEDGER": (tmp_path / "ledger").as_uri(),
            "DTS_CHANGE_DEAD_LETTER": (tmp_path / "dead-letter").as_uri(),
            "DTS_CHANGE_ALLOWED_BUCKETS": BUCKET,
        }
        self.env.update(env)
        self.app = self.new_app()

    def new_app(self, **env: str) -> App:
        merged = {**self.env, **env}
        return App(Settings.from_env(merged, cwd=self.tmp_path), sleep=lambda _s: None)

    def stop(self) -> None:
        self.server.stop()

    # -------------------------------------------------------------- actions
    def invoke(self, event: bytes | str | dict[str, Any], app: App | None = None) -> dict[str, Any]:
        payload = json.dumps(event) if isinstance(event, dict) else event
        return (app or self.app).handle(payload, fc_context())

    def tick(self, app: App | None = None) -> dict[str, Any]:
        return (app or self.app).handle(TIMER, fc_context())

    def record_while_busy(self, changes: Iterable[dict[str, Any]], app: App | None = None) -> None:
        """Record each change while the job is Modifying (its event's pass only records it), then
        let the job synchronize again: a backlog of open changes for the next passes."""
        self.set_job(status="Modifying")
        for change in changes:
            self.invoke(change, app)
        self.set_job(status="Synchronizing")

    def settle(self, passes: int = 12, app: App | None = None) -> list[dict[str, Any]]:
        """Timer passes until no change is open (bounded)."""
        out = []
        for _ in range(passes):
            if not (app or self.app).ledger.jobs_with_open_changes():
                break
            out.append(self.tick(app))
        return out

    # -------------------------------------------------------------- observations
    def db_list(self) -> dict[str, Any]:
        return copy.deepcopy(self.server.get_state()["jobs"][JOB]["dbList"])

    def modify_calls(self, *, accepted_only: bool = True) -> list[dict[str, Any]]:
        calls = self.server.calls("ModifyDtsJob")
        return [c for c in calls if c.get("outcome") == "ok"] if accepted_only else calls

    def object_gets(self, since: int = 0) -> list[str]:
        """The keys of the GetObject calls OSS received, from the `since`-th on."""
        return [str(c.get("key", "")) for c in self.server.calls("GetObject")[since:]]

    def states(self) -> dict[str, str]:
        return {r.change_id: r.state.value for r in self.app.ledger.all_records()}

    def dead_letters(self) -> list[Any]:
        return self.app.dead_letters.list()

    def open_count(self) -> int:
        return len(self.app.ledger.all_records({ChangeState.PENDING, ChangeState.SUBMITTED, ChangeState.REMOVAL_SUBMITTED}))

    def put_object(self, key: str, body: str) -> None:
        state = self.server.get_state()
        state["buckets"].setdefault(BUCKET, {})[key] = body
        self.server.put_state(state)

    def set_job(self, **fields: Any) -> None:
        state = self.server.get_state()
        state["jobs"][JOB].update(fields)
        self.server.put_state(state)


def manual_change(change_id: str, **body: Any) -> dict[str, Any]:
    return {"id": change_id, **body}


OSS_LEDGER_ENV = {
    "DTS_CHANGE_LEDGER": f"oss://{BUCKET}/dts-change/ledger",
    "DTS_CHANGE_DEAD_LETTER": f"oss://{BUCKET}/dts-change/dead-letter",
}
"""The production layout: ledger and dead letters on (the emulator's) OSS, not a local folder."""


def oss_deployment(tmp_path: Path, state: dict[str, Any] | None = None, **env: str) -> LocalDeployment:
    """A LocalDeployment whose ledger and dead letters live on the emulator's OSS."""
    return LocalDeployment(tmp_path, state, **{**OSS_LEDGER_ENV, **env})
