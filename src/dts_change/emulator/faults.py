"""Injected faults: errors, latency, connection resets and token expiry, per action.

A fault fires for the next `count` matching calls, for every `every`-th one, or with a
`probability` drawn from the emulator's seeded RNG (`settings.seed`), so a run is reproducible.
`phase: "after"` applies the request first and then loses the answer (error or reset): the
ambiguous case that ClientToken deduplication exists for.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dts_change.emulator.state_fields import (
    as_mapping,
    choice,
    opt_bool,
    opt_int,
    opt_number,
    opt_str,
    req_number,
    state_error,
)
from dts_change.emulator.wire_errors import (
    EmulatedApiError,
    InvalidSecurityTokenExpiredError,
    SecurityTokenExpiredError,
    injected_error,
    is_known_code,
)


@dataclass
class Fault:
    """One injection rule; `count` counts down as it fires and the rule goes when it hits 0."""

    fault_id: str
    action: str = "*"
    service: str | None = None
    job_id: str | None = None
    key_contains: str | None = None
    param_contains: str | None = None
    error_code: str | None = None
    http_status: int | None = None
    message: str | None = None
    retry_after_seconds: float | None = None
    token_expiry: bool = False
    reset: bool = False
    latency_seconds: float = 0.0
    phase: str = "before"
    probability: float | None = None
    count: int | None = None
    every: int | None = None
    matched: int = 0
    fired: int = 0

    @classmethod
    def from_state(cls, value: object, where: str, default_id: str) -> Fault:
        obj = as_mapping(value, where)
        error = obj.get("error")
        code = opt_str(obj, "code", None, where)
        status = opt_int(obj, "httpStatus", None, where, minimum=400)
        message = opt_str(obj, "message", None, where)
        if error is not None:
            spot = f"{where}.error"
            err = as_mapping(error, spot)
            code = opt_str(err, "code", code, spot)
            status = opt_int(err, "httpStatus", status, spot, minimum=400)
            message = opt_str(err, "message", message, spot)
        if code is not None and status is None and not is_known_code(code):
            raise state_error(f"{where}.httpStatus", None, f"given (code {code!r} is not a known code)")
        probability = opt_number(obj, "probability", None, where)
        if probability is not None and probability > 1:
            raise state_error(f"{where}.probability", probability, "a number between 0 and 1")
        count = opt_int(obj, "count", None, where, minimum=1)
        every = opt_int(obj, "every", None, where, minimum=1)
        if count is None and probability is None and every is None:
            count = 1
        fault = cls(
            fault_id=str(obj.get("id") or default_id),
            action=str(obj.get("action") or "*"),
            service=_service(obj, where),
            job_id=opt_str(obj, "jobId", None, where),
            key_contains=opt_str(obj, "keyContains", None, where),
            param_contains=opt_str(obj, "paramContains", None, where),
            error_code=code,
            http_status=status,
            message=message,
            retry_after_seconds=opt_number(obj, "retryAfterSeconds", None, where),
            token_expiry=opt_bool(obj, "tokenExpiry", False, where),
            reset=opt_bool(obj, "reset", False, where),
            latency_seconds=req_number(obj, "latencySeconds", 0.0, where),
            phase=choice(obj, "phase", "before", ("before", "after"), where),
            probability=probability,
            count=count,
            every=every,
            matched=opt_int(obj, "matched", 0, where) or 0,
            fired=opt_int(obj, "fired", 0, where) or 0,
        )
        if not (fault.error_code or fault.token_expiry or fault.reset or fault.latency_seconds):
            raise state_error(where, dict(obj), "a fault (give code, tokenExpiry, reset or latencySeconds)")
        return fault

    def to_state(self) -> dict[str, Any]:
        return {
            "id": self.fault_id,
            "action": self.action,
            "service": self.service,
            "jobId": self.job_id,
            "keyContains": self.key_contains,
            "paramContains": self.param_contains,
            "code": self.error_code,
            "httpStatus": self.http_status,
            "message": self.message,
            "retryAfterSeconds": self.retry_after_seconds,
            "tokenExpiry": self.token_expiry,
            "reset": self.reset,
            "latencySeconds": self.latency_seconds,
            "phase": self.phase,
            "probability": self.probability,
            "count": self.count,
            "every": self.every,
            "matched": self.matched,
            "fired": self.fired,
        }

    def matches(
        self,
        service: str,
        action: str | None,
        job_id: str | None,
        key: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> bool:
        if self.service is not None and self.service != service:
            return False
        if self.action not in ("*", action):
            return False
        if self.key_contains is not None and (key is None or self.key_contains not in key):
            return False
        if self.param_contains is not None and not any(self.param_contains in v for v in (params or {}).values()):
            return False
        return self.job_id is None or self.job_id == job_id

    def error_for(self, service: str) -> EmulatedApiError | None:
        if self.token_expiry:
            return InvalidSecurityTokenExpiredError() if service == "dts" else SecurityTokenExpiredError()
        if self.error_code is None:
            return None
        error = injected_error(service, self.error_code, http_status=self.http_status, message=self.message)
        if self.retry_after_seconds is not None:
            # Milliseconds, as the official SDK reads it (it sleeps that many ms); the unit is
            # undocumented (docs/emulator.md, "Assumptions").
            error.headers["x-acs-retry-after"] = f"{round(self.retry_after_seconds * 1000)}"
        return error


def _service(obj: Mapping[str, Any], where: str) -> str | None:
    value = obj.get("service")
    if value is None:
        return None
    if value not in ("dts", "oss"):
        raise state_error(f"{where}.service", value, "dts or oss")
    return str(value)


@dataclass
class FaultDecision:
    """What the matching faults want for this call: wait, then fail or drop, before or after."""

    latency_seconds: float = 0.0
    error: EmulatedApiError | None = None
    reset: bool = False
    phase: str = "before"
    fault_ids: list[str] = field(default_factory=list)

    def to_log(self) -> dict[str, Any]:
        return {
            "ids": list(self.fault_ids),
            "latencySeconds": self.latency_seconds,
            "code": None if self.error is None else self.error.code,
            "reset": self.reset,
            "phase": self.phase,
        }


class FaultPlan:
    """The active faults and the seeded RNG that decides probabilistic ones."""

    def __init__(self, faults: list[Fault], seed: int) -> None:
        self.faults = faults
        self.rng = random.Random(seed)

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def decide(
        self,
        service: str,
        action: str | None,
        job_id: str | None,
        key: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> FaultDecision | None:
        decision = FaultDecision()
        fired_any = False
        for fault in list(self.faults):
            if not fault.matches(service, action, job_id, key, params):
                continue
            fault.matched += 1
            if not self._fires(fault):
                continue
            fired_any = True
            fault.fired += 1
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
            decision.fault_ids.append(fault.fault_id)
            decision.latency_seconds += fault.latency_seconds
            if decision.error is None and not decision.reset:
                error = fault.error_for(service)
                if fault.reset or error is not None:
                    decision.reset = fault.reset
                    decision.error = None if fault.reset else error
                    decision.phase = fault.phase
        return decision if fired_any else None

    def _fires(self, fault: Fault) -> bool:
        if fault.every is not None and fault.matched % fault.every != 0:
            return False
        if fault.probability is not None:
            return self.rng.random() < fault.probability
        return True
