"""Emulator-wide settings: switches for unconfirmed DTS behaviour, configurable codes, limits.

Lives under the state's `settings` key so one `PUT /_emulator/state` sets up a whole scenario.
Codes DTS does not document (not-found, DbList too large, ...) are configurable here because the
handler must be tested against whatever the real service turns out to answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dts_change.emulator.state_fields import (
    as_mapping,
    choice,
    opt_bool,
    opt_mapping,
    opt_number,
    req_int,
    req_number,
    req_str,
)

SWITCH_NAMES = ("rejectStateKeys", "dbObjectViaOssUrl", "failPrecheck")


@dataclass(frozen=True)
class CodeSetting:
    """An error the emulator answers for a situation DTS does not document."""

    code: str
    http_status: int
    message: str

    def to_state(self) -> dict[str, Any]:
        return {"code": self.code, "httpStatus": self.http_status, "message": self.message}


DEFAULT_CODES: dict[str, CodeSetting] = {
    "jobNotFound": CodeSetting(
        "Forbidden.InstanceNotFound", 404, "The specified instance or job is not found."
    ),
    "dbListTooLarge": CodeSetting(
        "InvalidParameter.DbListTooLarge", 400, "The DbList exceeds the maximum size of 1 MB."
    ),
    "stateKeyRejected": CodeSetting(
        "InvalidParameter.DbList", 400, 'The DbList contains the read-only key "state".'
    ),
    "jobNotRunning": CodeSetting("DTS.Msg.ModifyDenied.JobStatusNotRunning", 403, "The job is not running."),
    "clientTokenMismatch": CodeSetting(
        "IdempotentParameterMismatch",
        400,
        "The specified parameter has changed while using an already used clientToken.",
    ),
    "directionNotFound": CodeSetting(
        "InvalidParameter", 400, "The job has no task in this synchronization direction."
    ),
}


@dataclass(frozen=True)
class Switches:
    """Variants of unconfirmed DTS behaviour (docs/emulator.md "Switches")."""

    reject_state_keys: bool = False
    db_object_via_oss_url: bool = False
    fail_precheck: bool = False

    @classmethod
    def from_state(cls, obj: Mapping[str, Any], where: str, base: Switches | None = None) -> Switches:
        start = base or cls()
        return cls(
            reject_state_keys=opt_bool(obj, "rejectStateKeys", start.reject_state_keys, where),
            db_object_via_oss_url=opt_bool(obj, "dbObjectViaOssUrl", start.db_object_via_oss_url, where),
            fail_precheck=opt_bool(obj, "failPrecheck", start.fail_precheck, where),
        )

    def to_state(self) -> dict[str, bool]:
        return {
            "rejectStateKeys": self.reject_state_keys,
            "dbObjectViaOssUrl": self.db_object_via_oss_url,
            "failPrecheck": self.fail_precheck,
        }


@dataclass(frozen=True)
class EmulatorSettings:
    seed: int = 0
    max_clock_skew_seconds: float = 900.0
    check_nonce: bool = True
    max_calls: int = 10_000
    max_body_bytes: int = 16 * 1024 * 1024
    apply_db_list_on: str = "finish"
    db_object_empty_form: str = "empty"
    db_object_oss_bucket: str = "dts-dbobject"
    db_object_oss_url_ttl_seconds: float = 3600.0
    precheck_failure_reason: str = "Emulated precheck failure (settings.switches.failPrecheck)"
    client_token_ttl_seconds: float | None = None
    switches: Switches = field(default_factory=Switches)
    codes: dict[str, CodeSetting] = field(default_factory=lambda: dict(DEFAULT_CODES))

    @classmethod
    def from_state(cls, value: object) -> EmulatorSettings:
        where = "settings"
        obj = as_mapping(value if value is not None else {}, where)
        default = cls()
        codes = dict(DEFAULT_CODES)
        for name, raw in opt_mapping(obj, "codes", where).items():
            spot = f"{where}.codes.{name}"
            entry = as_mapping(raw, spot)
            base = DEFAULT_CODES.get(name, CodeSetting("InvalidParameter", 400, ""))
            codes[name] = CodeSetting(
                req_str(entry, "code", base.code, spot),
                req_int(entry, "httpStatus", base.http_status, spot, minimum=400),
                req_str(entry, "message", base.message, spot),
            )
        return cls(
            seed=req_int(obj, "seed", default.seed, where),
            max_clock_skew_seconds=req_number(
                obj, "maxClockSkewSeconds", default.max_clock_skew_seconds, where
            ),
            check_nonce=opt_bool(obj, "checkNonce", default.check_nonce, where),
            max_calls=req_int(obj, "maxCalls", default.max_calls, where, minimum=1),
            max_body_bytes=req_int(obj, "maxBodyBytes", default.max_body_bytes, where, minimum=1),
            apply_db_list_on=choice(
                obj, "applyDbListOn", default.apply_db_list_on, ("finish", "submit"), where
            ),
            db_object_empty_form=choice(
                obj,
                "dbObjectEmptyForm",
                default.db_object_empty_form,
                ("empty", "null", "absent"),
                where,
            ),
            db_object_oss_bucket=req_str(obj, "dbObjectOssBucket", default.db_object_oss_bucket, where),
            db_object_oss_url_ttl_seconds=req_number(
                obj, "dbObjectOssUrlTtlSeconds", default.db_object_oss_url_ttl_seconds, where
            ),
            precheck_failure_reason=req_str(
                obj, "precheckFailureReason", default.precheck_failure_reason, where
            ),
            client_token_ttl_seconds=opt_number(obj, "clientTokenTtlSeconds", None, where),
            switches=Switches.from_state(opt_mapping(obj, "switches", where), f"{where}.switches"),
            codes=codes,
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "maxClockSkewSeconds": self.max_clock_skew_seconds,
            "checkNonce": self.check_nonce,
            "maxCalls": self.max_calls,
            "maxBodyBytes": self.max_body_bytes,
            "applyDbListOn": self.apply_db_list_on,
            "dbObjectEmptyForm": self.db_object_empty_form,
            "dbObjectOssBucket": self.db_object_oss_bucket,
            "dbObjectOssUrlTtlSeconds": self.db_object_oss_url_ttl_seconds,
            "precheckFailureReason": self.precheck_failure_reason,
            "clientTokenTtlSeconds": self.client_token_ttl_seconds,
            "switches": self.switches.to_state(),
            "codes": {name: setting.to_state() for name, setting in self.codes.items()},
        }
