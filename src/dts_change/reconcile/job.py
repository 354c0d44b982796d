"""The per-job pass: confirm what was submitted, then fold pending changes and submit one phase.

One pass per (job, direction) under a lease:
1. describe the job; confirm earlier submissions once the modification finished (present for
   additions, absent for removals), or dead-letter them with DTS's evidence when it failed;
2. gate on `is_modifiable`; a busy job leaves changes pending, a job that is not configured or
   does not exist dead-letters them; an unreadable DbObject blocks the write;
3. fold pending changes in arrival order (one group of modification flags per pass, as many as
   fit in 1 MB), dead-letter rejected ones, guard the result (no loss, size), re-read right before
   writing and abort if the list changed underneath;
4. submit ONE phase (reserved, removals, or additions) and return: no invocation waits for a
   modification; the next pass (an event or the timer) continues.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..clients.dts_models import JobDetail, ModifyResult, SubSyncJob
from ..core.change import ChangeRequest, JobTarget, canonical_json
from ..core.dblist import DbList, ObjectRef
from ..core.errors import (
    ConfigurationError,
    DbListChangedError,
    DbListTooLargeError,
    DtsChangeError,
    GuardViolationError,
    InsecureEndpointError,
    JobModifyingError,
    JobNotConfiguredError,
    JobNotFoundError,
    JobNotRunningError,
    JobRegionMismatchError,
    LeaseHeldError,
    MaxAgeExceededError,
    ModificationFailedError,
    NotConfirmedError,
    PermissionDeniedError,
    SignatureMismatchError,
)
from ..core.guard import allowance_for, check_dblist, check_reserved, databases_of
from ..core.merge import ChangeSpec, FoldResult, check_no_loss, diff_dblists, effective_removals, fold_changes
from ..core.observe import Metrics, log_event
from ..state.deadletter import DeadLetterRecord, DeadLetterSink
from ..state.ledger import ChangeRecord, ChangeState, Ledger
from .retry import call_with_retry
from .subtask import SubTaskMarks, canonical_dblist_sha256

FAILED_SUB_JOB_STATUSES = frozenset({"precheckfailed", "failed", "initializefailed", "migrationfailed"})
FINISHED_SUB_JOB_STATUSES = frozenset({"finished"})
MAX_CONFIRM_RETRIES = 1
"""A submitted change whose objects are missing after a finished modification goes back to pending
once; the second time it is dead-lettered with the evidence."""

Phase = Literal["reserved", "removal", "addition"]

BUSY_RECHECK_SECONDS = 1.0
"""How long an instance that saw a job Modifying leaves it alone on events. In a burst nearly every
event would otherwise describe the job (DescribeDtsJobDetail has a rate limit) to learn the same
thing; the change is recorded, and the next pass after that, at the latest the timer's, takes it."""

_SETUP_ERRORS = (PermissionDeniedError, SignatureMismatchError, InsecureEndpointError, ConfigurationError)
"""Errors of the deployment, not of the change: the change waits (pending, error noted) so fixing
the role or keys lets it proceed; it is dead-lettered at its maximum age otherwise."""


class DtsApi(Protocol):
    """What reconcile needs of the DTS client (the real `DtsClient`, or a fake in unit tests)."""

    def describe_dts_job_detail(self, *args: Any, **kwargs: Any) -> JobDetail: ...

    def modify_dts_job(self, *args: Any, **kwargs: Any) -> ModifyResult: ...

    def resolve_job_id(self, instance_id: str) -> str: ...

    def resolve_instance_id(self, job_id: str) -> str: ...


# ---------------------------------------------------------------------- the status gate


@dataclass(frozen=True)
class Verdict:
    kind: Literal["ok", "modifying", "not_configured", "not_running"]
    reason: str

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


def latest_sub_job(detail: JobDetail) -> SubSyncJob | None:
    """The newest object-modification sub-task (DTS lists them oldest first)."""
    subs = [s for s in detail.sub_sync_jobs if (s.job_type or "subSync").lower() == "subsync"]
    return subs[-1] if subs else None


def is_modifiable(detail: JobDetail) -> Verdict:
    """Whether ModifyDtsJob may be called now (reference dts-api §2.3-2.4; case-insensitive).

    - `synchronizing` with no unfinished modification sub-task: yes;
    - `Failed` once incremental synchronization had started (the console allows it): yes;
    - `Modifying`, or a sub-task still running: no, wait (the change stays pending);
    - `NotConfigured`: never (permanent: CheckStatus.InvalidInitStatus);
    - anything else (paused, prechecking, initializing, ...): not now; pending until max age.
    """
    status = (detail.status or "").lower()
    sub = latest_sub_job(detail)
    sub_status = (sub.status or "").lower() if sub else ""
    sub_running = sub is not None and sub_status not in FINISHED_SUB_JOB_STATUSES | FAILED_SUB_JOB_STATUSES
    if status == "notconfigured":
        return Verdict("not_configured", "the job is NotConfigured")
    if status == "modifying" or sub_running:
        return Verdict("modifying", f"a modification is still running (status {detail.status}, sub-task {sub_status or '-'})")
    if status == "synchronizing":
        return Verdict("ok", "synchronizing")
    if status == "failed":
        incremental = (detail.data_synchronization_status.status or "") if detail.data_synchronization_status else ""
        if incremental and incremental.lower() not in ("notstarted", ""):
            return Verdict("ok", "failed during incremental synchronization (modifiable)")
        return Verdict("not_running", "the job failed before incremental synchronization")
    return Verdict("not_running", f"status {detail.status!r} does not accept modifications")


# ---------------------------------------------------------------------- reports


@dataclass
class PassReport:
    """What one pass did for one job; the handler turns it into result JSON and log lines."""

    job_key: str
    action: str = "nothing-to-do"
    job_status: str | None = None
    phase: Phase | None = None
    client_token: str | None = None
    modify_request_id: str | None = None
    outcomes: dict[str, str] = field(default_factory=dict)  # idempotency key -> outcome
    diff: dict[str, Any] | None = None
    dblist_before: dict[str, Any] | None = None
    dblist_sent: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    change_diffs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Change key -> that change's own diff (`diff` is the whole submission's)."""
    dead_letter_ids: dict[str, str] = field(default_factory=dict)
    """Change key -> the id of the dead letter written for it in this pass."""

    def to_dict(self) -> dict[str, Any]:
        out = {
            "job": self.job_key,
            "action": self.action,
            "jobStatus": self.job_status,
            "phase": self.phase,
            "clientToken": self.client_token,
            "modifyRequestId": self.modify_request_id,
            "outcomes": dict(self.outcomes),
            "diff": self.diff,
            "error": self.error,
        }
        return {k: v for k, v in out.items() if v is not None}


@dataclass
class ReconcileContext:
    dts: DtsApi
    ledger: Ledger
    dead_letters: DeadLetterSink
    metrics: Metrics
    deadline: float
    owner: str
    max_age_seconds: float
    lease_seconds: float
    keep_server_keys: bool = False
    clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    crash_point: Callable[[str], None] = lambda _name: None
    peek_first: bool = False
    """Event invocations: describe the job before reading every open change, and stop there while
    a modification runs (nothing can be written then). Timer passes read everything, so max age
    and the last error of pending changes stay current even while a job is stuck Modifying."""
    busy_seen: dict[str, float] | None = None
    """The instance's memory of when (monotonic) it last saw each job Modifying; with `peek_first`,
    an invocation within BUSY_RECHECK_SECONDS of that records its change and asks DTS nothing."""


def client_token_for(job_key: str, phase: str, before_json: str, sent_json: str) -> str:
    """DESIGN §1.3: a retry of the same submission reuses the token; a different one never does."""
    before_hash = hashlib.sha256(before_json.encode("utf-8")).hexdigest()
    sent_hash = hashlib.sha256(sent_json.encode("utf-8")).hexdigest()
    material = f"{job_key}\n{phase}\n{before_hash}\n{sent_hash}".encode()
    return hashlib.sha256(material).hexdigest()[:64]


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def list_digest(db_list: DbList) -> str:
    """SHA-256 of the list's meaning (canonical JSON, DTS's markers stripped, key order ignored)."""
    return sha256_text(canonical_json(db_list.to_wire()))


# ---------------------------------------------------------------------- the pass


class _OwnWriteLandedError(Exception):
    """A retried write's earlier attempt was carried out (its answer lost): record, do not resend."""


class _Pass:
    """State of one pass for one job; methods are the steps of the module docstring."""

    def __init__(self, job_key: str, ctx: ReconcileContext, *, dry_run: bool) -> None:
        self.job_key = job_key
        self.ctx = ctx
        self.dry_run = dry_run
        self.report = PassReport(job_key)
        self.target: JobTarget | None = None
        self.job_id: str | None = None
        self.instance_id: str | None = None
        self._requests: dict[str, tuple[dict[str, Any], ChangeRequest]] = {}
        self.db_object_text: str | None = None
        """`DbObject` exactly as the last DescribeDtsJobDetail of this pass returned it (the guard's input)."""

    stopped_at_deadline = False

    def out_of_time(self) -> bool:
        """Whether the invocation's deadline has come: the pass writes nothing new after it."""
        return self.ctx.monotonic() >= self.ctx.deadline

    def _stopped(self, records: list[ChangeRecord]) -> PassReport:
        for r in records:
            self.report.outcomes.setdefault(r.key, "pending")
        self.report.action = "stopped-at-deadline"
        log_event("reconcile pass stopped at the deadline", logging.WARNING, job=self.job_key, left=len(records))
        return self.report

    def request(self, record: ChangeRecord) -> ChangeRequest:
        """The record's change, parsed once per pass (fold, submission and confirmation all need it);
        a newer version of the record carries a new `change` object and is parsed again."""
        found = self._requests.get(record.key)
        if found is None or found[0] is not record.change:
            found = self._requests[record.key] = (record.change, ChangeRequest.from_record(record.change))
        return found[1]

    # -------------------------------------------------------------- helpers
    def _retry(self, fn: Callable[[], Any]) -> Any:
        return call_with_retry(
            fn,
            deadline=self.ctx.deadline,
            clock=self.ctx.monotonic,
            sleep=self.ctx.sleep,
            on_retry=lambda exc, attempt, delay: log_event(
                "retrying", logging.WARNING, job=self.job_key, code=exc.code, attempt=attempt, delay=round(delay, 3)
            ),
        )

    def _describe(self) -> JobDetail:
        assert self.job_id is not None
        direction = self.target.direction if self.target else None
        detail: JobDetail = self._retry(
            lambda: self.ctx.dts.describe_dts_job_detail(self.job_id or "", self.instance_id, direction)
        )
        self.report.job_status = detail.status
        self.db_object_text = detail.db_object
        return detail

    def _set(self, record: ChangeRecord, outcome: str) -> None:
        self.report.outcomes[record.key] = outcome

    def dead_letter(self, record: ChangeRecord, error: DtsChangeError, detail: JobDetail | None = None) -> None:
        if self.dry_run:
            self._set(record, "dead_lettered")
            return
        now = self.ctx.clock()
        err = error.to_dict()
        evidence = error.evidence
        request_ids = [s.get("request_id") for s in record.submissions if s.get("request_id")]
        if error.request_id:
            request_ids.append(error.request_id)
        change = record.change
        dl = DeadLetterRecord(
            key=record.key,
            change_id=record.change_id,
            job_key=record.job_key,
            correlation_id=change.get("correlationId"),
            original_event=change.get("eventRef") or change.get("source"),
            change=change,
            error=err,
            attempts=record.attempts,
            first_seen=record.created_at,
            dead_lettered_at=now,
            request_ids=[str(r) for r in request_ids],
            job_status=detail.status if detail else None,
            evidence=evidence,
            idempotency_key=record.idempotency_key,
        )
        # The record first, the ledger second: a crash between leaves the change open (the next
        # pass dead-letters it again, a second record at worst), never closed with no record.
        dl_id = self.ctx.dead_letters.write(dl)
        self.report.dead_letter_ids[record.key] = dl_id
        self.ctx.crash_point("between-dead-letter-writes")
        self.ctx.ledger.transition(
            record, ChangeState.DEAD_LETTERED, last_error=err, evidence=evidence if evidence is not None else record.evidence
        )
        self.ctx.metrics.incr("dead_lettered")
        self._set(record, "dead_lettered")
        log_event(
            "change dead-lettered",
            logging.WARNING,
            change_id=record.change_id,
            job=record.job_key,
            code=error.code,
            message=error.message,
            correlation_id=change.get("correlationId"),
            dead_letter_id=dl_id,
        )

    def note_error(
        self, records: Iterable[ChangeRecord], error: DtsChangeError, *, unanswered_token: str | None = None
    ) -> None:
        """Keep the last error on pending changes (visible in `dlq`/ledger, used at max age).

        `unanswered_token`: the ClientToken of a ModifyDtsJob sent for these changes whose outcome
        is unknown (no answer, then the pass ended): DTS may have carried it out, so the change
        keeps the token and a later look at the job's calls can tell whose write it was."""
        if self.dry_run:
            return
        err = error.to_dict()
        for record in records:
            extra: dict[str, Any] = {}
            if unanswered_token is not None and unanswered_token not in record.unanswered_tokens:
                extra["unanswered_tokens"] = [*record.unanswered_tokens, unanswered_token]
            if record.last_error != err or extra:
                self.ctx.ledger.update(record, last_error=err, attempts=record.attempts + 1, **extra)

    # -------------------------------------------------------------- step 0: target
    def resolve_target(self, records: Sequence[ChangeRecord]) -> None:
        target = JobTarget.from_dict(records[0].change.get("job") or {})
        served = getattr(self.ctx.dts, "region", None)
        if target.region and isinstance(served, str) and target.region != served:
            # Recorded before intake refused other regions, or by another deployment's ledger.
            raise JobRegionMismatchError(
                f"Region mismatch: {self.job_key} is recorded for region {target.region!r}, but this "
                f"function serves DTS in {served!r}; nothing was sent"
            )
        if target == self.target and self.job_id and self.instance_id:
            # Resolved by this pass's first look: a job's instance never changes (one
            # DescribeDtsJobs less on an event's pass).
            return
        self.target = target
        self.job_id = self.target.dts_job_id
        self.instance_id = self.target.dts_instance_id
        if not self.job_id and self.instance_id:
            self.job_id = self._retry(lambda: self.ctx.dts.resolve_job_id(self.instance_id or ""))
        if not self.instance_id and self.job_id:
            self.instance_id = self._retry(lambda: self.ctx.dts.resolve_instance_id(self.job_id or ""))

    # -------------------------------------------------------------- step 1: confirm
    def confirm(self, records: list[ChangeRecord], detail: JobDetail) -> list[ChangeRecord]:
        """Move finished submissions to applied (or back to pending / dead letter); return the rest."""
        awaiting = [r for r in records if _awaiting_confirmation(r)]
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
            blamed = [r for r in awaiting if marks.is_for(_last_submission(r))]
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
        remaining: list[ChangeRecord] = []
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
                nxt = self._after_confirmation(record, refold=bool(remaining))
                if nxt is not None:
                    remaining.append(nxt)
            else:
                nxt = self._not_confirmed(record, current, detail)
                if nxt is not None:
                    remaining.append(nxt)
        return remaining

    def _after_confirmation(self, record: ChangeRecord, *, refold: bool = False) -> ChangeRecord | None:
        """Applied, or kept open for one more fold: after its removal phase a change is folded again
        with its additions, and also when earlier changes are still open (`refold`), which a
        removal phase leaves waiting; applying it now would let an earlier addition of the same
        object land after it, out of ledger order."""
        submissions = [dict(s) for s in record.submissions]
        submissions[-1]["confirmed"] = True
        phase = submissions[-1].get("phase")
        change = self.request(record)
        has_objects = change.add is not None or bool(change.remove)
        needs_more = (phase == "reserved" and has_objects) or (
            phase == "removal" and (change.add is not None or refold)
        )
        if self.dry_run:
            return record
        if needs_more:
            return self.ctx.ledger.update(record, submissions=submissions)
        self.ctx.ledger.transition(record, ChangeState.APPLIED, submissions=submissions)
        self.ctx.metrics.incr("changes_applied")
        self._set(record, "applied")
        log_event("change applied", change_id=record.change_id, job=record.job_key, phase=phase,
                  correlation_id=record.change.get("correlationId"))
        return None

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

    # -------------------------------------------------------------- steps 2-4
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
        reserved_records = [r for r in records if _needs_reserved(r)]
        if reserved_records:
            return self.submit_reserved(reserved_records, records)
        foldable = [r for r in records if _foldable(r)]
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

    def expire(self, records: list[ChangeRecord]) -> list[ChangeRecord]:
        """Dead-letter every open change older than its maximum age, in whatever state (issue 12.5):
        after confirmation had its chance, and also when the job stays Modifying or DTS keeps
        failing, so no change stays open past it whatever DTS answers."""
        now = self.ctx.clock()
        keep = []
        for r in records:
            since = getattr(r, "pending_since", None) or r.created_at
            if r.is_open and now - since > self.ctx.max_age_seconds and not self.out_of_time():
                last = r.last_error or {}
                evidence: dict[str, Any] = {"lastError": last, "state": r.state.value}
                if r.submissions:
                    # A submission may still be carried out by DTS: say which one to check.
                    evidence["lastSubmission"] = r.submissions[-1]
                self.dead_letter(
                    r,
                    MaxAgeExceededError(
                        f"Max age exceeded: {r.change_id} open ({r.state.value}) for {int(now - since)} s "
                        f"(limit {int(self.ctx.max_age_seconds)} s); last error: "
                        f"{last.get('code', 'none')}: {last.get('message', '-')}",
                        evidence=evidence,
                    ),
                )
            else:
                keep.append(r)
        return keep

    def submit_reserved(self, reserved_records: list[ChangeRecord], records: list[ChangeRecord]) -> PassReport:
        merged: dict[str, Any] = {}
        for r in reserved_records:
            merged.update(r.change.get("reserved") or {})
        for r in records:
            self._set(r, "pending")
        self.report.phase = "reserved"
        # The same changes sending the same values (a retry) reuse the token; other changes, even
        # with equal values, or a replay of a dead-lettered one, get another one, so DTS never
        # mistakes a new submission for a retry.
        sent_json = canonical_json(merged)
        changes_json = canonical_json(sorted(f"{r.key}#{r.replays}" for r in reserved_records))
        token = client_token_for(self.job_key, "reserved", changes_json, sent_json)
        self.report.client_token = token
        if self.dry_run:
            self.report.action = "dry-run"
            self.report.diff = {"reserved": merged}
            return self.report
        assert self.instance_id is not None
        try:
            check_reserved(None, merged, [r.change.get("reserved") or {} for r in reserved_records])
        except GuardViolationError as exc:
            return self._guard_refused(reserved_records, exc)
        self.ctx.ledger.note_sending(
            self.job_key,
            client_token=token,
            phase="reserved",
            keys=[r.key for r in reserved_records],
            sent_sha256=sha256_text(sent_json),
        )
        try:
            self._check_lease()
        except LeaseHeldError as lost:
            return self._aborted(reserved_records, lost)
        try:
            result: ModifyResult = self._retry_checked(
                self._check_lease,
                lambda: self.ctx.dts.modify_dts_job(
                    self.instance_id or "",
                    self.job_id,
                    None,
                    self.target.direction if self.target else None,
                    client_token=token,
                    reserved=merged,
                    modify_type="UPDATE_RESERVED",
                )
            )
        except LeaseHeldError as lost:
            return self._aborted(reserved_records, lost)
        except DtsChangeError as exc:
            if exc.retryable or isinstance(exc, _SETUP_ERRORS):
                raise
            # Refused for good (issue 12.6): only the culprit is dead-lettered; with several
            # changes the first half is sent alone (a refused call changed nothing).
            self.ctx.metrics.incr("modify_calls_failed")
            if len(reserved_records) > 1:
                return self.submit_reserved(reserved_records[: len(reserved_records) // 2], records)
            self.dead_letter(reserved_records[0], exc)
            self.report.action = "rejected-by-dts"
            self.report.error = exc.to_dict()
            return self.report
        self.ctx.metrics.incr("modify_calls")
        now = self.ctx.clock()
        for r in reserved_records:
            # What was sent for its keys: a later change in the same submission may set them again.
            sent = {k: merged[k] for k in r.change.get("reserved") or {} if k in merged}
            submission = {
                "phase": "reserved",
                "client_token": token,
                "request_id": result.request_id,
                "at": now,
                "keys": sorted(merged),
            }
            submissions = [*r.submissions, {**submission, "expect_reserved": sent}]
            self.ctx.ledger.update(r, submissions=submissions)
            self._set(r, "submitted")
        self.report.action = "submitted"
        self.report.modify_request_id = result.request_id
        return self.report

    def _fit(self, specs: list[ChangeSpec], current: DbList) -> tuple[FoldResult, int]:
        """Fold the longest prefix of `specs` whose every phase stays within the DbList limit."""

        def too_big(result: FoldResult) -> bool:
            try:
                for _phase, listed in result.plan.phases():
                    listed.check_size(keep_server_keys=self.ctx.keep_server_keys)
            except DbListTooLargeError:
                return True
            return False

        full = fold_changes(current, specs)
        if not too_big(full):
            return full, len(specs)
        lo, hi = 0, len(specs)  # lo fits, hi does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if too_big(fold_changes(current, specs[:mid])):
                hi = mid
            else:
                lo = mid
        return fold_changes(current, specs[:lo]), lo

    def fold_and_submit(self, foldable: list[ChangeRecord], current: DbList) -> PassReport:
        # One group of modification flags per pass: the group of the oldest pending change.
        requests = {r.key: self.request(r) for r in foldable}
        first_flags = requests[foldable[0].key].modification_flags
        # A prefix in ledger order: a later change with the same flags must not overtake an
        # earlier one with other flags (it could remove what that one adds, out of order).
        group: list[ChangeRecord] = []
        for r in foldable:
            if requests[r.key].modification_flags != first_flags:
                break
            group.append(r)
        for r in foldable[len(group) :]:
            self._set(r, "pending")
        # Specs are keyed by the record key: change ids may repeat across records.
        specs = []
        current_digest = list_digest(current) if any(r.removal_intent for r in group) else None
        for r in group:
            spec = requests[r.key].to_change_spec()
            remove = effective_removals(spec)  # without what it re-creates: that rides no removal phase
            intended = r.state == ChangeState.PENDING and r.removal_intent is not None
            carried_out = _removal_confirmed(r) or (intended and r.removal_intent == current_digest)
            if carried_out:
                # Its removal was carried out; an object listed again since came back later (a
                # later change, or a write whose answer was lost) and is not removed a second time.
                # The others stay (an earlier change of this fold may add them again) and are not
                # listed now because this change removed them: not `remove-not-listed`.
                remove = tuple(ref for ref in remove if not _listed(current, ref))
            # With a removal intent but another list now (a write whose answer was lost, then
            # other writes): every name was listed when the intent was noted, so a name missing
            # now is gone (by that write or another) and one still listed is removed as asked.
            # Never `remove-not-listed`, never a listed name kept while the change counts applied.
            specs.append(ChangeSpec(r.key, spec.add, remove, spec.on_conflict, spec.target_names,
                                    removals_carried_out=carried_out or intended))
        by_id = {r.key: r for r in group}
        while True:
            result, fitted = self._fit(specs, current)
            if fitted > 0 or not specs:
                break
            alone = fold_changes(current, specs[:1])
            size = max((p.byte_size(keep_server_keys=self.ctx.keep_server_keys) for _, p in alone.plan.phases()), default=0)
            self.dead_letter(
                by_id[specs[0].change_id],
                DbListTooLargeError(
                    f"DbList too large: applying {by_id[specs[0].change_id].change_id} alone gives {size} bytes, "
                    f"over the ModifyDtsJob limit of 1048576 bytes"
                ),
            )
            specs = specs[1:]
        waiting_at = next((i for i, o in enumerate(result.outcomes) if o.waits_for_earlier), None)
        if waiting_at is not None:
            # Rule 6 refuses a removal whose removal phase, shared with earlier changes of this
            # fold, would empty a database they refill. Refusing it would make its outcome depend
            # on which changes happen to share a pass; the pass stops before it instead, and it
            # (with every later change, to keep ledger order) is folded again once they landed.
            log_event("change waits for the changes before it", job=self.job_key,
                      change_id=by_id[specs[waiting_at].change_id].change_id,
                      code=getattr(result.outcomes[waiting_at].error, "code", None))
            result, fitted = self._fit(specs[:waiting_at], current)
        deferred = specs[fitted:]
        for s in deferred:
            self._set(by_id[s.change_id], "pending")
        included_specs = specs[:fitted]
        for outcome in result.outcomes:
            if outcome.status == "rejected" and outcome.error is not None:
                self.dead_letter(by_id[outcome.change_id], outcome.error)
        no_ops = [o for o in result.outcomes if o.status == "no_op"]
        applied = [o for o in result.outcomes if o.status == "applied"]
        self.report.diff = result.diff.to_dict()
        self.report.change_diffs.update(
            {by_id[o.change_id].key: o.diff.to_dict() for o in result.outcomes if o.change_id in by_id}
        )
        self.report.dblist_before = current.to_wire()
        phases = result.plan.phases()
        if not phases:
            # Together the changes leave the list as it is (one adds x, a later one removes it):
            # every accepted one is applied, none may stay pending with nothing left to send.
            accepted = [o for o in result.outcomes if o.status in ("applied", "no_op")]
            for o in accepted:
                self._mark_no_op(by_id[o.change_id])
            self.report.action = "no-op" if accepted else "nothing-to-do"
            return self.report
        phase, listed = phases[0]
        removing = {s.change_id for s in included_specs if s.remove}
        if phase == "removal":
            included = [by_id[o.change_id] for o in applied if o.change_id in removing]
            # A change whose removal is already confirmed is folded again only to keep ledger
            # order; it waits for the addition phase instead of riding a second removal.
            again = [r for r in included if _removal_confirmed(r)]
            if len(again) < len(included):
                again_keys = {r.key for r in again}
                included = [r for r in included if r.key not in again_keys]
        else:
            included = [by_id[o.change_id] for o in applied]
        for o in no_ops:
            if phase == "addition" or o.change_id not in removing:
                self._mark_no_op(by_id[o.change_id])
        included_keys = {r.key for r in included}
        waiting = [by_id[o.change_id] for o in applied if o.change_id not in included_keys]
        for r in waiting:
            self._set(r, "pending")
        return self.submit_phase(phase, listed, current, included, result)

    def _mark_no_op(self, record: ChangeRecord) -> None:
        if not self.dry_run:
            self.ctx.ledger.transition(record, ChangeState.APPLIED, evidence={"noOp": True})
            self.ctx.metrics.incr("changes_applied")
        self._set(record, "no_op")

    def submit_phase(
        self, phase: Phase, listed: DbList, current: DbList, included: list[ChangeRecord], result: FoldResult
    ) -> PassReport:
        check_no_loss(current, listed, result.removals)
        listed.check_size(keep_server_keys=self.ctx.keep_server_keys)
        if phase == "removal":
            # Report what this submission changes; the additions follow in a later pass.
            self.report.diff = diff_dblists(current, listed).to_dict()
        sent_json = listed.to_json(keep_server_keys=self.ctx.keep_server_keys)
        before_json = current.to_json(keep_server_keys=self.ctx.keep_server_keys)
        token = client_token_for(self.job_key, phase, before_json, sent_json)
        self.report.phase = phase
        self.report.client_token = token
        self.report.dblist_sent = listed.to_wire(keep_server_keys=self.ctx.keep_server_keys)
        if self.dry_run:
            refused = self._guard_dblist(phase, included, result, sent_json)
            if refused is not None:
                return refused
            for r in included:
                self._set(r, "pending")
            self.report.action = "dry-run"
            return self.report
        assert self.instance_id is not None
        if self.out_of_time():
            return self._stopped(included)
        # Ledger writes come before the last checks, so that the lease check stays the last step.
        included = self._note_removal_intent(included, listed)
        self.ctx.ledger.note_sending(
            self.job_key,
            client_token=token,
            phase=phase,
            keys=[r.key for r in included],
            sent_sha256=sha256_text(sent_json),
        )
        flags = self.request(included[0]).modification_flags if included else {}
        try:
            # Re-read right before the write: a write from elsewhere must not be overwritten; the
            # lease check is the last step before the call (the window left: docs/reliability.md).
            self._check_still_current(current)
        except (DbListChangedError, LeaseHeldError) as stale:
            return self._aborted(included, stale)
        # The wire guard, on the text of the re-read just made: nothing below it may drop a path.
        refused = self._guard_dblist(phase, included, result, sent_json)
        if refused is not None:
            return refused
        try:
            response: ModifyResult = self._retry_current(
                current,
                listed,
                lambda: self.ctx.dts.modify_dts_job(
                    self.instance_id or "",
                    self.job_id,
                    sent_json,
                    self.target.direction if self.target else None,
                    client_token=token,
                    structure_initialization=flags.get("StructureInitialization"),
                    data_initialization=flags.get("DataInitialization"),
                    data_synchronization=flags.get("DataSynchronization"),
                )
            )
        except _OwnWriteLandedError:
            # An attempt whose answer was lost was carried out: the list changed by our own write.
            # It is recorded as submitted (its token kept) and confirmed like any other; ending
            # the pass instead would fold these changes again over their own effect (issue 12.1).
            response = ModifyResult(request_id=None, job_id=self.job_id, raw={})
        except (DbListChangedError, LeaseHeldError) as stale:
            # A wait between attempts made the list (or the lease) stale: the next pass re-folds.
            # An earlier attempt may have been carried out without an answer: keep its token.
            self.ctx.metrics.incr("modify_calls_failed")
            return self._aborted(included, stale, unanswered_token=token)
        except DtsChangeError as exc:
            self.ctx.metrics.incr("modify_calls_failed")
            if exc.retryable or isinstance(exc, _SETUP_ERRORS):
                self.note_error(included, exc, unanswered_token=token if exc.retryable else None)
                for r in included:
                    self._set(r, "pending")
                self.report.action = "job-busy" if exc.category == "job_busy" else "retry-later"
                self.report.error = exc.to_dict()
                return self.report
            if len(included) > 1:
                # One bad change must not take the others with it (issue 12.8): a refused call
                # changed nothing, so the first half is folded and sent again; the culprit ends
                # alone and only it is dead-lettered, the rest follows in the next passes.
                half = included[: len(included) // 2]
                for r in included[len(half) :]:
                    self._set(r, "pending")
                log_event("isolating a refused change", logging.WARNING, job=self.job_key, code=exc.code,
                          changes=len(included), retrying=len(half))
                return self.fold_and_submit(half, current)
            for r in included:
                self.dead_letter(r, exc)
            self.report.action = "rejected-by-dts"
            self.report.error = exc.to_dict()
            return self.report
        self.ctx.metrics.incr("modify_calls")
        self.ctx.crash_point("after-modify")
        now = self.ctx.clock()
        submission = {
            "phase": phase,
            "client_token": token,
            "request_id": response.request_id,
            "at": now,
            "dblist_sha256": sha256_text(sent_json),
            "dblist_canonical_sha256": canonical_dblist_sha256(sent_json),
        }
        state = ChangeState.REMOVAL_SUBMITTED if phase == "removal" else ChangeState.SUBMITTED
        for r in included:
            expect = _expectation(self.request(r), listed, phase)
            own = {**submission, "expect": expect, "diff": self.report.change_diffs.get(r.key)}
            cleared: dict[str, Any] = {"removal_intent": None} if r.removal_intent is not None else {}
            self.ctx.ledger.transition(r, state, submissions=[*r.submissions, own], **cleared)
            self._set(r, "submitted")
        self.report.action = "submitted"
        self.report.modify_request_id = response.request_id
        extra: dict[str, Any] = {"warnings": result.diff.warnings} if result.diff.warnings else {}
        log_event(
            "modification submitted",
            job=self.job_key,
            phase=phase,
            changes=len(included),
            client_token=token,
            request_id=response.request_id,
            bytes=len(sent_json.encode("utf-8")),
            diff=result.diff.summary(),
            **extra,
        )
        return self.report

    def _guard_dblist(
        self, phase: Phase, included: list[ChangeRecord], result: FoldResult, sent_json: str
    ) -> PassReport | None:
        """Run the wire guard on the DbObject text last read and the DbList text to send; a
        violation dead-letters the changes of this write and returns the report (nothing sent).

        What it may release comes from the changes as the ledger keeps them (plain JSON), and a
        removal only if the plan carries it out too: neither the merge alone nor a request alone
        can release a path."""
        requested: set[tuple[str, str | None]] = set()
        replacements: list[dict[str, Any]] = []
        for r in included:
            for pair in r.change.get("remove") or []:
                if isinstance(pair, list) and len(pair) == 2:
                    requested.add((str(pair[0]), None if pair[1] is None else str(pair[1])))
            add = r.change.get("add")
            if phase == "addition" and r.change.get("onConflict") == "replace" and isinstance(add, dict):
                replacements.append(add)
        planned = {(ref.db, ref.table) for ref in result.removals}
        allowance = allowance_for(sorted(planned & requested, key=str), replacements)
        try:
            check_dblist(self.db_object_text, sent_json, allowance)
        except GuardViolationError as exc:
            return self._guard_refused(included, exc)
        return None

    def _guard_refused(self, included: list[ChangeRecord], error: GuardViolationError) -> PassReport:
        """Nothing is sent. The changes touching a database of a lost path are dead-lettered; the
        others of the write stay pending for the next pass (guarded again). When no change touches
        one, the loss is nobody's request and every change of the write is dead-lettered."""
        self.ctx.metrics.incr("guard_violations")
        paths = list((error.details or {}).get("paths", [])) if isinstance(error.details, dict) else []
        log_event("wire guard refused a write", logging.ERROR, job=self.job_key, code=error.code, paths=paths[:20])
        lost_dbs = databases_of(paths)
        culprits = [r for r in included if _databases_touched(self.request(r)) & lost_dbs] or included
        culprit_keys = {r.key for r in culprits}
        for r in included:
            if r.key in culprit_keys:
                self.dead_letter(r, error)
            else:
                self._set(r, "pending")
        self.report.action = "guard-violation"
        self.report.error = error.to_dict()
        return self.report

    def _note_removal_intent(self, included: list[ChangeRecord], listed: DbList) -> list[ChangeRecord]:
        """Before a write that carries removals of pending changes, note on each the list it sends.

        A removal is not idempotent as the merge sees it: once carried out, the name is no longer
        listed, and folding the change again would call it `remove-not-listed`. Additions need no
        note (folded again they are no-ops). One ledger write per such change per submission."""
        digest: str | None = None
        out = []
        for record in included:
            noted = record
            if record.state == ChangeState.PENDING and self.request(record).remove:
                digest = digest or list_digest(listed)
                if record.removal_intent != digest:
                    noted = self.ctx.ledger.update(record, removal_intent=digest)
            out.append(noted)
        return out

    def _check_still_current(self, current: DbList, sent: DbList | None = None) -> None:
        """Raise unless the job still lists `current`, accepts a write and our lease still stands.

        With `sent` (a retry of that write): a job now listing exactly `sent` carried out an
        attempt whose answer was lost; `_OwnWriteLandedError` says so (no retry, no abort)."""
        fresh = self._describe()
        if sent is not None and sent != current and fresh.db_list() == sent:
            raise _OwnWriteLandedError()
        verdict = is_modifiable(fresh)
        if not verdict.ok or fresh.db_list() != current:
            reason = verdict.reason if not verdict.ok else "the job's DbList changed since it was read"
            raise DbListChangedError(f"DbList changed underneath: {self.job_key}: {reason}; nothing was written")
        self._check_lease()

    def _check_lease(self) -> None:
        if not self.ctx.ledger.lease_is_current(self._lease):
            raise LeaseHeldError(f"Lease lost: {self.job_key}: it ended or another pass took over; nothing was written")

    def _retry_current(self, current: DbList, sent: DbList, fn: Callable[[], Any]) -> Any:
        """`_retry` for a write built from `current`: after every wait (back-off, Retry-After) the
        job is read again and the lease checked, so a retry never sends a list older than the last
        read (issue 12.1); a changed list ends the pass and the next one folds again."""
        return self._retry_checked(lambda: self._check_still_current(current, sent), fn)

    def _retry_checked(self, check: Callable[[], None], fn: Callable[[], Any]) -> Any:
        """`_retry` that runs `check` after every wait and before the next attempt."""
        return call_with_retry(
            fn,
            deadline=self.ctx.deadline,
            clock=self.ctx.monotonic,
            sleep=self.ctx.sleep,
            on_retry=lambda exc, attempt, delay: log_event(
                "retrying", logging.WARNING, job=self.job_key, code=exc.code, attempt=attempt, delay=round(delay, 3)
            ),
            before_retry=check,
        )

    def _aborted(
        self, included: list[ChangeRecord], error: DtsChangeError, *, unanswered_token: str | None = None
    ) -> PassReport:
        if isinstance(error, DbListChangedError) or unanswered_token is not None:
            self.note_error(included, error, unanswered_token=unanswered_token)
        for r in included:
            self._set(r, "pending")
        self.report.action = "aborted"
        self.report.error = error.to_dict()
        return self.report

    _lease: Any = None


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


# ---------------------------------------------------------------------- record predicates


def _last_submission(record: ChangeRecord) -> dict[str, Any] | None:
    return record.submissions[-1] if record.submissions else None


def _awaiting_confirmation(record: ChangeRecord) -> bool:
    last = _last_submission(record)
    return last is not None and not last.get("confirmed") and (
        record.state in (ChangeState.SUBMITTED, ChangeState.REMOVAL_SUBMITTED) or last.get("phase") == "reserved"
    )


def _needs_reserved(record: ChangeRecord) -> bool:
    if not record.change.get("reserved"):
        return False
    return not any(s.get("phase") == "reserved" for s in record.submissions)


def _foldable(record: ChangeRecord) -> bool:
    if _awaiting_confirmation(record) or _needs_reserved(record):
        return False
    if record.state == ChangeState.PENDING:
        return bool(record.change.get("add") or record.change.get("remove"))
    if record.state == ChangeState.REMOVAL_SUBMITTED:
        last = _last_submission(record)
        return bool(last and last.get("confirmed"))
    return False


def _removal_confirmed(record: ChangeRecord) -> bool:
    last = _last_submission(record)
    return record.state == ChangeState.REMOVAL_SUBMITTED and bool(last and last.get("confirmed"))


def _refs_wanted(change: ChangeRequest) -> list[tuple[ObjectRef, dict[str, Any] | None]]:
    out: list[tuple[ObjectRef, dict[str, Any] | None]] = []
    if change.add is None:
        return out
    for db, entry in change.add.databases.items():
        out.append((ObjectRef(db), None))
        for table, t_entry in entry.table_map().items():
            out.append((ObjectRef(db, table), t_entry.wire()))
    return out


def _unconfirmed_objects(record: ChangeRecord, current: DbList, detail: JobDetail) -> list[str]:
    last = _last_submission(record) or {}
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
        for ref, settings in _refs_wanted(change):
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


def _databases_touched(change: ChangeRequest) -> set[str]:
    touched = {ref.db for ref in change.remove}
    if change.add is not None:
        touched.update(change.add.databases)
    return touched


def _listed(db_list: DbList, ref: ObjectRef) -> bool:
    entry = db_list.databases.get(ref.db)
    return entry is not None and (ref.table is None or ref.table in entry.table_map())


def _expectation(change: ChangeRequest, listed: DbList, phase: Phase) -> dict[str, Any]:
    """The change's objects as they stand in the list sent for it, kept on its submission.

    Later changes folded into the same submission may remove, re-add or re-set what this change
    asked for; the job then matches the sent list, not the change alone, so confirmation checks
    this (checking the change alone sent the earlier change again over the later one)."""
    present: list[list[Any]] = []
    if phase == "addition":
        for ref, settings in _refs_wanted(change):
            if not listed.covers(ref):
                continue
            wanted: dict[str, Any] | None = None
            entry = listed.databases[ref.db]
            if ref.table is not None and settings and not entry.whole:
                effective = entry.table_map()[ref.table].settings(ref.table)
                wanted = {k: effective.get(k) for k in settings}
            present.append([ref.db, ref.table, wanted])
    absent = [[ref.db, ref.table] for ref in change.remove if not _listed(listed, ref)]
    return {"present": present, "absent": absent}


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
        if _listed(current, ObjectRef(db, table)):
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
