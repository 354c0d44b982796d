"""Bad input, kept so it can be replayed after a fix: its raw bytes and every locator known.

A dead letter for input that never became a change (invalid JSON, an unrecognised or invalid
event, an unknown or ambiguous format, an unroutable change, an object over the cap) stores, in
`original_event`:

- `raw`: what failed, as received: `what` is `event` (the invocation's bytes), `element` (one
  element of a batch, as JSON), `body` (an inline message or manual body) or `object` (the OSS
  object's bytes); `text` when it is UTF-8, else `base64`; capped at `RAW_CAP_BYTES` (`bytes`,
  `sha256` and `truncated` describe the whole input). Known secret values are masked.
- `locators`: bucket, key, eTag, versionId, message id, topic, queue, event and request ids,
  correlation id: enough to find the input again when the bytes are not kept.

`replay_envelopes` turns such a record back into what the handler processes: the kept bytes
under their original source (so routing and format detection by name see the same input), or,
when the bytes are truncated or were never read, the OSS object named by the locators.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ..core.change import SourceInfo
from ..core.errors import ReplayRefusedError
from ..core.observe import redact_text
from .split import Envelope

__all__ = ["RAW_CAP_BYTES", "kept_input", "replay_envelopes"]

RAW_CAP_BYTES = 1024 * 1024
"""The most input bytes a dead letter keeps; more is cut (`truncated`), never dropped silently."""

_LOCATOR_REFS = {
    "messageId": "messageId",
    "requestId": "requestId",
    "versionId": "versionId",
    "id": "eventId",
    "topic": "topic",
}


def kept_input(envelope: Envelope, object_body: bytes | None = None) -> dict[str, Any]:
    """The `original_event` of an input dead letter: source, event reference, locators, raw."""
    out: dict[str, Any] = {
        "kind": envelope.kind,
        "source": envelope.source.to_dict(),
        "locators": _locators(envelope),
    }
    if envelope.event_ref:
        out["eventRef"] = dict(envelope.event_ref)
    if envelope.body is not None:
        out["bodyMaybeBase64"] = envelope.body_maybe_base64
    raw = _raw_of(envelope, object_body)
    if raw is not None:
        out["raw"] = _raw_field(*raw)
    return out


def _raw_of(envelope: Envelope, object_body: bytes | None) -> tuple[bytes, str] | None:
    if envelope.problem is not None and envelope.raw is not None:
        if isinstance(envelope.raw, bytes | bytearray):
            return bytes(envelope.raw), "event"
        return json.dumps(envelope.raw, ensure_ascii=False).encode("utf-8", "surrogatepass"), "element"
    if envelope.body is not None:
        return envelope.body, "body"
    if object_body is not None:
        return object_body, "object"
    return None


def _raw_field(data: bytes, what: str) -> dict[str, Any]:
    field: dict[str, Any] = {
        "what": what,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "truncated": len(data) > RAW_CAP_BYTES,
    }
    kept = data[:RAW_CAP_BYTES]
    # Mask known secrets in any bytes, UTF-8 or not (surrogateescape round-trips every byte).
    masked = redact_text(kept.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
    try:
        field["text"] = masked.decode("utf-8")
    except UnicodeDecodeError:
        field["base64"] = base64.b64encode(masked).decode("ascii")
    return field


def _locators(envelope: Envelope) -> dict[str, Any]:
    source = envelope.source
    found: dict[str, Any] = {
        "bucket": source.bucket,
        "key": source.key,
        "eTag": source.etag,
        "messageId": source.message_id,
        "topic": source.topic,
        "queue": source.queue,
        "eventId": source.event_id,
        "fileOssUrl": source.file_oss_url,
    }
    for ref_key, name in _LOCATOR_REFS.items():
        value = envelope.event_ref.get(ref_key)
        if found.get(name) is None and isinstance(value, str) and value:
            found[name] = value
    if envelope.raw is not None and not isinstance(envelope.raw, bytes | bytearray):
        for name, value in _element_locators(envelope.raw).items():
            found.setdefault(name, None)
            if found[name] is None:
                found[name] = value
    found["correlationId"] = envelope.correlation_id
    return {k: v for k, v in found.items() if v is not None}


def _element_locators(element: Any) -> dict[str, str]:
    """Best effort: bucket, key and eTag of an OSS record (or CloudEvent) that failed validation."""
    record = element.get("data") if isinstance(element, Mapping) and "specversion" in element else element
    if not isinstance(record, Mapping):
        return {}
    oss = record.get("oss")
    if not isinstance(oss, Mapping):
        message = record.get("messageId")
        return {"messageId": message} if isinstance(message, str) else {}
    bucket = oss.get("bucket")
    obj = oss.get("object")
    out = {
        "bucket": bucket.get("name") if isinstance(bucket, Mapping) else None,
        "key": obj.get("key") if isinstance(obj, Mapping) else None,
        "eTag": obj.get("eTag") if isinstance(obj, Mapping) else None,
        "versionId": obj.get("versionId") if isinstance(obj, Mapping) else None,
    }
    return {k: v for k, v in out.items() if isinstance(v, str) and v}


# ---------------------------------------------------------------------- replay


def _raw_bytes(raw: Mapping[str, Any]) -> bytes | None:
    if raw.get("truncated"):
        return None
    if isinstance(raw.get("text"), str):
        return str(raw["text"]).encode("utf-8")
    if isinstance(raw.get("base64"), str):
        try:
            return base64.b64decode(str(raw["base64"]), validate=True)
        except (binascii.Error, ValueError):
            return None
    return None


def replay_envelopes(kept: Any, *, dl_id: str, correlation_id: str | None) -> list[Envelope] | bytes:
    """What to hand the handler again: envelopes, or the bytes of a whole event to split anew.

    Raises `ReplayRefusedError` when the dead letter keeps neither complete bytes nor an object
    to read again."""
    if not isinstance(kept, Mapping):
        raise ReplayRefusedError(
            f"Replay of dead letter {dl_id} refused: it keeps no input (written before inputs were "
            "kept) -> resend the original event"
        )
    found = kept.get("raw")
    raw: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    data = _raw_bytes(raw)
    what = raw.get("what")
    ref = {**(kept.get("eventRef") or {}), "replayOf": dl_id}
    if data is not None and what == "event":
        return data
    if data is not None and what == "element":
        return _wrap_element(data, str(ref.get("trigger") or ""))
    source = SourceInfo.from_dict(kept.get("source") or {"kind": "manual"})
    kind = str(kept.get("kind") or source.kind)
    cid = correlation_id or dl_id
    if data is not None and what in ("body", "object"):
        return [
            Envelope(
                kind=kind,
                correlation_id=cid,
                source=source,
                body=data,
                body_maybe_base64=bool(kept.get("bodyMaybeBase64")),
                event_ref=ref,
            )
        ]
    if source.bucket and source.key and not source.file_oss_url and what in (None, "object"):
        return [Envelope(kind=kind, correlation_id=cid, source=source, event_ref=ref)]
    reason = "its input was over the cap and cut" if raw.get("truncated") else "it keeps no input"
    raise ReplayRefusedError(
        f"Replay of dead letter {dl_id} refused: {reason}, and it names no OSS object to read "
        "again -> resend the input from its source",
        hint="Resend the original message or file; `dts-change dlq show` prints what was kept.",
    )


def _wrap_element(data: bytes, trigger: str) -> bytes:
    """One failed batch element as an event of its own (OSS records go back into `events`)."""
    if trigger == "oss":
        return b'{"events": [' + data + b"]}"
    return b"[" + data + b"]"
