"""Format 5: SQL files (dumps, migrations, schema files; MySQL and PostgreSQL) -> tables to add.

The file is split as the `mysql`/`psql` clients split it (`sql_script.py`: DELIMITER, versioned
comments, dollar quotes, meta-commands), each statement's kind is read from its leading words
(`sql_kinds.py`), and only table statements are acted on. The full rule table is in
docs/formats.md §2.5; in short: `CREATE TABLE` adds (qualified, or under the current `USE` /
`search_path`, a mysqldump header's database, or the route's `sqlDatabase`); `CREATE
DATABASE|SCHEMA` adds the whole database only in a file that creates no table; `DROP` becomes a
removal only where the route allows removals (`ParsedChange.implicit_removals`), and never for a
name the file creates again (as a table, or as a view: mysqldump's stand-ins); renames are
reported with both names, and a table the file created follows its new name; everything else is
counted per kind in one "skipped: ..." warning. A file is refused only when nothing in it is
understood or a table statement is broken (cut short, unbalanced), naming the line.

sqlglot parses `CREATE TABLE|DATABASE|SCHEMA` statements only, imported on the first one (a test
checks that importing `dts_change.intake.accept` does not import it). A statement it cannot model
(exotic partition clauses) is read from its leading tokens, once the structural checks above
have passed, so a valid file is never refused for syntax the parser does not know.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal

from ...core.change import ParsedChange
from ...core.dblist import DbList, ObjectRef, name_problem
from ...core.errors import InputTooLargeError, InvalidSqlError, short_repr
from .common import Problems, fragment_from_refs
from .sql_kinds import LEADING_TOKENS, Kind, QName, classify, object_kind, plural, read_name, skip_if_exists
from .sql_kinds import tokens as kind_tokens
from .sql_script import ScriptError, Statement, split_script

Token = Any  # sqlglot's Token; not imported at module level so sqlglot stays lazy

Dialect = Literal["mysql", "postgres"]
_DIALECT_HINT_RE = re.compile(r"^\s*(?:--|#)\s*dialect\s*[:=]\s*(mysql|postgres(?:ql)?)\b", re.I | re.M)
_PG_MARKERS_RE = re.compile(
    r"\b(serial|bigserial|smallserial|timestamptz|jsonb|bytea|search_path|partition\s+of|"
    r"unlogged|tablespace|owner\s+to)\b|::",
    re.I,
)
_MYSQL_TOOL_RE = re.compile(
    r"^--\s*(?:MySQL dump|MariaDB dump|Server version)|/\*M?!\d{5}|^DELIMITER[ \t]+\S", re.I | re.M
)
_PG_TOOL_RE = re.compile(
    r"^--\s*(?:PostgreSQL database dump|Dumped (?:from|by))|\bpg_catalog\.|^\\(?:connect|restrict)\b|\$\$",
    re.I | re.M,
)
_MYSQL_MARKERS_RE = re.compile(r"`|\b(engine\s*=|auto_increment|unsigned|charset)\b", re.I)
_SEARCH_PATH_RE = re.compile(r"search_path\s*(?:=|\bto\b)\s*(?P<first>[^,;\s]+)", re.I)
_FALLBACK_LOG_FILTER_INSTALLED = False
_NO_DATABASE = "has no database: write it as db.table, add USE db before it, or set sqlDatabase on the route"


def _install_log_filter() -> None:
    """sqlglot logs a warning for every statement it parses as a plain Command; we handle those."""
    global _FALLBACK_LOG_FILTER_INSTALLED
    if _FALLBACK_LOG_FILTER_INSTALLED:
        return

    class _DropFallbackNotice(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "Falling back to parsing as a 'Command'" not in record.getMessage()

    logging.getLogger("sqlglot").addFilter(_DropFallbackNotice())
    _FALLBACK_LOG_FILTER_INSTALLED = True


def as_dialect(value: str | None) -> Dialect | None:
    """A route's `sqlDialect` (validated by routing.py) as a Dialect; None: detect from the file."""
    if value == "mysql":
        return "mysql"
    return "postgres" if value == "postgres" else None


def detect_dialect(text: str) -> Dialect:
    """An explicit `-- dialect: postgres` comment wins; then what the dumping tool wrote
    (`-- MySQL dump`, `/*!40101`, `DELIMITER` / `-- PostgreSQL database dump`, `pg_catalog.`,
    `\\connect`, `$$`), the earliest such mark first; then syntax markers; MySQL by default."""
    hint = _DIALECT_HINT_RE.search(text[:4096])
    if hint:
        return "mysql" if hint.group(1).lower() == "mysql" else "postgres"
    mysql_mark = _MYSQL_TOOL_RE.search(text)
    pg_mark = _PG_TOOL_RE.search(text)
    if mysql_mark and (pg_mark is None or mysql_mark.start() < pg_mark.start()):
        return "mysql"
    if pg_mark:
        return "postgres"
    if _MYSQL_MARKERS_RE.search(text):
        return "mysql"
    if _PG_MARKERS_RE.search(text) or re.search(r'"[^"\n]+"\s*\.', text):
        return "postgres"
    return "mysql"


@dataclass
class _Name:
    db: str | None
    name: str


@dataclass
class _State:
    dialect: Dialect
    current_db: str | None
    created_dbs: dict[str, int] = field(default_factory=dict)
    tables: dict[ObjectRef, int] = field(default_factory=dict)
    drops: dict[ObjectRef, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    problems: Problems = field(default_factory=lambda: Problems("SQL"))


def _identifier_text(node: Any, dialect: Dialect) -> str | None:
    """An identifier's name as the server stores it: unquoted PostgreSQL names fold to lower case."""
    if node is None:
        return None
    name = str(node.this) if hasattr(node, "this") else str(node)
    quoted = bool(getattr(node, "args", {}).get("quoted"))
    return name.lower() if dialect == "postgres" and not quoted else name


def _table_name(table: Any, dialect: Dialect) -> _Name | None:
    """(db, name) of a sqlglot Table; for CREATE DATABASE/SCHEMA sqlglot puts the name in either."""
    if table is None:
        return None
    if type(table).__name__ == "Schema":
        table = table.this
    this = _identifier_text(table.args.get("this"), dialect)
    db = _identifier_text(table.args.get("db"), dialect)
    if this is None and db is None:
        return None
    if this is None:
        return _Name(None, db or "")
    return _Name(db, this)


def _keyword(token: Token) -> str:
    return token.text.upper() if token.token_type.name not in ("IDENTIFIER", "STRING") else ""


def _tokens_name_list(tokens: list[Token], start: int, dialect: Dialect) -> list[_Name]:
    """Dotted names separated by commas from `tokens[start:]`, stopping at anything else."""
    names: list[_Name] = []
    parts: list[str] = []
    i = start
    while i < len(tokens):
        tok = tokens[i]
        kind = tok.token_type.name
        if kind in ("L_PAREN", "R_PAREN", "STRING", "NUMBER", "SEMICOLON", "EQ"):
            break
        if kind == "DOT":
            i += 1
            continue
        if kind == "COMMA":
            if parts:
                names.append(_Name(parts[-2] if len(parts) > 1 else None, parts[-1]))
            parts = []
            i += 1
            continue
        if parts and tokens[i - 1].token_type.name != "DOT":
            break
        text = tok.text
        parts.append(text.lower() if dialect == "postgres" and kind != "IDENTIFIER" else text)
        i += 1
    if parts:
        names.append(_Name(parts[-2] if len(parts) > 1 else None, parts[-1]))
    return names


def _fallback(tokens: list[Token], dialect: Dialect) -> tuple[str, str, list[_Name]] | None:
    """(verb, kind, names) read from leading tokens: CREATE/DROP [modifiers] TABLE|DATABASE|SCHEMA."""
    verb = _keyword(tokens[0])
    if verb not in ("CREATE", "DROP", "USE"):
        return None
    if verb == "USE":
        names = _tokens_name_list(tokens, 1, dialect)
        return ("USE", "DATABASE", names) if len(names) == 1 else None
    i = 1
    kind = ""
    while i < len(tokens) and i < 8:
        word = _keyword(tokens[i])
        i += 1
        if word in ("TABLE", "DATABASE", "SCHEMA"):
            kind = word
            break
        if word in ("TEMPORARY", "TEMP"):
            kind = "TEMPORARY"
            continue
        if word not in ("OR", "REPLACE", "UNLOGGED", "GLOBAL", "LOCAL", "IF", "NOT", "EXISTS"):
            return None
    if kind not in ("TABLE", "DATABASE", "SCHEMA"):
        return (verb, "TEMPORARY", []) if kind == "TEMPORARY" else None
    if tokens[i - 2 : i - 1] and _keyword(tokens[i - 2]) in ("TEMPORARY", "TEMP"):
        return (verb, "TEMPORARY", [])
    while i < len(tokens) and _keyword(tokens[i]) in ("IF", "NOT", "EXISTS"):
        i += 1
    names = _tokens_name_list(tokens, i, dialect)
    return (verb, kind, names) if names else None


def _add_db(state: _State, name: str, line: int) -> None:
    if _valid(state, name, line, "database"):
        state.created_dbs.setdefault(name, line)
        state.drops.pop(ObjectRef(name), None)


def _valid(state: _State, name: str, line: int, kind: str) -> bool:
    problem = name_problem(name)
    if problem:
        state.problems.add(f"line {line}", f"invalid {kind} name: {problem}", kind="invalid_name")
        return False
    return True


def _add_table(state: _State, name: _Name, line: int) -> None:
    db = name.db or state.current_db
    if db is None:
        state.problems.add(
            f"line {line}",
            f"table {name.name!r} {_NO_DATABASE}",
        )
        return
    if _valid(state, db, line, "database") and _valid(state, name.name, line, "table"):
        ref = ObjectRef(db, name.name)
        state.tables.setdefault(ref, line)
        state.drops.pop(ref, None)


def _drop(state: _State, ref: ObjectRef, line: int) -> None:
    if ref.table is None:
        state.created_dbs.pop(ref.db, None)
        for table in [t for t in state.tables if t.db == ref.db]:
            del state.tables[table]
    else:
        state.tables.pop(ref, None)
    state.drops.setdefault(ref, line)


def _apply(state: _State, verb: str, kind: str, names: list[_Name], line: int, snippet: str) -> None:
    if kind == "TEMPORARY":
        state.warnings.append(f"line {line}: temporary table ignored ({snippet})")
        return
    if verb == "USE":
        if names and _valid(state, names[0].name, line, "database"):
            state.current_db = names[0].name
        return
    if kind == "DATABASE" and state.dialect == "postgres":
        state.warnings.append(
            f"line {line}: {verb} DATABASE ignored: a PostgreSQL job's DbList names schemas ({snippet})"
        )
        return
    for name in names:
        if kind == "TABLE":
            if verb == "CREATE":
                _add_table(state, name, line)
            else:
                db = name.db or state.current_db
                if db is None:
                    state.warnings.append(
                        f"line {line}: DROP TABLE {name.name!r} names no database: not a removal "
                        "(write it as db.table, add USE db, or set sqlDatabase on the route)"
                    )
                elif _valid(state, db, line, "database") and _valid(state, name.name, line, "table"):
                    _drop(state, ObjectRef(db, name.name), line)
        else:
            db_name = name.name if name.db is None else name.db
            if verb == "CREATE":
                _add_db(state, db_name, line)
            elif _valid(state, db_name, line, "database"):
                _drop(state, ObjectRef(db_name), line)


def _classify_ast(node: Any, state: _State) -> tuple[str, str, list[_Name]] | None:
    """(verb, kind, names) of a parsed CREATE/DROP TABLE|DATABASE|SCHEMA or USE; None otherwise."""
    cls = type(node).__name__
    if cls == "Use":
        name = _table_name(node.this, state.dialect)
        return ("USE", "DATABASE", [name]) if name else None
    if cls not in ("Create", "Drop"):
        return None
    verb = "CREATE" if cls == "Create" else "DROP"
    kind = str(node.args.get("kind") or "").upper()
    if kind not in ("TABLE", "DATABASE", "SCHEMA"):
        return None
    props = node.args.get("properties")
    prop_names = {type(p).__name__ for p in (props.expressions if props else [])}
    if "TemporaryProperty" in prop_names or node.args.get("temporary"):
        return (verb, "TEMPORARY", [])
    name = _table_name(node.this, state.dialect)
    if name is None:
        return None
    names = [name]
    extras = (node.args.get("expressions") or []) if verb == "DROP" else []
    for extra in extras:
        more = _table_name(extra, state.dialect)
        if more:
            names.append(more)
    return verb, kind, names


_HEADER_DATABASE_RE = re.compile(r"\A(?:--[^\n]*\n){0,8}?--\s*Host:[^\n]*?\bDatabase:[ \t]*(?P<db>[^\s]+)")
_TRUNCATED_ENDINGS = ("=", ",", ".", "(")
_TABLE_BODY_STARTS = frozenset(
    {"(", "LIKE", "AS", "SELECT", "PARTITION", "OF", "IGNORE", "REPLACE", "WITH", "ENGINE", "TABLE"}
)


@dataclass
class _Skipped:
    """Statements the handler has no use for, counted per label in order of first appearance."""

    counts: dict[str, int] = field(default_factory=dict)
    session: int = 0
    directives: int = 0
    unknown_lines: list[int] = field(default_factory=list)

    def add(self, label: str) -> None:
        self.counts[label] = self.counts.get(label, 0) + 1

    def summary(self) -> str | None:
        parts = [plural(label, count) for label, count in self.counts.items()]
        if self.unknown_lines:
            lines = ", ".join(str(n) for n in self.unknown_lines[:5])
            more = ", …" if len(self.unknown_lines) > 5 else ""
            parts.append(f"{plural('unrecognised statement', len(self.unknown_lines))} (line {lines}{more})")
        if self.session:
            parts.append(plural("session setting", self.session))
        if self.directives:
            parts.append(plural("client directive", self.directives))
        return "skipped: " + ", ".join(parts) if parts else None


def _broken_table_statement(stmt: Statement, dialect: Dialect) -> str | None:
    """Why a table statement is cut short (a truncated file, an unclosed parenthesis), or None."""
    if stmt.depth > 0:
        return "a parenthesis never closes (the statement is cut short)"
    if stmt.depth < 0:
        return "a closing parenthesis has no opening one"
    if "${" in stmt.text:
        return "it contains a migration-tool placeholder (${...}); upload the file with placeholders resolved"
    if stmt.text.rstrip()[-1:] in _TRUNCATED_ENDINGS:
        return "the statement is cut short"
    toks = list(islice(kind_tokens(stmt.text), LEADING_TOKENS))
    if toks and toks[0].upper == "CREATE":
        kind, _, after = object_kind(toks, 1)
        if kind == "table":
            name, after = read_name(toks, skip_if_exists(toks, after), dialect)
            if name is None:
                return "CREATE TABLE names no table"
            following = toks[after].upper or toks[after].text if after < len(toks) else ""
            if following not in _TABLE_BODY_STARTS:
                return "CREATE TABLE has no column list (the statement is cut short)"
    return None


def _simple_table_statement(stmt: Statement, dialect: Dialect) -> tuple[str, str, list[_Name]] | None:
    """`DROP TABLE|DATABASE|SCHEMA [IF EXISTS] a[, b]` and `USE db`, read without sqlglot."""
    toks = list(kind_tokens(stmt.text))
    verb = toks[0].upper if toks else ""
    if verb == "USE":
        name, end = read_name(toks, 1, dialect)
        return ("USE", "DATABASE", [_Name(None, name.name)]) if name and end == len(toks) else None
    if verb != "DROP" or len(toks) < 3 or toks[1].upper not in ("TABLE", "DATABASE", "SCHEMA"):
        return None
    names: list[_Name] = []
    i = skip_if_exists(toks, 2)
    while i < len(toks):
        name, i = read_name(toks, i, dialect)
        if name is None:
            return None
        names.append(_Name(name.db, name.name) if toks[1].upper == "TABLE" else _Name(None, name.name))
        if i < len(toks) and toks[i].text == ",":
            i += 1
            continue
        break
    rest = {tok.upper for tok in toks[i:]}
    if not names or not rest <= {"CASCADE", "RESTRICT"}:
        return None
    return "DROP", toks[1].upper, names


def _set_search_path(state: _State, stmt: Statement) -> None:
    """`SET search_path` / `set_config('search_path', ...)` name the schema of unqualified tables."""
    if state.dialect != "postgres" or "search_path" not in stmt.text.lower():
        return
    config = re.search(r"set_config\s*\(\s*'search_path'\s*,\s*'(?P<value>[^']*)'", stmt.text, re.I)
    if config:
        value = config.group("value").strip()
        if not value:
            state.current_db = None
            return
        raw = value.split(",")[0].strip()
    else:
        match = _SEARCH_PATH_RE.search(stmt.text)
        if not match:
            return
        raw = match.group("first")
    quoted = raw.startswith('"')
    first = raw.strip("'\"")
    state.current_db = first if quoted else first.lower()


def _resolve(state: _State, name: QName) -> ObjectRef | None:
    db = name.db or state.current_db
    return ObjectRef(db, name.name) if db else None


def _rename(state: _State, pairs: tuple[tuple[QName, QName], ...], line: int, snippet: str) -> None:
    """A rename is reported with both names; a table this file created follows its new name."""
    existing: list[tuple[ObjectRef, ObjectRef]] = []
    for old, new in pairs:
        old_ref = _resolve(state, old)
        if old_ref is None:
            state.problems.add(
                f"line {line}", f"rename of {old.name!r} has no database: {short_repr(snippet)}"
            )
            continue
        new_db = new.db or (state.current_db if state.dialect == "mysql" else None) or old_ref.db
        if not (_valid(state, new_db, line, "database") and _valid(state, new.name, line, "table")):
            continue
        new_ref = ObjectRef(new_db, new.name)
        if old_ref in state.tables:
            created = state.tables.pop(old_ref)
            state.tables.setdefault(new_ref, line)
            state.drops.pop(new_ref, None)
            state.warnings.append(
                f"line {line}: table {old_ref} (created at line {created}) is renamed to {new_ref}: "
                f"adding {new_ref}"
            )
        else:
            existing.append((old_ref, new_ref))
    for old_ref, new_ref in existing:
        if old_ref in state.tables:  # a swap: `RENAME TABLE t TO t_old, t_new TO t`
            state.warnings.append(
                f"line {line}: table {old_ref} is renamed to {new_ref} and replaced by a table this "
                f"file creates: {old_ref} stays in the object list; send a change that adds "
                f"{new_ref} if the job should synchronize it too"
            )
        else:
            state.warnings.append(
                f"line {line}: table {old_ref} is renamed to {new_ref}: the object list is not "
                f"changed; if the job synchronizes {old_ref}, send a change that adds {new_ref} "
                f"and removes {old_ref} (DTS selects tables by name)"
            )


def _views_are_not_tables(state: _State, views: dict[ObjectRef, int]) -> None:
    """mysqldump writes a stand-in (a placeholder table, then DROP TABLE) before each final view."""
    for ref, line in views.items():
        if ref in state.tables and state.tables[ref] < line:
            del state.tables[ref]
        if ref in state.drops and state.drops[ref] < line:
            del state.drops[ref]


def _default_database(text: str, dialect: Dialect) -> str | None:
    """PostgreSQL: `public`. MySQL: the database a mysqldump header names (`-- Host: h  Database: d`)."""
    if dialect == "postgres":
        return "public"
    header = _HEADER_DATABASE_RE.match(text[:2048])
    return header.group("db") if header else None


def parse(
    text: str,
    *,
    what: str,
    max_statements: int,
    dialect: Dialect | None = None,
    default_database: str | None = None,
) -> ParsedChange:
    """Tables and databases a SQL file creates (additions) and drops (`implicit_removals`).

    `max_statements` caps the table statements (CREATE/DROP/RENAME of tables, databases and
    schemas, USE): the ones that cost a parse. Skipped kinds are only counted; their number is
    bounded by the document size cap and the linear split. `default_database` (a route's
    `sqlDatabase`) names the database of unqualified tables until a USE/search_path says otherwise.
    """
    chosen: Dialect = dialect or detect_dialect(text)
    try:
        statements = split_script(text, chosen)
    except ScriptError as exc:
        raise InvalidSqlError(f"Invalid SQL in {what}: {exc}") from None
    plan = [(stmt, classify(stmt.text, chosen)) for stmt in statements if stmt.directive is None]
    table_statements = sum(1 for _, kind in plan if kind.action in ("table", "rename"))
    if table_statements > max_statements:
        raise InputTooLargeError(
            f"Too many table statements in {what}: {table_statements}, over the cap of "
            f"{max_statements} (CREATE, DROP and RENAME of tables, databases and schemas, and USE)",
            hint="Split the file, or raise DTS_CHANGE_MAX_STATEMENTS",
        )
    state = _State(dialect=chosen, current_db=default_database or _default_database(text, chosen))
    state.problems = Problems(f"SQL in {what}")
    skipped = _Skipped(directives=len(statements) - len(plan))
    reader = _Reader(state, skipped)
    for stmt, kind in plan:
        reader.read(stmt, kind)
    understood = len(plan) - len(skipped.unknown_lines)
    if plan and understood == 0 and not state.problems.items:
        first = next(stmt for stmt, kind in plan if kind.action == "unknown")
        state.problems.add(
            f"line {first.line}",
            f"not a SQL statement: {short_repr(_snippet(first.text))}",
            kind="invalid_sql",
        )
    if not plan and not state.problems.items:
        state.problems.add("", "no SQL statement found", kind="invalid_sql")
    state.problems.raise_if_any(InvalidSqlError)
    _views_are_not_tables(state, reader.views)
    summary = skipped.summary()
    if summary:
        state.warnings.append(summary)
    return _result(state)


class _Reader:
    """Acts on one classified statement at a time: counts what it skips, applies table statements."""

    def __init__(self, state: _State, skipped: _Skipped) -> None:
        self.state = state
        self.skipped = skipped
        self.views: dict[ObjectRef, int] = {}
        self.parser: _TableParser | None = None

    def read(self, stmt: Statement, kind: Kind) -> None:
        state, skipped = self.state, self.skipped
        if stmt.open_block or (not stmt.terminated and stmt.depth > 0):
            reason = "a BEGIN ... END body never ends" if stmt.open_block else "a parenthesis never closes"
            state.problems.add(
                f"line {stmt.line}",
                f"{reason}, so the rest of the file would be lost: {short_repr(_snippet(stmt.text))}",
                kind="invalid_sql",
            )
        elif kind.action == "session":
            skipped.session += 1
            _set_search_path(state, stmt)
        elif kind.action in ("skip", "view"):
            skipped.add(kind.label)
            ref = _resolve(state, kind.view) if kind.view else None
            if ref is not None:
                self.views.setdefault(ref, stmt.line)
        elif kind.action == "rename":
            _rename(state, kind.renames, stmt.line, _snippet(stmt.text))
        elif kind.action == "unknown":
            skipped.unknown_lines.append(stmt.line)
        elif kind.temporary:
            skipped.add("temporary table" if stmt.text[:6].upper() == "CREATE" else "temporary table drop")
        else:
            self._table_statement(stmt)

    def _table_statement(self, stmt: Statement) -> None:
        snippet = _snippet(stmt.text)
        broken = _broken_table_statement(stmt, self.state.dialect)
        if broken:
            self.state.problems.add(f"line {stmt.line}", f"{broken}: {short_repr(snippet)}", kind="invalid_sql")
            return
        simple = _simple_table_statement(stmt, self.state.dialect)
        if simple is not None:
            _apply(self.state, *simple, line=stmt.line, snippet=snippet)
            return
        self.parser = self.parser or _TableParser(self.state.dialect)
        self.parser.apply(stmt, snippet, self.state)


class _TableParser:
    """sqlglot, loaded on the first table statement; a statement it cannot model is read from tokens."""

    def __init__(self, dialect: Dialect) -> None:
        import sqlglot.dialects.dialect as sg_dialect  # noqa: PLC0415 - lazy: only SQL needs it
        from sqlglot.errors import ParseError, SqlglotError, TokenError  # noqa: PLC0415

        _install_log_filter()
        self.dialect = dialect
        self.engine = sg_dialect.Dialect.get_or_raise(dialect)
        self.errors = (TokenError, SqlglotError)
        self.parse_error = ParseError

    def apply(self, stmt: Statement, snippet: str, state: _State) -> None:
        try:
            chunk = [t for t in self.engine.tokenize(stmt.text) if t.token_type.name != "SEMICOLON"]
        except self.errors as exc:
            state.problems.add(
                f"line {stmt.line}", f"{_clean(str(exc))}: {short_repr(snippet)}", kind="invalid_sql"
            )
            return
        if not chunk:
            return
        parsed: Any = None
        error: str | None = None
        try:
            nodes = [n for n in self.engine.parser().parse(chunk, stmt.text) if n is not None]
            parsed = nodes[0] if len(nodes) == 1 else None
        except self.parse_error as exc:
            error = _parse_error_text(exc)
        except RecursionError:  # sqlglot's parser recurses per bracket: `((((...` exhausts the stack
            error = "the statement nests too deeply to parse"
        result = _classify_ast(parsed, state) if parsed is not None else None
        if not isinstance(result, tuple):
            result = _fallback(chunk, self.dialect)
        if result is None:
            state.problems.add(
                f"line {stmt.line}",
                f"{error or 'not a table statement'}: {short_repr(snippet)}",
                kind="invalid_sql",
            )
            return
        _apply(state, *result, line=stmt.line, snippet=snippet)


def _snippet(code: str) -> str:
    snippet = " ".join(code.split())
    return snippet if len(snippet) <= 60 else snippet[:59] + "…"


def _result(state: _State) -> ParsedChange:
    """The change; with nothing to add or drop, `add` is None and the warnings say why (a no-op)."""
    table_dbs = {ref.db for ref in state.tables}
    empty_dbs = [db for db in state.created_dbs if db not in table_dbs]
    warnings = list(state.warnings)
    refs: list[ObjectRef] = []
    if state.tables:
        # A dump's schema that holds only views or routines is not a request to sync it whole.
        if empty_dbs:
            warnings.append(
                f"database(s) created without tables in this file are not added: {', '.join(empty_dbs)} "
                "(the file's tables are; send the database as a table list to synchronize it whole)"
            )
    else:
        refs = [ObjectRef(db) for db in empty_dbs]
    refs.extend(sorted(state.tables, key=lambda r: state.tables[r]))
    drops = tuple(sorted(state.drops, key=lambda r: state.drops[r]))
    add = None
    if refs:
        fragment, more = fragment_from_refs(refs)
        warnings.extend(more)
        add = DbList.from_user(fragment, what="tables of the SQL file")
    elif not drops:
        warnings.insert(0, "no table is created or dropped: the object list is not changed")
    return ParsedChange(
        format=f"sql-{state.dialect}",
        add=add,
        implicit_removals=drops,
        warnings=tuple(warnings),
    )


_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


def _clean(message: str) -> str:
    return " ".join(_ANSI_RE.sub("", message).split())[:200]


def _parse_error_text(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        first = errors[0]
        return f"{first.get('description', 'syntax error')} at column {first.get('col')}"
    return _clean(str(exc))
