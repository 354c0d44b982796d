"""MNS topic trigger: JSON format, and STREAM format with attributes."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ._wire import Wire


class MnsTopicJsonMessage(Wire):
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
