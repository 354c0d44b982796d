"""The SLS alert queries of docs/operating.md use only events and fields the code really logs.

The log lines come from real `dts-change` processes at INFO level, through a rehearsed failure
of each kind the alerts are about (a pass that stops, a change DTS refuses, bad input) and a
replay, so a renamed field or event fails here instead of silencing an alert in production.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.e2e.test_operator_loop import clean_env, dts_change

SQL_WORDS = {"select", "as", "group", "by", "having", "and", "or", "not", "where", "order", "desc", "asc", "limit"}


def alert_queries() -> list[str]:
    text = (REPO_ROOT / "docs/operating.md").read_text(encoding="utf-8")
    return [q.strip() for q in re.findall(r"```sls\n(.*?)```", text, re.S)]


def events_and_fields(query: str) -> tuple[set[str], set[str]]:
    search, _, sql = query.partition("|")
    events = set(re.findall(r'event:\s*"([^"]+)"', search))
    fields = set(re.findall(r"(\w+)\s*:", search))
    sql = re.sub(r"'[^']*'", "", sql)
    aliases = set(re.findall(r"\bas\s+(\w+)", sql))
    for word in re.findall(r"\b([a-z_]\w*)\b(?!\s*\()", sql):
        if word not in SQL_WORDS and word not in aliases:
            fields.add(word)
    return events, fields


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    workdir: Path = tmp_path_factory.mktemp("alerts")
    (workdir / "bad.json").write_text('{"id": "bad", "add": {"shop": {"all": "yes"}}}', encoding="utf-8")
    (workdir / "one.json").write_text('{"id": "one", "add": ["shop.one"]}', encoding="utf-8")
    env = clean_env(DTS_CHANGE_LOG_LEVEL="INFO")
    lines: list[str] = []
    for args in (
        ["local", "reset", "--fail-next", "DescribeDtsJobDetail:Forbidden.RAM:2",
         "--fail-next", "ModifyDtsJob:InvalidParameter"],
        ["invoke", "one.json", "--local"],
        ["invoke", "bad.json", "--local"],
        ["dlq", "replay", "one", "--local"],
    ):
        lines += dts_change(workdir, *args, env=env).stderr.splitlines()
    seen: dict[str, set[str]] = {}
    for line in lines:
        if line.startswith("{"):
            entry = json.loads(line)
            seen.setdefault(entry["event"], set()).update(entry)
    return seen


def test_the_doc_has_the_alerts_the_issue_asks_for():
    queries = alert_queries()
    events = set().union(*(events_and_fields(q)[0] for q in queries))
    assert {"change dead-lettered", "input dead-lettered", "reconcile pass", "reconcile pass stopped"} <= events
    assert len(queries) >= 3


@pytest.mark.parametrize("query", alert_queries())
def test_every_event_and_field_of_a_query_is_logged(query: str, logged: dict[str, set[str]]):
    events, fields = events_and_fields(query)
    assert events, query
    for event in events:
        assert event in logged, f"no log line has event {event!r}; seen: {sorted(logged)}"
        missing = fields - logged[event]
        assert not missing, f"{event!r} lines lack {sorted(missing)} (they have {sorted(logged[event])})"
