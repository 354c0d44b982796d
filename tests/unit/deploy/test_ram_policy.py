"""docs/ram-policy.json: the function role's policy grants what the code calls, and nothing more."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from .code_actions import (
    constant_actions,
    dts_action_universe,
    dts_actions_called,
    oss_actions_called,
    oss_operation_universe,
)
from .deploy_checks import REPO_ROOT, SRC_DIR, fc_function_name, parse_oss_url

POLICY = REPO_ROOT / "docs" / "ram-policy.json"
CLIENTS = SRC_DIR / "dts_change" / "clients"
EXPECTED_ACTIONS = {
    "dts:DescribeDtsJobDetail",
    "dts:DescribeDtsJobs",
    "dts:ModifyDtsJob",
    "oss:GetObject",
    "oss:PutObject",
    "oss:DeleteObject",
    "oss:ListObjects",
    "oss:GetBucketVersioning",
    "fc:InvokeFunction",
    "log:PostLogStoreLogs",
}
# What fc3's `logConfig: auto` names (devsapp/fc3 src/resources/sls): current releases use the
# project `<account>-<region>-project` and the logstore `function-logstore`; earlier 3.x releases
# `<account>-<region>-logproject` and `fc-v3-<function name>-logstore`.
AUTO_LOG_TARGETS = (
    ("1111222233334444-cn-hangzhou-project", "function-logstore"),
    ("1111222233334444-cn-hangzhou-logproject", "fc-v3-{function}-logstore"),
)


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(POLICY.read_text(encoding="utf-8"))
    return data


def statements_with(policy: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in policy["Statement"] if action in s["Action"]]


def resources_for(policy: dict[str, Any], action: str) -> set[str]:
    return {r for s in statements_with(policy, action) for r in as_list(s["Resource"])}


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def granted_actions(policy: dict[str, Any]) -> set[str]:
    return {a for s in policy["Statement"] for a in as_list(s["Action"])}


def read_sources(paths: list[Path]) -> list[str]:
    return [p.read_text(encoding="utf-8") for p in paths]


# ------------------------------------------------------------------ shape


def test_ram_policy_is_version_1_allow_only(policy: dict[str, Any]) -> None:
    assert policy["Version"] == "1"
    assert policy["Statement"]
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}
        assert statement["Resource"]


def test_ram_policy_grants_exactly_the_expected_actions(policy: dict[str, Any]) -> None:
    actions = granted_actions(policy)
    assert actions == EXPECTED_ACTIONS
    assert not [a for a in actions if "*" in a]


# ------------------------------------------------------------------ resources match s.yaml


def test_ram_policy_oss_resources_follow_s_yaml_prefixes(
    policy: dict[str, Any], function_props: dict[str, Any]
) -> None:
    # GIVEN the bucket and prefixes s.yaml deploys with its defaults
    env = function_props["environmentVariables"]
    bucket, ledger = parse_oss_url(env["DTS_CHANGE_LEDGER"])
    _, dead_letter = parse_oss_url(env["DTS_CHANGE_DEAD_LETTER"])
    (change_prefix,) = {
        t["triggerConfig"]["filter"]["key"]["prefix"]
        for t in function_props["triggers"]
        if t["triggerType"] == "oss"
    }
    writes = {f"acs:oss:*:*:{bucket}/{ledger}*", f"acs:oss:*:*:{bucket}/{dead_letter}*"}
    # THEN reads cover changes and write prefixes, writes and deletes only the write prefixes
    assert resources_for(policy, "oss:GetObject") == writes | {f"acs:oss:*:*:{bucket}/{change_prefix}*"}
    assert resources_for(policy, "oss:PutObject") == writes
    assert resources_for(policy, "oss:DeleteObject") == writes


def test_ram_policy_list_objects_limited_by_prefix_condition(
    policy: dict[str, Any], function_props: dict[str, Any]
) -> None:
    env = function_props["environmentVariables"]
    bucket, ledger = parse_oss_url(env["DTS_CHANGE_LEDGER"])
    _, dead_letter = parse_oss_url(env["DTS_CHANGE_DEAD_LETTER"])
    (statement,) = statements_with(policy, "oss:ListObjects")
    assert as_list(statement["Action"]) == ["oss:ListObjects"]
    assert as_list(statement["Resource"]) == [f"acs:oss:*:*:{bucket}"]
    prefixes = set(statement["Condition"]["StringLike"]["oss:Prefix"])
    assert prefixes == {f"{ledger}*", f"{dead_letter}*"}


def test_ram_policy_bucket_versioning_read_only_on_the_stores_bucket(
    policy: dict[str, Any], function_props: dict[str, Any]
) -> None:
    bucket, _ = parse_oss_url(function_props["environmentVariables"]["DTS_CHANGE_LEDGER"])
    (statement,) = statements_with(policy, "oss:GetBucketVersioning")
    assert as_list(statement["Action"]) == ["oss:GetBucketVersioning"]
    assert as_list(statement["Resource"]) == [f"acs:oss:*:*:{bucket}"]


def test_ram_policy_invokes_only_the_failure_function(
    policy: dict[str, Any], function_props: dict[str, Any], failure_props: dict[str, Any]
) -> None:
    # FC sends a failed asynchronous event to the onFailure destination with the function's role.
    destination = function_props["asyncInvokeConfig"]["destinationConfig"]["onFailure"]["destination"]
    resources = resources_for(policy, "fc:InvokeFunction")
    assert {fc_function_name(r) for r in resources} == {fc_function_name(destination)}
    assert fc_function_name(destination) == failure_props["functionName"]


def ram_match(pattern: str, resource: str) -> bool:
    """RAM resource matching: `*` stands for any run of characters (also across ':' and '/')."""
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), resource) is not None


def test_ram_policy_lets_both_functions_write_their_auto_logs(
    policy: dict[str, Any], function_props: dict[str, Any], failure_props: dict[str, Any]
) -> None:
    # GIVEN logConfig: auto on both functions, which run with this role
    assert function_props["logConfig"] == failure_props["logConfig"] == "auto"
    patterns = resources_for(policy, "log:PostLogStoreLogs")
    for props in (function_props, failure_props):
        for project, logstore in AUTO_LOG_TARGETS:
            target = (
                f"acs:log:cn-hangzhou:1111222233334444:project/{project}/logstore/"
                f"{logstore.format(function=props['functionName'])}"
            )
            # THEN the logstore fc3 creates for it is writable
            assert any(ram_match(p, target) for p in patterns), target
    # AND nothing but a function logstore is
    for other in ("project/x-project/logstore/audit", "project/prod/logstore/function-logstore"):
        assert not any(ram_match(p, f"acs:log:cn-hangzhou:1:{other}") for p in patterns)


def test_ram_policy_dts_actions_in_their_own_statement(policy: dict[str, Any]) -> None:
    (statement,) = statements_with(policy, "dts:ModifyDtsJob")
    assert all(a.startswith("dts:") for a in as_list(statement["Action"]))


# ------------------------------------------------------------------ covers what the code calls


def test_ram_policy_covers_every_dts_action_the_clients_call(policy: dict[str, Any]) -> None:
    dts_client = CLIENTS / "dts.py"
    if not dts_client.is_file():
        pytest.xfail("src/dts_change/clients/dts.py is not written yet")
    universe = dts_action_universe()
    assert universe, "official DTS SDK missing: it lists the DTS action names"
    called = dts_actions_called(read_sources(sorted(CLIENTS.glob("*.py"))), universe)
    assert "dts:ModifyDtsJob" in called  # the scan found the client's calls at all
    assert called - granted_actions(policy) == set()


def test_ram_policy_covers_every_oss_operation_the_clients_use(policy: dict[str, Any]) -> None:
    oss_clients = sorted(CLIENTS.glob("oss*.py"))
    if not oss_clients:
        pytest.xfail("src/dts_change/clients/oss.py is not written yet")
    used = oss_actions_called(read_sources(oss_clients), oss_operation_universe())
    assert {"oss:GetObject", "oss:PutObject"} <= used  # the scan found the client's calls at all
    assert used - granted_actions(policy) == set()


def test_dts_actions_called_unlisted_action_reported() -> None:
    # GIVEN a client that also polls the precheck, named as a constant and as a call
    source = (
        '"""Mentions StopDtsJob in a docstring only."""\n'
        'DTS_ACTIONS = ("DescribeDtsJobDetail",)\n'
        'def precheck(c):\n    return c.call("DescribePreCheckStatus", {"DtsJobId": "x"})\n'
    )
    universe = frozenset({"DescribeDtsJobDetail", "DescribePreCheckStatus", "StopDtsJob"})
    # THEN both are found, the docstring mention and the parameter names are not
    assert dts_actions_called([source], universe) == {
        "dts:DescribeDtsJobDetail",
        "dts:DescribePreCheckStatus",
    }
    assert constant_actions(source) == {"DescribeDtsJobDetail"}


def test_oss_actions_called_acl_and_post_reported() -> None:
    source = (
        "def put_acl(s, url):\n"
        '    return s.request("PUT", url, params={"acl": ""})\n'
        "def batch(s, url):\n"
        '    return s.post(url, params={"delete": ""})\n'
        "def listing(s, url):\n"
        '    return s.request("GET", url, params={"list-type": "2"})\n'
    )
    used = oss_actions_called([source])
    assert {"oss:PutObjectAcl", "oss:ListObjects", "oss:DeleteObject"} <= used
    assert any(a.startswith("oss:PostObject") for a in used)


def test_oss_actions_called_unmapped_operation_name_reported() -> None:
    source = 'def restore(c, b, k):\n    return c._request("POST", "RestoreObject", b, k)\n'
    used = oss_actions_called([source], frozenset({"RestoreObject", "GetObject"}))
    assert "oss:RestoreObject" in used


def test_dts_action_universe_read_from_official_sdk() -> None:
    universe = dts_action_universe()
    if not universe:
        pytest.skip("official DTS SDK not installed")
    assert {"ModifyDtsJob", "DescribeDtsJobDetail", "DescribeDtsJobs"} <= universe
    assert "ModifyTypeEnum" not in universe


def test_ram_trust_policy_lets_only_function_compute_assume_the_role() -> None:
    trust = json.loads((REPO_ROOT / "docs" / "ram-trust-policy.json").read_text(encoding="utf-8"))
    assert trust["Version"] == "1"
    (statement,) = trust["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"Service": ["fc.aliyuncs.com"]}
