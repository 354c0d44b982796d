"""Properties of intake over generated input: never an exception, never an internal error, and
what goes in as names comes out as the same objects."""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dts_change.core.change import ChangeRequest
from dts_change.core.dblist import ObjectRef
from dts_change.intake.accept import IntakeOutcome, intake_event
from dts_change.intake.settings import intake_settings_from_env
from tests.conftest import load_event_json
from tests.unit.intake.conftest import BASE_ENV, FakeReader, sample_objects

EXAMPLES = int(os.environ.get("DTS_CHANGE_FUZZ_EXAMPLES", "150"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INTAKE_SETTINGS = intake_settings_from_env(BASE_ENV)
OBJECTS = sample_objects()
SAMPLES = [
    "oss-object-created.json",
    "eventbridge-oss-batch.json",
    "mns-queue-batch-cloudevents.json",
    "mns-queue-rawdata.json",
    "mns-topic-json.json",
    "mns-topic-stream-attrs.json",
    "timer.json",
    "manual-change.json",
    "manual-modify-dts-job.json",
    "fc-failure-record.json",
]

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
NAMES = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), blacklist_characters="`\"#."),
    min_size=1,
    max_size=12,
)


def _run(event: bytes | str) -> list[IntakeOutcome]:
    return intake_event(event, settings=INTAKE_SETTINGS, reader=FakeReader(OBJECTS), request_id="fz")


def _assert_contained(outcomes: list[IntakeOutcome]) -> None:
    assert outcomes, "every payload yields at least one outcome"
    for outcome in outcomes:
        assert outcome.status in ("accepted", "failed", "ignored", "reconcile")
        if outcome.status == "failed":
            assert outcome.error is not None
            assert outcome.error.code != "internal-error", outcome.error
        json.dumps(outcome.to_dict())


@SETTINGS
@given(st.binary(max_size=300))
def test_intake_event_any_bytes_never_raise(data: bytes) -> None:
    _assert_contained(_run(data))


@SETTINGS
@given(JSON_VALUES)
def test_intake_event_any_json_never_raises(value: Any) -> None:
    _assert_contained(_run(json.dumps(value)))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out.extend(_paths(child, (*prefix, index)))
    return out


@SETTINGS
@given(st.sampled_from(SAMPLES), st.data())
def test_intake_event_sample_with_one_field_broken_never_raises(name: str, data: st.DataObject) -> None:
    # GIVEN a real sample with one field replaced or deleted
    event = copy.deepcopy(load_event_json(name))
    paths = [p for p in _paths(event) if p]
    path = data.draw(st.sampled_from(paths))
    parent = event
    for part in path[:-1]:
        parent = parent[part]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(JSON_VALUES)
    # WHEN intake runs THEN every envelope ends in an outcome, none of them a bug
    _assert_contained(_run(json.dumps(event)))


@SETTINGS
@given(st.lists(st.tuples(NAMES, st.none() | NAMES), min_size=1, max_size=8))
def test_table_list_names_round_trip(refs: list[tuple[str, str | None]]) -> None:
    # GIVEN names written one per line, quoted with backticks
    lines = [f"`{db}`" + (f".`{table}`" if table is not None else "") for db, table in refs]
    outcome = _run(json.dumps(lines))[0]
    assert outcome.status == "accepted", outcome.to_dict()
    change = outcome.changes[0]
    assert change.add is not None
    # THEN every named object is covered by the addition
    for db, table in refs:
        assert change.add.covers(ObjectRef(db, table))
    # AND the ledger record rebuilds the same request
    assert ChangeRequest.from_record(json.loads(json.dumps(change.to_record()))).to_record() == change.to_record()
