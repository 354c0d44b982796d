"""Fixtures for intake unit tests: an in-memory OSS reader seeded from events/changes/, settings."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from dts_change.core.errors import InputTooLargeError, SourceObjectNotFoundError
from dts_change.intake.accept import IntakeOutcome, intake_event
from dts_change.intake.settings import IntakeSettings, intake_settings_from_env
from tests.conftest import EVENTS_DIR

BUCKET = "dts-change-config"
PREFIX = "dts-change/incoming/"
DEFAULT_JOB = "dtsjob1demo"


@dataclass
class FakeObject:
    body: bytes
    etag: str


class FakeReader:
    """In-memory OSS: records every read, so tests can prove a refused URL was never contacted."""

    def __init__(self, objects: dict[tuple[str, str], bytes] | None = None) -> None:
        self.objects: dict[tuple[str, str], bytes] = dict(objects or {})
        self.calls: list[tuple[str, str]] = []

    def put(self, bucket: str, key: str, body: bytes) -> None:
        self.objects[(bucket, key)] = body

    def get_object(self, bucket: str, key: str, max_bytes: int) -> FakeObject:
        self.calls.append((bucket, key))
        body = self.objects.get((bucket, key))
        if body is None:
            raise SourceObjectNotFoundError(f"NoSuchKey: oss://{bucket}/{key}", http_status=404)
        if len(body) > max_bytes:
            raise InputTooLargeError(f"OSS object oss://{bucket}/{key} is over {max_bytes} bytes")
        return FakeObject(body, hashlib.md5(body).hexdigest().upper())


def sample_objects() -> dict[tuple[str, str], bytes]:
    """Every file of events/changes/ at the bucket and prefix the sample events name."""
    return {
        (BUCKET, PREFIX + path.name): path.read_bytes()
        for path in (EVENTS_DIR / "changes").iterdir()
        if path.is_file()
    }


@pytest.fixture
def reader() -> FakeReader:
    return FakeReader(sample_objects())


BASE_ENV = {
    "DTS_JOB_ID": DEFAULT_JOB,
    "DTS_REGION": "cn-hangzhou",
    "OSS_REGION": "cn-hangzhou",
    "DTS_CHANGE_ALLOWED_BUCKETS": BUCKET,
}


@pytest.fixture
def settings() -> IntakeSettings:
    return intake_settings_from_env(BASE_ENV)


@pytest.fixture
def make_settings() -> Callable[..., IntakeSettings]:
    def build(**env: str) -> IntakeSettings:
        merged = dict(BASE_ENV)
        for key, value in env.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        return intake_settings_from_env(merged)

    return build


@pytest.fixture
def run_intake(reader: FakeReader, settings: IntakeSettings) -> Callable[..., list[IntakeOutcome]]:
    """Run intake over event bytes (or a JSON-able object) with the fake reader."""

    def run(event: Any, *, settings_: IntakeSettings | None = None) -> list[IntakeOutcome]:
        import json

        data = event if isinstance(event, bytes | str) else json.dumps(event)
        return intake_event(data, settings=settings_ or settings, reader=reader, request_id="req-1")

    return run
