"""What kind of statement this is, read from its leading words (no SQL parser needed).

`ddl.py` acts on table statements only: CREATE/DROP of tables, databases and schemas, `USE`,
and renames. Everything else a dump or migration carries (views, triggers, routines, events,
indexes, sequences, grants, data, session settings, client directives) is skipped and counted
under a readable label ("view", "trigger", "index"), so a file is never refused for a statement
the handler has no use for, and a view is never mistaken for a table. The words are read with
a small tokenizer that knows the quoting of both dialects; names come back as the server stores
them (unquoted PostgreSQL names fold to lower case).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import islice, pairwise
from typing import Literal, NamedTuple

KindDialect = Literal["mysql", "postgres"]

_TOKEN_RE = re.compile(
    r"""(?P<word>[A-Za-z_\x80-\uffff][A-Za-z0-9_$\x80-\uffff]*)
      | `(?P<bt>[^`]*(?:``[^`]*)*)`
      | "(?P<dq>[^"]*(?:""[^"]*)*)"
      | '(?P<sq>[^'\\]*(?:(?:\\.|'')[^'\\]*)*)'
      | (?P<num>\d[\w.]*)
      | (?P<punct>\S)""",
    re.X | re.S,
)


class Tok(NamedTuple):
    """One token; a NamedTuple because a dump makes hundreds of thousands of them."""

    kind: Literal["word", "quoted", "string", "num", "punct"]
    text: str

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


def tokens(text: str) -> Iterator[Tok]:
    for match in _TOKEN_RE.finditer(text):
        group = match.lastgroup
        if group == "word":
            yield Tok("word", match.group("word"))
        elif group == "bt":
            yield Tok("quoted", match.group("bt").replace("``", "`"))
        elif group == "dq":
            yield Tok("quoted", match.group("dq").replace('""', '"'))
        elif group == "sq":
            yield Tok("string", match.group("sq"))
        elif group == "num":
            yield Tok("num", match.group("num"))
        else:
            yield Tok("punct", match.group("punct"))


class QName(NamedTuple):
    """A possibly qualified name: `db` is None when the statement leaves it to USE/search_path."""

    db: str | None
    name: str


def read_name(toks: list[Tok], i: int, dialect: KindDialect) -> tuple[QName | None, int]:
    """A dotted name at `toks[i]` (the last two parts count); (None, i) when there is none."""
    parts: list[str] = []
    while i < len(toks):
        tok = toks[i]
        if tok.kind == "word":
            parts.append(tok.text.lower() if dialect == "postgres" else tok.text)
        elif tok.kind == "quoted":
            parts.append(tok.text)
        else:
            break
        i += 1
        if i < len(toks) and toks[i].text == "." and toks[i].kind == "punct":
            i += 1
            continue
        break
    if not parts:
        return None, i
    return QName(parts[-2] if len(parts) > 1 else None, parts[-1]), i


# ---------------------------------------------------------------------- kinds

_CREATE_MODIFIERS = frozenset(
    {
        "OR", "REPLACE", "ALTER", "TEMPORARY", "TEMP", "UNLOGGED", "GLOBAL", "LOCAL", "UNIQUE",
        "FULLTEXT", "SPATIAL", "RECURSIVE", "TRUSTED", "PROCEDURAL", "AGGREGATE", "ONLINE",
        "OFFLINE", "CONSTRAINT", "DEFAULT", "EXTERNAL", "UNDEFINED", "MERGE", "TEMPTABLE",
        "DEFINER", "INVOKER", "SQL", "SECURITY", "ALGORITHM", "CURRENT_USER",
    }
)  # fmt: skip
_MULTI_WORD_KINDS = {
    ("MATERIALIZED", "VIEW"): "materialized view",
    ("FOREIGN", "TABLE"): "foreign table",
    ("FOREIGN", "DATA"): "foreign data wrapper",
    ("EVENT", "TRIGGER"): "event trigger",
    ("TEXT", "SEARCH"): "text search object",
    ("USER", "MAPPING"): "user mapping",
    ("OPERATOR", "CLASS"): "operator class",
    ("OPERATOR", "FAMILY"): "operator family",
    ("ACCESS", "METHOD"): "access method",
    ("LOGFILE", "GROUP"): "logfile group",
    ("RESOURCE", "GROUP"): "resource group",
    ("SPATIAL", "REFERENCE"): "spatial reference system",
    ("DEFAULT", "PRIVILEGES"): "default privileges",
}
_OBJECT_WORDS = frozenset(
    {
        "TABLE", "VIEW", "INDEX", "TRIGGER", "FUNCTION", "PROCEDURE", "EVENT", "SEQUENCE", "TYPE",
        "DOMAIN", "EXTENSION", "SCHEMA", "DATABASE", "ROLE", "USER", "GROUP", "POLICY", "RULE",
        "PUBLICATION", "SUBSCRIPTION", "SERVER", "TABLESPACE", "COLLATION", "CONVERSION", "CAST",
        "OPERATOR", "STATISTICS", "TRANSFORM", "LANGUAGE", "SYNONYM", "PACKAGE", "ROUTINE",
        "AGGREGATE", "LARGE",
    }
)  # fmt: skip
_SESSION_WORDS = frozenset(
    {
        "SET", "RESET", "LOCK", "UNLOCK", "BEGIN", "START", "COMMIT", "ROLLBACK", "END", "ABORT",
        "SAVEPOINT", "RELEASE", "DISCARD", "FLUSH",
    }
)  # fmt: skip
_DATA_WORDS = frozenset(
    {"INSERT", "REPLACE", "UPDATE", "DELETE", "MERGE", "COPY", "LOAD", "TRUNCATE", "UPSERT"}
)
_OTHER_WORDS = frozenset(
    {
        "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "ANALYZE", "ANALYSE", "VACUUM", "CHECKPOINT",
        "LISTEN", "NOTIFY", "UNLISTEN", "PREPARE", "DEALLOCATE", "EXECUTE", "REFRESH", "REINDEX",
        "CLUSTER", "OPTIMIZE", "REPAIR", "CHECK", "CHECKSUM", "SECURITY", "IMPORT", "INSTALL",
        "UNINSTALL", "KILL", "XA", "PURGE", "CHANGE", "STOP", "HANDLER", "HELP", "CACHE", "FETCH",
        "MOVE", "CLOSE", "DECLARE", "CALL", "DO", "PERFORM", "REASSIGN", "LABEL",
    }
)  # fmt: skip
_QUERY_WORDS = frozenset({"SELECT", "WITH", "VALUES", "TABLE"})
_CONSTRAINT_WORDS = frozenset({"CONSTRAINT", "PRIMARY", "FOREIGN", "UNIQUE", "CHECK", "EXCLUDE"})
_NOT_TABLE_RENAMES = frozenset({"COLUMN", "INDEX", "KEY", "CONSTRAINT"})


LEADING_TOKENS = 40
_FIRST_WORD_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)")
_NEEDS_MORE_WORDS = frozenset({"CREATE", "DROP", "ALTER", "RENAME", "USE"})


class Kind(NamedTuple):
    """What a statement is. `action` says what ddl.py does with it."""

    action: Literal["table", "rename", "view", "session", "skip", "unknown"]
    label: str = ""
    """For skip/view: the counted label ("view", "trigger", "index drop")."""
    renames: tuple[tuple[QName, QName], ...] = ()
    view: QName | None = None
    temporary: bool = False


def _skip_definer(toks: list[Tok], i: int) -> int:
    """After DEFINER: `= user[@host]` or `= CURRENT_USER[()]`."""
    if i < len(toks) and toks[i].text == "=":
        i += 1
    if i < len(toks):
        i += 1
    if i < len(toks) and toks[i].text == "@":
        i += 2
    if i + 1 < len(toks) and toks[i].text == "(" and toks[i + 1].text == ")":
        i += 2
    return i


def object_kind(toks: list[Tok], i: int) -> tuple[str, bool, int]:
    """(object kind, temporary?, index after it) for CREATE/DROP/ALTER modifiers + kind words."""
    temporary = False
    while i < len(toks):
        word = toks[i].upper
        pair = (word, toks[i + 1].upper if i + 1 < len(toks) else "")
        if pair in _MULTI_WORD_KINDS and not (word == "SPATIAL" and pair[1] != "REFERENCE"):
            return _MULTI_WORD_KINDS[pair], temporary, i + 2
        if word in ("TEMPORARY", "TEMP"):
            temporary = True
        if word in _OBJECT_WORDS and not (word == "AGGREGATE" and pair[1] == "FUNCTION"):
            return word.lower(), temporary, i + 1
        if word == "DEFINER" and i + 1 < len(toks) and toks[i + 1].text == "=":
            i = _skip_definer(toks, i + 1)
            continue
        if word in _CREATE_MODIFIERS or toks[i].text == "=":
            i += 1
            continue
        return "", temporary, i
    return "", temporary, i


def skip_if_exists(toks: list[Tok], i: int) -> int:
    while i < len(toks) and toks[i].upper in ("IF", "NOT", "EXISTS", "ONLY"):
        i += 1
    return i


def _alter_table(toks: list[Tok], dialect: KindDialect) -> Kind:
    """ALTER TABLE: a rename of the table, or a change the handler skips (labelled by sub-kind)."""
    i = skip_if_exists(toks, 2)
    old, i = read_name(toks, i, dialect)
    depth = 0
    label = "table change"
    while i < len(toks):
        tok = toks[i]
        if tok.text == "(" and tok.kind == "punct":
            depth += 1
        elif tok.text == ")" and tok.kind == "punct":
            depth -= 1
        elif depth == 0 and tok.kind == "word":
            word = tok.upper
            nxt = toks[i + 1].upper if i + 1 < len(toks) else ""
            if word == "RENAME" and old is not None:
                new = _renamed_to(toks, i + 1, dialect)
                if new is not None:
                    return Kind("rename", renames=((old, new),))
            elif word == "ADD" and nxt in _CONSTRAINT_WORDS:
                label = "constraint"
            elif word == "ADD" and nxt in ("KEY", "INDEX", "FULLTEXT", "SPATIAL"):
                label = "index"
            elif word == "OWNER" and nxt == "TO":
                label = "owner change"
            elif word in ("ATTACH", "DETACH") and nxt == "PARTITION":
                label = "partition attachment"
        i += 1
    return Kind("skip", label)


def _renamed_to(toks: list[Tok], i: int, dialect: KindDialect) -> QName | None:
    """The new name after ALTER TABLE ... RENAME: `TO x` (both), `AS x` or bare `x` (MySQL)."""
    if i >= len(toks):
        return None
    word = toks[i].upper
    if word in ("TO", "AS") and (word == "TO" or dialect == "mysql"):
        return read_name(toks, i + 1, dialect)[0]
    if dialect == "mysql" and word not in _NOT_TABLE_RENAMES:
        new, after = read_name(toks, i, dialect)
        if after >= len(toks) or toks[after].text == ",":
            return new
    return None


def _rename_table(toks: list[Tok], dialect: KindDialect) -> Kind:
    """MySQL `RENAME TABLE a TO b [, c TO d]`."""
    pairs: list[tuple[QName, QName]] = []
    i = 2
    while i < len(toks):
        old, i = read_name(toks, i, dialect)
        if old is None or i >= len(toks) or toks[i].upper != "TO":
            return Kind("unknown")
        new, i = read_name(toks, i + 1, dialect)
        if new is None:
            return Kind("unknown")
        pairs.append((old, new))
        if i < len(toks) and toks[i].text == ",":
            i += 1
    return Kind("rename", renames=tuple(pairs)) if pairs else Kind("unknown")


def classify(text: str, dialect: KindDialect) -> Kind:
    """The kind of one statement (comments already blanked by the splitter).

    The leading words decide; only a statement that may rename a table is read to its end."""
    head = _FIRST_WORD_RE.match(text)
    if head is None:
        return Kind("unknown")
    first = head.group(1).upper()
    if first not in _NEEDS_MORE_WORDS:
        return _classify_by_first_word(first, text)
    toks = list(tokens(text)) if "RENAME" in text.upper() else list(islice(tokens(text), LEADING_TOKENS))
    if first in ("CREATE", "DROP"):
        kind, temporary, after = object_kind(toks, 1)
        if kind in ("table", "database", "schema"):
            return Kind("table", temporary=temporary)
        if not kind:
            return Kind("unknown")
        if first == "CREATE" and kind in ("view", "materialized view"):
            name, _ = read_name(toks, skip_if_exists(toks, after), dialect)
            return Kind("view", kind, view=name)
        return Kind("skip", kind if first == "CREATE" else f"{kind} drop")
    if first == "USE":
        return Kind("table")
    if first == "ALTER":
        kind, _, _ = object_kind(toks, 1)
        if kind == "table" and toks[1].upper == "TABLE":
            return _alter_table(toks, dialect)
        if not kind:
            return Kind("unknown")
        owner = any(a.upper == "OWNER" and b.upper == "TO" for a, b in pairwise(toks))
        return Kind("skip", "owner change" if owner else f"{kind} change")
    if first == "RENAME":
        if len(toks) > 1 and toks[1].upper == "TABLE":
            return _rename_table(toks, dialect)
        return Kind("skip", "rename of another object")
    return Kind("unknown")


def _classify_by_first_word(first: str, text: str) -> Kind:
    if first in _SESSION_WORDS:
        return Kind("session")
    if first in _QUERY_WORDS:
        lowered = text.lower()
        if "set_config(" in lowered:
            return Kind("session")
        return Kind("skip", "sequence value" if "setval(" in lowered else "query")
    if first in _DATA_WORDS:
        return Kind("skip", "data statement")
    if first in ("GRANT", "REVOKE"):
        return Kind("skip", first.lower())
    if first == "COMMENT":
        return Kind("skip", "comment")
    if first in _OTHER_WORDS:
        return Kind("skip", f"{first.lower()} statement")
    return Kind("unknown")


def plural(label: str, count: int) -> str:
    """`2 views`, `1 index`, `4 indexes`, `2 queries`, `3 view drops`."""
    if count == 1:
        return f"1 {label}"
    head, _, last = label.rpartition(" ")
    if last.endswith("x") or last.endswith("ch") or last.endswith("sh") or last.endswith("s"):
        last += "es"
    elif last.endswith("y") and last[-2:-1] not in ("a", "e", "o", "u"):
        last = last[:-1] + "ies"
    else:
        last += "s"
    return f"{count} {head + ' ' if head else ''}{last}"
