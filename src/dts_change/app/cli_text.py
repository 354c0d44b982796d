"""Small text helpers shared by the `dts-change` views: times, ages, durations, object names."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from ..core.dblist import ObjectRef
from ..core.errors import ConfigurationError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$", re.IGNORECASE)
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str, *, option: str) -> float:
    """`90`, `90s`, `15m`, `2h`, `1d` -> seconds; anything else is a usage error naming the option."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigurationError(
            f"Invalid {option} {text}: expected a duration such as 90s, 15m, 2h or 1d",
        )
    return float(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]


def parse_when(text: str, *, option: str, now: float | None = None) -> float:
    """An ISO 8601 time (`2026-12-06T03:00:00Z`) or a duration ago (`2h`) -> epoch seconds."""
    if _DURATION.match(text):
        return (time.time() if now is None else now) - parse_duration(text, option=option)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigurationError(
            f"Invalid {option} {text}: expected an ISO 8601 time (2026-12-06T03:00:00Z) or a "
            "duration ago (2h)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def stamp(seconds: float | None) -> str | None:
    """Epoch seconds as UTC ISO 8601 (what the JSON views and the logs use)."""
    if seconds is None or not seconds:
        return None
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def age(seconds: float) -> str:
    """A short human age: `42s`, `3m12s`, `2h05m`, `3d04h`."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def parse_object(text: str) -> ObjectRef:
    """`shop.orders`, `shop`, or with backticks (`shop`.`gift.cards`) -> an object reference."""
    parts: list[str] = []
    rest = text.strip()
    while rest:
        if rest.startswith("`"):
            end = 1
            name = ""
            while end < len(rest):
                if rest[end] == "`" and rest[end + 1 : end + 2] == "`":
                    name += "`"
                    end += 2
                    continue
                if rest[end] == "`":
                    break
                name += rest[end]
                end += 1
            else:
                raise ConfigurationError(f"Invalid object name {text}: unclosed backtick")
            parts.append(name)
            rest = rest[end + 1 :]
        else:
            name, dot, after = rest.partition(".")
            parts.append(name)
            rest = dot + after
        if rest.startswith("."):
            rest = rest[1:]
            if not rest:
                parts.append("")
        elif rest:
            raise ConfigurationError(f"Invalid object name {text}: expected db or db.table")
    if len(parts) not in (1, 2) or not all(parts):
        raise ConfigurationError(
            f"Invalid object name {text}: expected db or db.table (quote names holding a dot "
            "with backticks: `shop`.`gift.cards`)"
        )
    return ObjectRef(parts[0], parts[1] if len(parts) == 2 else None)


def refs_of_dblist(db_list: Mapping[str, Any] | None) -> list[ObjectRef]:
    """The objects a DbList fragment names: whole databases, or their listed tables."""
    out: list[ObjectRef] = []
    for db, entry in (db_list or {}).items():
        if not isinstance(entry, Mapping) or entry.get("all", True) is not False:
            out.append(ObjectRef(str(db)))
            continue
        out.extend(ObjectRef(str(db), str(table)) for table in (entry.get("Table") or {}))
    return out


def refs_of_pairs(pairs: Iterable[Any] | None) -> list[ObjectRef]:
    """`[[db, table-or-null], ...]` as the ledger stores removals and expectations."""
    out = []
    for pair in pairs or []:
        if isinstance(pair, (list, tuple)) and pair and isinstance(pair[0], str):
            table = pair[1] if len(pair) > 1 and isinstance(pair[1], str) else None
            out.append(ObjectRef(pair[0], table))
    return out


def human_list(items: Iterable[str], empty: str = "none") -> str:
    """Comma-separated, never a Python list repr."""
    shown = ", ".join(items)
    return shown or empty
