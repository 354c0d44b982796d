"""ddl.py: MySQL and PostgreSQL "new table schema" files -> tables to add, DROPs as removals."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dts_change.core.dblist import ObjectRef
from dts_change.core.errors import ChangeDocumentError, InputTooLargeError, InvalidSqlError
from dts_change.intake.formats.sql import detect_dialect
from dts_change.intake.formats.sql import parse as parse_ddl
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
    code = "import sys, dts_change.intake.accept, dts_change.app.handler; print('sqlglot' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------------- dumps and migrations (issue 16)


def test_parse_ddl_mysqldump_header_names_the_database_of_unqualified_tables():
    sql = "-- MySQL dump 10.13\n--\n-- Host: localhost    Database: shop\n-- ----\nCREATE TABLE `refunds` (id int);"
    parsed = _ddl(sql)
    assert parsed.add is not None and parsed.add.to_wire() == {"shop": {"all": False, "Table": {"refunds": {}}}}


def test_parse_ddl_default_database_is_overridden_by_use():
    parsed = _ddl("CREATE TABLE a (id int); USE other; CREATE TABLE b (id int);", default_database="app")
    assert parsed.add is not None and parsed.add.to_wire() == {
        "app": {"all": False, "Table": {"a": {}}},
        "other": {"all": False, "Table": {"b": {}}},
    }


def test_parse_ddl_set_config_search_path_names_the_schema():
    sql = "SELECT pg_catalog.set_config('search_path', 'Sales, public', false);\nCREATE TABLE Daily (id int);"
    parsed = _ddl(sql, dialect="postgres")
    assert parsed.add is not None and parsed.add.to_wire() == {"sales": {"all": False, "Table": {"daily": {}}}}


def test_parse_ddl_pg_dump_empty_search_path_leaves_unqualified_tables_without_schema():
    error = _sql_error("SELECT pg_catalog.set_config('search_path', '', false);\nCREATE TABLE t (id int);", dialect="postgres")
    assert "line 2: table 't' has no database" in error.message


def test_parse_ddl_old_mysqldump_view_stand_in_table_is_not_a_table_and_its_drop_not_a_removal():
    # mysqldump 5.x wrote a placeholder table for each view, then dropped it and created the view.
    sql = (
        "USE shop;\n"
        "DROP TABLE IF EXISTS `v_totals`;\n"
        "/*!50001 CREATE TABLE `v_totals` (`id` tinyint NOT NULL) ENGINE=MyISAM */;\n"
        "CREATE TABLE `real_one` (id int);\n"
        "/*!50001 DROP TABLE IF EXISTS `v_totals`*/;\n"
        "/*!50001 DROP VIEW IF EXISTS `v_totals`*/;\n"
        "/*!50001 CREATE ALGORITHM=UNDEFINED */ /*!50013 DEFINER=`a`@`%` SQL SECURITY DEFINER */\n"
        "/*!50001 VIEW `v_totals` AS select 1 AS `id` */;\n"
    )
    parsed = _ddl(sql)
    assert parsed.add is not None and parsed.add.to_wire() == {"shop": {"all": False, "Table": {"real_one": {}}}}
    assert parsed.implicit_removals == ()


def test_parse_ddl_rename_of_existing_table_is_reported_with_both_names_and_what_to_do():
    parsed = _ddl("ALTER TABLE shop.orders RENAME TO orders_2023;")
    assert parsed.add is None and parsed.implicit_removals == ()
    assert parsed.warnings == (
        "no table is created or dropped: the object list is not changed",
        "line 1: table shop.orders is renamed to shop.orders_2023: the object list is not changed; "
        "if the job synchronizes shop.orders, send a change that adds shop.orders_2023 and removes "
        "shop.orders (DTS selects tables by name)",
    )


def test_parse_ddl_table_created_then_renamed_is_added_under_its_new_name():
    parsed = _ddl('CREATE TABLE s.tmp (id int);\nALTER TABLE s.tmp RENAME TO "Final";', dialect="postgres")
    assert parsed.add is not None and parsed.add.to_wire() == {"s": {"all": False, "Table": {"Final": {}}}}
    assert parsed.warnings[0] == "line 2: table s.tmp (created at line 1) is renamed to s.Final: adding s.Final"


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("CREATE TABLE shop.t (id int", "line 1: a parenthesis never closes, so the rest of the file would be lost"),
        ("CREATE TABLE shop.t (id int;\nSELECT 1;", "line 1: a parenthesis never closes (the statement is cut short)"),
        ("CREATE TABLE shop.t (id int));", "line 1: a closing parenthesis has no opening one"),
        ("CREATE TABLE shop.t (id int) ENGINE=;", "line 1: the statement is cut short"),
        ("SELECT 1;\nCREATE TABLE shop.t;", "line 2: CREATE TABLE has no column list"),
        ("CREATE TABLE ${schema}.t (id int);", "line 1: it contains a migration-tool placeholder"),
        ("CREATE PROCEDURE p() BEGIN SELECT 1;\nCREATE TABLE a.b (id int);", "line 1: a BEGIN ... END body never ends"),
    ],
)
def test_parse_ddl_broken_table_statement_is_refused_naming_line(sql, message):
    error = _sql_error(sql)
    assert error.message.startswith(f"Invalid SQL in x.sql: {message}"), error.message


def test_parse_ddl_unrecognised_statements_among_understood_ones_are_counted_with_lines():
    parsed = _ddl("CREATE TABLE a.b (id int);\nfrobnicate the tables;\nCREATE TABLE a.c (id int);\nGO;")
    assert parsed.add is not None and set(parsed.add.to_wire()["a"]["Table"]) == {"b", "c"}
    assert parsed.warnings == ("skipped: 2 unrecognised statements (line 2, 4)",)


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [
        ("--\n-- PostgreSQL database dump\n--\nCOMMENT ON TABLE a.b IS 'uses `backticks`';", "postgres"),
        ("-- MySQL dump 10.13\nCREATE TABLE a.b (id serial);", "mysql"),
        ("DELIMITER $$\nCREATE PROCEDURE p() BEGIN SELECT 1; END $$", "mysql"),
        ("\\connect app\nCREATE TABLE a.b (id int);", "postgres"),
        ("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;", "postgres"),
    ],
)
def test_detect_dialect_from_dump_tool_marks(sql, dialect):
    assert detect_dialect(sql) == dialect


def test_parse_ddl_multi_table_drop_with_cascade_is_read_without_sqlglot():
    parsed = _ddl("DROP TABLE IF EXISTS s.a, s.\"B\" CASCADE; CREATE TABLE s.n (id int);", dialect="postgres")
    assert parsed.implicit_removals == (ObjectRef("s", "a"), ObjectRef("s", "B"))


def test_parse_ddl_pg_dump_clean_drops_everything_first_and_recreates_it_so_nothing_is_removed():
    sql = (
        "DROP TRIGGER IF EXISTS trg ON reporting.sales;\n"
        "DROP INDEX IF EXISTS reporting.sales_idx;\n"
        "ALTER TABLE IF EXISTS ONLY reporting.sales DROP CONSTRAINT IF EXISTS sales_pkey;\n"
        "DROP VIEW IF EXISTS reporting.v_sales;\n"
        "DROP TABLE IF EXISTS reporting.sales;\n"
        "DROP SCHEMA IF EXISTS reporting;\n"
        "CREATE SCHEMA reporting;\n"
        "CREATE TABLE reporting.sales (id bigint NOT NULL);\n"
        "CREATE VIEW reporting.v_sales AS SELECT id FROM reporting.sales;\n"
    )
    parsed = _ddl(sql, dialect="postgres")
    assert parsed.implicit_removals == ()
    assert parsed.add is not None and parsed.add.to_wire() == {"reporting": {"all": False, "Table": {"sales": {}}}}


def test_parse_ddl_mysqldump_add_drop_database_is_a_recreation():
    sql = (
        "/*!40000 DROP DATABASE IF EXISTS `shop`*/;\n"
        "CREATE DATABASE /*!32312 IF NOT EXISTS*/ `shop` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;\n"
        "USE `shop`;\n"
        "DROP TABLE IF EXISTS `refunds`;\n"
        "CREATE TABLE `refunds` (`id` int NOT NULL);\n"
    )
    parsed = _ddl(sql)
    assert parsed.implicit_removals == ()
    assert parsed.add is not None and parsed.add.to_wire() == {"shop": {"all": False, "Table": {"refunds": {}}}}


def test_parse_ddl_real_drop_stays_a_removal_candidate():
    parsed = _ddl("DROP TABLE IF EXISTS shop.legacy; CREATE TABLE shop.fresh (id int);")
    assert parsed.implicit_removals == (ObjectRef("shop", "legacy"),)


def test_parse_ddl_schema_without_tables_in_a_dump_with_tables_is_not_added_whole():
    sql = "CREATE SCHEMA audit;\nCREATE FUNCTION audit.f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;\n" \
        "CREATE SCHEMA reporting;\nCREATE TABLE reporting.sales (id int);"
    parsed = _ddl(sql, dialect="postgres")
    assert parsed.add is not None and parsed.add.to_wire() == {"reporting": {"all": False, "Table": {"sales": {}}}}
    assert parsed.warnings == (
        "skipped: 1 function",
        "database(s) created without tables in this file are not added: audit (the file's tables are; "
        "send the database as a table list to synchronize it whole)",
    )


@pytest.mark.parametrize(
    "sample",
    ["mysqldump-shop.sql", "pg_dump-reporting.sql", "mysqlpump-crm.sql", "liquibase-changelog-payments.sql"],
)
def test_parse_ddl_windows_line_endings_read_the_same(sample):
    text = (EVENTS_DIR / "changes" / sample).read_text()
    lf, crlf = _ddl(text, max_statements=1000), _ddl(text.replace("\n", "\r\n"), max_statements=1000)
    assert lf.add is not None and crlf.add is not None
    assert crlf.add.to_wire() == lf.add.to_wire()
    assert crlf.warnings == lf.warnings
