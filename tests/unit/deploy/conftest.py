"""Fixtures for the deployment tests: s.yaml raw and resolved, and the fc3 component schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from .deploy_checks import (
    FAILURE_RESOURCE,
    FC3_RESOURCE_NAMES,
    FC3_SCHEMA,
    HANDLER_RESOURCE,
    S_YAML,
    Resolver,
    fc3_resources,
    resolve_document,
)


@pytest.fixture(scope="module")
def s_yaml_text() -> str:
    return S_YAML.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def s_yaml_raw(s_yaml_text: str) -> dict[str, Any]:
    doc = yaml.safe_load(s_yaml_text)
    assert isinstance(doc, dict), "s.yaml must be a mapping"
    return doc


@pytest.fixture(scope="module")
def s_yaml_resolved(s_yaml_raw: dict[str, Any]) -> tuple[dict[str, Any], Resolver]:
    return resolve_document(s_yaml_raw)


@pytest.fixture(scope="module")
def function_props(s_yaml_resolved: tuple[dict[str, Any], Resolver]) -> dict[str, Any]:
    """The props of the handler function, placeholders resolved to sample values."""
    resources = fc3_resources(s_yaml_resolved[0])
    assert sorted(resources) == sorted(FC3_RESOURCE_NAMES), f"unexpected fc3 resources {sorted(resources)}"
    return resources[HANDLER_RESOURCE]


@pytest.fixture(scope="module")
def failure_props(s_yaml_resolved: tuple[dict[str, Any], Resolver]) -> dict[str, Any]:
    """The props of the failure function (index.on_failure), placeholders resolved."""
    return fc3_resources(s_yaml_resolved[0])[FAILURE_RESOURCE]


@pytest.fixture(scope="module")
def fc3_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(FC3_SCHEMA.read_text(encoding="utf-8"))
    return schema
