"""Change formats: detect which of the five a body is, then parse it (pure: no I/O, no routing).

Precedence (docs/formats.md, "Format detection"):
1. size over the cap -> `input-too-large`;
2. MNS bodies only: a body that is entirely base64 and decodes to UTF-8 text that starts like a
   change (JSON, SQL, a `db.table` line or `# format: table-list`) is decoded first (a warning
   says so);
3. malformed UTF-8 -> `invalid-json`; NUL or other control bytes -> `unknown-format` (binary);
   empty -> `unknown-format`;
4. the name's extension, when it has one we know, decides: `.json`, `.sql`/`.ddl`,
   `.txt`/`.list`/`.tables`;
5. otherwise the content: `{` or `[` -> JSON; a leading SQL keyword (after comments) -> SQL DDL;
   a leading `# format: table-list` line -> a table list; other text -> `ambiguous-format` (a
   stray word must never become a whole database).
A JSON object is then a ModifyDtsJob request (its PascalCase parameters), a change document
(`add`/`remove`/`reserved`/`job`/`id`/...), or a DbList fragment (every value a database entry);
matching two is `ambiguous-format`, matching none `unknown-format`. A JSON array of strings is a
table list.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

from ..core.change import ParsedChange
from ..core.errors import (
    AmbiguousFormatError,
    InputTooLargeError,
    UnknownFormatError,
    short_repr,
)
from ..core.jsonsafe import decode_utf8, load_json
from ..core.values import immutable
from .formats import change_doc, dblist_fragment, modify_request, table_list
from .formats.change_doc import CHANGE_DOC_KEYS
from .formats.common import check_object_cap
from .formats.modify_request import MODIFY_MARKERS, ParsedModifyRequest

Syntax = Literal["json", "sql", "table-list"]

_EXTENSIONS: dict[str, Syntax] = {
    ".json": "json",
    ".sql": "sql",
    ".ddl": "sql",
    ".txt": "table-list",
    ".list": "table-list",
    ".tables": "table-list",
}
_SQL_START_RE = re.compile(
    r"^(?:(?:create|drop|use|set|alter|insert|begin|start|comment|lock|unlock)(?=\s|;|$)|/\*"
    r"|rename\s+table\s|delimiter\s+\S|\\connect\s)",
    re.I,
)
_BASE64_RE = re.compile(r"^[A-Za-z0-9+/\r\n]+={0,2}$")
_DB_ENTRY_KEYS = frozenset({"name", "all", "Table"})
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
EXPECTED_FORMATS = (
    "a change document {add, remove, reserved, job, id}",
    "a ModifyDtsJob request {DtsInstanceId, DtsJobId, DbList, FileOssUrl, ...}",
    "a DbList fragment {db: {name, all, Table}}",
    "a list of db.table lines",
    "SQL CREATE TABLE / CREATE DATABASE statements",
)


@immutable
class Caps:
    """Input limits; each violation is an `input-too-large` error naming the cap."""

    max_document_bytes: int = 4 * 1024 * 1024
    max_json_depth: int = 32
    max_objects: int = 10_000
    max_line_length: int = 1024
    max_statements: int = 1_000


@immutable
class Decoded:
    """A body's text plus what happened on the way (base64 decoded)."""

    text: str
    warnings: tuple[str, ...] = ()


ParseResult = ParsedChange | ParsedModifyRequest


def _extension(name: str | None) -> Syntax | None:
    if not name:
        return None
    base = name.rsplit("/", 1)[-1].lower()
    dot = base.rfind(".")
    return _EXTENSIONS.get(base[dot:]) if dot > 0 else None


def _first_meaningful_line(text: str) -> str:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "--")):
            return stripped
    return ""


def _looks_like_change_text(text: str) -> bool:
    first = _first_meaningful_line(text)
    if not first:
        return False
    return first[0] in "{[" or bool(_SQL_START_RE.match(first)) or "." in first or _declares_table_list(text)


def _try_base64(data: bytes) -> str | None:
    """The decoded text when `data` is entirely base64 of UTF-8 text that looks like a change."""
    compact = data.strip()
    if len(compact) < 8 or not _BASE64_RE.fullmatch(compact.decode("ascii", "replace")):
        return None
    joined = b"".join(compact.split())
    if len(joined) % 4:
        return None
    try:
        decoded = base64.b64decode(joined, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if _CONTROL_RE.search(decoded) or not _looks_like_change_text(decoded):
        return None
    return decoded


def decode_body(data: bytes, *, what: str, caps: Caps, allow_base64: bool) -> Decoded:
    """Bytes -> text, enforcing the size cap, UTF-8 and "not binary"; base64 for MNS bodies."""
    if len(data) > caps.max_document_bytes:
        raise InputTooLargeError(
            f"Input too large: {what} is {len(data)} bytes, over the cap of "
            f"{caps.max_document_bytes} bytes (DTS_CHANGE_MAX_DOCUMENT_BYTES)",
            hint="Split the change into smaller documents or raise DTS_CHANGE_MAX_DOCUMENT_BYTES",
        )
    warnings: tuple[str, ...] = ()
    if allow_base64:
        decoded = _try_base64(data)
        if decoded is not None:
            data = decoded.encode("utf-8")
            warnings = ("message body was base64-encoded; decoded it",)
    text = decode_utf8(data, what=what)
    bad = _CONTROL_RE.search(text)
    if bad:
        raise UnknownFormatError(
            f"Unknown format in {what}: binary data (control character {bad.group()!r} at offset "
            f"{bad.start()}); expected text: " + "; ".join(EXPECTED_FORMATS)
        )
    if not text.strip():
        raise UnknownFormatError(
            f"Unknown format in {what}: the document is empty; expected one of: "
            + "; ".join(EXPECTED_FORMATS)
        )
    return Decoded(text, warnings)


def detect_syntax(text: str, *, name: str | None, what: str = "the document") -> Syntax:
    """JSON, SQL or a table list, by extension first, then by content; plain text is a table list
    only when it says so (`# format: table-list`), else `ambiguous-format`."""
    by_name = _extension(name)
    if by_name is not None:
        return by_name
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        return "json"
    if _SQL_START_RE.match(_first_meaningful_line(text)) or stripped.startswith(("--", "/*")):
        return "sql"
    if _declares_table_list(text):
        return "table-list"
    raise AmbiguousFormatError(
        f"Ambiguous format in {what}: plain text "
        + short_repr(_first_meaningful_line(text), 60)
        + " is not JSON or SQL, and nothing says it is a table list (a bare word would add a "
        "whole database)",
        hint=TABLE_LIST_HINT,
        details={"reason": "unmarked-table-list"},
    )


TABLE_LIST_HINT = (
    "Name the object *.txt (or *.list, *.tables), start the text with the line "
    '"# format: table-list", or send {"add": ["db.table", ...]}'
)
_FORMAT_LINE_RE = re.compile(r"^#\s*format\s*:\s*table-list\s*$", re.I)


def _declares_table_list(text: str) -> bool:
    """True when a leading comment line says `# format: table-list` (the explicit signal of an
    inline or extension-less table list, so that a stray word is never a whole database)."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#"):
            return False
        if _FORMAT_LINE_RE.fullmatch(stripped):
            return True
    return False


def _is_db_entry(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(_DB_ENTRY_KEYS & set(value))


def classify_object(data: Mapping[str, Any], *, what: str) -> Literal["modify", "change", "dblist"]:
    """Which JSON-object format `data` is; two matches are ambiguous, none unknown."""
    keys = [str(k) for k in data]
    folded_doc_keys = {k.lower() for k in CHANGE_DOC_KEYS}
    modify_keys = [k for k in keys if k in MODIFY_MARKERS]
    doc_keys = [k for k in keys if k.replace("_", "").lower() in folded_doc_keys and k not in MODIFY_MARKERS]
    is_dblist = bool(data) and all(_is_db_entry(v) for v in data.values())
    matches: list[tuple[str, str]] = []
    if modify_keys:
        matches.append(("modify", f"a ModifyDtsJob request (parameters {', '.join(modify_keys[:3])})"))
    if doc_keys:
        matches.append(("change", f"a change document (keys {', '.join(doc_keys[:3])})"))
    if is_dblist:
        matches.append(("dblist", f"a DbList fragment (databases {', '.join(keys[:3])})"))
    if len(matches) > 1:
        hint = (
            'Wrap a DbList in a change document: {"add": <DbList>}; send ModifyDtsJob parameters '
            "and change-document keys in separate documents"
        )
        raise AmbiguousFormatError(
            f"Ambiguous format in {what}: it reads as both "
            + " and ".join(label for _, label in matches[:2]),
            hint=hint,
        )
    if not matches:
        raise UnknownFormatError(
            f"Unknown format in {what}: a JSON object with keys {short_repr(keys[:8])} matches no "
            "change format; expected one of: " + "; ".join(EXPECTED_FORMATS[:3])
        )
    kind = matches[0][0]
    return "modify" if kind == "modify" else "change" if kind == "change" else "dblist"


def parse_json_text(text: str, *, what: str, caps: Caps) -> ParseResult:
    data = load_json(text, what=what, max_depth=caps.max_json_depth)
    if isinstance(data, Mapping):
        kind = classify_object(data, what=what)
        if kind == "modify":
            return modify_request.parse(data, what=what, max_objects=caps.max_objects)
        if kind == "change":
            return change_doc.parse(data, what=what, max_objects=caps.max_objects)
        return dblist_fragment.parse(data, what=what, max_objects=caps.max_objects)
    if isinstance(data, list) and data and all(isinstance(item, str) for item in data):
        return table_list.parse(
            "\n".join(data),
            what=what,
            max_objects=caps.max_objects,
            max_line_length=caps.max_line_length,
        )
    raise UnknownFormatError(
        f"Unknown format in {what}: a JSON {type(data).__name__} matches no change format; "
        "expected one of: " + "; ".join(EXPECTED_FORMATS[:3]) + ', or a JSON list of "db.table" strings'
    )


def parse_body(
    data: bytes,
    *,
    what: str,
    name: str | None = None,
    caps: Caps | None = None,
    allow_base64: bool = False,
    sql_dialect: str | None = None,
    sql_database: str | None = None,
) -> ParseResult:
    """Detect and parse one change body; raises a permanent error naming what was expected.

    `sql_dialect` ("mysql"/"postgres") and `sql_database` (a route's `sqlDialect`/`sqlDatabase`)
    force how a SQL body is read."""
    caps = caps or Caps()
    decoded = decode_body(data, what=what, caps=caps, allow_base64=allow_base64)
    syntax = detect_syntax(decoded.text, name=name, what=what)
    result: ParseResult
    if syntax == "json":
        result = parse_json_text(decoded.text, what=what, caps=caps)
    elif syntax == "sql":
        from .formats import sql  # noqa: PLC0415 - sqlglot loads only for SQL bodies

        result = sql.parse(
            decoded.text,
            what=what,
            max_statements=caps.max_statements,
            dialect=sql.as_dialect(sql_dialect),
            default_database=sql_database,
        )
        check_object_cap(result.object_count(), caps.max_objects, what)
    else:
        result = table_list.parse(
            decoded.text,
            what=what,
            max_objects=caps.max_objects,
            max_line_length=caps.max_line_length,
        )
    if decoded.warnings:
        result = _with_warnings(result, decoded.warnings)
    return result


def _with_warnings(result: ParseResult, warnings: tuple[str, ...]) -> ParseResult:
    if isinstance(result, ParsedChange):
        return replace(result, warnings=warnings + result.warnings)
    if result.change is not None:
        return replace(result, change=replace(result.change, warnings=warnings + result.change.warnings))
    return result
