"""Function Compute entry points: `index.handler` and `index.initialize` (see s.yaml).

Kept tiny on purpose: everything lives in `dts_change`, and this module only wires FC to it.
"""

from __future__ import annotations

import json
import os
from typing import Any

# This function uses no pydantic plugins; skipping their discovery (an importlib.metadata scan of
# every installed distribution) saves a noticeable part of the cold start.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from dts_change.handler import get_app, handle_event


def initialize(context: Any) -> None:
    """Build settings, HTTP sessions and stores once per instance; refuse a local ledger in FC."""
    get_app()


def handler(event: bytes | str, context: Any) -> str:
    """One invocation: returns the result as JSON text (FC passes it back to the caller)."""
    return json.dumps(handle_event(event, context), ensure_ascii=False)
