"""SQL DDL that nests past the parser's stack (found by tests/fuzz/test_handler_fuzz.py: a deeply
nested body in a `.sql` object made intake dead-letter it as `internal-error`)."""

from __future__ import annotations

import pytest

from dts_change.change import ParsedChange
from dts_change.dblist import ObjectRef
from dts_change.errors import InvalidSqlError
from dts_change.formats import parse_body

DEEP = "(" * 3000 + "1" + ")" * 3000


@pytest.mark.parametrize(
    ("body", "name"),
    [("[" * 3000 + "]" * 3000, "x.sql"), (f"CREATE TABLE shop.t (a INT); SELECT {DEEP}", None)],
    ids=["deep-brackets", "deep-select"],
)
def test_parse_ddl_unparsable_nesting_is_invalid_sql(body: str, name: str | None) -> None:
    with pytest.raises(InvalidSqlError, match="nests too deeply to parse"):
        parse_body(body.encode(), what="upload", name=name)


def test_parse_ddl_deep_create_table_still_yields_the_table() -> None:
    # The statement's own parse overflows the stack; the token fallback still names the table.
    parsed = parse_body(f"CREATE TABLE shop.t (a INT DEFAULT {DEEP})".encode(), what="upload")
    assert isinstance(parsed, ParsedChange) and parsed.add is not None
    assert parsed.add.objects() >= {ObjectRef("shop", "t")}
