"""Split a SQL script into statements the way the database clients do (`mysql`, `psql`).

Dumps and migration files are written for a client, not for a SQL parser: `mysqldump` wraps
statements in versioned comments (`/*!40101 SET ... */`, whose text MySQL executes) and changes
the statement terminator with `DELIMITER ;;` around triggers and routines; `pg_dump` writes
function bodies in dollar quotes (`$$ ... $$`) and psql meta-commands (`\\connect`,
`\\restrict`); a full dump carries `COPY ... FROM stdin` data blocks that end with `\\.`. This
module reads those as the clients do, in one linear pass (regular expressions jump over the
text between the characters that matter), and hands each statement on with its first line and
its parenthesis balance. It imports nothing heavy: the statements it returns are classified by
`ddl.py`, and only table statements go on to sqlglot.

A quote, comment or dollar-quoted body that never closes is an error: everything after it would
be swallowed, and a table in the swallowed part would be lost without a word.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

ScriptDialect = Literal["mysql", "postgres"]


class Statement(NamedTuple):
    """One statement: its code (comments blanked, versioned comments unwrapped) and where it starts."""

    text: str
    line: int
    depth: int = 0
    """Parenthesis balance at its end: 0 when balanced, > 0 when a `(` never closed."""
    directive: str | None = None
    """A client directive (`DELIMITER`, a psql meta-command) rather than SQL: its first word."""
    terminated: bool = True
    """False for the last statement of a file that ends without a terminator."""
    open_block: bool = False
    """A routine's `BEGIN` (written without DELIMITER) never met its `END`: the rest was swallowed."""


class ScriptError(ValueError):
    """The script cannot be split: an unterminated quote, comment or dollar-quoted body."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


_SKIP_BORING = re.compile(r"[^'\"`$/*#\-\n;\\]+")
_SKIP_BORING_BUT_WORDS = re.compile(r"[^'\"`$/*#\-\n;\\A-Za-z_]+")
_NEXT_WORD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_$]*)")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_MYSQL_SINGLE = re.compile(r"'[^'\\]*(?:(?:\\.|'')[^'\\]*)*'", re.S)
_MYSQL_DOUBLE = re.compile(r'"[^"\\]*(?:(?:\\.|"")[^"\\]*)*"', re.S)
_PG_SINGLE = re.compile(r"'[^']*(?:''[^']*)*'", re.S)
_PG_ESCAPE = re.compile(r"'[^'\\]*(?:(?:\\.|'')[^'\\]*)*'", re.S)
_PG_DOUBLE = re.compile(r'"[^"]*(?:""[^"]*)*"', re.S)
_BACKTICK = re.compile(r"`[^`]*(?:``[^`]*)*`", re.S)
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")
_VERSIONED_OPEN = re.compile(r"/\*M?!\d{0,6}")
_DELIMITER_LINE = re.compile(r"[ \t]*delimiter[ \t]+(\S+)[^\n]*", re.I)
_META_LINE = re.compile(r"[ \t]*\\[A-Za-z!?][^\n]*")
_LIQUIBASE_FILE = re.compile(r"\A\s*--\s*liquibase\s+formatted\s+sql\b", re.I)
_LIQUIBASE_CHANGESET = re.compile(r"[ \t]*--\s*changeset\s[^\n]*", re.I)
_LIQUIBASE_END_DELIMITER = re.compile(r"\bendDelimiter:(\S+)", re.I)
_COPY_FROM_STDIN = re.compile(r"^\s*COPY\b.*\bFROM\s+STDIN\b", re.I | re.S)
_ROUTINE_HEAD = re.compile(
    r"\s*CREATE\s+(?:OR\s+REPLACE\s+)?"
    r"(?:DEFINER\s*=\s*(?:`[^`]*`|'[^']*'|\"[^\"]*\"|[^\s@]+)(?:@(?:`[^`]*`|'[^']*'|\"[^\"]*\"|\S+))?\s+)?"
    r"(?:AGGREGATE\s+|CONSTRAINT\s+)?"
    r"(?:FUNCTION|PROCEDURE|TRIGGER|EVENT)\b",
    re.I | re.S,
)
_BLOCK_CLOSERS_NOT_BEGIN = frozenset({"IF", "LOOP", "WHILE", "REPEAT"})


class _Splitter:
    """The state of one pass; `split_script` is the interface."""

    def __init__(self, text: str, dialect: ScriptDialect) -> None:
        self.text = text
        self.dialect = dialect
        self.pos = 0
        self.line = 1
        self.delimiter = ";"
        self.out: list[Statement] = []
        self.parts: list[str] = []
        self.start_line = 0
        self.depth = 0
        self.versioned_open_line = 0
        self.block_depth = 0
        self.routine = False
        self.liquibase = bool(_LIQUIBASE_FILE.match(text))

    # ---------------------------------------------------------------- statement buffer

    def _emit_code(self, chunk: str) -> None:
        if not self.parts and not chunk.strip():
            return
        if not self.parts:
            self.start_line = self.line + chunk[: len(chunk) - len(chunk.lstrip())].count("\n")
        self.parts.append(chunk)

    def _flush(self, *, terminated: bool) -> None:
        code = "".join(self.parts).strip()
        if code:
            self.out.append(
                Statement(
                    code,
                    self.start_line,
                    self.depth,
                    terminated=terminated,
                    open_block=self.block_depth > 0,
                )
            )
            if self.dialect == "postgres" and _COPY_FROM_STDIN.match(code):
                self._skip_copy_data()
        self.parts = []
        self.depth = 0
        self.block_depth = 0
        self.routine = False

    def _skip_copy_data(self) -> None:
        """psql reads the lines after `COPY ... FROM stdin;` as data, up to a line `\\.`."""
        end_of_line = self.text.find("\n", self.pos)
        if end_of_line < 0:
            return
        marker = re.compile(r"^\\\.[ \t\r]*$", re.M).search(self.text, end_of_line + 1)
        stop = marker.end() if marker else len(self.text)
        self.line += self.text.count("\n", self.pos, stop)
        self.pos = stop

    def _advance(self, new_pos: int, *, emit: bool = True, blank: bool = False) -> None:
        chunk = self.text[self.pos : new_pos]
        self.line += chunk.count("\n")
        if emit:
            self._emit_code(chunk)
        elif blank:
            self._emit_code(" ")
        self.pos = new_pos

    # ---------------------------------------------------------------- the pass

    def run(self) -> list[Statement]:
        text = self.text
        n = len(text)
        at_line_start = True
        while self.pos < n:
            if at_line_start and not self.parts and self._directive():
                continue
            at_line_start = False
            ch = text[self.pos]
            if self.delimiter != ";" and text.startswith(self.delimiter, self.pos):
                self.pos += len(self.delimiter)
                self._flush(terminated=True)
                continue
            if ch == "\n":
                self._advance(self.pos + 1)
                at_line_start = True
            elif ch == ";" and self.delimiter == ";":
                if self._semicolon_ends():
                    self.pos += 1
                    self._flush(terminated=True)
                else:
                    self._advance(self.pos + 1)
            elif ch in "'\"`":
                self._quoted(ch)
            elif ch == "$":
                self._dollar()
            elif (ch == "-" and text.startswith("--", self.pos)) or (ch == "#" and self.dialect == "mysql"):
                end = text.find("\n", self.pos)
                self._advance(end if end >= 0 else n, emit=False, blank=True)
            elif ch == "/" and text.startswith("/*", self.pos):
                self._block_comment()
            elif ch == "*" and self.versioned_open_line and text.startswith("*/", self.pos):
                self.versioned_open_line = 0
                self._advance(self.pos + 2, emit=False, blank=True)
            elif (ch.isalpha() or ch == "_") and self._in_routine():
                self._word()
            else:
                if self.delimiter != ";":
                    end = self.pos + 1  # a custom delimiter may start with any character
                else:
                    boring = (_SKIP_BORING_BUT_WORDS if self.routine else _SKIP_BORING).match(text, self.pos + 1)
                    end = boring.end() if boring else self.pos + 1
                chunk = text[self.pos : end]
                self.depth += chunk.count("(") - chunk.count(")")
                self._advance(end)
        if self.versioned_open_line:
            raise ScriptError(self.versioned_open_line, "a /*! versioned comment never closes")
        self._flush(terminated=False)
        return self.out

    def _in_routine(self) -> bool:
        """Only a routine written without DELIMITER needs its words read (BEGIN ... END)."""
        if not self.parts:
            self.routine = self.delimiter == ";" and bool(_ROUTINE_HEAD.match(self.text, self.pos))
        return self.routine

    def _directive(self) -> bool:
        """A client directive on a line of its own, before any code of a statement."""
        changeset = _LIQUIBASE_CHANGESET.match(self.text, self.pos) if self.liquibase else None
        if changeset:
            # Liquibase: each changeset may end its statements with its own `endDelimiter:`.
            end_delimiter = _LIQUIBASE_END_DELIMITER.search(changeset.group(0))
            self.delimiter = end_delimiter.group(1) if end_delimiter else ";"
            self._directive_statement("--changeset", changeset.end())
            return True
        match = _DELIMITER_LINE.match(self.text, self.pos) if self.dialect == "mysql" else None
        if match:
            self.delimiter = match.group(1)
            self._directive_statement("DELIMITER", match.end())
            return True
        match = _META_LINE.match(self.text, self.pos)
        if match:
            self._directive_statement(match.group(0).strip().split()[0], match.end())
            return True
        return False

    def _directive_statement(self, word: str, end: int) -> None:
        line = self.line
        self.out.append(Statement(self.text[self.pos : end].strip(), line, directive=word))
        self.pos = end

    def _semicolon_ends(self) -> bool:
        """psql keeps `;` inside parentheses (multi-action rules); a routine body keeps its own."""
        if self.block_depth > 0:
            return False
        return not (self.dialect == "postgres" and self.depth > 0)

    def _word(self) -> None:
        match = _WORD.match(self.text, self.pos)
        assert match is not None
        word = match.group(0).upper()
        if word in ("BEGIN", "CASE", "END"):
            self._track_block(word, match.end())
        self._advance(match.end())

    def _track_block(self, word: str, after: int) -> None:
        """Compound bodies written without DELIMITER: `BEGIN ... END` (MySQL), `BEGIN ATOMIC` (PG)."""
        following = _NEXT_WORD.match(self.text, after)
        next_word = following.group(1).upper() if following else ""
        if word == "BEGIN":
            if self.dialect == "mysql" or next_word == "ATOMIC" or self.block_depth > 0:
                self.block_depth += 1
        elif word == "CASE":
            if self.block_depth > 0:
                self.block_depth += 1
        elif self.block_depth > 0 and next_word not in _BLOCK_CLOSERS_NOT_BEGIN:
            self.block_depth -= 1

    def _quoted(self, quote: str) -> None:
        text = self.text
        if quote == "`":
            pattern = _BACKTICK
        elif quote == '"':
            pattern = _PG_DOUBLE if self.dialect == "postgres" else _MYSQL_DOUBLE
        elif self.dialect == "mysql":
            pattern = _MYSQL_SINGLE
        else:
            prefix = text[self.pos - 1 : self.pos]
            before = text[self.pos - 2 : self.pos - 1]
            escape = prefix in ("E", "e") and not (before.isalnum() or before == "_")
            pattern = _PG_ESCAPE if escape else _PG_SINGLE
        match = pattern.match(text, self.pos)
        if match is None:
            kind = {"`": "backtick-quoted name", '"': "double-quoted text", "'": "string"}[quote]
            raise ScriptError(self.line, f"a {kind} never closes (it starts here)")
        self._advance(match.end())

    def _dollar(self) -> None:
        text = self.text
        before = text[self.pos - 1 : self.pos]
        match = _DOLLAR_TAG.match(text, self.pos) if self.dialect == "postgres" else None
        if match is None or before.isalnum() or before == "_":
            self._advance(self.pos + 1)
            return
        tag = match.group(0)
        close = text.find(tag, match.end())
        if close < 0:
            raise ScriptError(self.line, f"a {tag}-quoted body never closes (it starts here)")
        self._advance(close + len(tag))

    def _block_comment(self) -> None:
        text = self.text
        if self.dialect == "mysql":
            versioned = _VERSIONED_OPEN.match(text, self.pos)
            if versioned and not self.versioned_open_line:
                self.versioned_open_line = self.line
                self._advance(versioned.end(), emit=False, blank=True)
                return
            close = text.find("*/", self.pos + 2)
            if close < 0:
                raise ScriptError(self.line, "a /* comment never closes (it starts here)")
            self._advance(close + 2, emit=False, blank=True)
            return
        nesting = 0
        cursor = self.pos
        opener_or_closer = re.compile(r"/\*|\*/")
        while True:
            match = opener_or_closer.search(text, cursor)
            if match is None:
                raise ScriptError(self.line, "a /* comment never closes (it starts here)")
            nesting += 1 if match.group(0) == "/*" else -1
            cursor = match.end()
            if nesting == 0:
                break
        self._advance(cursor, emit=False, blank=True)


def split_script(text: str, dialect: ScriptDialect) -> list[Statement]:
    """Every statement and client directive of `text`, in order; raises `ScriptError`."""
    return _Splitter(text, dialect).run()
