"""The one interface the ledger and dead letters are written against, and the key rules it enforces.

Five primitives are enough (STYLE §1.2): everything that needs atomicity (records, leases) is built
on `put_if_absent`, which both backends implement as a real create-if-absent (a hard link on a
local disk, `x-oss-forbid-overwrite` on OSS), so no read-then-write race exists in the layers above.
Keys are relative, `/`-separated and validated here once, so `..` or an absolute key can never
escape a directory store and a malformed key fails the same way on both backends.
"""

from __future__ import annotations

import re
from typing import Protocol

from ...core.errors import InvalidStoreKeyError, short_repr

MAX_KEY_CHARS = 900  # OSS keys are at most 1023 UTF-8 bytes, and an OSS store adds its prefix
_CONTROL_CHARS = re.compile("[\x00-\x1f\x7f]")  # a regex: checked on every store call
_SAFE_SEGMENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


class Store(Protocol):
    """A flat key -> bytes store with create-if-absent; keys may contain `/`."""

    url: str

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""
        ...

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create the object atomically and completely; False (nothing written) if it exists."""
        ...

    def put(self, key: str, data: bytes) -> None:
        """Create or overwrite the object."""
        ...

    def delete(self, key: str) -> None:
        """Delete the object; deleting an absent object is not an error."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Every key that starts with `prefix`, sorted, relative to the store root."""
        ...


class AgedStore(Store, Protocol):
    """A store that can tell an object's age on its own clock (no local clock involved)."""

    def get_with_age(self, key: str) -> tuple[bytes, float | None] | None:
        """The object's bytes and seconds since it was written, on the store's clock (None when
        the store did not say), or None when the object does not exist."""
        ...


class TaggedStore(Store, Protocol):
    """A store whose listing names each object's content (OSS: its ETag). A name listed with the
    tag its creation returned still holds the bytes created then, whatever deleted and wrote it
    again meanwhile and whatever any clock says: what lets the ledger trust its own writes."""

    def put_if_absent_tagged(self, key: str, data: bytes) -> tuple[bool, str | None]:
        """`put_if_absent`, and the created object's tag (None when not created or not told)."""
        ...

    def list_tagged(self, prefix: str) -> list[tuple[str, str | None]]:
        """`list`, each key with its object's tag (None when the store did not say)."""
        ...


def check_key(key: str) -> str:
    """Return `key` if it can name an object on every backend, else raise `InvalidStoreKeyError`."""
    problem = _key_problem(key)
    if problem:
        raise InvalidStoreKeyError(
            f"Invalid store key {short_repr(key)} -> expected a relative '/'-separated key that {problem}"
        )
    return key


def check_prefix(prefix: str) -> str:
    """Like `check_key`, but an empty prefix and a trailing `/` are allowed."""
    problem = "" if prefix == "" else _key_problem(prefix.rstrip("/"))
    if problem or prefix.endswith("//"):
        raise InvalidStoreKeyError(
            f"Invalid store prefix {short_repr(prefix)} -> expected a relative '/'-separated prefix "
            f"that {problem or 'has no empty segment'}"
        )
    return prefix


def _key_problem(key: str) -> str:
    if not isinstance(key, str):
        return "is a string"
    if not key:
        return "is not empty"
    if len(key) > MAX_KEY_CHARS:
        return f"has at most {MAX_KEY_CHARS} characters"
    if _CONTROL_CHARS.search(key):
        return "has no NUL or control character"
    if "\\" in key:
        return "has no backslash"
    if key.startswith("/"):
        return "does not start with '/'"
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            return "has no empty, '.' or '..' segment"
    return ""


def escape_segment(value: str) -> str:
    """A reversible, single-segment form of any string (job keys hold `/`): every character but
    `A-Z a-z 0-9 - _` becomes `%XX` of its UTF-8 bytes, and so does a leading `_`, which keeps
    names starting with `_` free for the stores' own folders (`_unrouted`, `_replayed`)."""
    if not value:
        raise InvalidStoreKeyError(
            "Invalid empty value for a store key segment -> expected a non-empty string"
        )
    out: list[str] = []
    for index, ch in enumerate(value):
        if ch in _SAFE_SEGMENT_CHARS and not (index == 0 and ch == "_"):
            out.append(ch)
        else:
            out.extend(f"%{byte:02X}" for byte in ch.encode("utf-8"))
    return "".join(out)


def unescape_segment(segment: str) -> str:
    """The inverse of `escape_segment`."""
    raw = bytearray()
    index = 0
    while index < len(segment):
        ch = segment[index]
        if ch == "%":
            try:
                raw.append(int(segment[index + 1 : index + 3], 16))
            except ValueError as exc:
                raise InvalidStoreKeyError(
                    f"Invalid escaped key segment {short_repr(segment)} -> expected '%XX' hex escapes"
                ) from exc
            index += 3
        else:
            raw.extend(ch.encode("utf-8"))
            index += 1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidStoreKeyError(
            f"Invalid escaped key segment {short_repr(segment)} -> expected escapes of UTF-8 bytes"
        ) from exc
