"""FC asynchronous invocation failure-destination record (replayed by the handler)."""

from typing import Any

from ._wire import Wire


class FcRequestContext(Wire):
    requestId: str | None = None  # noqa: N815 - wire name
    functionArn: str | None = None  # noqa: N815 - wire name
    condition: str | None = None
    approximateInvokeCount: int | None = None  # noqa: N815 - wire name


class FcFailureRecord(Wire):
    """FC async failure-destination record: `requestPayload` is the original event as a string."""

    timestamp: int | None = None
    requestContext: FcRequestContext  # noqa: N815 - wire name
    requestPayload: str  # noqa: N815 - wire name
    responseContext: dict[str, Any]  # noqa: N815 - wire name
    responsePayload: str | None = None  # noqa: N815 - wire name
