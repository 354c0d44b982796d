"""Pydantic models of what Function Compute hands the function, one module per trigger family.

Wire names are kept (aliases only where Python needs them). Models are tolerant where the
platform varies — unknown keys are allowed and kept, deletes may lack size and eTag, `PublishTime`
is a number or a string — and strict only where the handler depends on a field. Shapes and
samples: docs/formats.md, events/*.json, reference fc-platform §2-3.

A function instance usually serves one trigger, so each family's models are defined when the
first event of that family arrives (`sources` imports the module then), not at cold start:
defining a pydantic model class costs about a millisecond even with `defer_build`
(docs/performance.md). `from dts_change.intake.events import OssEvent` still works for every name.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .cloud import CloudEvent, MnsQueueData
    from .fc_record import FcFailureRecord, FcRequestContext
    from .mns_topic import MnsTopicJsonMessage, MnsTopicStream
    from .oss import OssBucket, OssDetail, OssEvent, OssEventRecord, OssObject
    from .timer import TimerEvent

_HOME = {
    "OssBucket": "oss",
    "OssObject": "oss",
    "OssDetail": "oss",
    "OssEventRecord": "oss",
    "OssEvent": "oss",
    "CloudEvent": "cloud",
    "MnsQueueData": "cloud",
    "MnsTopicJsonMessage": "mns_topic",
    "MnsTopicStream": "mns_topic",
    "TimerEvent": "timer",
    "FcRequestContext": "fc_record",
    "FcFailureRecord": "fc_record",
}

__all__ = [
    "CloudEvent",
    "FcFailureRecord",
    "FcRequestContext",
    "MnsQueueData",
    "MnsTopicJsonMessage",
    "MnsTopicStream",
    "OssBucket",
    "OssDetail",
    "OssEvent",
    "OssEventRecord",
    "OssObject",
    "TimerEvent",
]


def __getattr__(name: str) -> type[BaseModel]:
    """PEP 562: load the family module that defines `name` on first access."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    model: type[BaseModel] = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    return model
