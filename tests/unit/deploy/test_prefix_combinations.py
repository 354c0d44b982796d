"""Overridden prefixes: every combination of DEPLOY_*_PREFIX the guide allows, through s.yaml.

The guide lets a deployer set any of the three prefixes (and the bucket). For each combination,
s.yaml is resolved as `s deploy` would resolve it, and three checks must agree with a plain
oracle (two prefixes overlap when one starts with the other): the s.yaml loop check on both
functions, the deployer's preflight (`scripts/deploy_config.py check`), and the policy it prints.
"""

from __future__ import annotations

import importlib.util
import io
import itertools
import json
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .deploy_checks import (
    FAILURE_RESOURCE,
    HANDLER_RESOURCE,
    REPO_ROOT,
    fc3_resources,
    parse_oss_url,
    prefix_overlaps,
    resolve_document,
)

SCRIPT = REPO_ROOT / "scripts" / "deploy_config.py"
WRITE_ENV = ("DTS_CHANGE_LEDGER", "DTS_CHANGE_DEAD_LETTER")
# None = not set (s.yaml's default). The others are disjoint from, inside of, or around the
# defaults and each other, so every kind of overlap occurs somewhere in the product.
CHOICES: dict[str, tuple[str | None, ...]] = {
    "DEPLOY_CHANGE_PREFIX": (None, "changes/", "dts-change/", "dts-change/ledger/in/"),
    "DEPLOY_LEDGER_PREFIX": (None, "ledger/", "dts-change/incoming/ledger/", "changes/"),
    "DEPLOY_DEAD_LETTER_PREFIX": (None, "dlq/", "dts-change/", "ledger/dead/"),
}
COMBINATIONS = [
    {name: value for name, value in zip(CHOICES, values) if value is not None}
    for values in itertools.product(*CHOICES.values())
]


@pytest.fixture(scope="module")
def deploy_config() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dts_change_deploy_config", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def overlap(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


def effective(env: dict[str, str]) -> dict[str, str]:
    defaults = {
        "DEPLOY_CHANGE_PREFIX": "dts-change/incoming/",
        "DEPLOY_LEDGER_PREFIX": "dts-change/ledger/",
        "DEPLOY_DEAD_LETTER_PREFIX": "dts-change/dead-letter/",
    }
    return {**defaults, **env}


def resolved(s_yaml_raw: dict[str, Any], env: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    resources = fc3_resources(resolve_document(s_yaml_raw, env)[0])
    return resources[HANDLER_RESOURCE], resources[FAILURE_RESOURCE]


def test_combinations_cover_every_subset_and_both_outcomes() -> None:
    assert len(COMBINATIONS) == 4**3
    assert {frozenset(c) for c in COMBINATIONS} >= {frozenset(s) for r in range(4) for s in itertools.combinations(CHOICES, r)}
    outcomes = {any(overlap(a, b) for a, b in itertools.combinations(effective(c).values(), 2)) for c in COMBINATIONS}
    assert outcomes == {True, False}
    assert len(ACCEPTED) > 20


@pytest.mark.parametrize("env", COMBINATIONS, ids=lambda c: ",".join(f"{k[7:-7]}={v}" for k, v in c.items()) or "defaults")
def test_s_yaml_loop_checks_agree_with_the_oracle(
    s_yaml_raw: dict[str, Any], deploy_config: ModuleType, env: dict[str, str]
) -> None:
    prefixes = effective(env)
    change = prefixes["DEPLOY_CHANGE_PREFIX"]
    handler, failure = resolved(s_yaml_raw, env)
    # s.yaml wires the deployer's values through to both functions and the triggers
    assert parse_oss_url(handler["environmentVariables"]["DTS_CHANGE_LEDGER"])[1] == prefixes["DEPLOY_LEDGER_PREFIX"]
    assert failure["environmentVariables"]["DTS_CHANGE_DEAD_LETTER"] == handler["environmentVariables"]["DTS_CHANGE_DEAD_LETTER"]
    # WHEN the handler's and the failure function's writes are checked against the OSS triggers
    loops = prefix_overlaps(handler, WRITE_ENV) + prefix_overlaps(
        {**failure, "triggers": handler["triggers"]}, WRITE_ENV
    )
    # THEN a loop is reported exactly when a write prefix overlaps the change prefix
    writes_overlap = any(overlap(prefixes[n], change) for n in ("DEPLOY_LEDGER_PREFIX", "DEPLOY_DEAD_LETTER_PREFIX"))
    assert bool(loops) == writes_overlap
    # AND the preflight refuses exactly the combinations with any overlap (ledger/dead letters too)
    defaults = deploy_config.s_yaml_defaults((REPO_ROOT / "s.yaml").read_text(encoding="utf-8"))
    problems = deploy_config.prefix_problems(deploy_config.deploy_values(env, defaults))
    any_overlap = any(overlap(a, b) for a, b in itertools.combinations(prefixes.values(), 2))
    assert bool(problems) == any_overlap


ACCEPTED = [c for c in COMBINATIONS if not any(overlap(a, b) for a, b in itertools.combinations(effective(c).values(), 2))]


@pytest.mark.parametrize("env", ACCEPTED, ids=str)
def test_printed_policy_follows_the_overridden_prefixes(
    s_yaml_raw: dict[str, Any], deploy_config: ModuleType, env: dict[str, str]
) -> None:
    handler, _ = resolved(s_yaml_raw, {**env, "DEPLOY_BUCKET": "my-bucket"})
    out = io.StringIO()
    with redirect_stdout(out):
        assert deploy_config.main(["policy"], env={**env, "DEPLOY_BUCKET": "my-bucket"}) == 0
    policy = json.loads(out.getvalue())
    bucket, ledger = parse_oss_url(handler["environmentVariables"]["DTS_CHANGE_LEDGER"])
    _, dead = parse_oss_url(handler["environmentVariables"]["DTS_CHANGE_DEAD_LETTER"])
    (change,) = {t["triggerConfig"]["filter"]["key"]["prefix"] for t in handler["triggers"] if t["triggerType"] == "oss"}
    by_action: dict[str, set[str]] = {}
    for statement in policy["Statement"]:
        for action in statement["Action"]:
            by_action.setdefault(action, set()).update(statement["Resource"])
    writes = {f"acs:oss:*:*:{bucket}/{ledger}*", f"acs:oss:*:*:{bucket}/{dead}*"}
    assert bucket == "my-bucket"
    assert by_action["oss:GetObject"] == writes | {f"acs:oss:*:*:{bucket}/{change}*"}
    assert by_action["oss:PutObject"] == by_action["oss:DeleteObject"] == writes
    (listing,) = [s for s in policy["Statement"] if "oss:ListObjects" in s["Action"]]
    assert listing["Resource"] == [f"acs:oss:*:*:{bucket}"]
    assert set(listing["Condition"]["StringLike"]["oss:Prefix"]) == {f"{ledger}*", f"{dead}*"}
    assert "dts-change-config" not in out.getvalue()


@pytest.mark.parametrize("bad", ["", "no-slash", "/absolute/", "a//b/"])
def test_preflight_refuses_a_prefix_that_is_not_a_folder(deploy_config: ModuleType, bad: str) -> None:
    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        assert deploy_config.main(["check"], env={"DEPLOY_LEDGER_PREFIX": bad}) == 2
    assert "DEPLOY_LEDGER_PREFIX" in err.getvalue() and "ends with '/'" in err.getvalue()


def test_preflight_defaults_pass_and_name_every_value(deploy_config: ModuleType) -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert deploy_config.main(["check"], env={}) == 0
    assert "DEPLOY_CHANGE_PREFIX=dts-change/incoming/" in out.getvalue()
    assert out.getvalue().endswith("ok\n")


def test_preflight_reads_its_defaults_from_s_yaml(deploy_config: ModuleType, s_yaml_text: str) -> None:
    defaults = deploy_config.s_yaml_defaults(s_yaml_text)
    assert defaults["DEPLOY_BUCKET"] == "dts-change-config"
    assert set(deploy_config.PREFIX_NAMES) <= set(defaults)
    assert Path(deploy_config.S_YAML) == REPO_ROOT / "s.yaml"


def test_preflight_refuses_a_bucket_name_oss_would_refuse(deploy_config: ModuleType) -> None:
    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        assert deploy_config.main(["policy"], env={"DEPLOY_BUCKET": "My_Bucket"}) == 2
    assert "DEPLOY_BUCKET='My_Bucket' is not a bucket name" in err.getvalue()
