"""DTS_CHANGE_ROUTES: which job a change goes to when its document does not say.

A route is a JSON object matching one source — `bucket` (+ optional `prefix`), `topic` or
`queue` — and naming a target (`dtsJobId` and/or `dtsInstanceId`, `direction`, `region`) plus
`allowRemovals`, `onTargetNameAdd` (and `sqlDialect` / `sqlDatabase`: how SQL files from it are
read). The first matching rule wins. The rules are validated when the function starts against
the same constraints as `docs/routes.schema.json` (a test keeps the two in step), so a typo fails
the deployment's first invocation loudly instead of routing changes to nowhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..core.change import DIRECTIONS, Direction, JobTarget, SourceInfo
from ..core.errors import ConfigurationError, short_repr
from ..core.jsonsafe import load_json
from ..core.values import immutable

ROUTE_KEYS = (
    "name",
    "bucket",
    "prefix",
    "topic",
    "queue",
    "dtsJobId",
    "dtsInstanceId",
    "direction",
    "region",
    "allowRemovals",
    "sqlDialect",
    "sqlDatabase",
    "onTargetNameAdd",
)
SQL_DIALECTS = ("mysql", "postgres")
TARGET_NAME_POLICIES = ("warn", "reject")
MAX_ROUTES = 200
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_MNS_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,255}$")
_DTS_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_REGION_RE = re.compile(r"^[a-z]{2,}(-[a-z0-9]+)+$")


@immutable
class RouteRule:
    """One DTS_CHANGE_ROUTES entry: a source match and a job target."""

    job: JobTarget
    bucket: str | None = None
    prefix: str = ""
    topic: str | None = None
    queue: str | None = None
    allow_removals: bool | None = None
    """None: explicit removals only; True: DDL DROP statements become removals too; False: none."""
    name: str | None = None
    sql_dialect: str | None = None
    """Forces how SQL files from this source are read ("mysql" or "postgres"); None: detected."""
    sql_database: str | None = None
    """Database (schema) of unqualified tables in SQL files that name none (no USE, no dump header)."""
    on_target_name_add: str = "warn"
    """An added source named like a mapping's target (docs/formats.md §2.6): "warn" or "reject"."""

    def matches(self, source: SourceInfo) -> bool:
        if self.bucket is not None:
            return (
                source.bucket == self.bucket and source.key is not None and source.key.startswith(self.prefix)
            )
        if self.topic is not None:
            return source.topic == self.topic
        if self.queue is not None:
            return source.queue == self.queue
        return False

    def describe(self) -> str:
        if self.name:
            return f"route {self.name!r}"
        if self.bucket is not None:
            return f"route bucket={self.bucket} prefix={self.prefix!r}"
        return f"route topic={self.topic}" if self.topic else f"route queue={self.queue}"


def first_match(routes: Iterable[RouteRule], source: SourceInfo) -> RouteRule | None:
    for rule in routes:
        if rule.matches(source):
            return rule
    return None


def _problem(index: int, key: str | None, message: str) -> str:
    where = f"DTS_CHANGE_ROUTES[{index}]" + (f".{key}" if key else "")
    return f"{where}: {message}"


def _rule_problems(index: int, item: Any) -> list[str]:
    if not isinstance(item, Mapping):
        return [_problem(index, None, f"expected an object, got {short_repr(item)}")]
    out: list[str] = []
    for key in item:
        if key not in ROUTE_KEYS:
            out.append(_problem(index, str(key), f"unknown key; expected one of: {', '.join(ROUTE_KEYS)}"))
    checks: dict[str, tuple[re.Pattern[str], str]] = {
        "bucket": (_BUCKET_RE, "an OSS bucket name"),
        "topic": (_MNS_NAME_RE, "an MNS topic name"),
        "queue": (_MNS_NAME_RE, "an MNS queue name"),
        "dtsJobId": (_DTS_ID_RE, "a DTS job id"),
        "dtsInstanceId": (_DTS_ID_RE, "a DTS instance id"),
        "region": (_REGION_RE, "a region id such as cn-hangzhou"),
    }
    for key, (pattern, expected) in checks.items():
        if key in item and (not isinstance(item[key], str) or not pattern.fullmatch(item[key])):
            out.append(_problem(index, key, f"expected {expected}, got {short_repr(item[key])}"))
    for key in ("prefix", "name"):
        if key in item and (not isinstance(item[key], str) or len(item[key]) > 1023):
            out.append(_problem(index, key, f"expected a string, got {short_repr(item[key])}"))
    if "name" in item and item["name"] == "":
        out.append(_problem(index, "name", "expected a non-empty string"))
    if "direction" in item and item["direction"] not in DIRECTIONS:
        out.append(
            _problem(
                index, "direction", f'expected "Forward" or "Reverse", got {short_repr(item["direction"])}'
            )
        )
    if "allowRemovals" in item and not isinstance(item["allowRemovals"], bool):
        out.append(
            _problem(
                index, "allowRemovals", f"expected true or false, got {short_repr(item['allowRemovals'])}"
            )
        )
    if "sqlDialect" in item and item["sqlDialect"] not in SQL_DIALECTS:
        out.append(
            _problem(
                index, "sqlDialect", f'expected "mysql" or "postgres", got {short_repr(item["sqlDialect"])}'
            )
        )
    if "sqlDatabase" in item and (
        not isinstance(item["sqlDatabase"], str) or not 0 < len(item["sqlDatabase"]) <= 128
    ):
        out.append(
            _problem(index, "sqlDatabase", f"expected a database name, got {short_repr(item['sqlDatabase'])}")
        )
    if "onTargetNameAdd" in item and item["onTargetNameAdd"] not in TARGET_NAME_POLICIES:
        out.append(
            _problem(
                index, "onTargetNameAdd", f'expected "warn" or "reject", got {short_repr(item["onTargetNameAdd"])}'
            )
        )
    matchers = [k for k in ("bucket", "topic", "queue") if k in item]
    if len(matchers) != 1:
        out.append(
            _problem(
                index,
                None,
                "expected exactly one of bucket (with optional prefix), topic or queue, got "
                + (", ".join(matchers) or "none"),
            )
        )
    elif "prefix" in item and matchers != ["bucket"]:
        out.append(_problem(index, "prefix", "prefix only applies to a bucket rule"))
    if "dtsJobId" not in item and "dtsInstanceId" not in item:
        out.append(_problem(index, None, "expected dtsJobId or dtsInstanceId (or both)"))
    return out


def validate_routes(data: Any) -> list[str]:
    """Every problem in a parsed DTS_CHANGE_ROUTES value (empty list when it is valid)."""
    if not isinstance(data, list):
        return [f"DTS_CHANGE_ROUTES: expected a JSON list of rules, got {short_repr(data)}"]
    if len(data) > MAX_ROUTES:
        return [f"DTS_CHANGE_ROUTES: {len(data)} rules, over the limit of {MAX_ROUTES}"]
    problems: list[str] = []
    for index, item in enumerate(data):
        problems.extend(_rule_problems(index, item))
    return problems


def parse_routes(text: str | None) -> tuple[RouteRule, ...]:
    """Parse and validate DTS_CHANGE_ROUTES; raises `ConfigurationError` listing every problem."""
    if text is None or not text.strip():
        return ()
    try:
        data = load_json(text, what="DTS_CHANGE_ROUTES", max_depth=8)
    except ConfigurationError:
        raise
    except Exception as exc:  # InvalidJsonError / InputTooLargeError: a configuration problem here
        message = getattr(exc, "message", str(exc))
        raise ConfigurationError(
            f"Invalid DTS_CHANGE_ROUTES: {message}",
            hint="DTS_CHANGE_ROUTES must be a JSON list; see docs/routes.schema.json",
        ) from None
    problems = validate_routes(data)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigurationError(
            f"Invalid DTS_CHANGE_ROUTES: {problems[0]}{more}",
            hint="Fix the rule as the message says; the shape is in docs/routes.schema.json",
            details=[{"msg": p} for p in problems],
        )
    rules = []
    for item in data:
        direction: Direction = item.get("direction", "Forward")
        rules.append(
            RouteRule(
                job=JobTarget(
                    dts_job_id=item.get("dtsJobId"),
                    dts_instance_id=item.get("dtsInstanceId"),
                    direction=direction,
                    region=item.get("region"),
                ),
                bucket=item.get("bucket"),
                prefix=item.get("prefix", ""),
                topic=item.get("topic"),
                queue=item.get("queue"),
                allow_removals=item.get("allowRemovals"),
                name=item.get("name"),
                sql_dialect=item.get("sqlDialect"),
                sql_database=item.get("sqlDatabase"),
                on_target_name_add=item.get("onTargetNameAdd", "warn"),
            )
        )
    return tuple(rules)


def route_buckets(routes: Iterable[RouteRule]) -> frozenset[str]:
    return frozenset(rule.bucket for rule in routes if rule.bucket)
