"""ddl.py: MySQL and PostgreSQL "new table schema" files -> tables to add, DROPs as removals."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dts_change.dblist import ObjectRef
from dts_change.ddl import detect_dialect, parse_ddl
from dts_change.errors import ChangeDocumentError, InputTooLargeError, InvalidSqlError
from tests.conftest import EVENTS_DIR


def _ddl(sql: str, **kw):
    return parse_ddl(sql, what="x.sql", max_statements=kw.pop("max_statements", 100), **kw)


def _sql_error(sql: str, **kw) -> InvalidSqlError:
    with pytest.raises(InvalidSqlError) as info:
        _ddl(sql, **kw)
    return info.value


def test_parse_ddl_mysql_sample_adds_created_tables():
    parsed = _ddl((EVENTS_DIR / "changes" / "new-table.sql").read_text())
    assert parsed.format == "sql-mysql"
    assert parsed.add is not None
    assert parsed.add.to_wire() == {"shop": {"all": False, "Table": {"order_items": {}, "order_events": {}}}}
    # DROP TABLE IF EXISTS followed by CREATE TABLE is a re-creation, not a removal
    assert parsed.implicit_removals == ()
    assert parsed.warnings == ("skipped: 1 index, 1 session setting",)


def test_parse_ddl_postgres_sample_folds_case_follows_search_path_and_reports_drop():
    parsed = _ddl((EVENTS_DIR / "changes" / "new-table-postgres.sql").read_text())
    assert parsed.format == "sql-postgres"
    assert parsed.add is not None
    assert parsed.add.to_wire() == {
        "reporting": {
            "all": False,
            "Table": {"DailySales": {}, "daily_sales_2024": {}, "monthly_totals": {}},
        }
    }
    assert parsed.implicit_removals == (ObjectRef("reporting", "legacy_sales"),)


def test_parse_ddl_create_database_without_tables_adds_whole_database():
    parsed = _ddl("CREATE DATABASE IF NOT EXISTS analytics; CREATE SCHEMA `crm`;")
    assert parsed.add is not None
    assert parsed.add.to_wire() == {"analytics": {"all": True}, "crm": {"all": True}}


def test_parse_ddl_mysql_multi_table_drop_falls_back_to_tokens():
    parsed = _ddl("DROP TABLE IF EXISTS shop.a, shop.`b c`; CREATE TABLE shop.n (id int);")
    assert parsed.implicit_removals == (ObjectRef("shop", "a"), ObjectRef("shop", "b c"))


def test_parse_ddl_drop_database_is_a_database_removal():
    parsed = _ddl("DROP DATABASE old_db; CREATE TABLE shop.n (id int);")
    assert parsed.implicit_removals == (ObjectRef("old_db"),)


def test_parse_ddl_temporary_tables_and_views_are_ignored_with_warning():
    parsed = _ddl(
        "CREATE TEMPORARY TABLE shop.tmp (id int); CREATE VIEW shop.v AS SELECT 1; "
        "CREATE TABLE shop.real_one (id int); INSERT INTO shop.real_one VALUES (1);"
    )
    assert parsed.add is not None and parsed.add.to_wire() == {
        "shop": {"all": False, "Table": {"real_one": {}}}
    }
    assert parsed.warnings == ("skipped: 1 temporary table, 1 view, 1 data statement",)


def test_parse_ddl_create_table_like_and_as_select_add_the_table():
    parsed = _ddl("CREATE TABLE shop.a LIKE shop.b; CREATE TABLE shop.c AS SELECT 1;")
    assert parsed.add is not None and set(parsed.add.to_wire()["shop"]["Table"]) == {"a", "c"}


def test_parse_ddl_postgres_create_database_is_ignored_with_warning():
    parsed = _ddl("CREATE DATABASE reports; CREATE TABLE s.t (id int);", dialect="postgres")
    assert parsed.warnings[0].startswith(
        "line 1: CREATE DATABASE ignored: a PostgreSQL job's DbList names schemas"
    )


def test_parse_ddl_postgres_unqualified_table_defaults_to_public():
    parsed = _ddl('CREATE TABLE "Events" (id int);', dialect="postgres")
    assert parsed.add is not None and parsed.add.to_wire() == {
        "public": {"all": False, "Table": {"Events": {}}}
    }


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [
        ("-- dialect: postgres\nCREATE TABLE a.b (id int);", "postgres"),
        ('# dialect=mysql\nCREATE TABLE "a".b (id int);', "mysql"),
        ("CREATE TABLE `a`.b (id int);", "mysql"),
        ("CREATE TABLE a.b (id serial);", "postgres"),
        ('CREATE TABLE "a"."b" (id int);', "postgres"),
        ("CREATE TABLE a.b (id int);", "mysql"),
    ],
)
def test_detect_dialect_hint_then_markers_then_mysql(sql, dialect):
    assert detect_dialect(sql) == dialect


def test_parse_ddl_unqualified_mysql_table_without_use_is_rejected():
    error = _sql_error("CREATE TABLE orders (id int);")
    assert error.code == "invalid-sql"
    assert error.message == (
        "Invalid SQL in x.sql: line 1: table 'orders' has no database: write it as db.table, add USE db "
        "before it, or set sqlDatabase on the route"
    )


def test_parse_ddl_syntax_error_names_line_and_statement():
    error = _sql_error("CREATE TABLE shop.ok (id int);\nCREATE TABLE (id int);")
    assert error.code == "invalid-sql"
    assert error.message == (
        "Invalid SQL in x.sql: line 2: CREATE TABLE names no table: 'CREATE TABLE (id int)'"
    )


def test_parse_ddl_non_statement_text_is_rejected():
    error = _sql_error("hello world")
    assert error.message == "Invalid SQL in x.sql: line 1: not a SQL statement: 'hello world'"


def test_parse_ddl_file_without_table_statements_is_a_no_op_that_says_so():
    parsed = _ddl("SET NAMES utf8mb4; SELECT 1; ALTER TABLE shop.t ADD COLUMN c int;")
    assert parsed.add is None and parsed.implicit_removals == ()
    assert parsed.warnings == (
        "no table is created or dropped: the object list is not changed",
        "skipped: 1 query, 1 table change, 1 session setting",
    )


def test_parse_ddl_file_of_comments_only_is_rejected():
    error = _sql_error("-- nothing here\n/* still nothing */\n")
    assert error.message == "Invalid SQL in x.sql: no SQL statement found"


def test_parse_ddl_unterminated_string_is_invalid_sql():
    error = _sql_error("CREATE TABLE shop.t (c varchar(3) DEFAULT 'abc);")
    assert error.code == "invalid-sql"
    assert error.message.startswith("Invalid SQL in x.sql: ")


def test_parse_ddl_invalid_table_name_is_invalid_name():
    with pytest.raises(ChangeDocumentError) as info:
        _ddl("CREATE TABLE shop.`" + "t" * 129 + "` (id int);")
    assert info.value.code == "invalid-name"
    assert info.value.message.endswith("is 129 characters, over the limit of 128")


def test_parse_ddl_statement_cap_counts_statements():
    with pytest.raises(InputTooLargeError) as info:
        _ddl("CREATE TABLE a.b (id int);" * 3, max_statements=2)
    assert info.value.message == (
        "Too many table statements in x.sql: 3, over the cap of 2 (CREATE, DROP and RENAME of "
        "tables, databases and schemas, and USE)"
    )


def test_parse_ddl_statement_cap_ignores_skipped_kinds():
    parsed = _ddl("CREATE TABLE a.b (id int);" + "INSERT INTO a.b VALUES (1);" * 50, max_statements=1)
    assert parsed.add is not None and parsed.warnings == ("skipped: 50 data statements",)


def test_intake_import_does_not_import_sqlglot():
    # GIVEN a fresh interpreter WHEN intake (and everything it imports) loads THEN sqlglot does not
    code = "import sys, dts_change.intake, dts_change.handler; print('sqlglot' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"
