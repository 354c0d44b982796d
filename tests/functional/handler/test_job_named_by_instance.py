"""Review finding: a change that names its job by instance id (`{"dtsInstanceId": ...}`, docs
§2.1, or a route/default with only the instance id) is reconciled under the job key
`<instance id>/<direction>`, another key than a change naming the same DTS job by `dtsJobId`.
The two keys have their own leases and their own ledger order, so

1. a pass writes the job while another instance holds the job's lease (DESIGN: one writer per
   job; docs/reliability.md Timing 2: the lease is checked last before every ModifyDtsJob), and
2. a later change overtakes an earlier one (reliability check 3: the final list equals the
   initial list folded with the APPLIED changes in the ledger's seq order)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from dts_change.core.dblist import DbList
from tests.functional.reliability.checks import expected_db_list
from tests.harness import INSTANCE, JOB, JOB_KEY, fc_context, manual_change, oss_deployment, seed_state


def test_no_modify_while_another_instance_holds_the_jobs_lease(tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path)
    try:
        # GIVEN another instance holds the lease of job dtsjob1demo (mid-pass)
        other = deploy.new_app()
        other.ledger.acquire_lease(JOB_KEY, "other-instance", 600)
        # WHEN a change names that same job by its instance id
        deploy.invoke(manual_change("by-instance", job={"dtsInstanceId": INSTANCE}, add=["shop.t_inst"]))
        # THEN nothing is sent to DTS while the lease is held
        assert deploy.modify_calls() == [], [c.get("clientToken") for c in deploy.modify_calls()]
    finally:
        deploy.stop()


def test_a_later_change_naming_the_job_by_instance_does_not_overtake_an_earlier_one(tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path, seed_state(modifyDurationSeconds=0.0))
    try:
        initial = deploy.db_list()
        deploy.set_job(status="Modifying")  # busy: both changes are only recorded
        # GIVEN first a removal of shop.orders (job named by id), then its re-adding (the same job
        # named by instance id)
        deploy.invoke(manual_change("remove-orders", job={"dtsJobId": JOB}, remove=["shop.orders"]))
        deploy.invoke(manual_change("add-orders", job={"dtsInstanceId": INSTANCE}, add=["shop.orders"]))
        deploy.set_job(status="Synchronizing")
        # WHEN the timer passes run
        deploy.settle(passes=30)
        records = deploy.app.ledger.all_records()
        # THEN the final list is the ledger-order fold of the applied changes: orders listed
        expected, rejected = expected_db_list(initial, records)
        final = DbList.from_user(deploy.db_list())
        states = {r.change_id: r.state.value for r in records}
        assert rejected == [], (states, rejected)
        assert final == expected, (states, sorted(final.databases["shop"].table_map()))
    finally:
        deploy.stop()


# ---------------------------------------------------------------- one job key per DTS job (the fix)

def _dts_lookups(deploy: Any) -> int:
    return len(deploy.server.calls("DescribeDtsJobs"))


def test_a_change_named_by_instance_is_recorded_under_the_job_key_looked_up_once_per_instance(tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path)
    try:
        before = _dts_lookups(deploy)
        # WHEN two changes name the job by its instance id only
        first = deploy.invoke(manual_change("i-1", job={"dtsInstanceId": INSTANCE}, add=["shop.t_a"]))["changes"][0]
        second = deploy.invoke(manual_change("i-2", job={"dtsInstanceId": INSTANCE}, add=["shop.t_b"]))["changes"][0]
        # THEN both are recorded under the job's one key, with its job id, and applied
        assert (first["job"], second["job"]) == (JOB_KEY, JOB_KEY)
        records = {r.change_id: r for r in deploy.app.ledger.all_records()}
        assert {r.job_key for r in records.values()} == {JOB_KEY}
        assert records["i-1"].change["job"]["dtsJobId"] == JOB
        assert records["i-1"].change["job"]["dtsInstanceId"] == INSTANCE
        deploy.settle()
        assert {"t_a", "t_b"} <= set(deploy.db_list()["shop"]["Table"])
        # AND the instance was looked up once for this warm instance (the mapping never changes)
        assert _dts_lookups(deploy) - before == 1
    finally:
        deploy.stop()


def test_a_route_giving_only_the_instance_id_goes_through_the_same_lookup(tmp_path: Path) -> None:
    routes = json.dumps([{"topic": "dts-change-topic", "dtsInstanceId": INSTANCE}])
    deploy = oss_deployment(tmp_path, DTS_CHANGE_ROUTES=routes)
    try:
        event = {"TopicOwner": "1", "TopicName": "dts-change-topic", "MessageId": "M-route-1",
                 "Message": json.dumps({"add": ["shop.t_routed"]})}
        result = deploy.invoke(event)["changes"][0]
        assert result["job"] == JOB_KEY, result
        assert {r.job_key for r in deploy.app.ledger.all_records()} == {JOB_KEY}
    finally:
        deploy.stop()


def test_an_unknown_instance_is_a_dead_letter_naming_the_field_and_the_fix(tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path)
    try:
        result = deploy.invoke(manual_change("i-x", job={"dtsInstanceId": "dtsinstnope"}, add=["shop.t_x"]))
        change = result["changes"][0]
        # THEN nothing is recorded; the input is dead-lettered with what to fix
        assert change["outcome"] == "dead_lettered", change
        assert change["code"] == "job-not-found"
        assert "dtsInstanceId 'dtsinstnope'" in change["message"] and "the change's job" in change["message"]
        assert "dtsInstanceId" in change["hint"] and "replay" in change["hint"]
        assert deploy.app.ledger.all_records() == []
        assert [d.error["code"] for d in deploy.dead_letters()] == ["job-not-found"]
        assert deploy.modify_calls() == []
    finally:
        deploy.stop()


def test_a_transient_dts_error_fails_the_invocation_so_fc_retries_it(tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path)
    try:
        event = manual_change("i-retry", job={"dtsInstanceId": INSTANCE}, add=["shop.t_retry"])
        # GIVEN DescribeDtsJobs fails transiently
        deploy.server.add_fault({"action": "DescribeDtsJobs", "code": "ServiceUnavailable",
                                 "count": 1})
        # WHEN the change arrives: the invocation raises (retryable), nothing is recorded
        with pytest.raises(Exception) as raised:
            deploy.invoke(event)
        assert getattr(raised.value, "retryable", False) is True
        assert deploy.app.ledger.all_records() == [] and deploy.dead_letters() == []
        # AND FC's retry of the same event records it under the job key and applies it
        retried = deploy.invoke(event)["changes"][0]
        assert (retried["outcome"], retried["job"]) == ("submitted", JOB_KEY), retried
    finally:
        deploy.stop()


def test_job_and_instance_ids_that_disagree_are_refused(tmp_path: Path) -> None:
    state = seed_state()
    other = copy.deepcopy(state["jobs"][JOB])
    other["instanceId"] = "dtsinst2demo"
    state["jobs"]["dtsjob2demo"] = other
    deploy = oss_deployment(tmp_path, state)
    try:
        # WHEN a change names job 1 by id and job 2's instance
        change = deploy.invoke(manual_change(
            "mixed", job={"dtsJobId": JOB, "dtsInstanceId": "dtsinst2demo"}, add=["shop.t_mixed"]
        ))["changes"][0]
        # THEN it is refused clearly, nothing recorded or sent to either job
        assert (change["outcome"], change["code"]) == ("dead_lettered", "job-ids-disagree"), change
        assert "'dtsjob2demo'" in change["message"]
        assert deploy.app.ledger.all_records() == [] and deploy.modify_calls() == []
        # AND a pair that agrees is recorded under the job key
        ok = deploy.invoke(manual_change(
            "paired", job={"dtsJobId": JOB, "dtsInstanceId": INSTANCE}, add=["shop.t_paired"]
        ))["changes"][0]
        assert (ok["outcome"], ok["job"]) == ("submitted", JOB_KEY), ok
    finally:
        deploy.stop()


def test_a_plan_resolves_the_instance_and_writes_nothing(tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path, DTS_CHANGE_DRY_RUN="true")
    try:
        planned = deploy.app.handle(json.dumps(manual_change(
            "plan-i", job={"dtsInstanceId": INSTANCE}, add=["shop.t_plan"]
        )), fc_context())["changes"][0]
        assert (planned["outcome"], planned["job"]) == ("dry_run", JOB_KEY), planned
        unknown = deploy.app.handle(json.dumps(manual_change(
            "plan-x", job={"dtsInstanceId": "dtsinstnope"}, add=["shop.t_plan"]
        )), fc_context())["changes"][0]
        assert (unknown["outcome"], unknown["code"]) == ("dry_run", "job-not-found"), unknown
        assert deploy.app.ledger.all_records() == [] and deploy.dead_letters() == []
        assert deploy.modify_calls() == []
    finally:
        deploy.stop()
