"""Format 5: SQL DDL "new table schema" files (MySQL and PostgreSQL) -> tables to add.

sqlglot is imported inside `parse_ddl` only, so no other path pays for it (a test checks that
importing `dts_change.intake` does not import sqlglot). Statements are split on the tokenizer's
semicolons and parsed one at a time: one statement sqlglot cannot parse (MySQL's
`DROP TABLE a, b`, exotic partition clauses) falls back to reading its leading tokens, so a
valid file is never refused for syntax the parser does not model.

Rules (docs/formats.md): `CREATE TABLE [IF NOT EXISTS] [db.]table` adds the table; `CREATE
DATABASE|SCHEMA` with no table of it in the file adds the whole database; `USE db` (MySQL) or
`SET search_path` (PostgreSQL) names the database of unqualified tables; PostgreSQL's default is
`public`. `DROP TABLE|DATABASE|SCHEMA` become removals only where the route allows removals
(`ParsedChange.implicit_removals`); a DROP followed by a CREATE of the same object is a
re-creation, not a removal. Other statements are ignored, most with a warning.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal

from ._record import dataclass, field
from .change import ParsedChange, Problems, fragment_from_refs
from .dblist import DbList, ObjectRef, name_problem
from .errors import InputTooLargeError, InvalidSqlError, short_repr

Token = Any  # sqlglot's Token; not imported at module level so sqlglot stays lazy

Dialect = Literal["mysql", "postgres"]
_DIALECT_HINT_RE = re.compile(r"^\s*(?:--|#)\s*dialect\s*[:=]\s*(mysql|postgres(?:ql)?)\b", re.I | re.M)
_PG_MARKERS_RE = re.compile(
    r"\b(serial|bigserial|smallserial|timestamptz|jsonb|bytea|search_path|partition\s+of|"
    r"unlogged|tablespace|owner\s+to)\b|::",
    re.I,
)
_MYSQL_MARKERS_RE = re.compile(r"`|\b(engine\s*=|auto_increment|unsigned|charset)\b", re.I)
_SEARCH_PATH_RE = re.compile(r"search_path\s*(?:=|\bto\b)\s*(?P<first>[^,;\s]+)", re.I)
_QUIET = ("Set", "Transaction", "Commit", "Rollback", "Semicolon", "Comment")
_QUIET_COMMANDS = ("SET", "LOCK", "UNLOCK", "LOCK TABLES", "UNLOCK TABLES", "START")
_OTHER_STATEMENTS = (
    "Alter",
    "Insert",
    "Update",
    "Delete",
    "Select",
    "Union",
    "Except",
    "Intersect",
    "Merge",
    "Grant",
    "Revoke",
    "TruncateTable",
    "Describe",
    "Analyze",
    "Copy",
    "Pragma",
    "Show",
    "Kill",
    "Cache",
    "Uncache",
    "Refresh",
)
_FALLBACK_LOG_FILTER_INSTALLED = False


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


def detect_dialect(text: str) -> Dialect:
    """An explicit `-- dialect: postgres` comment wins; then syntax markers; MySQL by default."""
    hint = _DIALECT_HINT_RE.search(text[:4096])
    if hint:
        return "mysql" if hint.group(1).lower() == "mysql" else "postgres"
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


def _statement_text(tokens: list[Token], text: str) -> str:
    snippet = " ".join(text[tokens[0].start : tokens[-1].end + 1].split())
    return snippet if len(snippet) <= 60 else snippet[:59] + "…"


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
            f"table {name.name!r} has no database: write it as db.table or add USE db before it",
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
                    state.problems.add(f"line {line}", f"DROP TABLE {name.name!r} has no database")
                elif _valid(state, db, line, "database") and _valid(state, name.name, line, "table"):
                    _drop(state, ObjectRef(db, name.name), line)
        else:
            db_name = name.name if name.db is None else name.db
            if verb == "CREATE":
                _add_db(state, db_name, line)
            elif _valid(state, db_name, line, "database"):
                _drop(state, ObjectRef(db_name), line)


def _classify_ast(node: Any, state: _State) -> tuple[str, str, list[_Name]] | str | None:
    """(verb, kind, names) for CREATE/DROP/USE, "quiet"/"other" for statements we skip, None if not SQL."""
    cls = type(node).__name__
    if cls in _QUIET:
        return "quiet"
    if cls == "Command":
        command = str(node.this).upper()
        if command == "SET" and state.dialect == "postgres":
            match = _SEARCH_PATH_RE.search(str(node.expression or ""))
            if match:
                raw = match.group("first")
                quoted = raw.startswith('"')
                first = raw.strip("'\"")
                state.current_db = first if quoted else first.lower()
        return "quiet" if command in _QUIET_COMMANDS else "command"
    if cls in _OTHER_STATEMENTS:
        return "other"
    if cls == "Use":
        name = _table_name(node.this, state.dialect)
        return ("USE", "DATABASE", [name]) if name else None
    if cls in ("Create", "Drop"):
        verb = "CREATE" if cls == "Create" else "DROP"
        kind = str(node.args.get("kind") or "").upper()
        if kind not in ("TABLE", "DATABASE", "SCHEMA"):
            return f"other:{verb} {kind}".rstrip()
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
    return None


def _split_statements(tokens: list[Token]) -> list[list[Token]]:
    chunks: list[list[Token]] = [[]]
    for tok in tokens:
        if tok.token_type.name == "SEMICOLON":
            chunks.append([])
        else:
            chunks[-1].append(tok)
    return [c for c in chunks if c]


def parse_ddl(
    text: str,
    *,
    what: str,
    max_statements: int,
    dialect: Dialect | None = None,
) -> ParsedChange:
    """Tables and databases a DDL file creates (additions) and drops (`implicit_removals`)."""
    import sqlglot.dialects.dialect as sg_dialect  # noqa: PLC0415 - lazy: only SQL needs it
    from sqlglot.errors import ParseError, SqlglotError, TokenError  # noqa: PLC0415

    _install_log_filter()
    chosen: Dialect = dialect or detect_dialect(text)
    engine = sg_dialect.Dialect.get_or_raise(chosen)
    try:
        tokens = engine.tokenize(text)
    except (TokenError, SqlglotError) as exc:
        raise InvalidSqlError(f"Invalid SQL in {what}: {_clean(str(exc))}") from None
    statements = _split_statements(tokens)
    if len(statements) > max_statements:
        raise InputTooLargeError(
            f"Too many SQL statements in {what}: {len(statements)}, over the cap of "
            f"{max_statements} statements",
            hint="Split the file, or raise DTS_CHANGE_MAX_STATEMENTS",
        )
    state = _State(dialect=chosen, current_db="public" if chosen == "postgres" else None)
    state.problems = Problems(f"SQL in {what}")
    ignored: dict[str, int] = {}
    for chunk in statements:
        line = chunk[0].line
        snippet = _statement_text(chunk, text)
        parsed: Any = None
        error: str | None = None
        try:
            nodes = [n for n in engine.parser().parse(chunk, text) if n is not None]
            parsed = nodes[0] if len(nodes) == 1 else None
        except ParseError as exc:
            error = _parse_error_text(exc)
        except RecursionError:  # sqlglot's parser recurses per bracket: `((((...` exhausts the stack
            error = "the statement nests too deeply to parse"
        result = _classify_ast(parsed, state) if parsed is not None else None
        if result == "command" or result is None:
            fallback = _fallback(chunk, chosen)
            if fallback is not None:
                result = fallback
            elif result == "command":
                result = "other"
        if result is None:
            state.problems.add(
                f"line {line}",
                f"{error or 'not a SQL statement'}: {short_repr(snippet)}",
                kind="invalid_sql",
            )
            continue
        if result == "quiet":
            continue
        if isinstance(result, str) and result.startswith("other"):
            label = result.partition(":")[2] or _keyword(chunk[0]) or "other"
            ignored[label] = ignored.get(label, 0) + 1
            continue
        assert isinstance(result, tuple)
        _apply(state, *result, line=line, snippet=snippet)
    state.problems.raise_if_any(InvalidSqlError)
    for label, count in sorted(ignored.items()):
        state.warnings.append(f"{count} {label} statement(s) ignored")
    return _result(state, what)


def _result(state: _State, what: str) -> ParsedChange:
    table_dbs = {ref.db for ref in state.tables}
    refs = [ObjectRef(db) for db in state.created_dbs if db not in table_dbs]
    refs.extend(sorted(state.tables, key=lambda r: state.tables[r]))
    drops = tuple(sorted(state.drops, key=lambda r: state.drops[r]))
    if not refs and not drops:
        raise InvalidSqlError(
            f"Invalid SQL in {what}: no CREATE TABLE, CREATE DATABASE or CREATE SCHEMA statement found"
        )
    add = None
    warnings = list(state.warnings)
    if refs:
        fragment, more = fragment_from_refs(refs)
        warnings.extend(more)
        add = DbList.from_user(fragment, what=f"tables of {what}")
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
