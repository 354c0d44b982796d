"""Event bytes -> `Envelope`s: recognise the trigger, split batches, take a correlation id from each.

Two steps, as for any wrapped event: validate the wrapper (OSS `events`, CloudEvents, MNS topic
JSON, timer, FC failure record), then hand each inner body or object reference to intake. One
plain function per trigger shape; `split_event` dispatches in the order of docs/formats.md
("Event shapes"). Nothing here raises for input: an element that cannot be understood becomes an
envelope carrying its `problem`, so one bad element of a batch never hides the others.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import field, replace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from ..core.change import SourceInfo
from ..core.errors import (
    DtsChangeError,
    InputTooLargeError,
    InvalidEventError,
    InvalidJsonError,
    UnrecognisedEventError,
    short_repr,
)
from ..core.jsonsafe import load_json
from ..core.values import immutable

if TYPE_CHECKING:
    from .events.oss import OssEventRecord

# The trigger models (dts_change.intake.events) are imported inside the function for their family: an
# instance pays for defining only the families it receives (docs/performance.md, "Cold start").

MAX_EVENT_BYTES = 32 * 1024 * 1024 + 65536
"""FC's synchronous payload limit (32 MB) plus headroom: anything larger cannot be an FC event."""
MAX_REPLAY_DEPTH = 2

KNOWN_SHAPES = (
    'native OSS trigger {"events": [...]}',
    "EventBridge CloudEvent from OSS (type oss:*) or an MNS queue (type mns:*), alone or in a JSON array",
    "EventBridge MNS RawData array [{messageId, messageBody}]",
    "MNS topic JSON message {TopicOwner, MessageId, Message}",
    'MNS topic STREAM {"body", "attrs"} or a raw message body',
    "timer {triggerTime, triggerName, payload}",
    "FC async failure record {requestContext, requestPayload, responseContext}",
    "a manual change: change document, ModifyDtsJob request, DbList, table list or SQL DDL",
)


@immutable
class Envelope:
    """One unit of work from an invocation: an object to read, an inline body, a timer tick,
    something to ignore, or a problem to dead-letter.

    `kind` names the trigger shape; `source` is what routing and idempotency use; `event_ref`
    points back into the original event (index in the batch, request ids, replay origin).
    """

    kind: str
    correlation_id: str
    source: SourceInfo
    body: bytes | None = None
    body_maybe_base64: bool = False
    event_name: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    event_ref: Mapping[str, Any] = field(default_factory=dict)
    ignored: str | None = None
    reconcile: Mapping[str, Any] | None = None
    problem: DtsChangeError | None = None
    raw: Any = None
    """For a problem: the invocation's bytes, or the batch element (a JSON value) that failed."""

    @property
    def reads_object(self) -> bool:
        return self.body is None and self.source.bucket is not None and self.source.key is not None


class _Ids:
    """Correlation ids for elements that carry none: the FC request id + index, else random."""

    def __init__(self, request_id: str | None) -> None:
        self.request_id = request_id
        self.count = 0

    def next(self) -> str:
        self.count += 1
        if self.request_id:
            return f"{self.request_id}#{self.count}"
        return uuid.uuid4().hex


def _problem_envelope(
    error: DtsChangeError,
    ids: _Ids,
    *,
    kind: str = "unknown",
    raw: Any = None,
    ref: Mapping[str, Any] | None = None,
) -> Envelope:
    return Envelope(
        kind=kind,
        correlation_id=ids.next(),
        source=SourceInfo(kind),
        problem=error,
        raw=raw,
        event_ref=dict(ref or {}),
    )


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    path = ".".join(str(p) for p in first["loc"]) or "(top level)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{path}: {first['msg']}{more}"


def _model(model: type[BaseModel], data: Any, what: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidEventError(f"Invalid {what}: {_validation_message(exc)}") from None


def _clean_etag(etag: str | None) -> str | None:
    return etag.strip('"') if etag else etag


# ---------------------------------------------------------------------- OSS


def _oss_record_envelope(
    record: OssEventRecord, ids: _Ids, *, kind: str, correlation_id: str | None, ref: dict[str, Any]
) -> Envelope:
    obj = record.oss.object_
    source = SourceInfo(
        kind=kind,
        bucket=record.oss.bucket.name,
        key=obj.key,
        etag=_clean_etag(obj.eTag),
        region=record.region,
        event_id=record.request_id,
        version_id=obj.versionId,
        request_id=record.request_id,
    )
    ref = {**ref, "eventName": record.eventName, "requestId": record.request_id}
    if obj.versionId:
        ref["versionId"] = obj.versionId
    envelope = Envelope(
        kind=kind,
        correlation_id=correlation_id or record.request_id or ids.next(),
        source=source,
        event_name=record.eventName,
        event_ref=ref,
    )
    if record.is_removal:
        return replace(envelope, ignored=f"{record.eventName} is a deletion; nothing to change")
    if not record.is_creation:
        return replace(envelope, ignored=f"{record.eventName} does not create an object; ignored")
    return envelope


def from_oss_event(data: Mapping[str, Any], ids: _Ids) -> list[Envelope]:
    """Native OSS trigger: every element of `events`; deletions become ignored envelopes."""
    events = data.get("events")
    if not isinstance(events, list) or not events:
        raise InvalidEventError("Invalid OSS event: events must be a non-empty list")
    from .events.oss import OssEventRecord  # noqa: PLC0415 - per-family models, see top

    out = []
    for index, item in enumerate(events):
        ref = {"trigger": "oss", "index": index}
        try:
            record = _model(OssEventRecord, item, f"OSS event events[{index}]")
        except InvalidEventError as exc:
            out.append(_problem_envelope(exc, ids, kind="oss", raw=item, ref=ref))
            continue
        out.append(_oss_record_envelope(record, ids, kind="oss", correlation_id=None, ref=ref))
    return out


# ---------------------------------------------------------------------- EventBridge


def _queue_from_subject(subject: str | None) -> str | None:
    """`acs:mns:<region>:<account>:queues/<name>` (or `/queues/<name>/...`) -> `<name>`."""
    if not subject or "queues/" not in subject:
        return None
    name = subject.split("queues/", 1)[1].split("/", 1)[0]
    return name or None


def from_cloud_event(data: Mapping[str, Any], ids: _Ids, *, index: int | None = None) -> Envelope:
    """One CloudEvent: OSS via EventBridge (`type` oss:*) or an MNS queue message (`type` mns:*)."""
    from .events.cloud import CloudEvent, MnsQueueData  # noqa: PLC0415 - per-family models, see top

    ref: dict[str, Any] = {"trigger": "eventbridge"}
    if index is not None:
        ref["index"] = index
    event = _model(CloudEvent, data, "CloudEvent")
    ref.update({"id": event.id, "source": event.source, "type": event.type})
    if event.type.startswith("oss:") or event.source == "acs.oss":
        from .events.oss import OssEventRecord  # noqa: PLC0415 - per-family models, see top

        record = _model(OssEventRecord, event.data, f"OSS CloudEvent {event.id!r} data")
        envelope = _oss_record_envelope(record, ids, kind="eventbridge-oss", correlation_id=event.id, ref=ref)
        return replace(envelope, source=replace(envelope.source, event_id=event.id))
    if event.type.startswith("mns:") or (isinstance(event.data, Mapping) and "messageBody" in event.data):
        message = _model(MnsQueueData, event.data, f"MNS CloudEvent {event.id!r} data")
        queue = _queue_from_subject(event.subject)
        return Envelope(
            kind="mns-queue",
            correlation_id=event.id,
            source=SourceInfo(
                kind="mns-queue",
                message_id=message.messageId,
                queue=queue,
                event_id=event.id,
                region=_str_or_none(getattr(event, "aliyunregionid", None)),
            ),
            body=message.messageBody.encode("utf-8"),
            body_maybe_base64=True,
            event_ref={**ref, "messageId": message.messageId, "requestId": message.requestId},
        )
    raise UnrecognisedEventError(
        f"Unrecognised CloudEvent {event.id!r}: type {event.type!r} from {event.source!r} is "
        "neither an OSS (oss:*) nor an MNS queue (mns:*) event"
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def from_mns_raw_data(data: Mapping[str, Any], ids: _Ids, *, index: int) -> Envelope:
    """One RawData element of an EventBridge MNS batch: `{requestId, messageId, messageBody}`."""
    from .events.cloud import MnsQueueData  # noqa: PLC0415 - per-family models, see top

    message = _model(MnsQueueData, data, f"MNS RawData element [{index}]")
    return Envelope(
        kind="mns-queue",
        correlation_id=message.messageId,
        source=SourceInfo(kind="mns-queue", message_id=message.messageId),
        body=message.messageBody.encode("utf-8"),
        body_maybe_base64=True,
        event_ref={"trigger": "eventbridge-rawdata", "index": index, "messageId": message.messageId},
    )


def from_eventbridge_batch(items: Sequence[Any], ids: _Ids) -> list[Envelope]:
    """A JSON array: CloudEvents and/or RawData elements; each element stands alone."""
    if not items:
        raise UnrecognisedEventError(
            "Unrecognised event: an empty JSON array; expected one of: " + "; ".join(KNOWN_SHAPES)
        )
    out = []
    for index, item in enumerate(items):
        ref = {"trigger": "eventbridge", "index": index}
        try:
            if isinstance(item, Mapping) and "specversion" in item:
                out.append(from_cloud_event(item, ids, index=index))
            elif isinstance(item, Mapping) and "messageBody" in item:
                out.append(from_mns_raw_data(item, ids, index=index))
            else:
                raise UnrecognisedEventError(
                    f"Unrecognised batch element [{index}]: {_shape(item)} is neither a CloudEvent "
                    "(specversion) nor an MNS RawData element (messageId, messageBody)"
                )
        except DtsChangeError as exc:
            out.append(_problem_envelope(exc, ids, kind="eventbridge", raw=item, ref=ref))
    return out


# ---------------------------------------------------------------------- MNS topic


def from_mns_topic_json(data: Mapping[str, Any], ids: _Ids) -> Envelope:
    """MNS topic trigger in JSON format (attributes, when present, are extra top-level keys)."""
    from .events.mns_topic import MnsTopicJsonMessage  # noqa: PLC0415 - per-family models, see top

    message = _model(MnsTopicJsonMessage, data, "MNS topic message")
    return Envelope(
        kind="mns-topic",
        correlation_id=message.MessageId,
        source=SourceInfo(kind="mns-topic", message_id=message.MessageId, topic=message.TopicName),
        body=message.Message.encode("utf-8"),
        body_maybe_base64=True,
        attributes=message.attributes,
        event_ref={"trigger": "mns-topic", "messageId": message.MessageId, "topic": message.TopicName},
    )


def from_mns_topic_stream(data: Mapping[str, Any], ids: _Ids) -> Envelope:
    """MNS topic trigger in STREAM format with attributes: `{"body": ..., "attrs": {...}}`."""
    from .events.mns_topic import MnsTopicStream  # noqa: PLC0415 - per-family models, see top

    message = _model(MnsTopicStream, data, "MNS topic STREAM message")
    return Envelope(
        kind="mns-topic-stream",
        correlation_id=ids.next(),
        source=SourceInfo(kind="mns-topic-stream"),
        body=message.body.encode("utf-8"),
        body_maybe_base64=True,
        attributes=message.attrs,
        event_ref={"trigger": "mns-topic-stream"},
    )


def from_raw_body(data: bytes, ids: _Ids) -> Envelope:
    """Bytes that are not a JSON event: a raw MNS STREAM body or a manual text change."""
    return Envelope(
        kind="raw",
        correlation_id=ids.next(),
        source=SourceInfo(kind="raw"),
        body=data,
        body_maybe_base64=True,
        event_ref={"trigger": "raw"},
    )


# ---------------------------------------------------------------------- timer, manual, replay


def from_timer(data: Mapping[str, Any], ids: _Ids) -> Envelope:
    """Timer trigger -> a reconcile request; a JSON `payload` is parsed, other text kept as is."""
    from .events.timer import TimerEvent  # noqa: PLC0415 - per-family models, see top

    timer = _model(TimerEvent, data, "timer event")
    payload: Any = timer.payload
    if timer.payload and timer.payload.strip()[:1] in ("{", "["):
        try:
            payload = load_json(timer.payload, what="timer payload", max_depth=16, max_bytes=131072)
        except DtsChangeError:
            payload = timer.payload
    return Envelope(
        kind="timer",
        correlation_id=timer.triggerTime,
        source=SourceInfo(kind="timer"),
        reconcile={"triggerName": timer.triggerName, "triggerTime": timer.triggerTime, "payload": payload},
        event_ref={"trigger": "timer", "triggerName": timer.triggerName, "triggerTime": timer.triggerTime},
    )


def from_manual(data: bytes, parsed: Mapping[str, Any], ids: _Ids) -> Envelope:
    """A manual invocation: the event itself is the change (any format), or a reconcile request."""
    if parsed.get("action") == "reconcile" and set(parsed) <= {"action", "job"}:
        return Envelope(
            kind="manual",
            correlation_id=ids.next(),
            source=SourceInfo(kind="manual"),
            reconcile={"triggerName": "manual", "payload": dict(parsed)},
            event_ref={"trigger": "manual"},
        )
    return Envelope(
        kind="manual",
        correlation_id=ids.next(),
        source=SourceInfo(kind="manual"),
        body=data,
        event_ref={"trigger": "manual"},
    )


def from_fc_failure_record(data: Mapping[str, Any], ids: _Ids, *, depth: int) -> list[Envelope]:
    """An FC async failure-destination record: replay the original payload it carries."""
    from .events.fc_record import FcFailureRecord  # noqa: PLC0415 - per-family models, see top

    record = _model(FcFailureRecord, data, "FC failure record")
    if depth >= MAX_REPLAY_DEPTH:
        raise InvalidEventError(
            f"Invalid FC failure record: failure records nest deeper than {MAX_REPLAY_DEPTH} levels"
        )
    replay = {
        "replayOf": record.requestContext.requestId,
        "condition": record.requestContext.condition,
        "functionArn": record.requestContext.functionArn,
    }
    inner = _split(record.requestPayload.encode("utf-8"), ids, depth=depth + 1)
    return [replace(env, event_ref={**env.event_ref, "replay": replay}) for env in inner]


# ---------------------------------------------------------------------- dispatch


def _shape(value: Any) -> str:
    if isinstance(value, Mapping):
        keys = sorted(str(k) for k in value)
        return "an object with keys " + short_repr(keys[:8])
    return f"a JSON {type(value).__name__}"


def _is_http_event(data: Mapping[str, Any]) -> bool:
    return data.get("version") == "v1" and "rawPath" in data and "requestContext" in data


def _dispatch_object(data: Mapping[str, Any], raw: bytes, ids: _Ids, depth: int) -> list[Envelope]:
    if isinstance(data.get("events"), list):
        return from_oss_event(data, ids)
    if "specversion" in data:
        return [from_cloud_event(data, ids)]
    if {"requestContext", "requestPayload", "responseContext"} <= set(data):
        return from_fc_failure_record(data, ids, depth=depth)
    if "triggerTime" in data and "triggerName" in data:
        return [from_timer(data, ids)]
    if "TopicOwner" in data or ("MessageId" in data and "Message" in data):
        return [from_mns_topic_json(data, ids)]
    if set(data) == {"body", "attrs"}:
        return [from_mns_topic_stream(data, ids)]
    if _is_http_event(data):
        raise UnrecognisedEventError(
            "Unrecognised event: HTTP trigger requests are not supported; expected one of: "
            + "; ".join(KNOWN_SHAPES)
        )
    return [from_manual(raw, data, ids)]


def _split(data: bytes, ids: _Ids, *, depth: int) -> list[Envelope]:
    try:
        parsed = load_json(data, what="event", max_bytes=MAX_EVENT_BYTES)
    except InputTooLargeError as exc:
        return [_problem_envelope(exc, ids, raw=data)]
    except InvalidJsonError as exc:
        start = data.lstrip()[:1]
        if start in (b"{", b"["):
            return [_problem_envelope(exc, ids, kind="unknown", raw=data)]
        # Not JSON at all: a raw STREAM body or a text change; intake decides (and rejects garbage).
        return [from_raw_body(data, ids)]
    try:
        if isinstance(parsed, Mapping):
            return _dispatch_object(parsed, data, ids, depth)
        if isinstance(parsed, list):
            if parsed and all(isinstance(item, str) for item in parsed):
                # No EventBridge batch holds bare strings: a manual list of "db.table" names.
                return [from_manual(data, {}, ids)]
            return from_eventbridge_batch(parsed, ids)
        if isinstance(parsed, str):
            return [from_raw_body(parsed.encode("utf-8"), ids)]
        raise UnrecognisedEventError(
            f"Unrecognised event: {_shape(parsed)}; expected one of: " + "; ".join(KNOWN_SHAPES)
        )
    except DtsChangeError as exc:
        return [_problem_envelope(exc, ids, raw=data)]


def split_event(event: bytes | str, *, request_id: str | None = None) -> list[Envelope]:
    """Every envelope of one invocation payload, in order; never raises for bad input."""
    data = event.encode("utf-8", "surrogatepass") if isinstance(event, str) else bytes(event)
    return _split(data, _Ids(request_id), depth=0)
