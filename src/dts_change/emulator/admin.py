"""The emulator's whole state behind one lock, its admin verbs, and `/_emulator/*` over HTTP.

`EmulatorCore` is what tests drive in-process (get_state / put_state / add_fault / add_hook /
reset); `handle_admin` exposes the same verbs without signatures on `/_emulator/`. The state JSON
is a contract (docs/emulator.md): keys are only ever added, never renamed.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from dts_change.core.errors import ConfigurationError
from dts_change.emulator.auth import Credential, NonceCache
from dts_change.emulator.dts_state import DtsBackend, Hook
from dts_change.emulator.faults import Fault, FaultPlan
from dts_change.emulator.oss_state import OssBackend
from dts_change.emulator.settings import EmulatorSettings
from dts_change.emulator.state_fields import as_mapping, opt_mapping, state_error
from dts_change.emulator.wire import WireRequest, WireResponse, json_response
from dts_change.emulator.wire_errors import EmulatedApiError

ADMIN_PREFIX = "/_emulator"
_KNOWN_TOP_LEVEL = frozenset(
    {
        "credentials",
        "jobs",
        "buckets",
        "objectMeta",
        "bucketVersioning",
        "objectVersions",
        "faults",
        "calls",
        "hooks",
        "clientTokens",
        "settings",
    }
)


def demo_state() -> dict[str, Any]:
    """The state of the issue's contract example: one demo key, one job, one change bucket."""
    return {
        "credentials": {"LTAIdemo": {"secret": "demo-secret", "securityToken": None}},
        "jobs": {
            "dtsjob-demo": {
                "instanceId": "dtsins-demo",
                "status": "Synchronizing",
                "direction": "Forward",
                "modifyDurationSeconds": 2,
                "dbList": {
                    "sales": {
                        "name": "sales",
                        "all": False,
                        "Table": {"orders": {"name": "orders", "all": True}},
                    }
                },
                "reserved": {},
            }
        },
        "buckets": {"dts-changes": {}},
        "faults": [],
        "calls": [],
    }


class CallRecord:
    """One request's log entry, filled in as the pipeline learns more about the call."""

    def __init__(self, seq: int, service: str, method: str, request_id: str, at: float) -> None:
        self.fields: dict[str, Any] = {
            "seq": seq,
            "time": at,
            "isoTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
            "service": service,
            "method": method,
            "requestId": request_id,
            "action": None,
            "jobId": None,
            "instanceId": None,
            "direction": None,
            "clientToken": None,
            "dbList": None,
            "params": {},
            "signature": None,
            "fault": None,
            "deduplicated": False,
            "outcome": None,
            "httpStatus": None,
        }

    def set(self, **fields: Any) -> None:
        self.fields.update(fields)

    @property
    def action(self) -> str | None:
        value = self.fields.get("action")
        return value if isinstance(value, str) else None


class CallLog:
    """Every request, newest last, capped at settings.maxCalls (oldest dropped)."""

    def __init__(self, entries: list[dict[str, Any]], limit: int) -> None:
        self._entries: deque[dict[str, Any]] = deque(entries, maxlen=limit)
        self._seq = max((int(e.get("seq", 0)) for e in entries), default=0)

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def append(self, record: CallRecord) -> None:
        self._entries.append(copy.deepcopy(record.fields))

    def entries(self, action: str | None = None) -> list[dict[str, Any]]:
        return [copy.deepcopy(e) for e in self._entries if action is None or e.get("action") == action]


def _highest_id(state: Mapping[str, Any]) -> int:
    """The highest generated id in a saved state (`<job>-sub-000042`), so a state saved by one
    emulator and loaded by the next (the CLI's local deployment) never gets a sub-task id twice."""
    highest = 0
    jobs = state.get("jobs")
    for job in jobs.values() if isinstance(jobs, Mapping) else []:
        subs = job.get("subSyncJobs") if isinstance(job, Mapping) else None
        for sub in subs if isinstance(subs, list) else []:
            tail = str(sub.get("subJobId", "") if isinstance(sub, Mapping) else "").rpartition("-")[2]
            if tail.isdigit():
                highest = max(highest, int(tail))
    return highest


class EmulatorCore:
    """State, lock and admin verbs; `server.EmulatorApp` runs requests against it."""

    def __init__(
        self,
        state: Mapping[str, Any] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self._id_counter = 0
        self._initial = copy.deepcopy(dict(state)) if state is not None else demo_state()
        self.nonces = NonceCache()
        self._install(self._initial)

    # ------------------------------------------------------------ loading

    def new_id(self) -> str:
        self._id_counter += 1
        return f"{self._id_counter:06d}"

    def _install(self, state: Mapping[str, Any]) -> None:
        """Parse everything first, then swap: a bad state leaves the current one untouched."""
        root = as_mapping(state, "state")
        now = self.clock()
        settings = EmulatorSettings.from_state(root.get("settings"))
        credentials = {
            str(ak): Credential.from_state(str(ak), raw)
            for ak, raw in opt_mapping(root, "credentials", "state").items()
        }
        dts = DtsBackend.from_state(root, settings, self.new_id)
        oss = OssBackend.from_state(root, now)
        faults_raw = root.get("faults", [])
        if not isinstance(faults_raw, list):
            raise state_error("faults", faults_raw, "a JSON array")
        faults = [
            Fault.from_state(raw, f"faults[{index}]", f"fault-{self.new_id()}")
            for index, raw in enumerate(faults_raw)
        ]
        calls_raw = root.get("calls", [])
        if not isinstance(calls_raw, list) or not all(isinstance(c, dict) for c in calls_raw):
            raise state_error("calls", calls_raw, "a JSON array of objects")
        self._id_counter = max(self._id_counter, _highest_id(root))
        self.extra = {k: copy.deepcopy(v) for k, v in root.items() if k not in _KNOWN_TOP_LEVEL}
        self.settings = settings
        self.credentials = credentials
        self.dts = dts
        self.oss = oss
        self.faults = FaultPlan(faults, settings.seed)
        self.calls = CallLog(copy.deepcopy(calls_raw), settings.max_calls)
        self.nonces.clear()

    # ------------------------------------------------------------ admin verbs

    def lookup_credential(self, access_key_id: str) -> Credential | None:
        return self.credentials.get(access_key_id)

    def get_state(self) -> dict[str, Any]:
        """The whole state; time-based modifications are advanced first so it is current."""
        with self.lock:
            self.dts.advance_all(self.clock())
            return {
                "credentials": {ak: c.to_state() for ak, c in self.credentials.items()},
                **self.dts.to_state(),
                **self.oss.to_state(),
                "faults": [fault.to_state() for fault in self.faults.faults],
                "calls": self.calls.entries(),
                "settings": self.settings.to_state(),
                **copy.deepcopy(self.extra),
            }

    def put_state(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Replace everything (missing sections become empty); returns the normalised state."""
        with self.lock:
            self._install(copy.deepcopy(dict(as_mapping(state, "state"))))
        return self.get_state()

    def reset(self) -> dict[str, Any]:
        """Back to the state the emulator was started with (calls and faults included)."""
        with self.lock:
            self._install(copy.deepcopy(self._initial))
        return self.get_state()

    def add_fault(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            fault = Fault.from_state(spec, "fault", f"fault-{self.new_id()}")
            return self.faults.add(fault).to_state()

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def add_hook(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            hook = self.dts.add_hook(Hook.from_state(spec, "hook"))
            return hook.to_state()

    def clear_hooks(self) -> None:
        with self.lock:
            self.dts.hooks.clear()

    def get_calls(self, action: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return self.calls.entries(action)


# ---------------------------------------------------------------- HTTP


def _admin_error(status: int, code: str, message: str) -> WireResponse:
    return json_response(status, {"Code": code, "Message": message})


def _body_json(request: WireRequest) -> Any:
    if not request.body:
        return {}
    try:
        return json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"Body is not JSON: {exc}") from exc


def handle_admin(core: EmulatorCore, request: WireRequest) -> WireResponse:
    """GET/PUT state, POST reset, POST/DELETE faults and hooks, GET calls (no signatures)."""
    route = request.raw_path[len(ADMIN_PREFIX) :].rstrip("/") or "/"
    method = request.method
    try:
        if route == "/state" and method == "GET":
            return json_response(200, core.get_state())
        if route == "/state" and method == "PUT":
            return json_response(200, core.put_state(_body_json(request)))
        if route == "/reset" and method == "POST":
            return json_response(200, core.reset())
        if route == "/calls" and method == "GET":
            action = dict(request.query_pairs()).get("action")
            return json_response(200, {"calls": core.get_calls(action)})
        if route in ("/faults", "/hooks") and method == "POST":
            spec = _body_json(request)
            items = spec if isinstance(spec, list) else [spec]
            add = core.add_fault if route == "/faults" else core.add_hook
            added = [add(as_mapping(item, route[1:])) for item in items]
            return json_response(200, {route[1:]: added})
        if route == "/faults" and method == "DELETE":
            core.clear_faults()
            return json_response(200, {"faults": []})
        if route == "/hooks" and method == "DELETE":
            core.clear_hooks()
            return json_response(200, {"hooks": []})
        if route == "/faults" and method == "GET":
            return json_response(200, {"faults": core.get_state()["faults"]})
        if route == "/hooks" and method == "GET":
            return json_response(200, {"hooks": core.get_state()["hooks"]})
    except ConfigurationError as exc:
        return _admin_error(400, "InvalidState", exc.message)
    except EmulatedApiError as exc:
        return _admin_error(400, exc.code, exc.message)
    except ValueError as exc:
        return _admin_error(400, "InvalidRequest", str(exc))
    return _admin_error(404, "NoSuchAdminRoute", f"No admin route {method} {request.raw_path}")
