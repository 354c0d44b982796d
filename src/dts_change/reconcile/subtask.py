"""Which SubSyncJob may decide a submission's fate.

DescribeDtsJobDetail lists the newest object-modification sub-task, but nothing ties it to a given
ModifyDtsJob: an UPDATE_RESERVED starts none, DTS may not list a new one yet, and someone else
(the console, another tool) may have modified the job before or after. A sub-task decides a
submission only when it is provably that submission's: created no earlier than the submission
(`CreateTime`, with `CLOCK_SKEW_SECONDS` of tolerance) and carrying the very list sent
(`DbObject`, compared as JSON without DTS's markers). Anything else is left to the objects: the
change is confirmed, or not, by what the job lists.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ..clients.dts_models import SubSyncJob
from ..core.guard import without_dts_markers
from ..core.values import immutable

CLOCK_SKEW_SECONDS = 5.0
"""How far DTS's clock may run behind the function's: a sub-task created up to this long before the
submission's time still counts as after it (the list check tells them apart)."""

_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_dts_time(value: Any) -> float | None:
    """Epoch seconds of a DTS time (`2024-05-01T08:00:00Z`, `...000+0800`, no zone = UTC); None
    when it is absent or unreadable."""
    if not isinstance(value, str):
        return None
    match = _TIME.match(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    try:
        at = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc).timestamp()
    except (ValueError, OverflowError):
        return None
    zone = match.group(7)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        at -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return at


def canonical_dblist_sha256(text: str | None) -> str | None:
    """Hash of a DbList text as JSON (key order, spacing and DTS's markers do not matter); None
    when it is empty or not a JSON object."""
    if not text or not text.strip():
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, Mapping):
        return None
    canonical = json.dumps(without_dts_markers(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@immutable
class SubTaskMarks:
    """What ties a sub-task to a submission: its creation time and the hash of its list, read once
    per pass (a 1 MB DbObject is not parsed again for every awaiting change)."""

    created: float | None
    listed_sha256: str | None

    @classmethod
    def of(cls, sub: SubSyncJob) -> SubTaskMarks:
        text = sub.raw.get("DbObject")
        return cls(parse_dts_time(sub.raw.get("CreateTime")), canonical_dblist_sha256(text if isinstance(text, str) else None))

    def is_for(self, submission: Mapping[str, Any] | None) -> bool:
        """True only when the sub-task is provably `submission`'s (see the module docstring)."""
        if not submission or submission.get("phase") == "reserved":
            return False  # UPDATE_RESERVED starts no sub-task
        raw_at = submission.get("at")
        at = float(raw_at) if isinstance(raw_at, int | float) and not isinstance(raw_at, bool) else None
        timed = self.created is not None and at is not None
        if self.created is not None and at is not None and self.created < at - CLOCK_SKEW_SECONDS:
            return False
        sent = submission.get("dblist_canonical_sha256")
        if sent and self.listed_sha256 and sent != self.listed_sha256:
            return False
        # Something must tie it to the submission: its time, or its list.
        return timed or bool(sent and self.listed_sha256)
