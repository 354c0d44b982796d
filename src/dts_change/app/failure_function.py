"""The failure function's edge (`index.on_failure`): store what `failures` found, once each.

Raises only when the dead-letter store cannot be written, so that FC (or EventBridge) delivers
the event again; whatever the input, it is otherwise recorded (docs/deploying.md).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ..core.observe import log_event
from ..state.deadletter import DeadLetterSink
from ..state.storage import check_create_if_absent, open_store
from .failures import dead_letter_record, failure_dead_letters

__all__ = ["FailureRecorder", "handle_failure_event", "reset_failure_app"]


class FailureRecorder:
    """Writes the failures of each invocation to the dead-letter store."""

    def __init__(self, sink: DeadLetterSink, clock: Callable[[], float] = time.time) -> None:
        self.sink = sink
        self.clock = clock

    def handle(self, event: bytes | str, context: Any = None) -> dict[str, Any]:
        request_id = getattr(context, "request_id", None) or uuid.uuid4().hex
        recorded = []
        for failure in failure_dead_letters(event):
            record = dead_letter_record(failure, self.clock())
            try:
                # FC and EventBridge deliver at least once: the same failure again is the same key.
                earlier = self.sink.find_unrouted(record.key)
                if earlier is not None:
                    recorded.append({"id": earlier, "key": record.key, "kind": failure.kind,
                                     "code": failure.error.code, "duplicate": True})
                    continue
                dl_id = self.sink.write(record)
            except Exception:
                # The event is not lost: raising makes FC (or EventBridge) deliver it again.
                log_event("could not store a failed event; raising so it is delivered again",
                          logging.ERROR, request_id=request_id, kind=failure.kind, key=record.key,
                          bytes=len(failure.payload))
                raise
            recorded.append({"id": dl_id, "key": record.key, "kind": failure.kind, "code": failure.error.code})
            log_event("failed event dead-lettered", logging.WARNING, request_id=request_id, dead_letter=dl_id,
                      kind=failure.kind, code=failure.error.code, correlation_id=failure.correlation_id)
        return {"requestId": request_id, "deadLetters": recorded}


class _FailureApp:
    """What a failure-function instance keeps: the credentials provider and the recorder."""

    def __init__(self, env: Mapping[str, str] | None) -> None:
        from ..clients.credentials import CredentialsProvider, without_credentials  # noqa: PLC0415 - once per instance
        from ..clients.oss import OssClient  # noqa: PLC0415
        from ..core.observe import configure_logging, register_secret  # noqa: PLC0415
        from .settings import Settings  # noqa: PLC0415

        # In FC (env None) keys are read from the live os.environ on each request (FC rotates them),
        # and the settings' start-up copy keeps none (issue 11 point 10).
        settings = Settings.from_env(without_credentials(os.environ) if env is None else env)
        configure_logging(settings.log_level)
        self.credentials = CredentialsProvider(env=os.environ if env is None else settings.env)
        oss = OssClient(settings.oss_region, settings.oss_endpoint, self.credentials,
                        signature=settings.oss_signature)  # type: ignore[arg-type]
        self.recorder = FailureRecorder(DeadLetterSink(open_store(settings.dead_letter_url, oss_client=oss)))
        self.store_checked = False
        self._register = register_secret
        for secret in (settings.env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET"), settings.env.get("ALIBABA_CLOUD_SECURITY_TOKEN")):
            register_secret(secret)

    def handle(self, event: bytes | str, context: Any) -> dict[str, Any]:
        creds = getattr(context, "credentials", None)
        if creds is not None:
            self._register(getattr(creds, "access_key_secret", None))
            self._register(getattr(creds, "security_token", None))
        with self.credentials.invocation(context):
            if not self.store_checked:
                # Dead letters are written create-if-absent, which a versioned OSS bucket ignores:
                # refuse it as the handler does (raising: FC keeps the event and retries).
                check_create_if_absent({"DTS_CHANGE_DEAD_LETTER": self.recorder.sink.store})
                self.store_checked = True
            return self.recorder.handle(event, context)


_FAILURE_APP: _FailureApp | None = None


def handle_failure_event(event: bytes | str, context: Any, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`index.on_failure`: record every failed event in the dead-letter store (built once per instance)."""
    global _FAILURE_APP
    if _FAILURE_APP is None:
        _FAILURE_APP = _FailureApp(env)
    return _FAILURE_APP.handle(event, context)


def reset_failure_app() -> None:
    global _FAILURE_APP
    _FAILURE_APP = None
