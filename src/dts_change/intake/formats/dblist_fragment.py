"""Format 3: a DbList fragment, as DTS's own `DbList` parameter writes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...core.change import (
    ParsedChange,
)
from ...core.errors import (
    DbListValidationError,
)
from .common import (
    Problems,
    check_object_cap,
    count_fragment_objects,
    dblist_from_fragment,
)


def parse(data: Mapping[str, Any], *, what: str, max_objects: int) -> ParsedChange:
    check_object_cap(count_fragment_objects(data), max_objects, what)
    problems = Problems(f"DbList fragment {what}")
    add = dblist_from_fragment(data, "", problems, what=what)
    problems.raise_if_any(DbListValidationError)
    assert add is not None
    return ParsedChange(format="dblist", add=add)
