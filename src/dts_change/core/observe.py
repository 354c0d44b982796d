"""Structured JSON logs, redaction of secrets, and the invocation summary counters.

One JSON object per line, so Simple Log Service can index every field. Secrets never reach a log
line: known secret values are masked wherever they appear, and values under secret-looking keys
are masked too.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections import Counter
from typing import Any

LOGGER_NAME = "dts_change"
# A ClientToken is an idempotency key sent to DTS, not a credential: operators need it to match a
# modification with DTS's own records, so it is shown.
_SECRET_KEY = re.compile(
    r"(?i)(secret|(?<!client)(?<!client_)token|signature|password|authorization|accesskeysecret)"
)
_MASK = "***"
# Credentials that arrive inside input text: a presigned URL's query (OSS V1/V4, RPC) and the
# common parameters a pasted console request carries ("SecurityToken": "..."). Input bodies are
# kept in dead letters for replay; these values are never needed for that (the handler drops
# query strings and ignores the common parameters), so they are masked wherever text is emitted.
_EMBEDDED_SECRET = re.compile(
    r"(?i)(?P<param>[?&](?:signature|security-?token|x-oss-signature|x-oss-security-token|"
    r"x-acs-security-token)=)[^&#\s\"'\\]+"
    r'|(?P<field>"(?:signature|securitytoken|security-token|bearertoken|accesskeysecret)"\s*:\s*")'
    r'(?:[^"\\]|\\.)+(?=")'
)
_secret_values: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a secret value (key secret, STS token) so it is masked in any text we emit."""
    if value and len(value) >= 6:
        with _lock:
            _secret_values.add(value)


def redact_text(text: str) -> str:
    for secret in list(_secret_values):
        if secret in text:
            text = text.replace(secret, _MASK)
    if "=" in text or '"' in text:
        text = _EMBEDDED_SECRET.sub(lambda m: (m.group("param") or m.group("field")) + _MASK, text)
    return text


def redact(value: Any) -> Any:
    """A copy of `value` with secrets masked (by key name and by known value)."""
    if isinstance(value, dict):
        # Only plain values are masked: under a DbList, keys are table names (`user_tokens`).
        return {
            k: (
                _MASK
                if isinstance(k, str) and _SECRET_KEY.search(k) and v and isinstance(v, str | bytes | int | float)
                else redact(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


class JsonFormatter(logging.Formatter):
    """Formats records as one JSON line: time, level, message, and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update(fields)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return redact_text(json.dumps(redact(data), ensure_ascii=False, default=str))


def configure_logging(level: str = "INFO", stream: Any = None) -> logging.Logger:
    """Attach one JSON handler to the project logger (idempotent: FC reuses instances)."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(getattr(logging, level.upper(), logging.INFO))
    if not any(getattr(h, "_dts_change", False) for h in logger.handlers):
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.setFormatter(JsonFormatter())
        handler._dts_change = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.propagate = False
    return logger


def log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured line; `fields` become top-level JSON keys."""
    logging.getLogger(LOGGER_NAME).log(level, event, extra={"fields": fields})


class Metrics:
    """Counters for the invocation summary line (`changes_applied`, `modify_calls`, ...)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def incr(self, name: str, by: int = 1) -> None:
        with self._lock:
            self.counts[name] += by

    def snapshot(self) -> dict[str, int]:
        base = {"changes_applied": 0, "modify_calls": 0, "dead_lettered": 0, "pending": 0}
        base.update(self.counts)
        return base
