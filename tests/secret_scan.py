"""Secret scanning for tests: no secret or token value in a log line, a result, a dead-letter record,
an escaping exception or captured output.

Two ways to use it:
- `secret_scan` (a fixture): a `SecretScan` for one test. It formats every `dts_change` log record
  with the production `JsonFormatter`, and spies on `App.handle` (results and exceptions) and
  `DeadLetterSink.write` (the record as stored). `check()` fails the test on a hit.
- whole suite: import `secret_scan_everywhere` and `pytest_runtest_makereport` into
  tests/conftest.py. Every test then runs under the spies, and its captured stdout, stderr and log
  sections are scanned too, for every value the code registered as a secret
  (`observe.register_secret`: key secrets and STS tokens of every App and invocation).

Hits are reported masked (first characters and length), so the report itself never leaks.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from dts_change.app.handler import App
from dts_change.core import observe
from dts_change.state.deadletter import DeadLetterRecord, DeadLetterSink

MIN_SECRET_LENGTH = 6
"""`observe.register_secret` ignores shorter values; so does the scan (too many false hits)."""


def registered_secrets() -> set[str]:
    """Every value the code registered for redaction so far (a process-wide set in observe)."""
    return set(observe._secret_values)


def mask(value: str) -> str:
    return f"{value[:3]}…({len(value)} chars)"


def as_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=repr)


class SecretScan:
    """Collects what the handler emits during one test and finds secret values in it."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values: set[str] = {v for v in values if v and len(v) >= MIN_SECRET_LENGTH}
        self.log = io.StringIO()
        self.hits: list[str] = []
        self.reported: set[str] = set()
        self.scanned: dict[str, int] = {}

    def add(self, *values: str) -> None:
        self.values.update(v for v in values if v and len(v) >= MIN_SECRET_LENGTH)

    def scan(self, where: str, value: Any, extra: Iterable[str] = ()) -> None:
        text = as_text(value)
        self.scanned[where] = self.scanned.get(where, 0) + 1
        for secret in self.values | set(extra):
            if len(secret) >= MIN_SECRET_LENGTH and secret in text:
                self.hits.append(f"{where} contains secret {mask(secret)}")

    def log_lines(self) -> list[str]:
        return [line for line in self.log.getvalue().splitlines() if line]

    def check(self, *, extra_text: Iterable[tuple[str, str]] = ()) -> None:
        """Fail on any hit: spied results and records, every log line, and `extra_text`."""
        values = self.values | registered_secrets()
        for line in self.log_lines():
            self.scan("log line", line, values)
        for where, text in extra_text:
            self.scan(where, text, values)
        if self.hits:
            pytest.fail("Secret leaked: " + "; ".join(sorted(set(self.hits))), pytrace=False)


@pytest.fixture
def secret_scan(monkeypatch: pytest.MonkeyPatch) -> Iterator[SecretScan]:
    """A `SecretScan` wired to the `dts_change` logger, `App.handle` and `DeadLetterSink.write`.

    The test adds its own distinctive values (`scan.add(...)`) and calls `scan.check()` (also
    with captured stdout) at the end; values registered by the code are always included.
    """
    with spying(SecretScan(), monkeypatch) as scan:
        yield scan


@contextmanager
def spying(scan: SecretScan, monkeypatch: pytest.MonkeyPatch) -> Iterator[SecretScan]:
    """Production-formatted `dts_change` log lines into `scan.log`; results, exceptions and stored
    dead letters scanned as they happen."""
    handler = logging.StreamHandler(scan.log)
    handler.setFormatter(observe.JsonFormatter())
    logger = logging.getLogger(observe.LOGGER_NAME)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    monkeypatch.setattr(App, "handle", _spy_handle(App.handle, scan))
    monkeypatch.setattr(DeadLetterSink, "write", _spy_write(DeadLetterSink.write, scan))
    try:
        yield scan
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _spy_handle(original: Callable[..., dict[str, Any]], scan: SecretScan) -> Callable[..., dict[str, Any]]:
    def handle(self: App, event: bytes | str, context: Any = None, **kwargs: Any) -> dict[str, Any]:
        try:
            result = original(self, event, context, **kwargs)
        except BaseException as exc:
            scan.scan("exception raised by App.handle", f"{exc!s} {exc!r}", registered_secrets())
            raise
        scan.scan("handler result", result, registered_secrets())
        return result

    return handle


def _spy_write(original: Callable[..., str], scan: SecretScan) -> Callable[..., str]:
    def write(self: DeadLetterSink, record: DeadLetterRecord) -> str:
        dl_id = original(self, record)
        stored = self.store.get(dl_id + ".json")
        scan.scan("dead-letter record", stored if stored is not None else record.to_dict(), registered_secrets())
        return dl_id

    return write


# ---------------------------------------------------------------------- whole-suite wiring

_SCAN_KEY = pytest.StashKey[SecretScan]()


@pytest.fixture(autouse=True)
def secret_scan_everywhere(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Autouse (when imported into a conftest): every test runs under the spies."""
    scan = SecretScan()
    request.node.stash[_SCAN_KEY] = scan
    with spying(scan, monkeypatch):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Fail a passing test (call or teardown phase) whose captured output, log lines, results or
    dead letters hold a registered secret."""
    outcome = yield
    report = outcome.get_result()
    scan = item.stash.get(_SCAN_KEY, None)
    if scan is None or report.when == "setup" or not report.passed:
        return
    values = registered_secrets()
    hits = list(scan.hits)
    texts = [*report.sections, ("log line", scan.log.getvalue())]
    for name, text in texts:
        hits.extend(f"{name} contains secret {mask(v)}" for v in values if len(v) >= MIN_SECRET_LENGTH and v in text)
    new = sorted(set(hits) - scan.reported)
    if new:
        scan.reported.update(new)
        report.outcome = "failed"
        report.longrepr = "Secret leaked: " + "; ".join(new)
