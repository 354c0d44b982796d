"""sql_kinds.py: a statement's kind from its leading words, and the labels it is counted under."""

from __future__ import annotations

import pytest

from dts_change.intake.formats.sql_kinds import QName, classify, plural


@pytest.mark.parametrize(
    ("sql", "action", "label"),
    [
        ("CREATE TABLE a.b (id int)", "table", ""),
        ("CREATE OR REPLACE TABLE a.b (id int)", "table", ""),
        ("CREATE UNLOGGED TABLE a.b (id int)", "table", ""),
        ("DROP TABLE IF EXISTS a.b", "table", ""),
        ("CREATE DATABASE x", "table", ""),
        ("USE x", "table", ""),
        ("CREATE VIEW a.v AS SELECT 1", "view", "view"),
        ("CREATE ALGORITHM=UNDEFINED DEFINER=`u`@`%` SQL SECURITY DEFINER VIEW `v` AS select 1", "view", "view"),
        ("CREATE MATERIALIZED VIEW a.m AS SELECT 1", "view", "materialized view"),
        ("CREATE    DEFINER=`app`@`%`    TRIGGER `t` BEFORE INSERT ON `o` FOR EACH ROW SET @x = 1", "skip", "trigger"),
        ("CREATE DEFINER=CURRENT_USER() FUNCTION f() RETURNS int RETURN 1", "skip", "function"),
        ("CREATE UNIQUE INDEX i ON a.b (c)", "skip", "index"),
        ("CREATE FOREIGN TABLE a.f (id int) SERVER s", "skip", "foreign table"),
        ("CREATE EVENT TRIGGER e ON ddl_command_start EXECUTE FUNCTION f()", "skip", "event trigger"),
        ("DROP VIEW IF EXISTS v", "skip", "view drop"),
        ("ALTER SEQUENCE s OWNED BY a.b.id", "skip", "sequence change"),
        ("ALTER FUNCTION f() OWNER TO x", "skip", "owner change"),
        ("ALTER TABLE ONLY a.b ADD CONSTRAINT pk PRIMARY KEY (id)", "skip", "constraint"),
        ("ALTER TABLE `c` ADD KEY `i` (`x`)", "skip", "index"),
        ("ALTER TABLE ONLY a.p ATTACH PARTITION a.c FOR VALUES IN (1)", "skip", "partition attachment"),
        ("ALTER TABLE a.b RENAME COLUMN x TO y", "skip", "table change"),
        ("ALTER TABLE a.b ADD COLUMN c int", "skip", "table change"),
        ("INSERT INTO a.b VALUES (1)", "skip", "data statement"),
        ("TRUNCATE TABLE a.b", "skip", "data statement"),
        ("SELECT pg_catalog.setval('s', 1, false)", "skip", "sequence value"),
        ("SELECT pg_catalog.set_config('search_path', '', false)", "session", ""),
        ("GRANT SELECT ON a.b TO r", "skip", "grant"),
        ("COMMENT ON TABLE a.b IS 'x'", "skip", "comment"),
        ("SET NAMES utf8mb4", "session", ""),
        ("LOCK TABLES `b` WRITE", "session", ""),
        ("hello world", "unknown", ""),
        ("(SELECT 1)", "unknown", ""),
    ],
)
def test_classify_by_leading_words(sql, action, label):
    kind = classify(sql, "mysql" if "`" in sql else "postgres")
    assert (kind.action, kind.label) == (action, label)


def test_temporary_tables_are_marked():
    assert classify("CREATE TEMPORARY TABLE t (id int)", "mysql").temporary
    assert classify("DROP TEMPORARY TABLE IF EXISTS t", "mysql").temporary
    assert not classify("CREATE TABLE t (id int)", "mysql").temporary


@pytest.mark.parametrize(
    ("sql", "dialect", "pairs"),
    [
        ("RENAME TABLE a TO b", "mysql", [(QName(None, "a"), QName(None, "b"))]),
        (
            "RENAME TABLE s.a TO s.a_old, s.a_new TO s.a",
            "mysql",
            [(QName("s", "a"), QName("s", "a_old")), (QName("s", "a_new"), QName("s", "a"))],
        ),
        ("ALTER TABLE `s`.`a` RENAME AS `b`", "mysql", [(QName("s", "a"), QName(None, "b"))]),
        ("ALTER TABLE s.a RENAME b", "mysql", [(QName("s", "a"), QName(None, "b"))]),
        ("ALTER TABLE IF EXISTS ONLY S.\"A b\" RENAME TO C", "postgres", [(QName("s", "A b"), QName(None, "c"))]),
    ],
)
def test_renames_carry_both_names(sql, dialect, pairs):
    kind = classify(sql, dialect)
    assert kind.action == "rename"
    assert [tuple(p) for p in kind.renames] == pairs


def test_postgres_rename_without_to_is_a_column_rename():
    assert classify("ALTER TABLE s.a RENAME x TO y", "postgres").action == "skip"


def test_view_name_is_read_for_the_view_rule():
    assert classify('CREATE VIEW s."My View" AS SELECT 1', "postgres").view == QName("s", "My View")


@pytest.mark.parametrize(
    ("label", "count", "text"),
    [
        ("view", 2, "2 views"),
        ("index", 4, "4 indexes"),
        ("index", 1, "1 index"),
        ("query", 2, "2 queries"),
        ("view drop", 3, "3 view drops"),
        ("owner change", 2, "2 owner changes"),
        ("partition attachment", 2, "2 partition attachments"),
        ("session setting", 5, "5 session settings"),
    ],
)
def test_plural(label, count, text):
    assert plural(label, count) == text
