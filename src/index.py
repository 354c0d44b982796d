"""Function Compute entry points: `index.handler`, `index.initialize` and `index.on_failure` (s.yaml).

Kept tiny on purpose: everything lives in `dts_change`, and this module only wires FC to it.
"""

from __future__ import annotations

import json
import os
from typing import Any

# This function uses no pydantic plugins; skipping their discovery (an importlib.metadata scan of
# every installed distribution) saves a noticeable part of the cold start.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from dts_change.app.handler import function_timeout, get_app, handle_event


def initialize(context: Any) -> None:
    """Build settings, HTTP sessions and stores once per instance; refuse a local ledger in FC, a
    ledger or dead letters in a versioned OSS bucket (create-if-absent would not hold), a lease
    the function's timeout could outlast and a retention shorter than the timeout plus the lease."""
    app = get_app()
    app.check_stores(context)
    timeout = function_timeout(context)
    app.check_lease_covers(timeout)
    app.check_retention_covers(timeout)


def handler(event: bytes | str, context: Any) -> str:
    """One invocation: returns the result as JSON text (FC passes it back to the caller)."""
    return json.dumps(handle_event(event, context), ensure_ascii=False)


def on_failure(event: bytes | str, context: Any) -> str:
    """The failure function: FC failure records and EventBridge dead letters become dead letters.

    A separate function (s.yaml) with the same code; its module is imported here, on its first
    event, so the handler's cold start does not pay for it."""
    from dts_change.app.failure_function import handle_failure_event  # noqa: PLC0415 - see docstring

    return json.dumps(handle_failure_event(event, context), ensure_ascii=False)
