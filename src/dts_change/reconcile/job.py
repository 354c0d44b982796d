"""The per-job pass: confirm what was submitted, then fold pending changes and submit one phase.

One pass per (job, direction) under a lease; each step has its module:
1. (`confirm.py`) describe the job; confirm earlier submissions once the modification finished (present for
   additions, absent for removals), or dead-letter them with DTS's evidence when it failed;
2. (`gate.py`) gate on `is_modifiable`; a busy job leaves changes pending, a job that is not configured or
   does not exist dead-letters them; an unreadable DbObject blocks the write;
3. (`fold.py`) fold pending changes in arrival order (one group of modification flags per pass, as many as
   fit in 1 MB), dead-letter rejected ones, guard the result (no loss, size), re-read right before
   writing and abort if the list changed underneath;
4. (`submit.py`) submit ONE phase (reserved, removals, or additions) and return: no invocation waits for a
   modification; the next pass (an event or the timer) continues.

This module takes the lease and runs the steps in that order, over `context.py` (the pass's
state and report).
"""

from __future__ import annotations

import logging

from ..clients.dts_models import JobDetail
from ..core.errors import (
    DtsChangeError,
    JobModifyingError,
    JobNotConfiguredError,
    JobNotFoundError,
    JobNotRunningError,
    JobRegionMismatchError,
    LeaseHeldError,
    NewerLedgerLayoutError,
)
from ..core.observe import log_event
from ..state.records import ChangeRecord
from .confirm import ConfirmStep
from .context import PassReport, ReconcileContext, needs_reserved
from .fold import FoldStep, is_foldable
from .gate import GateStep, is_modifiable

BUSY_RECHECK_SECONDS = 1.0
"""How long an instance that saw a job Modifying leaves it alone on events. In a burst nearly every
event would otherwise describe the job (DescribeDtsJobDetail has a rate limit) to learn the same
thing; the change is recorded, and the next pass after that, at the latest the timer's, takes it."""


class _Pass(ConfirmStep, GateStep, FoldStep):
    """One pass for one job: the steps in order (`run`)."""

    def run(self, records: list[ChangeRecord], seen: tuple[ChangeRecord, JobDetail] | None = None) -> PassReport:
        """`seen`: a record and the describe made for its target at first sight, reused when the
        records share that target (one describe per pass, as without the first look)."""
        try:
            self.resolve_target(records)
        except (JobNotFoundError, JobRegionMismatchError) as exc:
            for r in records:
                self.dead_letter(r, exc)
            self.report.action = "job-not-found" if isinstance(exc, JobNotFoundError) else "region-mismatch"
            return self.report
        try:
            if seen is not None and seen[0].change.get("job") == records[0].change.get("job"):
                detail = seen[1]
            else:
                detail = self._describe()
        except JobNotFoundError as exc:
            for r in records:
                self.dead_letter(r, exc)
            self.report.action = "job-not-found"
            return self.report
        try:
            records = self.confirm(records, detail)
        except JobModifyingError:
            # A job that stays Modifying must not keep a change open past its maximum age.
            records = self.expire(records)
            for r in records:
                self.report.outcomes.setdefault(r.key, "pending")
            self.report.action = "waiting-for-modification"
            return self.report
        if not records:
            self.report.action = "confirmed"
            return self.report
        if self.stopped_at_deadline or self.out_of_time():
            return self._stopped(records)
        records = self.expire(records)
        verdict = is_modifiable(detail)
        if verdict.kind == "not_configured":
            error = JobNotConfiguredError(f"Job not configured: {self.job_key}: {verdict.reason}")
            for r in records:
                self.dead_letter(r, error, detail)
            self.report.action = "job-not-configured"
            return self.report
        if not verdict.ok:
            busy: DtsChangeError = (
                JobModifyingError(f"Job busy: {self.job_key}: {verdict.reason}")
                if verdict.kind == "modifying"
                else JobNotRunningError(f"Job not modifiable: {self.job_key}: {verdict.reason}")
            )
            self.note_error([r for r in records if not r.last_error or r.last_error.get("code") != busy.code], busy)
            for r in records:
                self._set(r, "pending")
            self.report.action = "job-busy"
            self.report.error = busy.to_dict()
            return self.report
        current = detail.db_list()
        reserved_records = [r for r in records if needs_reserved(r)]
        if reserved_records:
            return self.submit_reserved(reserved_records, records)
        foldable = [r for r in records if is_foldable(r)]
        foldable_keys = {r.key for r in foldable}
        for r in records:
            if r.key not in foldable_keys:
                self._set(r, "pending")
        if not foldable:
            self.report.action = "nothing-to-do"
            return self.report
        return self.fold_and_submit(foldable, current)

    def first_sight(self, first: ChangeRecord) -> JobDetail | None:
        """The job's detail, learnt from one record and one describe; None on any trouble, which
        the full pass then meets and handles."""
        try:
            self.resolve_target([first])
            return self._describe()
        except DtsChangeError:
            return None


def reconcile_job(job_key: str, ctx: ReconcileContext, *, dry_run: bool = False) -> PassReport:
    """One pass for one (job, direction); never waits for a modification to finish.

    The open changes are read only once the lease is held: read before, they can be versions the
    holder has since moved on (the first write then fails with a ledger conflict), and in a burst
    every invocation that finds the lease held would read (or even list) every open record for
    nothing. With nothing open the lease is taken and given back, which is rare and cheap."""
    one = _Pass(job_key, ctx, dry_run=dry_run)
    busy_seen = ctx.busy_seen if ctx.peek_first else None
    if busy_seen is not None and ctx.monotonic() - busy_seen.get(job_key, -BUSY_RECHECK_SECONDS) < BUSY_RECHECK_SECONDS:
        one.report.action = "waiting-for-modification"
        return one.report
    try:
        lease = ctx.ledger.acquire_lease(job_key, ctx.owner, ctx.lease_seconds)
    except NewerLedgerLayoutError as exc:
        # A newer release writes this job's ledger: an operator must finish rolling it out.
        one.report.action = "blocked"
        one.report.error = exc.to_dict()
        log_event("reconcile pass refused: newer ledger layout", logging.ERROR, job=job_key,
                  code=exc.code, message=exc.message)
        return one.report
    except LeaseHeldError as exc:
        # The holder's pass takes this invocation's changes too; their state stays in the ledger.
        one.report.action = "lease-held"
        one.report.error = exc.to_dict()
        return one.report
    one._lease = lease
    records: list[ChangeRecord] = []
    seen: tuple[ChangeRecord, JobDetail] | None = None
    first: ChangeRecord | None = None
    markers: list[str] | None = None
    try:
        if ctx.peek_first:
            # In a burst a pass runs after almost every modification-free moment; while the job
            # is Modifying, reading a thousand open changes to learn that was the main cost.
            markers = ctx.ledger.open_markers(job_key)
            first = ctx.ledger.first_open_change(job_key, markers=markers)
            if first is None:
                return one.report
            detail = one.first_sight(first)
            if detail is not None and is_modifiable(detail).kind == "modifying":
                if busy_seen is not None:
                    busy_seen[job_key] = ctx.monotonic()
                if not dry_run:  # a backlog grows: kept for a cold instance's first pass
                    ctx.ledger.keep_snapshot(job_key, ctx.ledger.marker_keys(job_key, markers))
                one.report.action = "waiting-for-modification"
                return one.report
            seen = (first, detail) if detail is not None else None
        # Reading every record costs two store calls each: a third of the time left at most, so
        # that confirming or submitting what was read fits before the deadline (issue 12.10).
        read_until = ctx.monotonic() + max(0.0, ctx.deadline - ctx.monotonic()) / 3
        cut: list[bool] = []

        def out_of_time() -> bool:
            if ctx.monotonic() < read_until:
                return False
            cut.append(True)
            return True

        # The index listed and the first record read under the lease a moment ago (only a describe
        # since) are taken as read: one listing and one record read less on an event's pass.
        records = ctx.ledger.open_changes(job_key, out_of_time=out_of_time, known=first, markers=markers)
        if not records:
            return one.report
        if not dry_run and not cut:
            ctx.ledger.keep_snapshot(job_key, [r.key for r in records])  # for a cold instance
        if not dry_run:
            # A change written slowly can become visible after later ones were applied: it goes
            # to the end of the order, so the ledger's seq order stays the order of application.
            records = ctx.ledger.admit(job_key, records, complete=not cut)
        return one.run(records, seen)
    except DtsChangeError as exc:
        # Transient or unclassified service trouble: everything stays pending for the next pass.
        if exc.category != "internal" and records:
            # Read again: the pass may have moved some on (confirmed, re-sequenced) before it stopped.
            records = ctx.ledger.open_changes(job_key)
            if not dry_run:
                # DTS failing (403, 503...) must not keep a change open past its maximum age.
                records = one.expire(records)
            one.note_error(records, exc)
        for r in records:
            one.report.outcomes.setdefault(r.key, "pending")
        one.report.action = "blocked" if exc.category != "internal" else "aborted"
        one.report.error = exc.to_dict()
        log_event("reconcile pass stopped", logging.WARNING, job=job_key, code=exc.code, message=exc.message)
        return one.report
    finally:
        ctx.ledger.release_lease(lease)
