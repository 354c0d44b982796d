"""Socket-free request and response values, so every layer above the HTTP server is testable.

`server.py` turns bytes from a socket into a `WireRequest` and a `WireResponse` back into bytes;
everything in between (signatures, faults, handlers, admin) only sees these two values.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote
from xml.sax.saxutils import escape

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class MalformedRequestError(ValueError):
    """The request line, query or form body cannot be decoded (bad percent-escapes, bad UTF-8)."""


@dataclass(frozen=True)
class WireRequest:
    """One HTTP request as received: raw request-target, headers in arrival order, body bytes."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    @classmethod
    def build(
        cls,
        method: str,
        target: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> WireRequest:
        """Convenience constructor for tests and the server (headers as a dict or pairs)."""
        pairs = tuple(headers.items()) if isinstance(headers, Mapping) else tuple(headers)
        return cls(method.upper(), target, pairs, body)

    @property
    def raw_path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def raw_query(self) -> str:
        parts = self.target.split("?", 1)
        return parts[1] if len(parts) == 2 else ""

    def header(self, name: str) -> str | None:
        """First value of a header, case-insensitively (None when absent)."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    def lower_headers(self) -> dict[str, list[str]]:
        """Every header by lower-case name, values in arrival order (duplicates kept)."""
        out: dict[str, list[str]] = {}
        for key, value in self.headers:
            out.setdefault(key.lower(), []).append(value)
        return out

    def path(self) -> str:
        """The decoded path (percent-escapes decoded, `+` kept literally as in any URL path)."""
        try:
            return unquote(self.raw_path, errors="strict")
        except UnicodeDecodeError as exc:
            raise MalformedRequestError(f"Path is not valid UTF-8: {self.raw_path[:80]!r}") from exc

    def query_pairs(self) -> list[tuple[str, str]]:
        """Decoded query parameters in order; `+` means space, as every SDK encodes it."""
        return decode_form(self.raw_query)

    def form_pairs(self) -> list[tuple[str, str]]:
        """Decoded form-body parameters when the body is x-www-form-urlencoded, else none."""
        content_type = (self.header("content-type") or "").split(";", 1)[0].strip().lower()
        if content_type != FORM_CONTENT_TYPE or not self.body:
            return []
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedRequestError("Form body is not valid UTF-8") from exc
        return decode_form(text)


def decode_form(text: str) -> list[tuple[str, str]]:
    """Decode `a=b&c` (query or form body) into pairs, keeping blank values and bare names."""
    if not text:
        return []
    try:
        return parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedRequestError(f"Cannot decode parameters: {text[:80]!r}") from exc


@dataclass
class WireResponse:
    """What to answer; `reset` means: close the connection without answering (fault injection)."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    reset: bool = False

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def json(self) -> Any:
        """The body parsed as JSON (tests)."""
        return json.loads(self.body.decode("utf-8"))


def new_request_id() -> str:
    """An id shaped like Alibaba Cloud's (upper-case UUID)."""
    return str(uuid.uuid4()).upper()


def json_body(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(status: int, payload: Any, extra_headers: Sequence[tuple[str, str]] = ()) -> WireResponse:
    headers = [("Content-Type", "application/json;charset=utf-8"), *extra_headers]
    return WireResponse(status, headers, json_body(payload))


def xml_element(name: str, value: Any) -> str:
    """Render a JSON-like value as XML the way POP/OSS do: lists repeat the element name."""
    if isinstance(value, list):
        return "".join(xml_element(name, item) for item in value)
    if isinstance(value, dict):
        inner = "".join(xml_element(str(key), item) for key, item in value.items())
        return f"<{name}>{inner}</{name}>"
    if value is None:
        return f"<{name}></{name}>"
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return f"<{name}>{escape(text)}</{name}>"


def xml_document(root: str, children: Mapping[str, Any]) -> bytes:
    body = "".join(xml_element(str(key), value) for key, value in children.items())
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}>{body}</{root}>'.encode()
