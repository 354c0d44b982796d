"""Checks behind the deployment tests: placeholder resolution for s.yaml, strict schema walks.

Kept apart from the tests so each check can also be proven on a broken sample (a check that
never fails proves nothing).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]

REPO_ROOT = Path(__file__).resolve().parents[3]
S_YAML = REPO_ROOT / "s.yaml"
SRC_DIR = REPO_ROOT / "src"
# Vendored with its licence and source commit (schemas/README.md): a fresh clone runs every check.
SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"
FC3_SCHEMA = SCHEMAS_DIR / "fc3-props.schema.json"
FC3_SCHEMA_SHA256 = "898f3c98627525d28323fe8bd575c64c8d91c2324b1ad448882e5a9487b7ed15"

SAMPLE_ACCOUNT_ID = "1111222233334444"
HANDLER_RESOURCE = "dts-change"
FAILURE_RESOURCE = "dts-change-failures"
FC3_RESOURCE_NAMES = (FAILURE_RESOURCE, HANDLER_RESOURCE)

# Each trigger type's config definition in the fc3 schema (ITrigger.triggerConfig is an anyOf
# over all of them, so on its own it accepts a timer config under an oss trigger).
TRIGGER_CONFIG_DEFINITIONS = {
    "oss": "IOssTriggerConfig",
    "timer": "ITimerTriggerConfig",
    "mns_topic": "IMnsTriggerConfig",
    "eventbridge": "IEventBridge",
    "http": "IHttpTriggerConfig",
    "log": "ILogTriggerConfig",
    "cdn_events": "ICdnTriggerConfig",
    "tablestore": "IOtsConfig",
}

# FC 3.0 PutAsyncInvokeConfig ranges (reference fc-platform.md §3; the fc3 schema allows an
# event age up to 2592000, the API only 604800).
MAX_ASYNC_RETRY_ATTEMPTS = (0, 8)
MAX_ASYNC_EVENT_AGE_SECONDS = (1, 604800)

# The fc3 schema leaves these EventBridge parts open (additionalProperties: true); this closes
# them with the keys and ranges the trigger docs list (reference fc-platform.md §2c, §3, §5.1),
# so a typo such as `batchWindows` fails here instead of being ignored by the cloud.
EVENTBRIDGE_MNS_OPEN_PARTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "eventSourceParameters": {
            "type": "object",
            "additionalProperties": False,
            "required": ["sourceMNSParameters"],
            "properties": {
                "sourceMNSParameters": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["QueueName"],
                    "properties": {
                        "QueueName": {"type": "string", "minLength": 1},
                        "IsBase64Decode": {"type": "boolean"},
                    },
                }
            },
        },
        "deliveryOption": {
            "type": "object",
            "additionalProperties": False,
            "required": ["mode", "eventSchema"],
            "properties": {
                "mode": {"enum": ["event-driven", "event-streaming"]},
                "eventSchema": {"enum": ["CloudEvents", "RawData"]},
            },
        },
        "runOptions": {
            "type": "object",
            "additionalProperties": False,
            "required": ["mode"],
            "properties": {
                "mode": {"enum": ["event-driven", "event-streaming"]},
                "errorsTolerance": {"enum": ["ALL", "NONE"]},
                "retryStrategy": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "PushRetryStrategy": {"enum": ["BACKOFF_RETRY", "EXPONENTIAL_DECAY_RETRY"]},
                        "MaximumRetryAttempts": {"type": "integer", "minimum": 0},
                        "MaximumEventAgeInSeconds": {"type": "integer", "minimum": 1},
                    },
                },
                "batchWindow": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["CountBasedWindow", "TimeBasedWindow"],
                    "properties": {
                        "CountBasedWindow": {"type": "integer", "minimum": 1, "maximum": 10000},
                        "TimeBasedWindow": {"type": "integer", "minimum": 0, "maximum": 15},
                    },
                },
                "deadLetterQueue": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["Arn"],
                    "properties": {"Arn": {"type": "string", "pattern": "^acs:mns:"}},
                },
            },
        },
    },
}

_PLACEHOLDER = re.compile(r"\$\{([^{}]+)\}")
_ENV_CALL = re.compile(
    r"""^env\(\s*(['"])(?P<name>[A-Za-z_][A-Za-z0-9_]*)\1\s*"""
    r"""(?:,\s*(['"])(?P<default>.*?)\3\s*)?\)$"""
)
_CONFIG_CALL = re.compile(r"""^config\(\s*(['"])(?P<key>\w+)\1\s*\)$""")
_VARS_REF = re.compile(r"^vars\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)$")


class PlaceholderError(ValueError):
    """A `${...}` expression the sample resolver does not know, or an env() without default."""


@dataclass
class Resolver:
    """Resolves Serverless Devs magic variables to sample values, recording what it saw.

    `${env('X', 'd')}` resolves to its default (the value a fresh deployer gets), `${config(
    'AccountID')}` to a sample account, `${vars.x}` to the resolved variable. A value that is
    exactly one placeholder keeps the variable's type (a number stays a number).
    """

    raw_vars: Mapping[str, Any]
    env: Mapping[str, str] = field(default_factory=dict)
    """The deployer's environment: a name set here wins over the env() default."""
    env_defaults: dict[str, str | None] = field(default_factory=dict)
    _vars: dict[str, Any] = field(default_factory=dict)
    _resolving: set[str] = field(default_factory=set)

    def var(self, name: str) -> Any:
        if name in self._vars:
            return self._vars[name]
        if name not in self.raw_vars:
            raise PlaceholderError(f"Unknown variable ${{vars.{name}}}: not defined under vars")
        if name in self._resolving:
            raise PlaceholderError(f"Variable cycle through vars.{name}")
        self._resolving.add(name)
        value = self.resolve(self.raw_vars[name])
        self._resolving.discard(name)
        self._vars[name] = value
        return value

    def expression(self, expr: str) -> Any:
        expr = expr.strip()
        if match := _VARS_REF.match(expr):
            return self.var(match.group("name"))
        if match := _ENV_CALL.match(expr):
            name, default = match.group("name"), match.group("default")
            self.env_defaults[name] = default
            if default is None:
                raise PlaceholderError(f"env({name!r}) has no default: expected a safe default")
            return self.env.get(name, default)
        if match := _CONFIG_CALL.match(expr):
            if match.group("key") != "AccountID":
                raise PlaceholderError(f"Unknown config key in ${{{expr}}}: expected AccountID")
            return SAMPLE_ACCOUNT_ID
        raise PlaceholderError(f"Unsupported placeholder ${{{expr}}}: expected vars/env/config")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, str):
            return value
        whole = _PLACEHOLDER.fullmatch(value)
        if whole:
            return self.expression(whole.group(1))
        return _PLACEHOLDER.sub(lambda m: str(self.expression(m.group(1))), value)


def resolve_document(
    doc: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], Resolver]:
    """The whole s.yaml with every placeholder replaced by its sample value (or by `env`'s)."""
    resolver = Resolver(raw_vars=doc.get("vars") or {}, env=dict(env or {}))
    resolved = resolver.resolve(dict(doc))
    return resolved, resolver


def fc3_resources(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Name -> props of every fc3 resource."""
    resources = doc.get("resources") or {}
    return {
        name: res.get("props") or {}
        for name, res in resources.items()
        if isinstance(res, dict) and res.get("component") == "fc3"
    }


# ------------------------------------------------------------------ strict schema walk


def _deref(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"Unsupported $ref {ref!r}: expected a local #/ reference")
        node: Any = root
        for part in ref[2:].split("/"):
            node = node[part]
        schema = node
    return schema


def _is_valid(instance: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> bool:
    with_defs = {**schema, "definitions": root.get("definitions", {})}
    return bool(jsonschema.Draft7Validator(with_defs).is_valid(instance))


def unknown_keys(
    instance: Any, schema: Mapping[str, Any], root: Mapping[str, Any], path: str = "props"
) -> list[str]:
    """Dotted paths of keys the schema does not define (it never says additionalProperties: false).

    A schema with `properties` is treated as closed unless `additionalProperties` is true or a
    schema; `anyOf` passes when one branch the instance validates against has no unknown keys.
    """
    schema = _deref(schema, root)
    if "anyOf" in schema:
        found: list[list[str]] = []
        for branch in schema["anyOf"]:
            branch = _deref(branch, root)
            if not _is_valid(instance, branch, root):
                continue
            branch_problems = unknown_keys(instance, branch, root, path)
            if not branch_problems:
                return []
            found.append(branch_problems)
        return min(found, key=len) if found else []
    problems: list[str] = []
    if isinstance(instance, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, value in instance.items():
            where = f"{path}.{key}"
            if props is not None and key in props:
                problems += unknown_keys(value, props[key], root, where)
            elif isinstance(extra, dict) and extra:
                problems += unknown_keys(value, extra, root, where)
            elif extra is True or (props is None and extra is None):
                continue
            else:
                problems.append(where)
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(instance):
            problems += unknown_keys(item, schema["items"], root, f"{path}[{index}]")
    return problems


def schema_errors(instance: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> list[str]:
    """jsonschema's own errors, one line each, with the failing path."""
    with_defs = {**schema, "definitions": root.get("definitions", {})}
    validator = jsonschema.Draft7Validator(with_defs)
    return [
        f"{'.'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
        for err in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    ]


def trigger_config_problems(trigger: Mapping[str, Any], root: Mapping[str, Any]) -> list[str]:
    """Check a trigger's config against the one definition its triggerType selects."""
    name = trigger.get("triggerName", "?")
    kind = trigger.get("triggerType")
    definition = TRIGGER_CONFIG_DEFINITIONS.get(str(kind))
    if definition is None:
        return [f"trigger {name}: unknown triggerType {kind!r}"]
    schema = root["definitions"][definition]
    config = trigger.get("triggerConfig")
    problems = [f"trigger {name}: {e}" for e in schema_errors(config, schema, root)]
    problems += [
        f"trigger {name}: key not in {definition}: {p}"
        for p in unknown_keys(config, schema, root, "triggerConfig")
    ]
    if kind == "eventbridge" and isinstance(config, dict):
        open_parts = {
            "eventSourceParameters": (config.get("eventSourceConfig") or {}).get("eventSourceParameters"),
            "deliveryOption": (config.get("eventSinkConfig") or {}).get("deliveryOption"),
            "runOptions": config.get("runOptions"),
        }
        problems += [
            f"trigger {name}: {e}" for e in schema_errors(open_parts, EVENTBRIDGE_MNS_OPEN_PARTS_SCHEMA, root)
        ]
    return problems


def async_range_problems(props: Mapping[str, Any]) -> list[str]:
    """The FC API's ranges for asyncInvokeConfig, tighter than the component schema's."""
    config = props.get("asyncInvokeConfig") or {}
    problems = []
    for key, (low, high) in (
        ("maxAsyncRetryAttempts", MAX_ASYNC_RETRY_ATTEMPTS),
        ("maxAsyncEventAgeInSeconds", MAX_ASYNC_EVENT_AGE_SECONDS),
    ):
        value = config.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            problems.append(f"asyncInvokeConfig.{key}={value!r}: expected an integer {low}..{high}")
    return problems


# ------------------------------------------------------------------ loop and queue checks


def parse_oss_url(url: str) -> tuple[str, str]:
    """`oss://bucket/prefix` -> (bucket, prefix)."""
    match = re.fullmatch(r"oss://([^/]+)/(.*)", url)
    if match is None:
        raise ValueError(f"Invalid OSS URL {url!r}: expected oss://bucket/prefix")
    return match.group(1), match.group(2)


def oss_trigger_prefixes(props: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(trigger name, bucket, prefix) of every OSS trigger."""
    for trigger in props.get("triggers") or []:
        if trigger.get("triggerType") != "oss":
            continue
        bucket = str(trigger.get("sourceArn", "")).rsplit(":", 1)[-1]
        prefix = trigger["triggerConfig"]["filter"]["key"]["prefix"]
        yield trigger["triggerName"], bucket, prefix


def prefix_overlaps(props: Mapping[str, Any], env_names: tuple[str, ...]) -> list[str]:
    """Write prefixes (ledger, dead letter) that a trigger would see, or that would hide one."""
    env = props.get("environmentVariables") or {}
    problems = []
    for env_name in env_names:
        bucket, prefix = parse_oss_url(env[env_name])
        for trigger, trigger_bucket, trigger_prefix in oss_trigger_prefixes(props):
            if bucket != trigger_bucket:
                continue
            if prefix.startswith(trigger_prefix) or trigger_prefix.startswith(prefix):
                problems.append(
                    f"{env_name} prefix {prefix!r} overlaps trigger {trigger} prefix "
                    f"{trigger_prefix!r} in bucket {bucket}: every write would invoke the function"
                )
    return problems


def mns_name(arn: str) -> str:
    """Queue or topic name of an MNS ARN (`acs:mns:r:a:/queues/q/messages` -> `q`)."""
    match = re.search(r":/(?:queues|topics)/([^/]+)", arn)
    if match is None:
        raise ValueError(f"Invalid MNS ARN {arn!r}: expected acs:mns:<region>:<account>:/queues/<q>")
    return match.group(1)


def dead_letter_queues(props: Mapping[str, Any]) -> dict[str, str]:
    """Where each dead-letter queue is configured -> queue name."""
    found = {}
    on_failure = (
        ((props.get("asyncInvokeConfig") or {}).get("destinationConfig") or {}).get("onFailure") or {}
    ).get("destination")
    if on_failure and on_failure.startswith("acs:mns:"):
        found["asyncInvokeConfig.onFailure"] = mns_name(on_failure)
    for trigger in props.get("triggers") or []:
        dlq = ((trigger.get("triggerConfig") or {}).get("runOptions") or {}).get("deadLetterQueue")
        if dlq and dlq.get("Arn"):
            found[f"trigger {trigger['triggerName']} deadLetterQueue"] = mns_name(dlq["Arn"])
    return found


def trigger_sources(props: Mapping[str, Any]) -> dict[str, str]:
    """Trigger name -> the MNS queue or topic it reads."""
    found = {}
    for trigger in props.get("triggers") or []:
        config = trigger.get("triggerConfig") or {}
        if trigger.get("triggerType") == "mns_topic":
            found[trigger["triggerName"]] = mns_name(trigger.get("sourceArn", ""))
        params = (config.get("eventSourceConfig") or {}).get("eventSourceParameters") or {}
        queue = (params.get("sourceMNSParameters") or {}).get("QueueName")
        if queue:
            found[trigger["triggerName"]] = queue
    return found


def dead_letter_loops(props: Mapping[str, Any]) -> list[str]:
    """Dead-letter queues that are also read by a trigger (a failure would re-invoke forever)."""
    sources = trigger_sources(props)
    return [
        f"{where} queue {queue!r} is the source of trigger {trigger}"
        for where, queue in dead_letter_queues(props).items()
        for trigger, source in sources.items()
        if source == queue
    ]


def fc_function_name(arn: str) -> str:
    """Function name of an FC 3.0 function ARN (`acs:fc:r:a:functions/f` -> `f`)."""
    match = re.fullmatch(r"acs:fc:[\w*-]*:[\d*]*:functions/([\w-]+)", arn)
    if match is None:
        raise ValueError(f"Invalid FC function ARN {arn!r}: expected acs:fc:<region>:<account>:functions/<name>")
    return match.group(1)


def failure_routing_problems(handler: Mapping[str, Any], failure: Mapping[str, Any]) -> list[str]:
    """Every failure path of the handler must end in the failure function, which must not loop."""
    problems = []
    destination = (
        ((handler.get("asyncInvokeConfig") or {}).get("destinationConfig") or {}).get("onFailure") or {}
    ).get("destination", "")
    if not destination.startswith("acs:fc:") or fc_function_name(destination) != failure.get("functionName"):
        problems.append(f"handler onFailure {destination!r} is not the failure function {failure.get('functionName')!r}")
    read_by_failure = set(trigger_sources(failure).values())
    for where, queue in dead_letter_queues(handler).items():
        if queue not in read_by_failure:
            problems.append(f"{where} queue {queue!r} is read by no trigger of the failure function")
    own = (failure.get("asyncInvokeConfig") or {}).get("destinationConfig")
    if own:
        problems.append(f"the failure function has destinations of its own {own!r}: failures would loop")
    problems += [f"failure function: {p}" for p in dead_letter_loops(failure)]
    if dead_letter_queues(failure):
        problems.append("the failure function's triggers have dead-letter queues: they would feed back into it")
    if set(trigger_sources(failure).values()) & set(trigger_sources(handler).values()):
        problems.append("the failure function reads a queue the handler reads too")
    return problems
