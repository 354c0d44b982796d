"""DTS_CHANGE_ROUTES: validation (in step with docs/routes.schema.json) and first-match routing."""

from __future__ import annotations

import json

import jsonschema
import pytest

from dts_change.core.change import JobTarget, SourceInfo
from dts_change.core.errors import ConfigurationError
from dts_change.intake.routing import first_match, parse_routes, route_buckets, validate_routes
from tests.conftest import REPO_ROOT

SCHEMA = json.loads((REPO_ROOT / "docs" / "routes.schema.json").read_text())

VALID_RULES = [
    {"bucket": "cfg-1", "prefix": "job-a/", "dtsJobId": "dtsjoba", "allowRemovals": True},
    {"bucket": "cfg-1", "dtsInstanceId": "dtsinstb", "direction": "Reverse", "region": "cn-shanghai"},
    {"topic": "dts-change-topic", "dtsJobId": "dtsjobc", "name": "topic rule"},
    {"queue": "dts-change-queue", "dtsJobId": "dtsjobd", "dtsInstanceId": "dtsinstd", "allowRemovals": False,
     "onTargetNameAdd": "reject"},
    {"bucket": "cfg-1", "prefix": "pg/", "dtsJobId": "dtsjobe", "sqlDialect": "postgres", "sqlDatabase": "app"},
]
INVALID_RULES = [
    ({"bucket": "cfg-1"}, "DTS_CHANGE_ROUTES[0]: expected dtsJobId or dtsInstanceId (or both)"),
    (
        {"dtsJobId": "j1"},
        "DTS_CHANGE_ROUTES[0]: expected exactly one of bucket (with optional prefix), topic or queue, got none",
    ),
    (
        {"bucket": "cfg-1", "topic": "t", "dtsJobId": "j1"},
        "DTS_CHANGE_ROUTES[0]: expected exactly one of bucket (with optional prefix), topic or queue, got bucket, topic",
    ),
    (
        {"topic": "t", "prefix": "a/", "dtsJobId": "j1"},
        "DTS_CHANGE_ROUTES[0].prefix: prefix only applies to a bucket rule",
    ),
    (
        {"bucket": "Bad_Bucket", "dtsJobId": "j1"},
        "DTS_CHANGE_ROUTES[0].bucket: expected an OSS bucket name, got 'Bad_Bucket'",
    ),
    (
        {"bucket": "cfg-1", "dtsJobId": "j 1"},
        "DTS_CHANGE_ROUTES[0].dtsJobId: expected a DTS job id, got 'j 1'",
    ),
    (
        {"bucket": "cfg-1", "dtsJobId": "j1", "direction": "forward"},
        'DTS_CHANGE_ROUTES[0].direction: expected "Forward" or "Reverse", got \'forward\'',
    ),
    (
        {"bucket": "cfg-1", "dtsJobId": "j1", "region": "Hangzhou"},
        "DTS_CHANGE_ROUTES[0].region: expected a region id such as cn-hangzhou, got 'Hangzhou'",
    ),
    (
        {"bucket": "cfg-1", "dtsJobId": "j1", "allowRemovals": "yes"},
        "DTS_CHANGE_ROUTES[0].allowRemovals: expected true or false, got 'yes'",
    ),
    (
        {"bucket": "cfg-1", "dtsJobId": "j1", "onTargetNameAdd": "error"},
        "DTS_CHANGE_ROUTES[0].onTargetNameAdd: expected \"warn\" or \"reject\", got 'error'",
    ),
    (
        {"bucket": "cfg-1", "dtsJobId": "j1", "jobId": "x"},
        "DTS_CHANGE_ROUTES[0].jobId: unknown key; expected one of: name, bucket, prefix, topic, queue, dtsJobId, dtsInstanceId, direction, region, allowRemovals, sqlDialect, sqlDatabase, onTargetNameAdd",
    ),
    (
        {"bucket": "cfg-1", "dtsJobId": "j1", "sqlDialect": "oracle"},
        "DTS_CHANGE_ROUTES[0].sqlDialect: expected \"mysql\" or \"postgres\", got 'oracle'",
    ),
    ("not an object", "DTS_CHANGE_ROUTES[0]: expected an object, got 'not an object'"),
]


@pytest.mark.parametrize("rule", VALID_RULES)
def test_validate_routes_valid_rule_matches_schema(rule):
    assert validate_routes([rule]) == []
    jsonschema.validate([rule], SCHEMA)


@pytest.mark.parametrize(("rule", "message"), INVALID_RULES)
def test_validate_routes_invalid_rule_is_also_rejected_by_schema(rule, message):
    assert validate_routes([rule])[0] == message
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([rule], SCHEMA)


def test_validate_routes_trailing_newline_in_id_is_rejected():
    # ECMA-262 "$" (the schema's dialect) ends at the end of input; Python's "$" would let "\n" in.
    assert validate_routes([{"bucket": "cfg-1", "dtsJobId": "j1\n"}]) == [
        "DTS_CHANGE_ROUTES[0].dtsJobId: expected a DTS job id, got 'j1\\n'"
    ]


def test_parse_routes_invalid_rule_is_configuration_error_with_count():
    with pytest.raises(ConfigurationError) as info:
        parse_routes(json.dumps([{"bucket": "cfg-1"}, {"dtsJobId": "j1"}]))
    assert info.value.code == "invalid-configuration"
    assert info.value.message == (
        "Invalid DTS_CHANGE_ROUTES: DTS_CHANGE_ROUTES[0]: expected dtsJobId or dtsInstanceId (or both) (and 1 more)"
    )
    assert len(info.value.details) == 2


def test_parse_routes_malformed_json_is_configuration_error():
    with pytest.raises(ConfigurationError) as info:
        parse_routes('[{"bucket": "cfg-1",')
    assert info.value.message.startswith("Invalid DTS_CHANGE_ROUTES: Invalid JSON in DTS_CHANGE_ROUTES:")


def test_parse_routes_not_a_list_is_configuration_error():
    with pytest.raises(ConfigurationError) as info:
        parse_routes('{"bucket": "cfg-1"}')
    assert info.value.message == (
        "Invalid DTS_CHANGE_ROUTES: DTS_CHANGE_ROUTES: expected a JSON list of rules, got {'bucket': 'cfg-1'}"
    )


def test_parse_routes_empty_means_no_routes():
    assert parse_routes(None) == ()
    assert parse_routes("  ") == ()
    assert parse_routes("[]") == ()


def test_first_match_first_rule_wins_and_prefix_is_literal():
    routes = parse_routes(json.dumps(VALID_RULES))
    job_a = first_match(routes, SourceInfo("oss", bucket="cfg-1", key="job-a/x.json"))
    other = first_match(routes, SourceInfo("oss", bucket="cfg-1", key="job-b/x.json"))
    assert job_a is not None and job_a.job == JobTarget("dtsjoba")
    assert job_a.allow_removals is True
    assert other is not None and other.job == JobTarget(None, "dtsinstb", "Reverse", "cn-shanghai")
    assert first_match(routes, SourceInfo("oss", bucket="cfg-1", key="job-a*")) is not None
    assert first_match(routes, SourceInfo("oss", bucket="cfg-2", key="job-a/x")) is None


def test_first_match_topic_and_queue_rules():
    routes = parse_routes(json.dumps(VALID_RULES))
    topic = first_match(routes, SourceInfo("mns-topic", message_id="m", topic="dts-change-topic"))
    queue = first_match(routes, SourceInfo("mns-queue", message_id="m", queue="dts-change-queue"))
    assert topic is not None and topic.job.dts_job_id == "dtsjobc"
    assert queue is not None and queue.allow_removals is False
    assert first_match(routes, SourceInfo("manual")) is None


def test_route_buckets_lists_bucket_rules():
    assert route_buckets(parse_routes(json.dumps(VALID_RULES))) == frozenset({"cfg-1"})
