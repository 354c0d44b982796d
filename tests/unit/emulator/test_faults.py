"""Injected faults: counts, every-Nth, seeded probability, latency, resets, token expiry, phases."""

from __future__ import annotations

from typing import Any

import pytest

from dts_change.core.errors import ConfigurationError
from dts_change.emulator.admin import EmulatorCore
from dts_change.emulator.faults import Fault, FaultPlan
from tests.unit.emulator.builders import Harness, base_state

DETAIL = {"DtsJobId": "dtsjob-demo"}
MODIFY = {"DtsInstanceId": "dtsins-demo", "DtsJobId": "dtsjob-demo"}


def codes(harness: Harness, n: int, action: str = "DescribeDtsJobDetail") -> list[str]:
    out = []
    for _ in range(n):
        response = harness.dts(action, DETAIL if action == "DescribeDtsJobDetail" else MODIFY)
        out.append("ok" if response.status == 200 else response.json()["Code"])
    return out


def test_fault_with_count_fires_that_many_times_then_goes(harness: Harness) -> None:
    harness.core.add_fault({"action": "DescribeDtsJobDetail", "code": "Throttling.User", "count": 2})
    assert codes(harness, 3) == ["Throttling.User", "Throttling.User", "ok"]
    assert harness.core.get_state()["faults"] == []


def test_fault_default_is_one_shot_with_documented_status(harness: Harness) -> None:
    harness.core.add_fault({"action": "DescribeDtsJobDetail", "code": "ServiceUnavailable"})
    first = harness.dts("DescribeDtsJobDetail", DETAIL)
    assert (first.status, first.json()["Code"]) == (500, "ServiceUnavailable")
    assert harness.dts("DescribeDtsJobDetail", DETAIL).status == 200


def test_fault_every_nth_call_fires_periodically(harness: Harness) -> None:
    harness.core.add_fault({"action": "*", "service": "dts", "code": "InternalError", "every": 2})
    assert codes(harness, 4) == ["ok", "InternalError", "ok", "InternalError"]


def test_fault_probability_is_reproducible_for_a_seed() -> None:
    def run() -> list[str]:
        harness = Harness(base_state())
        harness.core.add_fault(
            {"action": "DescribeDtsJobDetail", "code": "Throttling.User", "probability": 0.5}
        )
        return codes(harness, 20)

    first, second = run(), run()
    assert first == second
    assert 0 < first.count("Throttling.User") < 20


def test_fault_only_matches_its_action_and_job(harness: Harness) -> None:
    harness.core.add_fault({"action": "ModifyDtsJob", "jobId": "dtsjob-demo", "code": "Throttling.User"})
    assert codes(harness, 1) == ["ok"]
    assert harness.dts("ModifyDtsJob", MODIFY, form={"DbList": "{}"}).json()["Code"] == "Throttling.User"


def test_fault_retry_after_sets_header_for_throttling(harness: Harness) -> None:
    harness.core.add_fault({"action": "*", "code": "Throttling.User", "retryAfterSeconds": 3})
    response = harness.dts("DescribeDtsJobDetail", DETAIL)
    assert response.header("x-acs-retry-after") == "3000"  # milliseconds, as the official SDK reads it


def test_fault_latency_sleeps_then_answers(harness: Harness) -> None:
    harness.core.add_fault({"action": "*", "latencySeconds": 1.5})
    assert harness.dts("DescribeDtsJobDetail", DETAIL).status == 200
    assert harness.sleep.calls == [1.5]


def test_fault_reset_drops_the_connection_and_logs_it(harness: Harness) -> None:
    harness.core.add_fault({"action": "ModifyDtsJob", "reset": True})
    response = harness.dts("ModifyDtsJob", MODIFY, form={"DbList": "{}"})
    assert response.reset is True
    call = harness.calls()[-1]
    assert (call["outcome"], call["fault"]["reset"]) == ("connection-reset", True)
    assert harness.core.get_state()["jobs"]["dtsjob-demo"]["status"] == "Synchronizing"


def test_fault_after_phase_applies_the_request_then_loses_the_answer(harness: Harness) -> None:
    # GIVEN a fault that answers 500 after the modification was applied
    harness.core.add_fault({"action": "ModifyDtsJob", "code": "InternalError", "phase": "after"})
    form = {"DbList": "{}"}
    response = harness.dts("ModifyDtsJob", {**MODIFY, "ClientToken": "t"}, form=form)
    # THEN the caller saw an error but the job is Modifying; a retry with the token is deduplicated
    assert response.status == 500
    assert harness.core.get_state()["jobs"]["dtsjob-demo"]["status"] == "Modifying"
    retry = harness.dts("ModifyDtsJob", {**MODIFY, "ClientToken": "t"}, form=form)
    assert retry.status == 200
    assert harness.calls("ModifyDtsJob")[-1]["deduplicated"] is True


def test_fault_token_expiry_answers_expired_for_dts_and_oss(harness: Harness) -> None:
    harness.core.add_fault({"service": "dts", "tokenExpiry": True})
    harness.core.add_fault({"service": "oss", "tokenExpiry": True})
    dts = harness.dts("DescribeDtsJobDetail", DETAIL)
    oss = harness.oss("GET", "dts-changes", "changes/0001.json")
    assert (dts.status, dts.json()["Code"]) == (403, "InvalidSecurityToken.Expired")
    assert oss.status == 403
    assert b"<Code>SecurityTokenExpired</Code>" in oss.body


def test_fault_on_oss_action_uses_oss_statuses(harness: Harness) -> None:
    harness.core.add_fault({"action": "PutObject", "code": "InternalError"})
    response = harness.oss("PUT", "dts-changes", "k", body=b"x")
    assert response.status == 500
    assert b"<Code>InternalError</Code>" in response.body


@pytest.mark.parametrize(
    "spec",
    [
        {"action": "*"},
        {"code": "Made.Up"},
        {"code": "Throttling.User", "probability": 2},
        {"code": "Throttling.User", "phase": "during"},
    ],
)
def test_fault_invalid_spec_is_refused_with_its_location(spec: dict[str, Any]) -> None:
    core = EmulatorCore(base_state())
    with pytest.raises(ConfigurationError) as raised:
        core.add_fault(spec)
    assert raised.value.message.startswith("Invalid emulator state at fault")


def test_fault_plan_decision_combines_latency_and_first_error() -> None:
    plan = FaultPlan([], seed=0)
    plan.add(Fault("a", latency_seconds=1.0, count=1))
    plan.add(Fault("b", error_code="Throttling.User", latency_seconds=0.5, count=1))
    decision = plan.decide("dts", "ModifyDtsJob", None)
    assert decision is not None
    assert decision.latency_seconds == 1.5
    assert decision.error is not None and decision.error.code == "Throttling.User"
    assert decision.fault_ids == ["a", "b"]


def test_fault_key_contains_matches_only_oss_calls_on_such_keys() -> None:
    plan = FaultPlan([Fault("f", service="oss", key_contains="leases/", error_code="InternalError", count=5)], seed=0)
    assert plan.decide("oss", "PutObject", None, "ledger/changes/abc/000000.json") is None
    assert plan.decide("dts", "PutObject", None, None) is None
    hit = plan.decide("oss", "PutObject", None, "ledger/leases/job/000000000001.json")
    assert hit is not None and hit.fault_ids == ["f"]
    assert Fault.from_state({"keyContains": "leases/", "code": "InternalError"}, "f", "d").to_state()["keyContains"] == "leases/"
