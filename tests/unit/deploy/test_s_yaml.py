"""s.yaml: valid for the fc3 component, strict where its schema is loose, and safe to deploy."""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import re
from typing import Any

import pytest

from .deploy_checks import (
    FAILURE_RESOURCE,
    HANDLER_RESOURCE,
    REPO_ROOT,
    SRC_DIR,
    PlaceholderError,
    Resolver,
    async_range_problems,
    dead_letter_loops,
    dead_letter_queues,
    failure_routing_problems,
    oss_trigger_prefixes,
    parse_oss_url,
    prefix_overlaps,
    resolve_document,
    schema_errors,
    trigger_config_problems,
    unknown_keys,
)

# The configuration contract of the handler (issue 5): the names a deployment sets.
CONTRACT_ENV_NAMES = {
    "DTS_REGION",
    "DTS_JOB_ID",
    "DTS_INSTANCE_ID",
    "DTS_CHANGE_ROUTES",
    "DTS_CHANGE_ALLOWED_BUCKETS",
    "DTS_CHANGE_LEDGER",
    "DTS_CHANGE_DEAD_LETTER",
    "DTS_CHANGE_DRY_RUN",
    "DTS_CHANGE_MAX_AGE_SECONDS",
    "DTS_CHANGE_LOG_LEVEL",
    "OSS_REGION",
}
WRITE_PREFIX_ENV_NAMES = ("DTS_CHANGE_LEDGER", "DTS_CHANGE_DEAD_LETTER")
OSS_CREATE_EVENTS = [
    "oss:ObjectCreated:PutObject",
    "oss:ObjectCreated:PostObject",
    "oss:ObjectCreated:CompleteMultipartUpload",
]
ACCEPTED_SUFFIXES = {".json", ".txt", ".sql"}
SECRET_PATTERNS = [
    re.compile(r"ALIBABA_CLOUD_"),
    re.compile(r"\bLTAI[0-9A-Za-z]{8,}"),  # AccessKey id shape
    re.compile(r"(?i)access_?key_?(id|secret)\s*:"),
    re.compile(r"(?i)security_?token\s*:"),
    re.compile(r"(?i)password\s*:"),
]


def triggers_of(props: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [t for t in props["triggers"] if t["triggerType"] == kind]


# ------------------------------------------------------------------ shape and placeholders


def test_s_yaml_top_level_is_serverless_devs_3_with_handler_and_failure_function(
    s_yaml_raw: dict[str, Any],
) -> None:
    assert s_yaml_raw["edition"] == "3.0.0"
    assert s_yaml_raw["name"]
    resources = s_yaml_raw["resources"]
    assert {name: r["component"] for name, r in resources.items()} == {
        FAILURE_RESOURCE: "fc3",
        HANDLER_RESOURCE: "fc3",
    }
    # The failure function is declared first: the handler's onFailure destination names it.
    assert list(resources) == [FAILURE_RESOURCE, HANDLER_RESOURCE]


def test_s_yaml_placeholders_resolve_with_safe_defaults(s_yaml_raw: dict[str, Any]) -> None:
    # WHEN every ${...} is resolved as a fresh deployer would get it
    resolved, resolver = resolve_document(s_yaml_raw)
    # THEN nothing is left unresolved and every env() has a default
    assert "${" not in json.dumps(resolved)
    assert resolver.env_defaults
    assert all(default is not None for default in resolver.env_defaults.values())


def test_resolver_unknown_placeholder_rejected() -> None:
    resolver = Resolver(raw_vars={"region": "cn-hangzhou"})
    with pytest.raises(PlaceholderError, match=r"var\.region"):
        resolver.resolve("${var.region}")
    with pytest.raises(PlaceholderError, match="no default"):
        resolver.resolve("${env('DTS_JOB_ID')}")


def test_resolver_whole_placeholder_keeps_type_and_partial_interpolates() -> None:
    resolver = Resolver(raw_vars={"n": 1, "bucket": "${env('B', 'b1')}"})
    assert resolver.resolve("${vars.n}") == 1
    assert resolver.resolve("oss://${vars.bucket}/x/") == "oss://b1/x/"
    assert resolver.resolve("acs:ram::${config('AccountID')}:role/r") == ("acs:ram::1111222233334444:role/r")


# ------------------------------------------------------------------ fc3 schema, made strict


def test_s_yaml_props_validate_against_fc3_schema(
    function_props: dict[str, Any], failure_props: dict[str, Any], fc3_schema: dict[str, Any]
) -> None:
    for props in (function_props, failure_props):
        assert schema_errors(props, fc3_schema, fc3_schema) == []


def test_s_yaml_props_have_no_keys_outside_fc3_schema(
    function_props: dict[str, Any], failure_props: dict[str, Any], fc3_schema: dict[str, Any]
) -> None:
    for props in (function_props, failure_props):
        assert unknown_keys(props, fc3_schema, fc3_schema) == []


def test_unknown_keys_typo_in_props_reported(
    function_props: dict[str, Any], fc3_schema: dict[str, Any]
) -> None:
    # GIVEN the real props with a misspelt key, a nested one and one inside a trigger
    broken = copy.deepcopy(function_props)
    broken["memorysize"] = 512
    broken["instanceLifecycleConfig"]["initializer"]["timout"] = 30
    broken["triggers"][0]["triggerCfg"] = {}
    # WHEN walked against the schema (which alone would accept all three)
    problems = unknown_keys(broken, fc3_schema, fc3_schema)
    # THEN each is named by its path
    assert schema_errors(broken, fc3_schema, fc3_schema) == []
    assert sorted(problems) == [
        "props.instanceLifecycleConfig.initializer.timout",
        "props.memorysize",
        "props.triggers[0].triggerCfg",
    ]


def test_s_yaml_trigger_configs_match_their_trigger_type(
    function_props: dict[str, Any], failure_props: dict[str, Any], fc3_schema: dict[str, Any]
) -> None:
    triggers = function_props["triggers"] + failure_props["triggers"]
    problems = [p for t in triggers for p in trigger_config_problems(t, fc3_schema)]
    assert problems == []


def test_trigger_config_problems_timer_config_under_oss_reported(
    fc3_schema: dict[str, Any],
) -> None:
    # GIVEN a timer's config under an oss trigger (the schema's anyOf accepts it)
    trigger = {
        "triggerName": "t",
        "triggerType": "oss",
        "triggerConfig": {"cronExpression": "@every 1m", "enable": True},
    }
    assert schema_errors(trigger, fc3_schema["definitions"]["ITrigger"], fc3_schema) == []
    # WHEN checked against the oss definition
    problems = trigger_config_problems(trigger, fc3_schema)
    # THEN the missing oss keys and the foreign timer keys are both reported
    text = "\n".join(problems)
    assert "'events' is a required property" in text
    assert "triggerConfig.cronExpression" in text


def test_trigger_config_problems_eventbridge_typo_reported(
    function_props: dict[str, Any], fc3_schema: dict[str, Any]
) -> None:
    trigger = copy.deepcopy(triggers_of(function_props, "eventbridge")[0])
    trigger["triggerConfig"]["runOptions"]["batchWindows"] = {"CountBasedWindow": 5}
    trigger["triggerConfig"]["runOptions"]["batchWindow"]["TimeBasedWindow"] = 60
    text = "\n".join(trigger_config_problems(trigger, fc3_schema))
    assert "'batchWindows' was unexpected" in text
    assert "60 is greater than the maximum of 15" in text


def test_s_yaml_async_invoke_config_within_api_ranges(
    function_props: dict[str, Any], failure_props: dict[str, Any]
) -> None:
    assert async_range_problems(function_props) == []
    assert async_range_problems(failure_props) == []


def test_async_range_problems_event_age_over_api_limit_reported(
    function_props: dict[str, Any], fc3_schema: dict[str, Any]
) -> None:
    # GIVEN values the component schema accepts but the FC API does not
    broken = copy.deepcopy(function_props)
    broken["asyncInvokeConfig"]["maxAsyncEventAgeInSeconds"] = 2592000
    broken["asyncInvokeConfig"]["maxAsyncRetryAttempts"] = 8.5
    assert not any("maxAsyncEventAge" in e for e in schema_errors(broken, fc3_schema, fc3_schema))
    # THEN our range check rejects both
    problems = async_range_problems(broken)
    assert len(problems) == 2
    assert "604800" in problems[1]


# ------------------------------------------------------------------ the function itself


def test_s_yaml_function_runtime_code_and_limits_are_explicit(
    function_props: dict[str, Any],
) -> None:
    assert function_props["runtime"] == "python3.10"
    assert function_props["code"] == "./build/code"
    assert function_props["handler"] == "index.handler"
    initializer = function_props["instanceLifecycleConfig"]["initializer"]
    assert initializer["handler"] == "index.initialize"
    assert 1 <= initializer["timeout"] <= function_props["timeout"]
    assert isinstance(function_props["timeout"], int) and function_props["timeout"] >= 60
    assert function_props["memorySize"] >= 256
    assert function_props["logConfig"] == "auto"
    assert function_props["role"]


def test_s_yaml_environment_uses_contract_names_only(function_props: dict[str, Any]) -> None:
    env = function_props["environmentVariables"]
    assert set(env) == CONTRACT_ENV_NAMES
    assert all(isinstance(v, str) for v in env.values())
    assert not [k for k in env if k.startswith(("FC_", "ALIBABA_CLOUD_"))]
    assert parse_oss_url(env["DTS_CHANGE_LEDGER"])[1] == "dts-change/ledger/"
    assert parse_oss_url(env["DTS_CHANGE_DEAD_LETTER"])[1] == "dts-change/dead-letter/"
    assert env["DTS_CHANGE_DRY_RUN"] in {"true", "false"}
    assert int(env["DTS_CHANGE_MAX_AGE_SECONDS"]) > 0
    assert json.loads(env["DTS_CHANGE_ROUTES"]) == []


def test_s_yaml_contains_no_secrets(s_yaml_text: str) -> None:
    found = [p.pattern for p in SECRET_PATTERNS if p.search(s_yaml_text)]
    assert found == []


def test_s_yaml_timer_pass_never_takes_the_slot_of_a_synchronous_invoke(function_props: dict[str, Any]) -> None:
    # One slot for the timer pass, one for asynchronous events, one for a synchronous `s invoke`;
    # a pass ends (timeout) before the next tick, so timer passes never hold two slots.
    assert function_props["concurrencyConfig"]["reservedConcurrency"] == 3
    (timer,) = triggers_of(function_props, "timer")
    match = re.fullmatch(r"@every (\d+)m", timer["triggerConfig"]["cronExpression"])
    assert match is not None
    assert function_props["timeout"] < int(match.group(1)) * 60


def test_s_yaml_failure_destination_is_the_failure_function(
    function_props: dict[str, Any], failure_props: dict[str, Any]
) -> None:
    destination = function_props["asyncInvokeConfig"]["destinationConfig"]["onFailure"]["destination"]
    assert re.fullmatch(r"acs:fc:cn-hangzhou:\d+:functions/dts-change-failures", destination)
    assert failure_props["handler"] == "index.on_failure"
    assert failure_props["code"] == function_props["code"]
    assert failure_props["runtime"] == function_props["runtime"]
    assert failure_props["role"] == function_props["role"]
    env = failure_props["environmentVariables"]
    assert env["DTS_CHANGE_DEAD_LETTER"] == function_props["environmentVariables"]["DTS_CHANGE_DEAD_LETTER"]
    assert set(env) <= CONTRACT_ENV_NAMES


def test_s_yaml_every_failure_path_ends_in_the_failure_function(
    function_props: dict[str, Any], failure_props: dict[str, Any]
) -> None:
    assert failure_routing_problems(function_props, failure_props) == []


def test_failure_routing_problems_unread_queue_and_loop_reported(
    function_props: dict[str, Any], failure_props: dict[str, Any]
) -> None:
    # GIVEN a failure function that reads another queue and sends its own failures to itself
    broken = copy.deepcopy(failure_props)
    (bridge,) = triggers_of(broken, "eventbridge")
    bridge["triggerConfig"]["eventSourceConfig"]["eventSourceParameters"]["sourceMNSParameters"]["QueueName"] = "other"
    broken["asyncInvokeConfig"]["destinationConfig"] = {"onFailure": {"destination": "acs:fc:r:1:functions/x"}}
    text = "\n".join(failure_routing_problems(function_props, broken))
    assert "'dts-change-trigger-dead-letter' is read by no trigger of the failure function" in text
    assert "failures would loop" in text


# ------------------------------------------------------------------ triggers


def test_s_yaml_oss_triggers_one_per_suffix_under_change_prefix(
    function_props: dict[str, Any],
) -> None:
    oss = triggers_of(function_props, "oss")
    suffixes = [t["triggerConfig"]["filter"]["key"]["suffix"] for t in oss]
    assert sorted(suffixes) == sorted(ACCEPTED_SUFFIXES)
    assert {prefix for _, _, prefix in oss_trigger_prefixes(function_props)} == {"dts-change/incoming/"}
    for trigger in oss:
        assert trigger["triggerConfig"]["events"] == OSS_CREATE_EVENTS
        assert trigger["invocationRole"].endswith(":role/aliyunosseventnotificationrole")
    assert len(oss) <= 10  # native OSS triggers per bucket


def test_s_yaml_mns_topic_trigger_json_exponential_retry(function_props: dict[str, Any]) -> None:
    (topic,) = triggers_of(function_props, "mns_topic")
    assert topic["triggerConfig"] == {
        "notifyContentFormat": "JSON",
        "notifyStrategy": "EXPONENTIAL_DECAY_RETRY",
    }
    assert topic["sourceArn"].startswith("acs:mns:cn-hangzhou:")
    assert topic["invocationRole"].endswith(":role/aliyunmnsnotificationrole")


def test_s_yaml_eventbridge_trigger_batches_mns_queue_as_cloudevents(
    function_props: dict[str, Any],
) -> None:
    (bridge,) = triggers_of(function_props, "eventbridge")
    config = bridge["triggerConfig"]
    assert config["eventSourceConfig"]["eventSourceType"] == "MNS"
    assert config["eventSinkConfig"]["deliveryOption"] == {
        "mode": "event-streaming",
        "eventSchema": "CloudEvents",
    }
    assert config["runOptions"]["mode"] == "event-streaming"
    assert config["runOptions"]["batchWindow"]["CountBasedWindow"] > 1
    assert config["asyncInvocationType"] is True
    assert config["runOptions"]["deadLetterQueue"]["Arn"].startswith("acs:mns:")


def test_s_yaml_timer_trigger_runs_reconcile_every_two_minutes(function_props: dict[str, Any]) -> None:
    (timer,) = triggers_of(function_props, "timer")
    config = timer["triggerConfig"]
    assert config["cronExpression"] == "@every 2m"
    assert config["enable"] is True
    assert json.loads(config["payload"]) == {"action": "reconcile"}


# ------------------------------------------------------------------ no invocation loops


def test_s_yaml_write_prefixes_never_overlap_trigger_prefixes(
    function_props: dict[str, Any],
) -> None:
    assert prefix_overlaps(function_props, WRITE_PREFIX_ENV_NAMES) == []


@pytest.mark.parametrize(
    "ledger",
    ["oss://dts-change-config/dts-change/incoming/ledger/", "oss://dts-change-config/dts-change/"],
)
def test_prefix_overlaps_either_direction_reported(function_props: dict[str, Any], ledger: str) -> None:
    # GIVEN a ledger under the trigger prefix, or a ledger prefix that contains it
    broken = copy.deepcopy(function_props)
    broken["environmentVariables"]["DTS_CHANGE_LEDGER"] = ledger
    # THEN all three OSS triggers are reported for it
    problems = prefix_overlaps(broken, WRITE_PREFIX_ENV_NAMES)
    assert len(problems) == 3
    assert all(p.startswith("DTS_CHANGE_LEDGER prefix") for p in problems)


def test_s_yaml_dead_letter_queues_are_never_triggers(function_props: dict[str, Any]) -> None:
    assert dead_letter_loops(function_props) == []
    assert dead_letter_queues(function_props)  # the check had something to check


def test_dead_letter_loops_failure_queue_as_trigger_reported(
    function_props: dict[str, Any],
) -> None:
    # GIVEN the EventBridge trigger reading its own dead-letter queue
    broken = copy.deepcopy(function_props)
    (bridge,) = triggers_of(broken, "eventbridge")
    params = bridge["triggerConfig"]["eventSourceConfig"]["eventSourceParameters"]
    params["sourceMNSParameters"]["QueueName"] = "dts-change-trigger-dead-letter"
    # THEN the loop is reported
    assert dead_letter_loops(broken) == [
        "trigger mns-queue deadLetterQueue queue 'dts-change-trigger-dead-letter' is the source of trigger mns-queue"
    ]


# ------------------------------------------------------------------ the code it points at


def test_s_yaml_handler_and_initializer_resolve_to_functions(
    function_props: dict[str, Any], failure_props: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not (SRC_DIR / "index.py").is_file():
        pytest.xfail("src/index.py is not written yet: handler strings cannot be resolved")
    # GIVEN the code folder layout FC sees (index.py at the root, the package beside it)
    monkeypatch.syspath_prepend(str(SRC_DIR))
    targets = {
        function_props["handler"]: ("event", "context"),
        function_props["instanceLifecycleConfig"]["initializer"]["handler"]: ("context",),
        failure_props["handler"]: ("event", "context"),
    }
    for handler, args in targets.items():
        module_name, func_name = handler.rsplit(".", 1)
        # WHEN the handler string is resolved as the runtime does
        module = importlib.import_module(module_name)
        func = getattr(module, func_name, None)
        # THEN it is a function of src/index.py callable with FC's arguments
        assert module.__file__ is not None
        assert module.__file__.endswith("src/index.py")
        assert callable(func), f"{handler} is not a function"
        inspect.signature(func).bind(*args)


def test_s_yaml_deployer_variables_documented_in_deploying_md(
    s_yaml_resolved: tuple[dict[str, Any], Resolver], function_props: dict[str, Any]
) -> None:
    guide = (REPO_ROOT / "docs" / "deploying.md").read_text(encoding="utf-8")
    names = set(s_yaml_resolved[1].env_defaults) | set(function_props["environmentVariables"])
    names |= {"index.on_failure", "DTS_ENDPOINT"}
    missing = sorted(n for n in names if f"`{n}`" not in guide)
    assert missing == []


def test_s_yaml_environment_names_read_by_code(function_props: dict[str, Any]) -> None:
    config = SRC_DIR / "dts_change" / "app" / "settings.py"
    if not config.is_file():
        pytest.xfail("src/dts_change/app/settings.py is not written yet: names cannot be checked")
    code = "\n".join(p.read_text(encoding="utf-8") for p in (SRC_DIR / "dts_change").rglob("*.py"))
    unread = sorted(n for n in function_props["environmentVariables"] if f'"{n}"' not in code)
    assert unread == []


def test_s_yaml_environment_loads_into_settings_inside_fc(function_props: dict[str, Any]) -> None:
    config = SRC_DIR / "dts_change" / "app" / "settings.py"
    if not config.is_file():
        pytest.xfail("src/dts_change/app/settings.py is not written yet")
    from dts_change.app.settings import Settings

    # GIVEN the environment FC would give the deployed function (defaults, no job configured)
    env = {
        **function_props["environmentVariables"],
        "FC_FUNCTION_NAME": function_props["functionName"],
        "FC_REGION": function_props["region"],
    }
    # WHEN the handler reads its settings
    settings = Settings.from_env(env)
    # THEN they are accepted as FC settings, with OSS storage and no default job
    assert settings.in_fc
    assert settings.ledger_url == "oss://dts-change-config/dts-change/ledger/"
    assert settings.dead_letter_url == "oss://dts-change-config/dts-change/dead-letter/"
    assert settings.default_job_id is None
    assert settings.dry_run is False
