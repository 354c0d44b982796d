"""Strict JSON for input from outside: exact UTF-8, no duplicate keys, no NaN, bounded depth and size.

`json.loads` silently keeps the last of two duplicate keys and accepts `NaN`; for a change document
either would change its meaning without anyone noticing, so both are errors here. So are numbers
that overflow (`1e400` becomes infinity, which no JSON writer can emit again), integers longer than
Python converts (`ValueError`, not `JSONDecodeError`), and `\\ud800` escapes that decode to lone
surrogates (valid JSON syntax, but not text: encoding them to UTF-8 later raises).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .errors import InputTooLargeError, InvalidJsonError, short_repr

DEFAULT_MAX_DEPTH = 64
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def _reject_constant(name: str) -> Any:
    raise InvalidJsonError(f"Invalid JSON: {name} is not a JSON value", hint="Use null or a number")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidJsonError(
                f"Invalid JSON: duplicate key {short_repr(key)} in one object",
                hint="Each key may appear once per object; merge the two entries",
            )
        out[key] = value
    return out


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidJsonError(
            f"Invalid JSON: number {short_repr(text)} is out of range",
            hint="Use a number within the range of a double",
        )
    return value


def _lone_surrogate(value: Any) -> str | None:
    """The first string (key or value) holding a lone surrogate, walking without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE_RE.search(item):
                return item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def nesting_depth_exceeds(text: str, max_depth: int) -> bool:
    """True when brackets nest deeper than `max_depth` (strings are skipped), checked before parsing
    so a hostile document cannot make the parser recurse deeply."""
    depth = 0
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def decode_utf8(data: bytes, *, what: str) -> str:
    """Decode exact UTF-8 (a BOM is tolerated), naming the byte offset of the first bad byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJsonError(
            f"Invalid text in {what}: malformed UTF-8 at byte {exc.start}",
            hint="Save the file as UTF-8",
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def load_json(
    data: bytes | str,
    *,
    what: str = "document",
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_bytes: int | None = None,
) -> Any:
    """Parse JSON from outside, refusing anything whose meaning could be ambiguous or hostile."""
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if max_bytes is not None and size > max_bytes:
        raise InputTooLargeError(
            f"Input too large: {what} is {size} bytes, over the cap of {max_bytes} bytes",
            hint="Split the change into smaller documents or raise DTS_CHANGE_MAX_DOCUMENT_BYTES",
        )
    text = decode_utf8(data, what=what) if isinstance(data, bytes) else data
    if nesting_depth_exceeds(text, max_depth):
        raise InputTooLargeError(
            f"Input too deeply nested: {what} nests deeper than the cap of {max_depth} levels",
            hint="A DbList needs at most a handful of levels; check the document",
        )
    try:
        value = json.loads(
            text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant, parse_float=_finite_float
        )
    except InvalidJsonError:
        raise
    except RecursionError:
        raise InputTooLargeError(
            f"Input too deeply nested: {what} exceeds the parser's nesting limit"
        ) from None
    except json.JSONDecodeError as exc:
        raise InvalidJsonError(
            f"Invalid JSON in {what}: {exc.msg} at line {exc.lineno} column {exc.colno}",
            hint="Check the document is complete (not truncated) and valid JSON",
        ) from None
    except ValueError as exc:
        # int() refuses integers over sys.get_int_max_str_digits() (4300) digits.
        raise InputTooLargeError(
            f"Input too large: {what} holds a number over Python's digit limit ({short_repr(str(exc), 60)})",
            hint="Numbers in a change document are flags and sizes; check the document",
        ) from None
    if ("\\u" in text or _SURROGATE_RE.search(text)) and (bad := _lone_surrogate(value)) is not None:
        raise InvalidJsonError(
            f"Invalid JSON in {what}: string {short_repr(bad)} holds a lone surrogate (\\ud800-\\udfff), "
            "which is not Unicode text",
            hint="Escape characters outside the BMP as a surrogate pair, or send them as UTF-8",
        )
    return value
