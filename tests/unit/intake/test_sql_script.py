"""sql_script.py: statements split the way the mysql and psql clients split them."""

from __future__ import annotations

import pytest

from dts_change.intake.formats.sql_script import ScriptError, split_script


def texts(sql: str, dialect: str = "mysql") -> list[str]:
    return [s.text for s in split_script(sql, dialect) if s.directive is None]  # type: ignore[arg-type]


def test_versioned_comments_are_unwrapped_and_plain_comments_blanked():
    sql = "/*!40101 SET NAMES utf8mb4 */;\n/* CREATE TABLE x.y (a int); */\n-- DROP TABLE a.b;\n# USE z;\nSELECT 1;"
    assert texts(sql) == ["SET NAMES utf8mb4", "SELECT 1"]


def test_versioned_comments_are_plain_comments_in_postgres():
    assert texts("/*!40101 SET NAMES utf8mb4 */ SELECT 1;", "postgres") == ["SELECT 1"]


def test_delimiter_directive_changes_the_terminator_until_reset():
    sql = "DELIMITER ;;\nCREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET @x = 1; SET @y = 2; END ;;\nDELIMITER ;\nSELECT 1;"
    statements = split_script(sql, "mysql")
    assert [(s.directive, s.line) for s in statements] == [("DELIMITER", 1), (None, 2), ("DELIMITER", 3), (None, 4)]
    assert statements[1].text.endswith("SET @y = 2; END")


@pytest.mark.parametrize("delimiter", ["$$", "//", "|", ";;"])
def test_any_custom_delimiter_works(delimiter):
    sql = f"DELIMITER {delimiter}\nCREATE PROCEDURE p() BEGIN SELECT 1; END {delimiter}\nDELIMITER ;\nCREATE TABLE a.b (id int);"
    assert texts(sql) == ["CREATE PROCEDURE p() BEGIN SELECT 1; END", "CREATE TABLE a.b (id int)"]


def test_mysql_routine_without_delimiter_keeps_its_body():
    sql = "CREATE PROCEDURE p() BEGIN IF 1 THEN SELECT 1; END IF; SELECT CASE WHEN 1 THEN 2 END; END;\nSELECT 3;"
    assert texts(sql) == [
        "CREATE PROCEDURE p() BEGIN IF 1 THEN SELECT 1; END IF; SELECT CASE WHEN 1 THEN 2 END; END",
        "SELECT 3",
    ]


def test_postgres_begin_atomic_body_keeps_its_semicolons():
    sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\nCREATE TABLE a.b (id int);"
    assert texts(sql, "postgres") == [
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END",
        "CREATE TABLE a.b (id int)",
    ]


def test_dollar_quoted_bodies_with_tags_hide_their_semicolons():
    sql = "CREATE FUNCTION f() RETURNS int AS $fn$ BEGIN RETURN 1; END; $fn$ LANGUAGE plpgsql;\nSELECT $$a;b$$;"
    assert texts(sql, "postgres") == [
        "CREATE FUNCTION f() RETURNS int AS $fn$ BEGIN RETURN 1; END; $fn$ LANGUAGE plpgsql",
        "SELECT $$a;b$$",
    ]


def test_positional_parameters_are_not_dollar_quotes():
    assert texts("PREPARE q AS SELECT $1;\nSELECT a$b FROM t;", "postgres") == ["PREPARE q AS SELECT $1", "SELECT a$b FROM t"]


def test_quotes_hide_semicolons_per_dialect():
    assert texts("INSERT INTO t VALUES ('a;\\'b', \"c;d\", `e;f`);") == ["INSERT INTO t VALUES ('a;\\'b', \"c;d\", `e;f`)"]
    assert texts("INSERT INTO t VALUES ('a;''b', E'c\\';d', \"e;\"\"f\");", "postgres") == [
        "INSERT INTO t VALUES ('a;''b', E'c\\';d', \"e;\"\"f\")"
    ]


def test_postgres_block_comments_nest():
    assert texts("/* outer /* inner; */ still comment; */ SELECT 1;", "postgres") == ["SELECT 1"]


def test_psql_meta_commands_are_directives_and_copy_data_is_skipped():
    sql = "\\connect app\nCOPY s.t (a, b) FROM stdin;\n1\tx;y\n2\tCREATE TABLE no.no (a int);\n\\.\nCREATE TABLE s.u (a int);\n"
    statements = split_script(sql, "postgres")
    assert [(s.directive, s.text) for s in statements] == [
        ("\\connect", "\\connect app"),
        (None, "COPY s.t (a, b) FROM stdin"),
        (None, "CREATE TABLE s.u (a int)"),
    ]
    assert statements[2].line == 6


def test_postgres_keeps_semicolons_inside_parentheses_like_psql():
    sql = "CREATE RULE r AS ON INSERT TO t DO INSTEAD (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2));"
    assert texts(sql, "postgres") == [sql.rstrip(";")]


def test_lines_and_balance_and_termination_are_reported():
    statements = split_script("SELECT 1;\n\n  CREATE TABLE a.b (\n id int", "mysql")
    last = statements[-1]
    assert (last.line, last.depth, last.terminated) == (3, 1, False)


@pytest.mark.parametrize(
    ("sql", "dialect", "message"),
    [
        ("SELECT 1;\nSELECT 'open;", "mysql", "line 2: a string never closes"),
        ("SELECT `open;", "mysql", "line 1: a backtick-quoted name never closes"),
        ('SELECT 1;\n\nSELECT "open', "postgres", "line 3: a double-quoted text never closes"),
        ("SELECT 1;\n/* open", "mysql", "line 2: a /* comment never closes"),
        ("/*!40101 SET NAMES utf8", "mysql", "line 1: a /*! versioned comment never closes"),
        ("CREATE FUNCTION f() AS $x$ body", "postgres", "line 1: a $x$-quoted body never closes"),
    ],
)
def test_unterminated_quote_or_comment_is_an_error_naming_its_line(sql, dialect, message):
    with pytest.raises(ScriptError) as info:
        split_script(sql, dialect)
    assert str(info.value).startswith(message)


def test_routine_begin_without_end_is_flagged():
    statements = split_script("CREATE PROCEDURE p() BEGIN SELECT 1;\nCREATE TABLE a.b (id int);", "mysql")
    assert len(statements) == 1 and statements[0].open_block


def test_liquibase_changeset_end_delimiter_applies_to_its_changeset_only():
    sql = (
        "--liquibase formatted sql\n"
        "--changeset li:1 endDelimiter:/\n"
        "CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END\n"
        "/\n"
        "--changeset li:2\n"
        "CREATE TABLE a.b (id int);\n"
        "CREATE TABLE a.c (id int);\n"
    )
    statements = split_script(sql, "mysql")
    assert [(s.directive, s.text) for s in statements] == [
        ("--changeset", "--changeset li:1 endDelimiter:/"),
        (None, "CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END"),
        ("--changeset", "--changeset li:2"),
        (None, "CREATE TABLE a.b (id int)"),
        (None, "CREATE TABLE a.c (id int)"),
    ]


def test_changeset_comments_outside_liquibase_files_are_plain_comments():
    assert texts("--changeset li:1 endDelimiter:/\nSELECT 1;\nSELECT 2;") == ["SELECT 1", "SELECT 2"]


def test_routine_with_quoted_definer_containing_spaces_keeps_its_body():
    sql = "CREATE DEFINER=`ops team`@`%` PROCEDURE p() BEGIN SELECT 1; END;\nCREATE TABLE a.b (id int);"
    assert texts(sql) == ["CREATE DEFINER=`ops team`@`%` PROCEDURE p() BEGIN SELECT 1; END", "CREATE TABLE a.b (id int)"]
