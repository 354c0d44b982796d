"""Timer trigger."""

from pydantic import Field

from ._wire import Wire


class TimerEvent(Wire):
    """Timer trigger; `payload` is the configured message, always a string (maybe JSON)."""

    triggerTime: str = Field(min_length=1)  # noqa: N815 - wire name
    triggerName: str = Field(min_length=1)  # noqa: N815 - wire name
    payload: str | None = None
