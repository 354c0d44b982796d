"""Typed reads from the emulator's state JSON, each failure naming the dotted path it concerns.

The state is a contract other tools write by hand (`--state FILE`, `PUT /_emulator/state`), so a
wrong type must say exactly where it is rather than fail later inside a request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dts_change.core.errors import ConfigurationError, short_repr

_HINT = "See docs/emulator.md for the state JSON"


def state_error(where: str, value: object, expected: str) -> ConfigurationError:
    return ConfigurationError(
        f"Invalid emulator state at {where}: {short_repr(value)} is not {expected}", hint=_HINT
    )


def as_mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise state_error(where, value, "a JSON object")
    return value


def opt_mapping(obj: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    return as_mapping(value, f"{where}.{key}")


def opt_str(obj: Mapping[str, Any], key: str, default: str | None, where: str) -> str | None:
    value = obj.get(key, default)
    if value is None or isinstance(value, str):
        return value
    raise state_error(f"{where}.{key}", value, "a string")


def req_str(obj: Mapping[str, Any], key: str, default: str, where: str) -> str:
    value = obj.get(key, default)
    if isinstance(value, str):
        return value
    raise state_error(f"{where}.{key}", value, "a string")


def opt_bool(obj: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    value = obj.get(key, default)
    if isinstance(value, bool):
        return value
    raise state_error(f"{where}.{key}", value, "true or false")


def opt_number(
    obj: Mapping[str, Any], key: str, default: float | None, where: str, *, minimum: float = 0
) -> float | None:
    value = obj.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise state_error(f"{where}.{key}", value, f"a number >= {minimum:g}")
    return float(value)


def opt_int(
    obj: Mapping[str, Any], key: str, default: int | None, where: str, *, minimum: int = 0
) -> int | None:
    value = obj.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise state_error(f"{where}.{key}", value, f"an integer >= {minimum}")
    return value


def req_number(obj: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = opt_number(obj, key, default, where)
    return default if value is None else value


def req_int(obj: Mapping[str, Any], key: str, default: int, where: str, *, minimum: int = 0) -> int:
    value = opt_int(obj, key, default, where, minimum=minimum)
    return default if value is None else value


def choice(obj: Mapping[str, Any], key: str, default: str, allowed: tuple[str, ...], where: str) -> str:
    value = obj.get(key, default)
    if value in allowed:
        return str(value)
    raise state_error(f"{where}.{key}", value, "one of " + ", ".join(allowed))
