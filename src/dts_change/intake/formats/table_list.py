"""Format 4: a table list, one `db.table` (or `db`) per line; `#` starts a comment.
"""

from __future__ import annotations

from ...core.change import (
    ParsedChange,
)
from ...core.dblist import ObjectRef
from ...core.errors import (
    InputTooLargeError,
)
from .common import (
    Problems,
    check_object_cap,
    dblist_from_fragment,
    fragment_from_refs,
    parse_object_ref,
)


def parse(text: str, *, what: str, max_objects: int, max_line_length: int) -> ParsedChange:
    """Format 4: one `db.table` (or `db`) per line; `#` starts a comment; blank lines ignored."""
    problems = Problems(f"table list {what}")
    refs: list[ObjectRef] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) > max_line_length:
            raise InputTooLargeError(
                f"Line too long in table list {what}: line {number} is {len(line)} characters, over "
                f"the cap of {max_line_length}",
                hint="One db.table per line; raise DTS_CHANGE_MAX_LINE_LENGTH if names are really that long",
            )
        content = _strip_hash_comment(line).strip()
        if not content:
            continue
        ref = parse_object_ref(content, f"line {number}", problems)
        if ref is not None:
            refs.append(ref)
            check_object_cap(len(refs), max_objects, f"table list {what}")
    if not refs and not problems.items:
        problems.add("", "the list names no tables (only blank lines and comments)")
    problems.raise_if_any()
    fragment, warnings = fragment_from_refs(refs)
    inner = Problems(f"table list {what}")
    add = dblist_from_fragment(fragment, "", inner, what=what)
    inner.raise_if_any()
    return ParsedChange(format="table-list", add=add, warnings=tuple(warnings))


def _strip_hash_comment(line: str) -> str:
    """Cut a `#` comment, but not a `#` inside a quoted name."""
    quote: str | None = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in '`"':
            quote = ch
        elif ch == "#":
            return line[:i]
    return line
