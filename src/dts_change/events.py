"""Pydantic models of what Function Compute hands the function, one per trigger shape.

Wire names are kept (aliases only where Python needs them). Models are tolerant where the
platform varies — unknown keys are allowed and kept, deletes may lack size and eTag, `PublishTime`
is a number or a string — and strict only where the handler depends on a field. Shapes and
samples: docs/formats.md, events/*.json, reference fc-platform §2-3.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Wire(BaseModel):
    """Base: keep keys we do not model (the platform adds fields over time)."""

    # defer_build: a schema is built the first time a model validates, so an invocation pays only
    # for the trigger shapes it actually receives (cold start, bench/cold_import.py).
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True, defer_build=True)


# ---------------------------------------------------------------------- OSS


class OssBucket(_Wire):
    name: str = Field(min_length=1)
    arn: str | None = None
    ownerIdentity: str | None = None  # noqa: N815 - wire name
    virtualBucket: str | None = None  # noqa: N815 - wire name


class OssObject(_Wire):
    key: str = Field(min_length=1)
    size: int | None = None
    deltaSize: int | None = None  # noqa: N815 - wire name
    eTag: str | None = None  # noqa: N815 - wire name
    objectMeta: dict[str, Any] | None = None  # noqa: N815 - wire name


class OssDetail(_Wire):
    bucket: OssBucket
    object_: OssObject = Field(alias="object")
    ossSchemaVersion: str | None = None  # noqa: N815 - wire name
    ruleId: str | None = None  # noqa: N815 - wire name


class OssEventRecord(_Wire):
    """One element of a native OSS trigger's `events` (also EventBridge's `data` for OSS)."""

    eventName: str = Field(min_length=1)  # noqa: N815 - wire name
    eventSource: str | None = None  # noqa: N815 - wire name
    eventTime: str | None = None  # noqa: N815 - wire name
    eventVersion: str | None = None  # noqa: N815 - wire name
    region: str | None = None
    oss: OssDetail
    requestParameters: dict[str, Any] | None = None  # noqa: N815 - wire name
    responseElements: dict[str, Any] | None = None  # noqa: N815 - wire name
    userIdentity: dict[str, Any] | None = None  # noqa: N815 - wire name

    @property
    def is_removal(self) -> bool:
        return self.eventName.split(":", 1)[0] == "ObjectRemoved"

    @property
    def is_creation(self) -> bool:
        return self.eventName.split(":", 1)[0] == "ObjectCreated"

    @property
    def request_id(self) -> str | None:
        value = (self.responseElements or {}).get("requestId")
        return value if isinstance(value, str) and value else None

    @model_validator(mode="after")
    def _created_objects_have_etag(self) -> "OssEventRecord":
        """A created object always has an eTag (it is part of its identity); deletes may not."""
        if self.is_creation and not self.oss.object_.eTag:
            raise ValueError("an ObjectCreated event needs oss.object.eTag")
        return self


class OssEvent(_Wire):
    """Native OSS trigger: `{"events": [...]}`; every element is processed, not only the first."""

    events: list[OssEventRecord] = Field(min_length=1)


# ---------------------------------------------------------------------- EventBridge / CloudEvents


class CloudEvent(_Wire):
    """A CloudEvents 1.0 envelope as EventBridge delivers it (`aliyun*` extensions kept as extras)."""

    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    specversion: str
    type: str = Field(min_length=1)
    datacontenttype: str | None = None
    subject: str | None = None
    time: str | None = None
    data: Any = None


class MnsQueueData(_Wire):
    """The `data` of an MNS-queue CloudEvent, and one element of a RawData batch."""

    requestId: str | None = None  # noqa: N815 - wire name
    messageId: str = Field(min_length=1)  # noqa: N815 - wire name
    messageBody: str  # noqa: N815 - wire name


# ---------------------------------------------------------------------- MNS topic


class MnsTopicJsonMessage(_Wire):
    """MNS topic trigger, JSON format; message attributes (if any) arrive as extra top-level keys."""

    TopicOwner: str | None = None
    TopicName: str | None = None
    Subscriber: str | None = None
    SubscriptionName: str | None = None
    MessageId: str = Field(min_length=1)
    Message: str
    MessageMD5: str | None = None
    MessageTag: str | None = None
    PublishTime: int | str | None = None

    @property
    def attributes(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class MnsTopicStream(BaseModel):
    """MNS topic trigger, STREAM format with attributes: `{"body": ..., "attrs": {...}}`."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    body: str
    attrs: dict[str, Any]


# ---------------------------------------------------------------------- timer and FC records


class TimerEvent(_Wire):
    """Timer trigger; `payload` is the configured message, always a string (maybe JSON)."""

    triggerTime: str = Field(min_length=1)  # noqa: N815 - wire name
    triggerName: str = Field(min_length=1)  # noqa: N815 - wire name
    payload: str | None = None


class FcRequestContext(_Wire):
    requestId: str | None = None  # noqa: N815 - wire name
    functionArn: str | None = None  # noqa: N815 - wire name
    condition: str | None = None
    approximateInvokeCount: int | None = None  # noqa: N815 - wire name


class FcFailureRecord(_Wire):
    """FC async failure-destination record: `requestPayload` is the original event as a string."""

    timestamp: int | None = None
    requestContext: FcRequestContext  # noqa: N815 - wire name
    requestPayload: str  # noqa: N815 - wire name
    responseContext: dict[str, Any]  # noqa: N815 - wire name
    responsePayload: str | None = None  # noqa: N815 - wire name
