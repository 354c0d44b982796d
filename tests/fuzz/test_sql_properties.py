"""Generated SQL files: tables mixed among the statement kinds the handler skips (views,
triggers, routines with their own delimiters or dollar quotes, indexes, data, grants, session
settings), comments and quoting. Whatever the mix, the tables added are exactly the tables
generated: never a view or a name from a string, comment or body, and never one missing. And
any SQL-like text is either read or refused with a coded error, never an exception."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dts_change.core.dblist import ObjectRef
from dts_change.core.errors import DtsChangeError
from dts_change.intake.formats.sql import parse as parse_ddl

EXAMPLES = int(os.environ.get("DTS_CHANGE_FUZZ_EXAMPLES", "150"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DECOY = "CREATE TABLE decoy.trap (id int);"

PLAIN = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True).map(lambda s: "t_" + s)
QUOTED = st.text(
    alphabet=st.sampled_from("abcXYZ019 _.;-'`\"$#"),
    min_size=1,
    max_size=10,
).map(lambda s: "T " + s)


def quote(name: str, dialect: str, plain: bool) -> str:
    if plain:
        return name
    if dialect == "mysql":
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'


def string_literal(text: str, dialect: str) -> str:
    escaped = text.replace("\\", "\\\\") if dialect == "mysql" else text
    return "'" + escaped.replace("'", "''") + "'"


@st.composite
def table_statement(draw: st.DrawFn, dialect: str) -> tuple[list[str], ObjectRef]:
    db = draw(st.sampled_from(["shop", "crm", "app_1"]))
    plain = draw(st.booleans())
    name = draw(PLAIN if plain else QUOTED)
    qualified = f"{db}.{quote(name, dialect, plain)}"
    columns = draw(st.sampled_from(["(id int)", "(id bigint NOT NULL, note varchar(20) DEFAULT ';', PRIMARY KEY (id))"]))
    lines = []
    if draw(st.booleans()):
        lines.append(f"DROP TABLE IF EXISTS {qualified};")
    exists = "IF NOT EXISTS " if draw(st.booleans()) else ""
    tail = " ENGINE=InnoDB" if dialect == "mysql" and draw(st.booleans()) else ""
    lines.append(f"CREATE TABLE {exists}{qualified} {columns}{tail};")
    return lines, ObjectRef(db, name)


def skipped_statements(dialect: str) -> st.SearchStrategy[list[str]]:
    lit = string_literal(DECOY, dialect)
    common = [
        [f"CREATE VIEW shop.v_report AS SELECT {lit} AS s;"],
        ["CREATE INDEX idx_x ON shop.t_x (id);"],
        [f"INSERT INTO shop.t_x VALUES (1, {lit});"],
        [f"-- {DECOY}"],
        [f"/* {DECOY}\n   spans lines */"],
        ["GRANT SELECT ON shop.t_x TO reader;"],
        ["ALTER TABLE shop.t_x ADD COLUMN c int;"],
        ["SET NAMES utf8mb4;" if dialect == "mysql" else "SET client_encoding = 'UTF8';"],
    ]
    if dialect == "mysql":
        common += [
            [
                "DELIMITER ;;",
                "CREATE TRIGGER trg BEFORE INSERT ON shop.t_x FOR EACH ROW BEGIN",
                f"  SET @s = {lit};",
                "END ;;",
                "DELIMITER ;",
            ],
            ["/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE */;"],
            [
                "CREATE PROCEDURE shop.p() BEGIN",
                f"  SELECT {lit};",
                "END;",
            ],
            [f"# {DECOY}"],
            ["CREATE TEMPORARY TABLE shop.t_scratch (id int);"],
            [
                "DROP TABLE IF EXISTS `shop`.`v_stand`;",
                "/*!50001 CREATE VIEW `shop`.`v_stand` AS SELECT 1 AS `id`*/;",
            ],
        ]
    else:
        common += [
            [
                "CREATE FUNCTION shop.f() RETURNS trigger LANGUAGE plpgsql AS $fn$",
                f"BEGIN EXECUTE {lit}; RETURN NEW; END;",
                "$fn$;",
            ],
            [f"COMMENT ON TABLE shop.t_x IS {lit};"],
            ["SELECT pg_catalog.set_config('search_path', '', false);"],
            ["CREATE SEQUENCE shop.s START WITH 1;", "ALTER SEQUENCE shop.s OWNED BY shop.t_x.id;"],
            ["CREATE MATERIALIZED VIEW shop.mv AS SELECT 1 WITH NO DATA;"],
            ["\\connect app"],
            ["COPY shop.t_x (id, note) FROM stdin;", f"1\t{DECOY}", "2\t'unclosed", "\\."],
            ["CREATE TEMP TABLE shop.t_scratch (id int);"],
        ]
    return st.sampled_from(common)


@st.composite
def sql_file(draw: st.DrawFn) -> tuple[str, str, set[ObjectRef]]:
    dialect = draw(st.sampled_from(["mysql", "postgres"]))
    pieces = draw(
        st.lists(
            st.one_of(table_statement(dialect).map(lambda t: ("table", t)), skipped_statements(dialect).map(lambda s: ("skip", s))),
            max_size=14,
        )
    )
    # At least one table, anywhere: a file of comments alone is refused by design (tested apart).
    pieces.insert(draw(st.integers(0, len(pieces))), ("table", draw(table_statement(dialect))))
    lines: list[str] = []
    tables: set[ObjectRef] = set()
    for kind, piece in pieces:
        if kind == "table":
            statement_lines, ref = piece
            lines.extend(statement_lines)
            tables.add(ref)
        else:
            lines.extend(piece)
    if draw(st.booleans()):
        # A table the file creates and then renames is added under its new name only.
        old = draw(st.sampled_from(sorted(tables)))
        plain_old = old.table is not None and old.table.startswith("t_")
        old_sql = f"{old.db}.{quote(old.table or '', dialect, plain_old)}"
        new_name = f"r_{len(lines)}"
        if dialect == "mysql":
            lines.append(f"RENAME TABLE {old_sql} TO {old.db}.{new_name};")
        else:
            lines.append(f"ALTER TABLE {old_sql} RENAME TO {new_name};")
        tables = (tables - {old}) | {ObjectRef(old.db, new_name)}
    return "\n".join(lines) + "\n", dialect, tables


def added_tables(parsed) -> set[ObjectRef]:
    """From the wire fragment: every listed table; a whole database would show as (db, None)."""
    wire = parsed.add.to_wire() if parsed.add is not None else {}
    out = set()
    for db, entry in wire.items():
        tables = entry.get("Table") or {}
        out.update(ObjectRef(db, t) for t in tables)
        if entry.get("all") is not False or not tables:
            out.add(ObjectRef(db))
    return out


@SETTINGS
@given(sql_file())
def test_generated_mix_adds_exactly_the_generated_tables(generated):
    text, dialect, tables = generated
    parsed = parse_ddl(text, what="gen.sql", max_statements=1000, dialect=dialect)  # type: ignore[arg-type]
    added = added_tables(parsed)
    assert added == tables, text
    # The DROP TABLE IF EXISTS a dump writes before each CREATE never becomes a removal.
    assert not set(parsed.implicit_removals) & tables
    assert all(ref.db != "decoy" for ref in added)


@SETTINGS
@given(sql_file())
def test_generated_mix_detects_its_own_dialect_when_marked(generated):
    text, dialect, tables = generated
    marked = f"-- dialect: {dialect}\n" + text
    parsed = parse_ddl(marked, what="gen.sql", max_statements=1000)
    assert added_tables(parsed) == tables


PIECES = st.sampled_from(
    [*"abcT ;()'\"`$\\#-/*!\n.,=@",
       "CREATE TABLE ", "DROP TABLE ", "CREATE VIEW ", "DELIMITER ;;\n", "$$", "/*!40101 ", "*/", "BEGIN ", "END ",
       "CREATE PROCEDURE p() ", "RENAME TABLE ", " TO ", "USE x;", "\\connect a\n", "COPY t FROM stdin;\n", "\\.\n",
       "--liquibase formatted sql\n", "--changeset a:1 endDelimiter:/\n", "ALTER TABLE a.b RENAME TO c;"]
)  # fmt: skip


@SETTINGS
@given(st.lists(PIECES, max_size=40).map("".join), st.sampled_from(["mysql", "postgres", None]))
def test_any_sql_like_text_is_read_or_refused_with_a_coded_error(text, dialect):
    try:
        parse_ddl(text, what="gen.sql", max_statements=1000, dialect=dialect)
    except DtsChangeError as exc:
        assert exc.code in ("invalid-sql", "invalid-name", "input-too-large")
