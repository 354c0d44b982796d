#!/usr/bin/env python3
"""Check the deployer's settings before `s deploy`, and print the RAM policy filled in with them.

s.yaml reads its bucket, prefixes and function names from the deployer's shell (`DEPLOY_*`,
defaults in s.yaml itself). This script reads the same names with the same defaults (parsed from
s.yaml, so there is one list), then:

    python3 scripts/deploy_config.py check    # prefixes usable? exit 2 with the reason when not
    python3 scripts/deploy_config.py policy   # docs/ram-policy.json for these names (JSON)

The prefixes must not overlap: an OSS trigger fires for every object under the change prefix, so
a ledger or dead-letter write there would invoke the function again, forever; and the ledger and
the dead letters list their own prefix, so one inside the other would read the other's objects.
No third-party imports: runs with any Python 3.10+.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
S_YAML = REPO_ROOT / "s.yaml"
POLICY_TEMPLATE = REPO_ROOT / "docs" / "ram-policy.json"

_ENV_DEFAULT = re.compile(r"""\$\{env\(\s*'([A-Za-z_][A-Za-z0-9_]*)'\s*,\s*'([^']*)'\s*\)\}""")
PREFIX_NAMES = ("DEPLOY_CHANGE_PREFIX", "DEPLOY_LEDGER_PREFIX", "DEPLOY_DEAD_LETTER_PREFIX")
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")


class SettingsError(Exception):
    """The settings cannot be deployed as they are; the message says which and why."""


@dataclass(frozen=True)
class DeployValues:
    """The names a deployment uses, as s.yaml resolves them."""

    bucket: str
    change_prefix: str
    ledger_prefix: str
    dead_letter_prefix: str
    failure_function: str

    @property
    def prefixes(self) -> dict[str, str]:
        return dict(zip(PREFIX_NAMES, (self.change_prefix, self.ledger_prefix, self.dead_letter_prefix), strict=True))


def s_yaml_defaults(text: str) -> dict[str, str]:
    """NAME -> default of every `${env('NAME', 'default')}` in s.yaml."""
    return {name: default for name, default in _ENV_DEFAULT.findall(text)}


def deploy_values(env: Mapping[str, str], defaults: Mapping[str, str]) -> DeployValues:
    """What `s deploy` would use with this environment (an unset name takes s.yaml's default)."""

    def value(name: str) -> str:
        if name not in defaults:
            raise SettingsError(f"{name} is not read by s.yaml: expected ${{env('{name}', '...')}} there")
        return env.get(name, defaults[name])

    return DeployValues(
        bucket=value("DEPLOY_BUCKET"),
        change_prefix=value("DEPLOY_CHANGE_PREFIX"),
        ledger_prefix=value("DEPLOY_LEDGER_PREFIX"),
        dead_letter_prefix=value("DEPLOY_DEAD_LETTER_PREFIX"),
        failure_function=value("DEPLOY_FAILURE_FUNCTION_NAME"),
    )


def prefix_problems(values: DeployValues) -> list[str]:
    """Why these prefixes cannot be deployed (empty: they can)."""
    problems = []
    if not _BUCKET_NAME.fullmatch(values.bucket):
        problems.append(f"DEPLOY_BUCKET={values.bucket!r} is not a bucket name (3-63 of a-z, 0-9, -)")
    prefixes = values.prefixes
    for name, prefix in prefixes.items():
        if not prefix or not prefix.endswith("/") or prefix.startswith("/") or "//" in prefix:
            problems.append(f"{name}={prefix!r}: expected a folder like 'dts-change/ledger/' (ends with '/')")
    names = list(prefixes)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            a, b = prefixes[first], prefixes[second]
            if a.startswith(b) or b.startswith(a):
                problems.append(
                    f"{first}={a!r} and {second}={b!r} overlap: "
                    + (
                        "the OSS trigger would fire on the function's own writes"
                        if "DEPLOY_CHANGE_PREFIX" in (first, second)
                        else "the ledger and the dead letters would read each other's objects"
                    )
                )
    return problems


def render_policy(template: Mapping[str, Any], values: DeployValues, defaults: DeployValues) -> dict[str, Any]:
    """docs/ram-policy.json with the default bucket, prefixes and failure function replaced."""
    arn = "acs:oss:*:*:"
    swaps = {f"{arn}{defaults.bucket}": f"{arn}{values.bucket}"}
    for old, new in zip(defaults.prefixes.values(), values.prefixes.values(), strict=True):
        swaps[f"{arn}{defaults.bucket}/{old}*"] = f"{arn}{values.bucket}/{new}*"
        swaps[f"{old}*"] = f"{new}*"
    swaps[f"acs:fc:*:*:functions/{defaults.failure_function}"] = f"acs:fc:*:*:functions/{values.failure_function}"

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return swaps.get(node, node) if isinstance(node, str) else node

    policy: dict[str, Any] = walk(template)
    return policy


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in (["check"], ["policy"]):
        sys.stderr.write("usage: deploy_config.py check|policy\n")
        return 2
    defaults_map = s_yaml_defaults(S_YAML.read_text(encoding="utf-8"))
    try:
        values = deploy_values(os.environ if env is None else env, defaults_map)
        defaults = deploy_values({}, defaults_map)
    except SettingsError as exc:
        sys.stderr.write(f"deploy_config: {exc}\n")
        return 2
    problems = prefix_problems(values)
    if problems:
        sys.stderr.write("deploy_config: these settings cannot be deployed:\n")
        sys.stderr.writelines(f"  {p}\n" for p in problems)
        return 2
    if args == ["check"]:
        for name, value in (("DEPLOY_BUCKET", values.bucket), *values.prefixes.items()):
            sys.stdout.write(f"{name}={value}\n")
        sys.stdout.write(f"DEPLOY_FAILURE_FUNCTION_NAME={values.failure_function}\nok\n")
        return 0
    template = json.loads(POLICY_TEMPLATE.read_text(encoding="utf-8"))
    json.dump(render_policy(template, values, defaults), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
