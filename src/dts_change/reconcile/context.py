"""What one pass works with: the DTS API it needs, its context, its report, and `PassBase`, the
state of one pass with the helpers every step uses (describe, retry, dead letter, notes).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..clients.dts_models import JobDetail, ModifyResult
from ..core.change import ChangeRequest, JobTarget, canonical_json
from ..core.dblist import DbList, ObjectRef
from ..core.errors import (
    ConfigurationError,
    DtsChangeError,
    InsecureEndpointError,
    JobRegionMismatchError,
    PermissionDeniedError,
    SignatureMismatchError,
)
from ..core.observe import Metrics, log_event
from ..state.deadletter import DeadLetterRecord, DeadLetterSink
from ..state.ledger import Ledger
from ..state.records import ChangeRecord, ChangeState
from .retry import call_with_retry

Phase = Literal["reserved", "removal", "addition"]


SETUP_ERRORS = (PermissionDeniedError, SignatureMismatchError, InsecureEndpointError, ConfigurationError)
"""Errors of the deployment, not of the change: the change waits (pending, error noted) so fixing
the role or keys lets it proceed; it is dead-lettered at its maximum age otherwise."""


class DtsApi(Protocol):
    """What reconcile needs of the DTS client (the real `DtsClient`, or a fake in unit tests)."""

    def describe_dts_job_detail(self, *args: Any, **kwargs: Any) -> JobDetail: ...

    def modify_dts_job(self, *args: Any, **kwargs: Any) -> ModifyResult: ...

    def resolve_job_id(self, instance_id: str) -> str: ...

    def resolve_instance_id(self, job_id: str) -> str: ...


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
    """What a pass works with: the clients, stores, metrics and its deadline."""

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


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def list_digest(db_list: DbList) -> str:
    """SHA-256 of the list's meaning (canonical JSON, DTS's markers stripped, key order ignored)."""
    return sha256_text(canonical_json(db_list.to_wire()))


class PassBase:
    """State of one pass for one job; the steps (gate, confirm, fold, submit) extend it."""

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

    _lease: Any = None

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
        if not self.instance_id:
            # DescribeDtsJobDetail names the job's instance (`DtsInstanceID`): ModifyDtsJob needs
            # it, and learning it here saves a DescribeDtsJobs on every pass of a job named by id.
            # Only from a detail that says the job is a sync job (`JobType` `sync`): otherwise
            # DescribeDtsJobs (JobType SYNC) decides, and refuses a job that is not one.
            is_sync = (detail.job_type or "").lower() == "sync"
            self.instance_id = (detail.instance_id if is_sync else None) or self._retry(
                lambda: self.ctx.dts.resolve_instance_id(self.job_id or "")
            )
        return detail

    def _set(self, record: ChangeRecord, outcome: str) -> None:
        self.report.outcomes[record.key] = outcome

    def dead_letter(self, record: ChangeRecord, error: DtsChangeError, detail: JobDetail | None = None) -> None:
        if self.dry_run:
            self._set(record, "dead_lettered")
            return
        now = self.ctx.clock()
        err = error.to_dict()
        carried = removals_carried_out(record)
        if carried:
            # Its removal phase was carried out before DTS refused the rest: the job no longer
            # lists these, although the change is not applied. Said plainly; a replay completes it.
            details = err.get("details")
            err["details"] = {**(details if isinstance(details, dict) else {}), "removalsCarriedOut": carried}
            err["message"] = (f"{err['message']} (its removal phase was carried out: {', '.join(carried[:10])} "
                              "no longer listed; a replay completes the change)")
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
            **({"removals_carried_out": carried} if carried else {}),
        )

    def note_error(
        self, records: Iterable[ChangeRecord], error: DtsChangeError, *, unanswered_token: str | None = None
    ) -> None:
        """Keep the last error on pending changes (visible in `dlq`/ledger, used at max age).

        `unanswered_token`: the ClientToken of a ModifyDtsJob sent for these changes whose outcome
        is unknown (no answer, then the pass ended): DTS may have carried it out. Kept on the change
        for people when the note is written (below); its write-ahead note under `sent/` names it
        in any case, and nothing decides by the tokens on a record."""
        if self.dry_run:
            return
        now = self.ctx.clock()
        err = {**error.to_dict(), "noted_at": now}
        notes: list[tuple[ChangeRecord, ChangeState, dict[str, Any]]] = []
        for record in records:
            extra: dict[str, Any] = {}
            if unanswered_token is not None and unanswered_token not in record.unanswered_tokens:
                extra["unanswered_tokens"] = [*record.unanswered_tokens, unanswered_token][-MAX_NOTED_TOKENS:]
            # Each note of an open change stays (in a batch) while the change is open and every
            # later read of the job applies it, so notes must not grow with how long the job is
            # blocked: the same error again, but for its request id, is noted once; another error
            # (two codes in turn during an outage), or a new unanswered ClientToken (a new one each
            # pass while changes keep arriving and ModifyDtsJob keeps failing), at most once per
            # NOTE_INTERVAL_SECONDS. The tokens on a record are for people (nothing decides by
            # them); every ClientToken sent is in its write-ahead note under `sent/`.
            changed = bool(extra) or not _same_error(record.last_error, err)
            if changed and not _noted_since(record.last_error, now):
                notes.append((record, record.state, {"last_error": err, "attempts": record.attempts + 1, **extra}))
        # All of them in one batch (`transition_many`: 1,000 changes a batch at most; each entry
        # names the own version and seq it applies to; a writer that read before another's batch
        # collides as for any batch): errors that alternate, or a new ClientToken every pass, change
        # every note each pass, and a batch per change per pass was open changes x passes objects
        # for a cold reader to read (issue 12.10; review 4).
        self.ctx.ledger.transition_many(notes)

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
        # A job named by id alone learns its instance from the detail `_describe` reads next.


MAX_NOTED_TOKENS = 20
"""How many unanswered ClientTokens a change keeps (the latest): a batch entry's size stays bounded
however long an outage lasts (a batch of 1,000 notes far below the store's 16 MB read cap)."""

NOTE_INTERVAL_SECONDS = 600.0
"""How long a change keeps the error noted on it when the next pass meets another one: errors
that alternate during an outage cost a batch entry per change per interval, not per pass (about
750 bytes each, read by every cold pass while the changes stay open). The pass's report and
log lines always name the error it met."""


NOTE_FUTURE_LIMIT_SECONDS = 86400.0
"""How far in the future (by this instance's clock) a note's `noted_at` may be and still count as
just noted: `noted_at` is its writer's clock, and timer passes land on any instance. Taken as old,
a note from an instance whose clock is ahead made every pass of the others note again, and theirs
looked old to it in turn (two clocks 700 s apart: a batch per pass). Counted as fresh, a note from
a clock ahead by s keeps the others from noting another error for up to s + NOTE_INTERVAL_SECONDS
(the instance ahead notes on its own clock meanwhile); beyond a day apart, a note counts as old."""


def _noted_since(noted: dict[str, Any] | None, now: float) -> bool:
    """Whether `noted` was noted less than NOTE_INTERVAL_SECONDS before `now` (by its `noted_at`;
    an error noted before that field existed counts as old), or is dated after `now` by less
    than NOTE_FUTURE_LIMIT_SECONDS (its writer's clock is ahead of ours)."""
    at = noted.get("noted_at") if isinstance(noted, dict) else None
    return (isinstance(at, (int, float)) and not isinstance(at, bool)
            and -NOTE_FUTURE_LIMIT_SECONDS < now - at < NOTE_INTERVAL_SECONDS)


def _same_error(noted: dict[str, Any] | None, err: dict[str, Any]) -> bool:
    """Whether a noted error is `err` apart from its request id (each call has its own, and
    the message names it)."""
    return isinstance(noted, dict) and _without_request_id(noted) == _without_request_id(err)


def _without_request_id(err: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in err.items() if k not in ("request_id", "noted_at")}
    request_id, message = err.get("request_id"), out.get("message")
    if isinstance(request_id, str) and request_id and isinstance(message, str):
        out["message"] = message.replace(request_id, "")
    return out


# ---------------------------------------------------------------------- record predicates

def last_submission(record: ChangeRecord) -> dict[str, Any] | None:
    return record.submissions[-1] if record.submissions else None


def awaiting_confirmation(record: ChangeRecord) -> bool:
    last = last_submission(record)
    return last is not None and not last.get("confirmed") and (
        record.state in (ChangeState.SUBMITTED, ChangeState.REMOVAL_SUBMITTED) or last.get("phase") == "reserved"
    )


def needs_reserved(record: ChangeRecord) -> bool:
    if not record.change.get("reserved"):
        return False
    return not any(s.get("phase") == "reserved" for s in record.submissions)


def removal_confirmed(record: ChangeRecord) -> bool:
    last = last_submission(record)
    return record.state == ChangeState.REMOVAL_SUBMITTED and bool(last and last.get("confirmed"))


def removal_phase_done(record: ChangeRecord) -> bool:
    """Its last submission is a removal phase DTS carried out (confirmed): after a replay of a
    change whose addition phase DTS refused, the record is pending with it."""
    last = last_submission(record)
    return bool(last and last.get("phase") == "removal" and last.get("confirmed"))


def absent_names(submission: Mapping[str, Any]) -> list[str]:
    """The objects a submission expects the job not to list (`expect.absent`), as printed names."""
    expect = submission.get("expect")
    pairs = expect.get("absent") if isinstance(expect, dict) else None
    return [str(ObjectRef(str(p[0]), None if p[1] is None else str(p[1])))
            for p in pairs or [] if isinstance(p, list) and len(p) == 2]


def removals_carried_out(record: ChangeRecord) -> list[str]:
    """The objects a confirmed removal phase of this change took out of the job."""
    out: list[str] = []
    for s in record.submissions:
        if s.get("phase") == "removal" and s.get("confirmed"):
            out += [name for name in absent_names(s) if name not in out]
    return out


def refs_wanted(change: ChangeRequest) -> list[tuple[ObjectRef, dict[str, Any] | None]]:
    out: list[tuple[ObjectRef, dict[str, Any] | None]] = []
    if change.add is None:
        return out
    for db, entry in change.add.databases.items():
        out.append((ObjectRef(db), None))
        for table, t_entry in entry.table_map().items():
            out.append((ObjectRef(db, table), t_entry.wire()))
    return out


def databases_touched(change: ChangeRequest) -> set[str]:
    touched = {ref.db for ref in change.remove}
    if change.add is not None:
        touched.update(change.add.databases)
    return touched


def is_listed(db_list: DbList, ref: ObjectRef) -> bool:
    entry = db_list.databases.get(ref.db)
    return entry is not None and (ref.table is None or ref.table in entry.table_map())
