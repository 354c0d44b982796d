"""Step 1, confirm: earlier submissions are applied once the job lists what was sent (present
for additions, absent for removals), or dead-lettered with DTS's evidence when their own
sub-task failed.
"""

from __future__ import annotations

from typing import Any

from ..clients.dts_models import JobDetail
from ..core.change import ChangeRequest
from ..core.dblist import DbList, ObjectRef
from ..core.errors import (
    JobModifyingError,
    ModificationFailedError,
    NotConfirmedError,
)
from ..core.observe import log_event
from ..state.records import ChangeRecord, ChangeState
from .context import PassBase, awaiting_confirmation, is_listed, last_submission, refs_wanted
from .gate import FAILED_SUB_JOB_STATUSES, is_modifiable, latest_sub_job
from .subtask import SubTaskMarks

MAX_CONFIRM_RETRIES = 1
"""A submitted change whose objects are missing after a finished modification goes back to pending
once; the second time it is dead-lettered with the evidence."""


class ConfirmStep(PassBase):
    """Moves finished submissions to applied, back to pending, or to a dead letter."""

    def confirm(self, records: list[ChangeRecord], detail: JobDetail) -> list[ChangeRecord]:
        """Move finished submissions to applied (or back to pending / dead letter); return the rest."""
        awaiting = [r for r in records if awaiting_confirmation(r)]
        if not awaiting:
            return records
        verdict = is_modifiable(detail)
        if verdict.kind == "modifying":
            for r in awaiting:
                self._set(r, "submitted")
            raise JobModifyingError(f"Job busy: {self.job_key}: {verdict.reason}")
        sub = latest_sub_job(detail)
        sub_status = (sub.status or "").lower() if sub else ""
        # Only the submission's own sub-task may fail it (issue 11 point 8): an older one, one with
        # another list, or any for a reserved update leaves the change to its objects below.
        blamed: list[ChangeRecord] = []
        if sub is not None and sub_status in FAILED_SUB_JOB_STATUSES:
            marks = SubTaskMarks.of(sub)
            blamed = [r for r in awaiting if marks.is_for(last_submission(r))]
        if sub is not None and blamed:
            evidence = {
                "subSyncJobStatus": sub.status,
                "errorMessage": sub.error_message,
                "precheckDetail": sub.precheck_status.detail if sub.precheck_status else [],
            }
            error = ModificationFailedError(
                f"Modification failed: {self.job_key}: DTS sub-task ended {sub.status}"
                + (f": {sub.error_message}" if sub.error_message else ""),
                evidence=evidence,
            )
            for r in blamed:
                self.dead_letter(r, error, detail)
            blamed_keys = {r.key for r in blamed}
            records = [r for r in records if r.key not in blamed_keys]
            awaiting = [r for r in awaiting if r.key not in blamed_keys]
        current = detail.db_list()
        # Open changes in ledger order; an int stands for the `moves` entry that becomes one.
        remaining: list[ChangeRecord | int] = []
        moves: list[tuple[ChangeRecord, ChangeState, dict[str, Any]]] = []
        # Membership by key: comparing records field by field made a 1,000-change pass quadratic.
        awaiting_keys = {r.key for r in awaiting}
        for record in records:
            if record.key not in awaiting_keys:
                remaining.append(record)
                continue
            if self.out_of_time():
                # The rest stays submitted for the next pass; this one stops after confirming.
                self.stopped_at_deadline = True
                remaining.append(record)
                continue
            confirmed = _confirm_record(record, current, detail)
            if confirmed:
                # `remaining` holds the open changes before this one (records come in ledger order).
                move = self._after_confirmation(record, refold=bool(remaining))
                if move is None:
                    remaining.append(record)  # dry run: nothing written
                elif move[1] is not ChangeState.APPLIED:
                    remaining.append(len(moves))
                if move is not None:
                    moves.append(move)
            else:
                nxt = self._not_confirmed(record, current, detail)
                if nxt is not None:
                    remaining.append(nxt)
        # Every confirmation of the pass in one ledger object (a batch record; `closed/` marker
        # and open markers in two more calls when some are applied).
        written = self.ctx.ledger.transition_many(moves)
        for record, state, updates in moves:
            if state is ChangeState.APPLIED:
                self.ctx.metrics.incr("changes_applied")
                self._set(record, "applied")
                log_event("change applied", change_id=record.change_id, job=record.job_key,
                          phase=updates["submissions"][-1].get("phase"),
                          correlation_id=record.change.get("correlationId"))
        return [written[r] if isinstance(r, int) else r for r in remaining]

    def _after_confirmation(
        self, record: ChangeRecord, *, refold: bool = False
    ) -> tuple[ChangeRecord, ChangeState, dict[str, Any]] | None:
        """Applied, or kept open for one more fold: after its removal phase a change is folded again
        with its additions, and also when earlier changes are still open (`refold`), which a
        removal phase leaves waiting; applying it now would let an earlier addition of the same
        object land after it, out of ledger order. Returns the transition to write (None in a
        dry run)."""
        submissions = [dict(s) for s in record.submissions]
        submissions[-1]["confirmed"] = True
        phase = submissions[-1].get("phase")
        change = self.request(record)
        has_objects = change.add is not None or bool(change.remove)
        needs_more = (phase == "reserved" and has_objects) or (
            phase == "removal" and (change.add is not None or refold)
        )
        if self.dry_run:
            return None
        return (record, record.state if needs_more else ChangeState.APPLIED, {"submissions": submissions})

    def _not_confirmed(self, record: ChangeRecord, current: DbList, detail: JobDetail) -> ChangeRecord | None:
        missing = _unconfirmed_objects(record, current, detail)
        if record.confirm_retries >= MAX_CONFIRM_RETRIES:
            self.dead_letter(
                record,
                NotConfirmedError(
                    f"Not confirmed: {record.change_id}: after a finished modification the job still "
                    f"differs for {', '.join(missing[:10])}",
                    evidence={"unconfirmed": missing},
                ),
                detail,
            )
            return None
        if self.dry_run:
            return record
        return self.ctx.ledger.transition(
            record, ChangeState.PENDING, confirm_retries=record.confirm_retries + 1, evidence={"unconfirmed": missing}
        )


def _unconfirmed_objects(record: ChangeRecord, current: DbList, detail: JobDetail) -> list[str]:
    last = last_submission(record) or {}
    phase = last.get("phase")
    missing: list[str] = []
    if phase == "reserved":
        wanted = last.get("expect_reserved") or record.change.get("reserved") or {}
        for key, value in wanted.items():
            if str(detail.reserved.get(key)) != str(value):
                missing.append(f"Reserved.{key}")
        return missing
    expect = last.get("expect")
    if isinstance(expect, dict):
        return _differs_from_expectation(expect, current)
    change = ChangeRequest.from_record(record.change)
    removed_dbs = {r.db for r in change.remove if r.table is None}
    for ref in change.remove:
        if phase == "removal" or change.add is None or not _re_added(change, ref):
            if ref.table is None and ref.db in current.databases:
                missing.append(str(ref))
            elif ref.table is not None and ref.db not in removed_dbs:
                entry = current.databases.get(ref.db)
                if entry is not None and ref.table in entry.table_map():
                    missing.append(str(ref))
    if phase == "addition":
        for ref, settings in refs_wanted(change):
            if not current.covers(ref):
                missing.append(str(ref))
                continue
            if ref.table is not None and settings:
                entry = current.databases[ref.db]
                if entry.whole:
                    continue
                effective = entry.table_map()[ref.table].settings(ref.table)
                if any(effective.get(k) != v for k, v in settings.items()):
                    missing.append(str(ref))
    return missing


def _differs_from_expectation(expect: dict[str, Any], current: DbList) -> list[str]:
    missing: list[str] = []
    for db, table, wanted in expect.get("present") or []:
        ref = ObjectRef(db, table)
        if not current.covers(ref):
            missing.append(str(ref))
            continue
        entry = current.databases[db]
        if table is not None and wanted and not entry.whole:
            effective = entry.table_map()[table].settings(table)
            if any(effective.get(k) != v for k, v in wanted.items()):
                missing.append(str(ref))
    for db, table in expect.get("absent") or []:
        if is_listed(current, ObjectRef(db, table)):
            missing.append(str(ObjectRef(db, table)))
    return missing


def _re_added(change: ChangeRequest, ref: ObjectRef) -> bool:
    if change.add is None:
        return False
    entry = change.add.databases.get(ref.db)
    if entry is None:
        return False
    return ref.table is None or entry.whole or ref.table in entry.table_map()


def _confirm_record(record: ChangeRecord, current: DbList, detail: JobDetail) -> bool:
    return not _unconfirmed_objects(record, current, detail)
