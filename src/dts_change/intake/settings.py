"""What intake reads from the environment: caps, routes, the default job, the stores' buckets
(never read as change documents).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import field
from urllib.parse import unquote

from ..core.change import JobTarget
from ..core.errors import (
    ConfigurationError,
    short_repr,
)
from ..core.values import immutable
from .detect import Caps
from .routing import RouteRule, parse_routes, route_buckets

DEFAULT_MAX_DOCUMENT_BYTES = 4 * 1024 * 1024


ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@immutable
class IntakeSettings:
    """What intake needs from the configuration (read once, at start-up)."""

    default_job: JobTarget | None = None
    routes: tuple[RouteRule, ...] = ()
    allowed_buckets: frozenset[str] = frozenset()
    oss_endpoint: str | None = None
    oss_region: str | None = None
    dts_region: str | None = None
    caps: Caps = field(default_factory=Caps)
    own_prefixes: tuple[tuple[str, str], ...] = ()
    """(bucket, key prefix) of the function's own ledger and dead letters on OSS: events for
    objects there are the function's own writes and are ignored (no self-triggering loop)."""


def _int_env(env: Mapping[str, str], name: str, default: int, *, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigurationError(
            f"Invalid {name}: {short_repr(raw)} is not an integer", hint=f"Set {name} to a whole number"
        ) from None
    if value < minimum:
        raise ConfigurationError(f"Invalid {name}: {value} is below the minimum of {minimum}")
    return value


def _id_env(env: Mapping[str, str], name: str) -> str | None:
    value = (env.get(name) or "").strip()
    if not value:
        return None
    if not ID_RE.fullmatch(value):
        raise ConfigurationError(f"Invalid {name}: {short_repr(value)} is not a DTS id")
    return value


def store_location(url: str | None) -> tuple[str, str] | None:
    """(bucket, key prefix ending in `/` or empty) of an `oss://bucket/prefix` store URL (None for
    a local directory)."""
    if not url or not url.startswith("oss://"):
        return None
    bucket, _, prefix = url[len("oss://") :].partition("/")
    prefix = unquote(prefix).strip("/")
    return (bucket, prefix + "/" if prefix else "") if bucket else None


def ledger_bucket(ledger: str | None) -> str | None:
    """The bucket of an `oss://bucket/prefix` ledger location (None for a local directory)."""
    location = store_location(ledger)
    return location[0] if location else None


def intake_settings_from_env(env: Mapping[str, str]) -> IntakeSettings:
    """Build `IntakeSettings` from environment variables; raises `ConfigurationError` when invalid.

    DTS_JOB_ID / DTS_INSTANCE_ID (default job), DTS_REGION (default FC_REGION), DTS_CHANGE_ROUTES,
    DTS_CHANGE_ALLOWED_BUCKETS (comma-separated; default: the routes' buckets and the ledger's),
    OSS_ENDPOINT, OSS_REGION, DTS_CHANGE_LEDGER, and the caps DTS_CHANGE_MAX_DOCUMENT_BYTES,
    DTS_CHANGE_MAX_JSON_DEPTH, DTS_CHANGE_MAX_OBJECTS, DTS_CHANGE_MAX_LINE_LENGTH,
    DTS_CHANGE_MAX_STATEMENTS.
    """
    region = (env.get("DTS_REGION") or env.get("FC_REGION") or "").strip() or None
    job_id = _id_env(env, "DTS_JOB_ID")
    instance_id = _id_env(env, "DTS_INSTANCE_ID")
    default_job = JobTarget(job_id, instance_id, "Forward", region) if (job_id or instance_id) else None
    routes = parse_routes(env.get("DTS_CHANGE_ROUTES"))
    listed = env.get("DTS_CHANGE_ALLOWED_BUCKETS")
    allowed: set[str]
    if listed is not None and listed.strip():
        allowed = {b.strip() for b in listed.split(",") if b.strip()}
    else:
        allowed = set(route_buckets(routes))
        bucket = ledger_bucket(env.get("DTS_CHANGE_LEDGER"))
        if bucket:
            allowed.add(bucket)
    caps = Caps(
        max_document_bytes=_int_env(env, "DTS_CHANGE_MAX_DOCUMENT_BYTES", DEFAULT_MAX_DOCUMENT_BYTES),
        max_json_depth=_int_env(env, "DTS_CHANGE_MAX_JSON_DEPTH", Caps.max_json_depth, minimum=4),
        max_objects=_int_env(env, "DTS_CHANGE_MAX_OBJECTS", Caps.max_objects),
        max_line_length=_int_env(env, "DTS_CHANGE_MAX_LINE_LENGTH", Caps.max_line_length, minimum=16),
        max_statements=_int_env(env, "DTS_CHANGE_MAX_STATEMENTS", Caps.max_statements),
    )
    return IntakeSettings(
        default_job=default_job,
        routes=routes,
        allowed_buckets=frozenset(allowed),
        oss_endpoint=(env.get("OSS_ENDPOINT") or "").strip() or None,
        oss_region=(env.get("OSS_REGION") or "").strip() or None,
        dts_region=region,
        caps=caps,
        own_prefixes=tuple(
            loc
            for loc in (
                store_location(env.get("DTS_CHANGE_LEDGER")),
                store_location(env.get("DTS_CHANGE_DEAD_LETTER")),
            )
            if loc is not None
        ),
    )
