"""Issue 13, DDL feedback: what `dts-change invoke --local` tells a user about a SQL file, in a
real process: renames named with both names and what to do, a cut-short table statement as an
error naming its line, and a file of only ALTER ... ADD COLUMN as a no-op without a dead letter."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_demo_flow import run_cli


def _invoke(tmp_path: Path, name: str, body: str) -> tuple[int, str, str]:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    proc = run_cli("invoke", str(path), "--local", "--state-dir", str(tmp_path / "state"))
    return proc.returncode, proc.stdout, proc.stderr


def test_cli_alter_only_file_changes_nothing_and_says_so(tmp_path):
    code, out, err = _invoke(tmp_path, "add-column.sql", "ALTER TABLE shop.orders ADD COLUMN coupon varchar(32);\n")
    assert code == 0, err
    assert "no table is created or dropped: the object list is not changed" in out
    assert "skipped: 1 table change" in out
    assert "dead_lettered" not in out and "Traceback" not in err
    assert "ModifyDtsJob calls: 0 accepted of 0" in out


def test_cli_rename_is_reported_with_both_names_and_what_to_do(tmp_path):
    code, out, err = _invoke(tmp_path, "rename.sql", "RENAME TABLE shop.customers TO shop.clients;\n")
    assert code == 0, err
    assert (
        "table shop.customers is renamed to shop.clients: the object list is not changed; if the job "
        "synchronizes shop.customers, send a change that adds shop.clients and removes shop.customers"
    ) in out


def test_cli_cut_short_table_statement_is_an_error_naming_line_and_statement(tmp_path):
    body = "CREATE TABLE shop.ok (id int);\nCREATE TABLE shop.cut (\n  id int,\n  note varchar("
    code, out, err = _invoke(tmp_path, "cut.sql", body)
    assert code == 1
    assert "invalid-sql: Invalid SQL in" in out
    assert "line 2: a parenthesis never closes" in out and "'CREATE TABLE shop.cut ( id int, note varchar('" in out
    assert "Traceback" not in err
