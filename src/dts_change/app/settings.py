"""One `Settings` object, read from the environment once per instance (names are a contract).

Every variable is documented in README.md's configuration table; a test checks that table lists
each name read here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path

from ..core.errors import ConfigurationError, short_repr
from ..core.values import immutable

DEFAULT_MAX_AGE_SECONDS = 24 * 3600
DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600
DEFAULT_LEASE_SECONDS = 300.0
DEFAULT_FUNCTION_TIMEOUT = 60.0
DEADLINE_MARGIN_SECONDS = 5.0
LEASE_MARGIN_SECONDS = 30.0
"""How much longer than the function timeout the lease must be: OSS's 1 s time stamps, a slow
first write of the lease and the pass's last call answering after the timeout (issue 12.2)."""

RETENTION_MARGIN_SECONDS = 300.0
"""How much longer than the function timeout plus the lease the retention must be. Prune compares
its own clock with a batch's `at` and its closing's `closed/` stamp (the writer's clock, not the
store's `LastModified`), so a pruner whose clock is ahead of the writer's by up to the lease plus
this margin still prunes no batch a pass that read before it can write after. Batch numbering
makes a stale writer collide with the batch numbered after its read only while that batch
exists, so no batch may be pruned before every writer that read before it has written."""

ENV_NAMES = (
    "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN",
    "DTS_REGION",
    "DTS_ENDPOINT",
    "DTS_SIGNATURE_VERSION",
    "OSS_ENDPOINT",
    "OSS_REGION",
    "OSS_SIGNATURE_VERSION",
    "DTS_JOB_ID",
    "DTS_INSTANCE_ID",
    "DTS_CHANGE_ROUTES",
    "DTS_CHANGE_ALLOWED_BUCKETS",
    "DTS_CHANGE_LEDGER",
    "DTS_CHANGE_DEAD_LETTER",
    "DTS_CHANGE_DRY_RUN",
    "DTS_CHANGE_MAX_AGE_SECONDS",
    "DTS_CHANGE_RETENTION_SECONDS",
    "DTS_CHANGE_LEASE_SECONDS",
    "DTS_CHANGE_KEEP_SERVER_KEYS",
    "DTS_CHANGE_MAX_DOCUMENT_BYTES",
    "DTS_CHANGE_MAX_JSON_DEPTH",
    "DTS_CHANGE_MAX_OBJECTS",
    "DTS_CHANGE_MAX_LINE_LENGTH",
    "DTS_CHANGE_MAX_STATEMENTS",
    "DTS_CHANGE_LOG_LEVEL",
    "DTS_CHANGE_TEST_CRASH_AT",
)
"""Every variable this project reads (FC's own `FC_*` variables are read too, never set)."""

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _bool(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"Invalid setting {name}: {short_repr(raw)} is not a boolean -> use true or false")


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"Invalid setting {name}: {short_repr(raw)} is not a number") from None
    if value < minimum:
        raise ConfigurationError(f"Invalid setting {name}: {value} is below the minimum of {minimum}")
    return value


def running_in_fc(env: Mapping[str, str]) -> bool:
    """Function Compute sets FC_FUNCTION_NAME / FC_INSTANCE_ID in every instance."""
    return bool(env.get("FC_FUNCTION_NAME") or env.get("FC_INSTANCE_ID"))


@immutable
class Settings:
    """The handler's settings, read once from the environment."""

    dts_region: str
    dts_endpoint: str | None
    dts_signature: str
    oss_endpoint: str | None
    oss_region: str
    oss_signature: str
    default_job_id: str | None
    default_instance_id: str | None
    ledger_url: str
    dead_letter_url: str
    dry_run: bool
    max_age_seconds: float
    retention_seconds: float
    lease_seconds: float
    keep_server_keys: bool
    log_level: str
    in_fc: bool
    test_crash_at: str | None
    env: Mapping[str, str] = field(repr=False, compare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, cwd: Path | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        in_fc = running_in_fc(env)
        region = (env.get("DTS_REGION") or env.get("FC_REGION") or "").strip()
        if not region:
            raise ConfigurationError(
                "Missing setting DTS_REGION: no region for the DTS API (FC_REGION is not set either)",
                hint="Set DTS_REGION, e.g. cn-hangzhou",
            )
        base = cwd or Path.cwd()
        default_state = (base / ".dts-change").resolve()
        ledger = env.get("DTS_CHANGE_LEDGER") or ("" if in_fc else (default_state / "ledger").as_uri())
        dead = env.get("DTS_CHANGE_DEAD_LETTER") or (
            "" if in_fc else (default_state / "dead-letter").as_uri()
        )
        dts_sig = (env.get("DTS_SIGNATURE_VERSION") or "acs3").lower()
        oss_sig = (env.get("OSS_SIGNATURE_VERSION") or "v4").lower()
        if dts_sig not in ("acs3", "v1"):
            raise ConfigurationError(f"Invalid setting DTS_SIGNATURE_VERSION: {short_repr(dts_sig)} -> acs3 or v1")
        if oss_sig not in ("v4", "v1"):
            raise ConfigurationError(f"Invalid setting OSS_SIGNATURE_VERSION: {short_repr(oss_sig)} -> v4 or v1")
        settings = cls(
            dts_region=region,
            dts_endpoint=env.get("DTS_ENDPOINT") or None,
            dts_signature=dts_sig,
            oss_endpoint=env.get("OSS_ENDPOINT") or None,
            oss_region=env.get("OSS_REGION") or region,
            oss_signature=oss_sig,
            default_job_id=env.get("DTS_JOB_ID") or None,
            default_instance_id=env.get("DTS_INSTANCE_ID") or None,
            ledger_url=ledger,
            dead_letter_url=dead,
            dry_run=_bool(env, "DTS_CHANGE_DRY_RUN"),
            max_age_seconds=_number(env, "DTS_CHANGE_MAX_AGE_SECONDS", DEFAULT_MAX_AGE_SECONDS, minimum=1),
            retention_seconds=_number(
                env, "DTS_CHANGE_RETENTION_SECONDS", DEFAULT_RETENTION_SECONDS, minimum=60
            ),
            lease_seconds=_number(env, "DTS_CHANGE_LEASE_SECONDS", DEFAULT_LEASE_SECONDS, minimum=1),
            keep_server_keys=_bool(env, "DTS_CHANGE_KEEP_SERVER_KEYS"),
            log_level=(env.get("DTS_CHANGE_LOG_LEVEL") or "INFO").upper(),
            in_fc=in_fc,
            test_crash_at=None if in_fc else (env.get("DTS_CHANGE_TEST_CRASH_AT") or None),
            env=env,
        )
        settings.check_storage()
        return settings

    def check_storage(self) -> None:
        """Inside FC a local disk is ephemeral: pending changes there would be lost."""
        for name, url in (("DTS_CHANGE_LEDGER", self.ledger_url), ("DTS_CHANGE_DEAD_LETTER", self.dead_letter_url)):
            if not url:
                raise ConfigurationError(
                    f"Missing setting {name}: required inside Function Compute",
                    hint=f"Set {name}=oss://<bucket>/<prefix>/",
                )
            if not (url.startswith("file://") or url.startswith("oss://")):
                raise ConfigurationError(
                    f"Invalid setting {name}: {short_repr(url)} -> expected file:///abs/dir or oss://bucket/prefix"
                )
            if self.in_fc and not url.startswith("oss://"):
                raise ConfigurationError(
                    f"Invalid setting {name}: {short_repr(url)} is a local directory, which Function "
                    "Compute discards with the instance -> use oss://bucket/prefix",
                )
