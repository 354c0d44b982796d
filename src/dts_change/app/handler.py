"""The function users deploy: event bytes in, every change applied, pending or dead-lettered out.

`App` is built once per FC instance (the initializer): settings, HTTP sessions, stores. Each
invocation splits the event into envelopes, turns them into validated change requests, records
each in the ledger before anything else, then runs one reconcile pass per affected job (or every
job with open work, on a timer). Permanent errors never raise: they are dead-lettered and
reported. Only unexpected internal failures raise, so FC's async retry and `onFailure`
destination catch what the code could not classify.

The steps of `App.handle`, in order: `intake/split.py`, `intake/accept.py`, `record.py` (the ledger),
`reconcile/job.py`, `outcome.py` (each change's result).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ..clients.credentials import CredentialsProvider, without_credentials
from ..clients.dts import DtsClient
from ..clients.oss import OssClient
from ..core.errors import ConfigurationError, DtsChangeError
from ..core.observe import Metrics, configure_logging, log_event, register_secret
from ..intake.accept import intake_envelope
from ..intake.settings import IntakeSettings, intake_settings_from_env
from ..intake.split import Envelope, split_event
from ..reconcile.context import PassReport, ReconcileContext
from ..reconcile.job import reconcile_job
from ..state.deadletter import DeadLetterSink
from ..state.ledger import Ledger
from ..state.storage import check_create_if_absent, open_store
from .outcome import OutcomeStep
from .record import ChangeResult, RecordStep
from .settings import (
    DEADLINE_MARGIN_SECONDS,
    DEFAULT_FUNCTION_TIMEOUT,
    LEASE_MARGIN_SECONDS,
    RETENTION_MARGIN_SECONDS,
    Settings,
)


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


class App(RecordStep, OutcomeStep):
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
        self.instance_jobs: dict[str, str] = {}  # instance id -> job id (never changes)
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

    def check_retention_covers(self, timeout: float) -> None:
        """Refuse a retention a writer could outlive: a batch's number is one above the highest
        its writer listed when it read, so a writer that read before another's batch collides
        with it only while that batch exists; prune deletes batches older than the retention.
        A read is at most a function timeout old when its pass writes, and a holder keeps its
        lease for DTS_CHANGE_LEASE_SECONDS; `initialize` knows the timeout."""
        needed = timeout + self.settings.lease_seconds + RETENTION_MARGIN_SECONDS
        if self.settings.retention_seconds < needed:
            raise ConfigurationError(
                f"Invalid setting DTS_CHANGE_RETENTION_SECONDS: {self.settings.retention_seconds:g} s is shorter "
                f"than the function timeout {timeout:g} s plus DTS_CHANGE_LEASE_SECONDS "
                f"{self.settings.lease_seconds:g} s plus {RETENTION_MARGIN_SECONDS:g} s -> expected at least "
                f"{needed:g} (a writer could outlive the batches its read is numbered against)",
                hint=f"Set DTS_CHANGE_RETENTION_SECONDS to {needed:g} or more (default 604800), or lower the "
                "function timeout or the lease",
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
                    try:
                        changes = self._resolve_jobs(outcome.changes)
                    except DtsChangeError as exc:
                        if self._resolution_retries(exc) and not self._planning(outcome.changes):
                            retry_later = exc
                        else:
                            results.append(self._dead_letter_input(
                                outcome.envelope, exc, metrics, outcome.object_body,
                                dry_run=self._planning(outcome.changes)))
                        continue
                    results.extend(self._accept(changes, metrics, jobs))
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
