"""EventBridge: the CloudEvents 1.0 envelope, and the MNS queue message it (or a RawData batch) carries."""

from typing import Any

from pydantic import Field

from ._wire import Wire


class CloudEvent(Wire):
    """A CloudEvents 1.0 envelope as EventBridge delivers it (`aliyun*` extensions kept as extras)."""

    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    specversion: str
    type: str = Field(min_length=1)
    datacontenttype: str | None = None
    subject: str | None = None
    time: str | None = None
    data: Any = None


class MnsQueueData(Wire):
    """The `data` of an MNS-queue CloudEvent, and one element of a RawData batch."""

    requestId: str | None = None  # noqa: N815 - wire name
    messageId: str = Field(min_length=1)  # noqa: N815 - wire name
    messageBody: str  # noqa: N815 - wire name
