"""The handler fuzzer's rig: one emulator per module, a fresh App and ledger per example, and the
oracles every example is checked against.

Oracles are written here from the guarantees (DESIGN §1), not taken from the code under test:
- the reply is JSON text FC can send (UTF-8 encodable), every change has a known outcome;
- every dead letter (in the reply, the ledger and the sink) carries a specific leaf code of
  `dts_change.core.errors`, never a group code (`error`, `permanent`, `internal-error`, ...);
- every DbList the emulator ACCEPTED in a ModifyDtsJob covers every object of the job's list
  before that call, except objects a recorded change explicitly removed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dts_change.app.handler as handler_module
from dts_change.app.handler import App
from dts_change.core import errors
from index import handler as fc_handler
from tests.harness import BUCKET, LocalDeployment, fc_context

GROUP_CODES = frozenset({"error", "transient", "job-busy", "permanent", "internal-error"})
"""Codes of the taxonomy's base and group classes: too generic to tell a user what to fix."""


def _leaf_codes() -> frozenset[str]:
    codes: set[str] = set()
    todo: list[type[errors.DtsChangeError]] = [errors.DtsChangeError]
    while todo:
        cls = todo.pop()
        codes.add(cls.code)
        todo.extend(cls.__subclasses__())
    return frozenset(codes - GROUP_CODES)


SPECIFIC_CODES = _leaf_codes()
"""Every code a dead letter may carry: the leaf codes declared in src/dts_change/core/errors.py."""
OUTCOMES = frozenset(
    {"applied", "submitted", "pending", "duplicate", "dead_lettered", "no_op", "dry_run", "superseded"}
)


def fast_root() -> Path:
    """A scratch directory on tmpfs when there is one: the ledger fsyncs every write."""
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="dts-change-fuzz-", dir=base))


# ---------------------------------------------------------------------- the no-loss oracle


def coverage_losses(before: Mapping[str, Any], sent: Mapping[str, Any], removed: set[tuple[str, str | None]]) -> list[str]:
    """Objects of `before` that `sent` no longer covers and nobody removed (as "db" / "db.table").

    A database entry without `all: false` covers every table of it; a table is covered when its
    database is whole in `sent` or lists it under `Table`.
    """
    lost: list[str] = []
    for db, entry in before.items():
        if (db, None) in removed:
            continue
        entry = entry if isinstance(entry, Mapping) else {}
        now = sent.get(db)
        now = now if isinstance(now, Mapping) else None
        was_whole = entry.get("all") is not False
        tables = entry.get("Table") if isinstance(entry.get("Table"), Mapping) else {}
        if now is None:
            if was_whole or any((db, t) not in removed for t in tables):
                lost.append(db)
            continue
        now_whole = now.get("all") is not False
        if was_whole and not now_whole:
            lost.append(db)
        if now_whole:
            continue
        now_tables = now.get("Table") if isinstance(now.get("Table"), Mapping) else {}
        lost.extend(f"{db}.{t}" for t in tables if t not in now_tables and (db, t) not in removed)
    return lost


# ---------------------------------------------------------------------- the rig


class HandlerRig:
    """The real handler (`index.handler`) against one emulator, reset before every example."""

    def __init__(self) -> None:
        self.root = fast_root()
        self.deploy = LocalDeployment(self.root)
        self.initial_db_list: dict[str, Any] = self.deploy.db_list()
        self.runs = 0
        self.run_dir: Path | None = None
        self.app: App = self.deploy.app
        self.stats: Counter[str] = Counter()
        self._saved_app = handler_module._APP

    def close(self) -> None:
        handler_module._APP = self._saved_app
        self.deploy.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -------------------------------------------------------------- one example
    def fresh(self) -> App:
        """Emulator back to the seed, a new App with an empty ledger, installed as FC's instance."""
        self.deploy.server.reset()
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        self.runs += 1
        self.run_dir = self.root / f"run-{self.runs}"
        self.app = self.deploy.new_app(
            DTS_CHANGE_LEDGER=(self.run_dir / "ledger").as_uri(),
            DTS_CHANGE_DEAD_LETTER=(self.run_dir / "dead-letter").as_uri(),
        )
        self.deploy.app = self.app
        handler_module._APP = self.app
        return self.app

    def put_object(self, key: str, body: bytes) -> str | None:
        """Upload through the signed OSS client (any bytes); returns the object's eTag."""
        return self.app.oss.put_object(BUCKET, key, body).etag

    def call(self, event: bytes | str) -> dict[str, Any]:
        """`index.handler` exactly as FC calls it; the reply must be JSON text FC can send."""
        out = fc_handler(event, fc_context())
        assert isinstance(out, str)
        out.encode("utf-8")  # FC sends the reply as UTF-8 bytes: no lone surrogates
        result = json.loads(out)
        assert isinstance(result, dict)
        return result

    def run(self, event: bytes | str, kind: str, *, settle: bool = True) -> dict[str, Any]:
        """One example: the invocation, then (when work is open) up to three timer passes, then
        every oracle. `fresh()` must have been called (so objects can be uploaded first)."""
        self.stats[f"kind:{kind}"] += 1
        result = self.call(event)
        passes = [result]
        if settle:
            for _ in range(3):
                if not self.app.ledger.jobs_with_open_changes():
                    break
                passes.append(self.call(self.timer_event()))
        for reply in passes:
            self.check_reply(reply)
        self.check_ledger_and_dead_letters()
        self.check_no_loss()
        for change in result.get("changes", []):
            self.stats[f"outcome:{change['outcome']}"] += 1
            if change.get("code"):
                self.stats[f"code:{change['code']}"] += 1
        for record in self.app.ledger.all_records():
            state = record.state.value
            last = (record.last_error or {}).get("code") if state in ("pending", "submitted") else None
            self.stats[f"settled:{state}" + (f":{last}" if last else "")] += 1
        return result

    @staticmethod
    def timer_event() -> str:
        return json.dumps({"triggerTime": "2024-05-01T00:05:00Z", "triggerName": "fuzz", "payload": "{}"})

    # -------------------------------------------------------------- oracles
    def check_reply(self, result: Mapping[str, Any]) -> None:
        assert isinstance(result.get("changes"), list) and isinstance(result.get("summary"), dict)
        for change in result["changes"]:
            assert change["outcome"] in OUTCOMES, change
            if change["outcome"] == "dead_lettered":
                assert change.get("code") in SPECIFIC_CODES, change
                assert "\n" not in (change.get("message") or ""), change
            if change["outcome"] == "superseded":  # issue 12.4: visible, dead-lettered, never applied
                assert change.get("code") == "object-superseded" and change.get("deadLetterId"), change
        for report in result.get("reconcile", []):
            error = report.get("error") or {}
            assert error.get("category") != "internal", report

    def check_ledger_and_dead_letters(self) -> None:
        for record in self.app.ledger.all_records():
            if record.state.value == "dead_lettered":
                assert (record.last_error or {}).get("code") in SPECIFIC_CODES, record.last_error
        for letter in self.app.dead_letters.list():
            code = _dead_letter_code(letter)
            assert code in SPECIFIC_CODES, letter
            self.stats["dead_letter_records"] += 1

    def removed_by_changes(self) -> set[tuple[str, str | None]]:
        removed: set[tuple[str, str | None]] = set()
        for record in self.app.ledger.all_records():
            for db, table in record.change.get("remove") or []:
                removed.add((db, table))
        return removed

    def accepted_modifications(self) -> Iterator[dict[str, Any]]:
        for call in self.deploy.server.calls("ModifyDtsJob"):
            if call.get("outcome") == "ok" and call.get("dbList") is not None:
                yield call

    def check_no_loss(self) -> None:
        removed = self.removed_by_changes()
        before: Mapping[str, Any] = self.initial_db_list
        for call in self.accepted_modifications():
            sent = call["dbList"]
            assert isinstance(sent, dict) and "unparsed" not in sent, call
            lost = coverage_losses(before, sent, removed)
            assert not lost, f"ModifyDtsJob {call.get('seq')} lost {lost}"
            self.stats["modify_calls_checked"] += 1
            before = sent


def _dead_letter_code(letter: Any) -> str | None:
    error = getattr(letter, "error", None)
    if error is None and isinstance(letter, Mapping):
        error = letter.get("error")
    return error.get("code") if isinstance(error, Mapping) else None
