"""The function users deploy: event bytes in, every change applied, pending or dead-lettered out.

`App` is built once per FC instance (the initializer): settings, HTTP sessions, stores. Each
invocation splits the event into envelopes, turns them into validated change requests, records
each in the ledger before anything else, then runs one reconcile pass per affected job (or every
job with open work, on a timer). Permanent errors never raise: they are dead-lettered and
reported. Only unexpected internal failures raise, so FC's async retry and `onFailure`
destination catch what the code could not classify.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..clients.credentials import CredentialsProvider, without_credentials
from ..clients.dts import DtsClient
from ..clients.oss import OssClient
from ..core.change import ChangeRequest
from ..core.errors import ConfigurationError, DtsChangeError, ObjectSupersededError
from ..core.merge import fold_changes
from ..core.observe import Metrics, configure_logging, log_event, register_secret
from ..intake.read import IntakeSettings, intake_envelope, intake_settings_from_env
from ..intake.replay import kept_input
from ..intake.split import Envelope, split_event
from ..reconcile.context import PassReport, ReconcileContext
from ..reconcile.job import reconcile_job
from ..state.deadletter import DeadLetterRecord, DeadLetterSink
from ..state.ledger import Ledger
from ..state.records import ChangeState, record_key
from ..state.storage import check_create_if_absent, open_store
from .settings import DEADLINE_MARGIN_SECONDS, DEFAULT_FUNCTION_TIMEOUT, LEASE_MARGIN_SECONDS, Settings

_STATE_OUTCOMES = {
    ChangeState.PENDING: "pending",
    ChangeState.REMOVAL_SUBMITTED: "submitted",
    ChangeState.SUBMITTED: "submitted",
    ChangeState.APPLIED: "applied",
    ChangeState.DEAD_LETTERED: "dead_lettered",
}


class CrashForTest(SystemExit):
    """Raised at a named crash point when DTS_CHANGE_TEST_CRASH_AT asks for it (never inside FC)."""


def crash_point_hook(settings: Settings) -> Callable[[str], None]:
    def hit(name: str) -> None:
        if settings.test_crash_at and settings.test_crash_at == name:
            log_event("test crash point reached", logging.WARNING, point=name)
            logging.shutdown()
            os._exit(17)

    return hit


def function_timeout(context: Any) -> float:
    function = getattr(context, "function", None)
    timeout = getattr(function, "timeout", None)
    try:
        return float(timeout) if timeout else DEFAULT_FUNCTION_TIMEOUT
    except (TypeError, ValueError):
        return DEFAULT_FUNCTION_TIMEOUT


@dataclass
class ChangeResult:
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


class App:
    """Everything an instance keeps between invocations: settings, clients (HTTP sessions), stores."""

    def __init__(
        self,
        settings: Settings,
        *,
        dts: Any = None,
        oss: OssClient | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        credentials_env: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        # `credentials_env`: where AccessKeys are read on every request. FC's entry point passes the
        # live os.environ (FC rotates the role's keys there), never the start-up copy in settings.
        self.credentials = CredentialsProvider(env=settings.env if credentials_env is None else credentials_env)
        self.dts = dts or DtsClient(
            settings.dts_region, settings.dts_endpoint, self.credentials, signature=settings.dts_signature  # type: ignore[arg-type]
        )
        self.oss = oss or OssClient(
            settings.oss_region, settings.oss_endpoint, self.credentials, signature=settings.oss_signature  # type: ignore[arg-type]
        )
        self.ledger = Ledger(
            open_store(settings.ledger_url, oss_client=self.oss), clock=clock, retention_seconds=settings.retention_seconds
        )
        self.dead_letters = DeadLetterSink(open_store(settings.dead_letter_url, oss_client=self.oss), clock=clock)
        self.intake_settings: IntakeSettings = intake_settings_from_env(settings.env)
        self.clock = clock
        self.sleep = sleep
        self.owner = f"{os.environ.get('FC_INSTANCE_ID') or 'local'}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.crash_point = crash_point_hook(settings)
        self.busy_seen: dict[str, float] = {}  # job key -> when this instance last saw it Modifying
        self.stores_checked = False
        for secret in (settings.env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET"), settings.env.get("ALIBABA_CLOUD_SECURITY_TOKEN")):
            register_secret(secret)

    def check_stores(self, context: Any = None) -> None:
        """Once per instance (the initializer, else the first invocation): refuse stores where
        create-if-absent does not hold (a versioned OSS bucket), before anything is written."""
        if self.stores_checked:
            return
        with self.credentials.invocation(context):
            check_create_if_absent(
                {"DTS_CHANGE_LEDGER": self.ledger.store, "DTS_CHANGE_DEAD_LETTER": self.dead_letters.store}
            )
        self.stores_checked = True

    def check_lease_covers(self, timeout: float) -> None:
        """Refuse a lease a pass could outlive: a holder still writing after its lease ended could
        land an older list over the next holder's (issue 12.2). `initialize` knows the timeout."""
        needed = timeout + LEASE_MARGIN_SECONDS
        if self.settings.lease_seconds < needed:
            raise ConfigurationError(
                f"Invalid setting DTS_CHANGE_LEASE_SECONDS: {self.settings.lease_seconds:g} s is shorter than the "
                f"function timeout {timeout:g} s plus {LEASE_MARGIN_SECONDS:g} s -> expected at least {needed:g}",
                hint=f"Set DTS_CHANGE_LEASE_SECONDS to {needed:g} or more, or lower the function timeout",
            )

    # ------------------------------------------------------------------ invocation
    def handle(
        self, event: bytes | str, context: Any = None, *, envelopes: list[Envelope] | None = None
    ) -> dict[str, Any]:
        """One invocation; `envelopes` (a dead letter's kept input) replaces splitting `event`.

        All of it runs under this invocation's credentials (issue 11 point 10): the DTS and OSS
        clients, the ledger, the dead letters and the final read of the outcomes. A context
        without credentials falls back to the environment, read again on each request."""
        with self.credentials.invocation(context):
            try:
                current = self.credentials.get()
            except DtsChangeError:
                current = None
            for secret in current.secrets() if current else ():
                register_secret(secret)
            return self._handle(event, context, envelopes)

    def _handle(self, event: bytes | str, context: Any, envelopes: list[Envelope] | None) -> dict[str, Any]:
        started = time.monotonic()
        deadline = started + function_timeout(context) - DEADLINE_MARGIN_SECONDS
        request_id = getattr(context, "request_id", None) or uuid.uuid4().hex
        metrics = Metrics()
        results: list[ChangeResult] = []
        ignored: list[dict[str, Any]] = []
        jobs: dict[str, None] = {}
        timer = False
        creds = getattr(context, "credentials", None)
        if creds is not None:
            register_secret(getattr(creds, "access_key_secret", None))
            register_secret(getattr(creds, "security_token", None))
        self.check_stores(context)
        with self.credentials.invocation(context):
            retry_later: DtsChangeError | None = None
            if envelopes is None:
                envelopes = split_event(event, request_id=request_id)
            for envelope in envelopes:
                outcome = intake_envelope(envelope, settings=self.intake_settings, reader=self.oss)
                if outcome.status == "failed" and outcome.error is not None:
                    if outcome.error.retryable:
                        # e.g. OSS unavailable while reading the object: FC retries the event.
                        retry_later = outcome.error
                        continue
                    results.append(
                        self._dead_letter_input(outcome.envelope, outcome.error, metrics, outcome.object_body)
                    )
                elif outcome.status == "ignored":
                    ignored.append({"correlationId": envelope.correlation_id, "reason": outcome.reason})
                elif outcome.status == "reconcile":
                    timer = True
                else:
                    results.extend(self._accept(outcome.changes, metrics, jobs))
            if timer:
                for job_key in self.ledger.jobs_with_open_changes():
                    jobs.setdefault(job_key, None)
            reports = [self._reconcile(job_key, metrics, deadline, peek_first=not timer) for job_key in jobs]
            if timer and not self.settings.dry_run:
                pruned = self.ledger.prune(deadline=deadline)
                if pruned:
                    log_event("ledger pruned", records=pruned)
        self._finish_outcomes(results, reports, metrics)
        if retry_later is not None:
            log_event("input could not be read yet; raising so FC retries", logging.WARNING,
                      code=retry_later.code, message=retry_later.message)
            raise retry_later
        for result in results:
            log_event(
                "change",
                change_id=result.id,
                correlation_id=result.correlation_id,
                job=result.job,
                outcome=result.outcome,
                diff=result.diff,
                code=result.code,
                dead_letter_id=result.details.get("deadLetterId"),
            )
        summary = metrics.snapshot()
        elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        log_event("invocation summary", request_id=request_id, elapsed_ms=elapsed_ms, **summary)
        return {
            "requestId": request_id,
            "changes": [r.to_dict() for r in results],
            "ignored": ignored,
            "reconcile": [r.to_dict() for r in reports],
            "summary": summary,
            "elapsedMs": elapsed_ms,
        }

    def _reconcile(self, job_key: str, metrics: Metrics, deadline: float, *, peek_first: bool = False) -> PassReport:
        self.check_stores()  # the CLI's passes take leases without going through `handle`
        ctx = ReconcileContext(
            dts=self.dts,
            ledger=self.ledger,
            dead_letters=self.dead_letters,
            metrics=metrics,
            deadline=deadline,
            owner=self.owner,
            max_age_seconds=self.settings.max_age_seconds,
            lease_seconds=self.settings.lease_seconds,
            keep_server_keys=self.settings.keep_server_keys,
            clock=self.clock,
            sleep=self.sleep,
            crash_point=self.crash_point,
            peek_first=peek_first,
            busy_seen=self.busy_seen,
        )
        report = reconcile_job(job_key, ctx, dry_run=self.settings.dry_run)
        log_event("reconcile pass", job=job_key, action=report.action, phase=report.phase,
                  job_status=report.job_status, request_id=report.modify_request_id)
        return report

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

    def _dead_letter_input(
        self, envelope: Envelope, error: DtsChangeError, metrics: Metrics, object_body: bytes | None = None
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
        if self.settings.dry_run:  # a plan writes nothing: it says the input would be dead-lettered
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

    def _finish_outcomes(self, results: list[ChangeResult], reports: list[PassReport], metrics: Metrics) -> None:
        by_key: dict[str, tuple[str, PassReport]] = {}
        for report in reports:
            for key, outcome in report.outcomes.items():
                by_key[key] = (outcome, report)
        for result in results:
            if result.key is None or result.outcome in ("dead_lettered", "dry_run"):
                continue
            if result.key in by_key and result.outcome != "duplicate":
                outcome, report = by_key[result.key]
                result.outcome = outcome
                own = report.change_diffs.get(result.key)
                if own is not None and outcome in ("submitted", "applied", "no_op"):
                    # This change's own diff: the pass's covers every change folded with it.
                    result.diff = {k: len(own.get(k, [])) for k in ("added", "removed", "changed")}
                    result.details["objects"] = {k: own[k] for k in ("added", "removed", "changed") if own.get(k)}
            record = self.ledger.get(result.key)
            if record is None:
                continue
            closed = record.state in (ChangeState.APPLIED, ChangeState.DEAD_LETTERED)
            if result.outcome not in ("duplicate", "no_op") and (closed or result.key not in by_key):
                # The ledger has the last word on closed changes; the pass on open ones (a
                # reserved update is `submitted` while the record itself is still pending).
                result.outcome = _STATE_OUTCOMES.get(record.state, result.outcome)
            for report in reports:
                if result.key in report.dead_letter_ids:
                    result.details["deadLetterId"] = report.dead_letter_ids[result.key]
            if record.state == ChangeState.DEAD_LETTERED and record.last_error:
                result.code = record.last_error.get("code")
                result.message = record.last_error.get("message")
                result.hint = record.last_error.get("hint")
                if record.last_error.get("details") is not None:
                    result.details["errorDetails"] = record.last_error["details"]
            if result.outcome == "pending":
                metrics.incr("pending")


# ---------------------------------------------------------------------- FC entry points

_APP: App | None = None


def get_app(env: Mapping[str, str] | None = None) -> App:
    """The instance's App, built on first use (the initializer builds it ahead of the first event)."""
    global _APP
    if _APP is None:
        if env is None:
            # FC: keys are read from the live os.environ on each request (FC rotates them); the
            # settings' start-up copy of the environment keeps none.
            settings = Settings.from_env(without_credentials(os.environ))
            configure_logging(settings.log_level)
            _APP = App(settings, credentials_env=os.environ)
        else:
            settings = Settings.from_env(env)
            configure_logging(settings.log_level)
            _APP = App(settings)
    return _APP


def reset_app() -> None:
    global _APP
    _APP = None


def handle_event(event: bytes | str, context: Any) -> dict[str, Any]:
    """Run one invocation. Bad input and permanent errors come back in the result; only bugs and
    failures of our own storage raise, so FC's async retry and `onFailure` destination take over."""
    return get_app().handle(event, context)
