"""SQL DDL that nests past the parser's stack (found by tests/fuzz/test_handler_fuzz.py: a deeply
nested body in a `.sql` object made intake dead-letter it as `internal-error`)."""

from __future__ import annotations

import pytest

from dts_change.core.change import ParsedChange
from dts_change.core.dblist import ObjectRef
from dts_change.core.errors import InvalidSqlError
from dts_change.intake.detect import parse_body

DEEP = "(" * 3000 + "1" + ")" * 3000


def test_parse_ddl_deep_brackets_alone_are_invalid_sql() -> None:
    with pytest.raises(InvalidSqlError, match="not a SQL statement"):
        parse_body(("[" * 3000 + "]" * 3000).encode(), what="upload", name="x.sql")


def test_parse_ddl_deep_select_is_skipped_and_the_table_kept() -> None:
    # A query is never parsed (only table statements are), so its depth cannot hurt.
    parsed = parse_body(f"CREATE TABLE shop.t (a INT); SELECT {DEEP}".encode(), what="upload")
    assert isinstance(parsed, ParsedChange) and parsed.add is not None
    assert parsed.add.to_wire() == {"shop": {"all": False, "Table": {"t": {}}}}
    assert parsed.warnings == ("skipped: 1 query",)


def test_parse_ddl_deep_create_table_still_yields_the_table() -> None:
    # The statement's own parse overflows the stack; the token fallback still names the table.
    parsed = parse_body(f"CREATE TABLE shop.t (a INT DEFAULT {DEEP})".encode(), what="upload")
    assert isinstance(parsed, ParsedChange) and parsed.add is not None
    assert parsed.add.objects() >= {ObjectRef("shop", "t")}
