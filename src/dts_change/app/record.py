"""Recording what intake accepted: each change in the ledger before anything else (or, in a dry
run, the plan), and bad input straight to the dead letters with what is needed to replay it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..core.change import ChangeRequest
from ..core.errors import (
    DtsChangeError,
    InsecureEndpointError,
    JobIdsDisagreeError,
    JobNotFoundError,
    ObjectSupersededError,
    PermissionDeniedError,
    SignatureMismatchError,
)
from ..core.merge import fold_changes
from ..core.observe import Metrics, log_event
from ..intake.replay import kept_input
from ..intake.split import Envelope
from ..state.deadletter import DeadLetterRecord, DeadLetterSink
from ..state.ledger import Ledger
from ..state.records import CLOSED_STATES, ChangeRecord, record_key
from .settings import Settings


@dataclass
class ChangeResult:
    """One change's line in the invocation's result."""

    id: str
    key: str | None
    job: str | None
    outcome: str
    correlation_id: str | None = None
    diff: dict[str, int] | None = None
    code: str | None = None
    message: str | None = None
    hint: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    closed: ChangeRecord | None = field(default=None, repr=False, compare=False)
    """A duplicate's record as `_accept` read it, when closed: its outcome is final, so the
    outcome step reuses it instead of resolving the change again."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "key": self.key,
            "job": self.job,
            "outcome": self.outcome,
            "correlationId": self.correlation_id,
            "diff": self.diff,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
        }
        out.update(self.details)
        return {k: v for k, v in out.items() if v is not None}


class RecordStep:
    """The ledger step of an invocation (`App` is one); the attributes are the app's."""

    settings: Settings
    dts: Any
    ledger: Ledger
    dead_letters: DeadLetterSink
    clock: Callable[[], float]
    crash_point: Callable[[str], None]
    instance_jobs: dict[str, str]
    """Instance id -> its job id, as DTS answered (a DTS instance's job never changes)."""

    # ------------------------------------------------------------------ one key per DTS job
    def _resolve_jobs(self, changes: tuple[ChangeRequest, ...]) -> tuple[ChangeRequest, ...]:
        """Each change's job named by its job id before it is recorded: a job named by its
        instance id alone would get a job key, a lease and an order of its own (two writers, a
        later change overtaking an earlier one). Raises what `_resolution_fails` sorts."""
        return tuple(self._resolve_job(change) for change in changes)

    def _resolve_job(self, change: ChangeRequest) -> ChangeRequest:
        job = change.job
        instance = job.dts_instance_id
        if not instance:
            return change
        if job.dts_job_id is None:
            return replace(change, job=job.with_job_id(self._job_of_instance(change, instance)))
        try:  # both named: checked while DTS answers; the key is the job id either way
            found = self._job_of_instance(change, instance)
        except JobNotFoundError:
            raise
        except DtsChangeError as exc:
            log_event("could not check the job's instance id; recorded under its job id", logging.WARNING,
                      change_id=change.change_id, code=exc.code, message=exc.message)
            return change
        if found != job.dts_job_id:
            raise JobIdsDisagreeError(
                f"Job ids disagree: {change.job_named_by} names dtsJobId {job.dts_job_id!r} and "
                f"dtsInstanceId {instance!r}, but DTS says that instance's job is {found!r}; nothing was recorded"
            )
        return change

    def _job_of_instance(self, change: ChangeRequest, instance: str) -> str:
        known = self.instance_jobs.get(instance)
        if known is not None:
            return known
        try:
            job_id = str(self.dts.resolve_job_id(instance))
        except JobNotFoundError as exc:
            region = getattr(self.dts, "region", None)
            raise JobNotFoundError(
                f"Unknown DTS instance: {change.job_named_by} names dtsInstanceId {instance!r}, which has "
                f"no sync job in region {region!r} (DescribeDtsJobs); nothing was recorded",
                hint=f"Fix dtsInstanceId in {change.job_named_by}, or name the job by dtsJobId; then replay "
                "the dead letter",
                request_id=exc.request_id,
            ) from None
        self.instance_jobs[instance] = job_id
        return job_id

    @staticmethod
    def _resolution_retries(error: DtsChangeError) -> bool:
        """A transient DTS error or a setup error (the role, a signature) leaves nothing recorded:
        the invocation fails and FC retries it (then its failure destination keeps the event)."""
        return error.retryable or isinstance(
            error, (PermissionDeniedError, SignatureMismatchError, InsecureEndpointError)
        )

    def _accept(
        self, changes: tuple[ChangeRequest, ...], metrics: Metrics, jobs: dict[str, None]
    ) -> list[ChangeResult]:
        results = []
        for change in changes:
            if change.dry_run or self.settings.dry_run:
                results.append(self._dry_run(change))
                continue
            record, created = self.ledger.record(
                idempotency_key=change.idempotency_key,
                change_id=change.change_id,
                job_key=change.job.key,
                change=change.to_record(),
            )
            self.crash_point("after-ledger-write")
            result = ChangeResult(
                id=change.change_id,
                key=record.key,
                job=change.job.key,
                outcome="pending" if created else "duplicate",
                correlation_id=change.correlation_id,
            )
            warnings = list(change.warnings)
            if created:
                try:
                    earlier = self.ledger.note_identity(change.identity, record.key)
                except DtsChangeError as exc:  # only a warning depends on it: the change is recorded
                    earlier = []
                    log_event("could not check whether the id was used before", logging.WARNING,
                              change_id=change.change_id, code=exc.code, message=exc.message)
                if earlier:
                    warnings.append(
                        f"{change.identity} was used before for different content (change "
                        f"{', '.join(k[:12] for k in earlier)}): recorded as a new change"
                    )
                    result.details["reusedId"] = True
            if warnings:
                result.details["warnings"] = warnings
            if not created:
                result.details["state"] = record.state.value
                if record.state in CLOSED_STATES:
                    result.closed = record
                metrics.incr("duplicates")
            results.append(result)
            jobs.setdefault(change.job.key, None)
        return results

    def _dry_run(self, change: ChangeRequest) -> ChangeResult:
        """Compute and report the diff against the job's current list; write nothing."""
        result = ChangeResult(id=change.change_id, key=None, job=change.job.key, outcome="dry_run",
                              correlation_id=change.correlation_id)
        warnings = list(change.warnings) + self._ledger_warnings(change)
        if warnings:  # the same warnings `invoke` reports, so a plan hides nothing
            result.details["warnings"] = warnings
        try:
            job_id = change.job.dts_job_id or self.dts.resolve_job_id(change.job.dts_instance_id or "")
            detail = self.dts.describe_dts_job_detail(job_id, change.job.dts_instance_id, change.job.direction)
            folded = fold_changes(detail.db_list(), [change.to_change_spec()])
        except DtsChangeError as exc:
            result.code, result.message, result.hint = exc.code, exc.message, exc.hint
            return result
        outcome = folded.outcomes[0]
        result.diff = folded.diff.summary()
        result.details["plan"] = {
            "status": outcome.status,
            "diff": folded.diff.to_dict(),
            "phases": [phase for phase, _ in folded.plan.phases()],
        }
        if outcome.error is not None:
            result.code, result.message, result.hint = outcome.error.code, outcome.error.message, outcome.error.hint
        return result

    def _ledger_warnings(self, change: ChangeRequest) -> list[str]:
        """What `_accept` would say about this change's id from the ledger, read without writing."""
        try:
            known = self.ledger.get(record_key(change.idempotency_key))
            earlier = [] if known is not None else self.ledger.identity_markers(change.identity)
        except DtsChangeError:
            return []
        if known is not None:
            return [f"already recorded as change {known.key[:12]} ({known.state.value}): invoke would "
                    "report it as a duplicate and change nothing"]
        if earlier:
            return [f"{change.identity} was used before for different content (change "
                    f"{', '.join(k[:12] for k in earlier)}): invoke would record it as a new change"]
        return []

    def _planning(self, changes: tuple[ChangeRequest, ...]) -> bool:
        """Only dry runs: nothing is written, a failure is reported in the plan, never retried."""
        return self.settings.dry_run or all(c.dry_run for c in changes)

    def _dead_letter_input(
        self,
        envelope: Envelope,
        error: DtsChangeError,
        metrics: Metrics,
        object_body: bytes | None = None,
        *,
        dry_run: bool = False,
    ) -> ChangeResult:
        """Bad input never reaches the ledger as a change: it goes straight to the dead letters,
        with its raw bytes and locators so that it can be replayed after a fix."""
        now = self.clock()
        key = hashlib.sha256(f"{envelope.correlation_id}|{error.code}".encode()).hexdigest()[:32]
        record = DeadLetterRecord(
            key=key,
            change_id=envelope.correlation_id,
            job_key="_unrouted",
            correlation_id=envelope.correlation_id,
            original_event=kept_input(envelope, object_body),
            change=None,
            error=error.to_dict(),
            attempts=1,
            first_seen=now,
            dead_lettered_at=now,
            request_ids=[],
            job_status=None,
            evidence=None,
        )
        if self.settings.dry_run or dry_run:  # a plan writes nothing: it says the input would be dead-lettered
            return ChangeResult(id=envelope.correlation_id, key=None, job=None, outcome="dry_run",
                                correlation_id=envelope.correlation_id, code=error.code,
                                message=error.message, hint=error.hint, details={"rejected": True})
        dl_id = self.dead_letters.write(record)
        metrics.incr("dead_lettered")
        log_event("input dead-lettered", logging.WARNING, correlation_id=envelope.correlation_id,
                  code=error.code, message=error.message, dead_letter_id=dl_id)
        superseded = isinstance(error, ObjectSupersededError)
        return ChangeResult(
            id=envelope.correlation_id,
            key=None,
            job=None,
            outcome="superseded" if superseded else "dead_lettered",
            correlation_id=envelope.correlation_id,
            code=error.code,
            message=error.message,
            hint=error.hint,
            details={"deadLetterId": dl_id, **(dict(error.details) if superseded and isinstance(error.details, dict) else {})},
        )
