"""What the failure function (`index.on_failure`) finds in its input: failed events as dead letters.

Two platform mechanisms catch what the handler itself could not finish: FC's asynchronous
`onFailure` destination (a failure record: `requestContext`, `requestPayload`, `responseContext`)
and the EventBridge trigger's dead-letter queue (the undelivered event, read back from the MNS
queue by this function's own queue trigger). Both land here and are written to the same
dead-letter store the handler uses, with the original payload, so `dts-change dlq list/show/
replay` sees every failure in one place.

This function must never fail on what it receives: whatever the bytes, they are recorded (an
unknown shape as `unrecognised-event`). This module is pure: it turns the input into dead-letter
records and tells `dlq replay` what to send back; `failure_function` writes them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import (
    AsyncInvocationFailedError,
    DtsChangeError,
    EventDeliveryFailedError,
    UnrecognisedEventError,
    short_repr,
)
from ..core.jsonsafe import load_json
from ..intake.split import MAX_EVENT_BYTES, _queue_from_subject
from ..state.deadletter import UNROUTED, DeadLetterRecord

__all__ = ["Failure", "dead_letter_record", "failure_dead_letters", "replay_payload"]

_MAX_REASON = 2000

KIND_FC = "fc-async-failure"
KIND_EVENTBRIDGE = "eventbridge-dead-letter"
KIND_UNRECOGNISED = "unrecognised"


@dataclass
class Failure:
    """One failed event found in the failure function's input, before it is stored."""

    kind: str
    payload: bytes
    """The event the handler should see again (FC's `requestPayload`, EventBridge's dead letter)."""
    replay: bytes | None
    """What `dlq replay` sends to the handler; None when the input is not an event of ours."""
    error: DtsChangeError
    correlation_id: str
    attempts: int = 1
    first_seen: float | None = None
    context: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------- pure unwrapping


def _parse(data: bytes) -> tuple[bool, Any]:
    """(parsed, value): strict JSON within the caps, or (False, None)."""
    try:
        return True, load_json(data, what="failure input", max_bytes=MAX_EVENT_BYTES)
    except DtsChangeError:
        return False, None


def _text(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _maybe_base64(body: str) -> bytes:
    """A queue message body as bytes; base64 is decoded only when it hides JSON (never guessed
    for text a user could have sent on purpose)."""
    raw = body.encode("utf-8", "surrogatepass")
    if _parse(raw)[0]:
        return raw
    try:
        decoded = base64.b64decode(body.strip(), validate=True)
    except (binascii.Error, ValueError):
        return raw
    return decoded if decoded and _parse(decoded)[0] else raw


def _reason(response_payload: Any) -> str:
    """`errorType: errorMessage` from FC's response payload (a JSON string), else its text."""
    if isinstance(response_payload, str):
        ok, parsed = _parse(response_payload.encode("utf-8", "surrogatepass"))
        if ok and isinstance(parsed, Mapping) and parsed.get("errorMessage"):
            kind = parsed.get("errorType")
            text = f"{kind}: {parsed['errorMessage']}" if kind else str(parsed["errorMessage"])
            return text[:_MAX_REASON]
        return response_payload[:_MAX_REASON] or "no response payload"
    return short_repr(response_payload, _MAX_REASON) if response_payload is not None else "no response payload"


def _int(value: Any, default: int = 1) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def _from_fc_record(record: Mapping[str, Any], via: str) -> Failure:
    """FC's failure-destination record: the original event is `requestPayload` (a string)."""
    request = _mapping(record.get("requestContext"))
    response = _mapping(record.get("responseContext"))
    request_id = str(request.get("requestId") or "") or None
    function_arn = request.get("functionArn")
    condition = request.get("condition") or response.get("functionError") or "unknown condition"
    attempts = _int(request.get("approximateInvokeCount"))
    payload = _text(record.get("requestPayload", ""))
    timestamp = record.get("timestamp")
    first_seen = None
    if isinstance(timestamp, (int, float)) and not isinstance(timestamp, bool) and timestamp > 0:
        first_seen = timestamp / 1000.0
    error = AsyncInvocationFailedError(
        f"Asynchronous invocation {request_id or '(no request id)'} of {function_arn or 'the handler'} "
        f"failed after {attempts} attempt(s) ({condition}): {_reason(record.get('responsePayload'))}",
        request_id=request_id,
    )
    return Failure(
        kind=KIND_FC,
        payload=payload,
        replay=payload,
        error=error,
        correlation_id=request_id or _digest(payload)[:16],
        attempts=attempts,
        first_seen=first_seen,
        context={
            "via": via,
            "requestContext": request,
            "responseContext": response,
            "responsePayload": record.get("responsePayload"),
        },
    )


def _mapping(value: Any) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}


def _is_fc_record(value: Any) -> bool:
    return isinstance(value, Mapping) and {"requestContext", "requestPayload", "responseContext"} <= set(value)


def _from_dead_letter_body(body: bytes, message: Mapping[str, Any]) -> Failure:
    """A message read from a dead-letter queue: EventBridge's undelivered event, or an FC failure
    record that an `onFailure` queue carried."""
    ok, parsed = _parse(body)
    if ok and _is_fc_record(parsed):
        return _from_fc_record(parsed, via="mns-queue")
    replay = body
    if ok and isinstance(parsed, Mapping) and "messageBody" in parsed and "specversion" not in parsed:
        replay = json.dumps([parsed], ensure_ascii=False).encode("utf-8")  # a RawData element
    event_id = parsed.get("id") if ok and isinstance(parsed, Mapping) else None
    queue = message.get("queue")
    error = EventDeliveryFailedError(
        f"EventBridge could not deliver event {short_repr(event_id or message.get('messageId'))} to the "
        f"handler and dead-lettered it{f' to queue {queue}' if queue else ''}"
    )
    return Failure(
        kind=KIND_EVENTBRIDGE,
        payload=body,
        replay=replay,
        error=error,
        correlation_id=str(event_id or message.get("messageId") or _digest(body)[:16]),
        context={"via": "mns-queue", "message": dict(message)},
    )


def _queue_message(item: Any) -> tuple[str, dict[str, Any]] | None:
    """(body, facts) of an MNS queue message as the failure function's queue trigger delivers it:
    a CloudEvent (`data.messageBody`) or a RawData element (`messageBody`)."""
    if not isinstance(item, Mapping):
        return None
    data = item.get("data") if "specversion" in item else item
    if not isinstance(data, Mapping) or not isinstance(data.get("messageBody"), str):
        return None
    facts = {
        "messageId": data.get("messageId"),
        "requestId": data.get("requestId"),
        "eventId": item.get("id"),
        "queue": _queue_from_subject(str(item.get("subject") or "")),
    }
    return data["messageBody"], {k: v for k, v in facts.items() if v is not None}


def _unrecognised(data: bytes, why: str) -> Failure:
    return Failure(
        kind=KIND_UNRECOGNISED,
        payload=data,
        replay=None,
        error=UnrecognisedEventError(
            f"Unrecognised input to the failure function ({why}); recorded as received, {len(data)} bytes",
            hint="Only FC failure records and EventBridge dead letters belong here; check what invokes "
            "the failure function",
        ),
        correlation_id=_digest(data)[:16],
    )


def failure_dead_letters(event: bytes | str) -> list[Failure]:
    """Every failed event in one invocation of the failure function, in order; never raises."""
    data = event.encode("utf-8", "surrogatepass") if isinstance(event, str) else bytes(event)
    try:
        ok, parsed = _parse(data)
        if not ok:
            return [_unrecognised(data, "not JSON")]
        if _is_fc_record(parsed):
            return [_from_fc_record(parsed, via="function")]
        items = parsed if isinstance(parsed, list) else [parsed]
        messages = [_queue_message(item) for item in items]
        if not any(messages):  # nothing of ours in it: keep the input exactly as it came
            return [_unrecognised(data, "neither an FC failure record nor queue messages")]
        out = []
        for index, (item, message) in enumerate(zip(items, messages, strict=True)):
            if message is None:
                out.append(_unrecognised(_text(item), f"element [{index}] is not a queue message"))
                continue
            body, facts = message
            out.append(_from_dead_letter_body(_maybe_base64(body), facts))
        return out
    except Exception as exc:  # the contract is to record anything, even after a bug here
        return [_unrecognised(data, f"{type(exc).__name__} while reading it")]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _payload_fields(payload: bytes) -> dict[str, Any]:
    try:
        return {"payload": payload.decode("utf-8")}
    except UnicodeDecodeError:
        return {"payloadBase64": base64.b64encode(payload).decode("ascii")}


def dead_letter_record(failure: Failure, now: float) -> DeadLetterRecord:
    """The stored form: the original payload under `original_event`, the reason under `error`."""
    original: dict[str, Any] = {"kind": failure.kind, **_payload_fields(failure.payload)}
    original["replayable"] = failure.replay is not None
    if failure.replay is not None and failure.replay != failure.payload:
        original["replay"] = _payload_fields(failure.replay)
    if failure.context:
        original["failure"] = failure.context
    return DeadLetterRecord(
        key=_digest(failure.kind.encode() + b"|" + failure.payload)[:32],
        change_id=failure.correlation_id,
        job_key=UNROUTED,
        correlation_id=failure.correlation_id,
        original_event=original,
        change=None,
        error=failure.error.to_dict(),
        attempts=failure.attempts,
        first_seen=failure.first_seen or now,
        dead_lettered_at=now,
        request_ids=[failure.error.request_id] if failure.error.request_id else [],
    )


def replay_payload(record: DeadLetterRecord) -> bytes | None:
    """The event `dlq replay` hands to the handler for a dead letter written here, else None."""
    original = record.original_event
    if not isinstance(original, Mapping) or original.get("kind") not in (KIND_FC, KIND_EVENTBRIDGE):
        return None
    if not original.get("replayable"):
        return None
    replay = original.get("replay")
    source: Mapping[str, Any] = replay if isinstance(replay, Mapping) else original
    if isinstance(source.get("payload"), str):
        return bytes(source["payload"].encode("utf-8", "surrogatepass"))
    if isinstance(source.get("payloadBase64"), str):
        return base64.b64decode(source["payloadBase64"])
    return None
