"""Schema files as real tools write them, through the handler against the emulator (issue 16).

Each sample under events/changes/ is uploaded to the emulator's OSS and announced by an OSS
event; the test then reads the DbList the emulator received in ModifyDtsJob and compares its
objects with the seed plus the tables written here by hand from reading the sample (a picture
the parser does not share).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EVENTS_DIR, read_event_bytes
from tests.harness import BUCKET, JOB, LocalDeployment, seed_state

PREFIX = "dts-change/incoming/"


def objects(db_list: dict[str, Any]) -> set[str]:
    """`db` for a whole database, `db.table` for each listed table."""
    out: set[str] = set()
    for db, entry in db_list.items():
        tables = entry.get("Table") or {}
        if entry.get("all") is True or not tables:
            out.add(db)
        out.update(f"{db}.{t}" for t in tables)
    return out


SEED_OBJECTS = objects(seed_state()["jobs"][JOB]["dbList"])


def oss_event(key: str, body: str, request_id: str = "6632F0A1B2C3D4E5F6A79999") -> bytes:
    event = json.loads(read_event_bytes("oss-object-created.json"))
    record = event["events"][0]
    record["oss"]["object"]["key"] = key
    # OSS's ETag of a PutObject is the MD5 of the bytes; a different one means the object was
    # overwritten after the event (superseded, issue 12.4).
    record["oss"]["object"]["eTag"] = hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest().upper()
    record["responseElements"]["requestId"] = request_id
    return json.dumps(event).encode()


def routes(**rule: Any) -> str:
    return json.dumps([{"bucket": BUCKET, "prefix": PREFIX, "dtsJobId": JOB, **rule}])


@pytest.fixture
def make_deploy(tmp_path: Path) -> Iterator[Any]:
    made: list[LocalDeployment] = []

    def make(**env: str) -> LocalDeployment:
        deployment = LocalDeployment(tmp_path / str(len(made)), **env)
        made.append(deployment)
        return deployment

    yield make
    for deployment in made:
        deployment.stop()


def upload(deploy: LocalDeployment, sample: str, body: str | None = None) -> dict[str, Any]:
    text = body if body is not None else (EVENTS_DIR / "changes" / sample).read_text(encoding="utf-8")
    deploy.put_object(PREFIX + sample, text)
    return deploy.invoke(oss_event(PREFIX + sample, text))


SAMPLES = [
    ("mysqldump-shop.sql", {}, {"shop.customers", "shop.orders", "shop.refunds"}),
    (
        "pg_dump-reporting.sql",
        {},
        {
            "reporting.daily_sales",
            "reporting.daily_sales_2024",
            "reporting.daily_sales_2025",
            "reporting.store visits",
        },
    ),
    ("mysqlpump-crm.sql", {}, {"crm.accounts", "crm.contacts", "crm.account.notes"}),
    ("mysqlsh-billing@invoices.sql", {}, {"billing.invoices"}),
    (
        "dms-export-inventory.sql",
        {"sqlDatabase": "inventory"},
        {"inventory.stock_levels", "inventory.warehouses"},
    ),
    (
        "V3__add_loyalty_tables.sql",
        {"sqlDatabase": "loyalty"},
        {"loyalty.loyalty_members", "loyalty.loyalty_points_ledger", "loyalty.loyalty_tiers"},
    ),
    ("liquibase-changelog-payments.sql", {}, {"payments.intent_events", "payments.payment_intents_v1"}),
    ("schema.sql", {}, {"catalog.products", "catalog.ProductImages"}),
    ("new-table.sql", {}, {"shop.order_items", "shop.order_events"}),
    (
        "new-table-postgres.sql",
        {},
        {"reporting.DailySales", "reporting.daily_sales_2024", "reporting.monthly_totals"},
    ),
]


@pytest.mark.parametrize(("sample", "rule", "tables"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_handler_sql_sample_adds_exactly_its_tables(make_deploy, sample, rule, tables):
    # GIVEN the sample file uploaded to the incoming prefix (route as a user would set it)
    deploy = make_deploy(DTS_CHANGE_ROUTES=routes(**rule))
    # WHEN its OSS event reaches the handler
    result = upload(deploy, sample)
    # THEN one change is accepted and the DbList DTS received is the seed plus exactly its tables
    assert [c["outcome"] for c in result["changes"]] == ["submitted"], result
    received = deploy.modify_calls()[-1]["dbList"]
    assert objects(received) == SEED_OBJECTS | tables
    # (the seed's extras survive: customers keeps its primary_key)
    assert received["shop"]["Table"]["customers"]["primary_key"] == "id"
    assert deploy.dead_letters() == []
    # AND what it skipped is one summary line, not one warning per statement
    warnings = result["changes"][0]["warnings"]
    assert sum(w.startswith("skipped: ") for w in warnings) <= 1


def test_handler_mysqldump_skipped_kinds_are_one_readable_summary(make_deploy):
    deploy = make_deploy()
    result = upload(deploy, "mysqldump-shop.sql")
    assert result["changes"][0]["warnings"] == [
        "skipped: 1 trigger, 2 view drops, 2 views, 1 event drop, 1 event, 1 function drop, "
        "1 function, 65 session settings, 6 client directives"
    ]


def test_handler_dump_drops_with_removals_allowed_remove_nothing_the_file_recreates(make_deploy):
    # GIVEN a route that turns DROP statements into removals
    deploy = make_deploy(DTS_CHANGE_ROUTES=routes(allowRemovals=True))
    # WHEN a mysqldump (DROP TABLE IF EXISTS before every CREATE, and before the view stand-in)
    result = upload(deploy, "mysqldump-shop.sql")
    # THEN no table is removed, the view never becomes a table, and its tables are added
    assert [c["outcome"] for c in result["changes"]] == ["submitted"]
    calls = deploy.modify_calls()
    assert len(calls) == 1
    assert objects(calls[0]["dbList"]) == SEED_OBJECTS | {"shop.refunds"}
    deploy.settle()
    assert objects(deploy.db_list()) == SEED_OBJECTS | {"shop.refunds"}


def test_handler_alter_only_file_changes_nothing_and_is_not_dead_lettered(make_deploy):
    deploy = make_deploy()
    body = (
        "ALTER TABLE shop.orders ADD COLUMN coupon_code varchar(32) NULL;\n"
        "ALTER TABLE shop.customers ADD COLUMN locale char(5) NOT NULL DEFAULT 'zh-CN';\n"
    )
    result = upload(deploy, "add-columns.sql", body)
    assert result["changes"] == []
    assert len(result["ignored"]) == 1
    reason = result["ignored"][0]["reason"]
    assert "no table is created or dropped: the object list is not changed" in reason
    assert "skipped: 2 table changes" in reason
    assert deploy.modify_calls(accepted_only=False) == []
    assert deploy.dead_letters() == []


def test_handler_rename_is_reported_with_both_names_and_changes_nothing(make_deploy):
    deploy = make_deploy()
    result = upload(deploy, "rename.sql", "RENAME TABLE shop.orders TO shop.orders_2023;\n")
    reason = result["ignored"][0]["reason"]
    assert "table shop.orders is renamed to shop.orders_2023" in reason
    assert "send a change that adds shop.orders_2023 and removes shop.orders" in reason
    assert deploy.modify_calls(accepted_only=False) == []


@pytest.mark.parametrize(
    ("body", "line", "why"),
    [
        (
            "CREATE TABLE shop.ok (id int);\nCREATE TABLE shop.cut (\n  id int,\n  name varchar(",
            2,
            "a parenthesis never closes",
        ),
        (
            "CREATE TABLE shop.ok (id int);\nCREATE TABLE shop.cut (id int;\nCREATE TABLE shop.more (id int);",
            2,
            "a parenthesis never closes",
        ),
        (
            "USE shop;\nCREATE TABLE shop.ok (id int);\nCREATE TABLE shop.cut",
            3,
            "CREATE TABLE has no column list",
        ),
    ],
    ids=["truncated-file", "unclosed-paren", "no-body"],
)
def test_handler_broken_table_statement_is_dead_lettered_naming_line_and_statement(
    make_deploy, body, line, why
):
    deploy = make_deploy()
    result = upload(deploy, "broken.sql", body)
    assert [(c["outcome"], c["code"]) for c in result["changes"]] == [("dead_lettered", "invalid-sql")]
    letters = deploy.dead_letters()
    assert len(letters) == 1
    message = letters[0].error["message"]
    assert message == result["changes"][0]["message"]
    assert f"line {line}: {why}" in message
    assert "'CREATE TABLE shop.cut" in message
    assert deploy.modify_calls(accepted_only=False) == []


def test_handler_route_sql_dialect_forces_how_names_are_read(make_deploy):
    # Without markers the file reads as MySQL (names kept as written); the route forces PostgreSQL.
    body = "CREATE TABLE Sales.Daily_Totals (day date PRIMARY KEY, total numeric(14, 2));\n"
    detected = make_deploy()
    upload(detected, "totals.sql", body)
    assert objects(detected.modify_calls()[-1]["dbList"]) == SEED_OBJECTS | {"Sales.Daily_Totals"}
    forced = make_deploy(DTS_CHANGE_ROUTES=routes(sqlDialect="postgres"))
    upload(forced, "totals.sql", body)
    assert objects(forced.modify_calls()[-1]["dbList"]) == SEED_OBJECTS | {"sales.daily_totals"}
