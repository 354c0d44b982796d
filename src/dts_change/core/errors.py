"""Error taxonomy (DESIGN §5): every failure says its code, whether it is retryable, and a hint.

Callers catch `DtsChangeError` and branch on `category` / `retryable`; they never parse text.
`str(e)` is ``code: message`` (one line); structure goes into `details`.
Every leaf's `code` is documented in docs/errors.md (a test checks it).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

Category = Literal["transient", "job_busy", "credentials", "permanent", "internal"]

_MAX_REPR = 80


def short_repr(value: object, limit: int = _MAX_REPR) -> str:
    """repr() cut at `limit` characters with an ellipsis, for values quoted in messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class DtsChangeError(Exception):
    """Base of every error this project raises on purpose."""

    code: ClassVar[str] = "error"
    category: ClassVar[Category] = "internal"
    retryable: ClassVar[bool] = False
    default_hint: ClassVar[str] = ""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        details: list[dict[str, Any]] | dict[str, Any] | None = None,
        http_status: int | None = None,
        remote_code: str | None = None,
        request_id: str | None = None,
        action: str | None = None,
        evidence: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.details = details
        self.http_status = http_status
        self.remote_code = remote_code
        self.request_id = request_id
        self.action = action
        self.evidence = evidence

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view for results, logs and dead-letter records."""
        out: dict[str, Any] = {
            "error": type(self).__name__,
            "code": self.code,
            "category": self.category,
            "retryable": self.retryable,
            "message": self.message,
            "hint": self.hint,
        }
        for key in ("details", "http_status", "remote_code", "request_id", "action", "evidence"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


# ---------------------------------------------------------------- groups (DESIGN §5)


class TransientError(DtsChangeError):
    """A failure that may go away by itself: retry with backoff, then leave the change pending."""

    code = "transient"
    category: ClassVar[Category] = "transient"
    retryable = True
    default_hint = "Retried automatically; if it persists, check the service status."


class JobBusyError(DtsChangeError):
    """The job cannot take a modification now: leave the change pending for the next pass."""

    code = "job-busy"
    category: ClassVar[Category] = "job_busy"
    retryable = True
    default_hint = "Nothing to do: the change stays pending and the next pass applies it."


class CredentialsExpiredError(DtsChangeError):
    """The STS token expired: reload credentials once and retry."""

    code = "credentials-expired"
    category: ClassVar[Category] = "credentials"
    retryable = True
    default_hint = "Credentials are reloaded automatically; check the function role if it repeats."


class PermanentError(DtsChangeError):
    """Retrying cannot help: dead-letter the change with this code, message and hint."""

    code = "permanent"
    category: ClassVar[Category] = "permanent"
    retryable = False


class InternalError(DtsChangeError):
    """A bug or broken invariant in this project: abort, never write."""

    code = "internal-error"
    category: ClassVar[Category] = "internal"
    retryable = False
    default_hint = "This is a bug in dts-change-handler; report it with the dead-letter record."


# ---------------------------------------------------------------- transient leaves


class ThrottledError(TransientError):
    """The service rate-limited the call (Throttling.User, Throttling)."""

    code = "throttled"
    default_hint = "Retried with backoff; lower the trigger batch rate or reservedConcurrency."

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServiceUnavailableError(TransientError):
    """The service answered ServiceUnavailable / 503."""

    code = "service-unavailable"


class RemoteInternalError(TransientError):
    """The service answered InternalError / 5xx."""

    code = "remote-internal-error"


class NetworkError(TransientError):
    """Connection refused, reset or timed out before an answer arrived."""

    code = "network-error"
    default_hint = "Retried; check the endpoint settings and network path if it persists."


class DbListChangedError(TransientError):
    """The job's DbList changed between our read and our write: abort the pass and re-read."""

    code = "dblist-changed-underneath"
    default_hint = "Someone else modified the job; the next pass re-reads and merges again."


class LeaseStoreError(TransientError):
    """The ledger store could not be read or written."""

    code = "store-unavailable"


# ---------------------------------------------------------------- job busy leaves


class JobModifyingError(JobBusyError):
    """A previous modification is still running (OperationDenied.JobStatusModifying)."""

    code = "job-modifying"


class JobNotRunningError(JobBusyError):
    """The job is in a status that does not accept modifications now."""

    code = "job-not-running"
    default_hint = (
        "The change waits until the job is synchronizing again; it is dead-lettered after "
        "its maximum age."
    )


class LeaseHeldError(JobBusyError):
    """Another invocation holds the job's lease: our change stays pending for it."""

    code = "lease-held"

    def __init__(self, message: str, *, holder: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.holder = holder


class NewerLedgerLayoutError(LeaseHeldError):
    """The job's latest lease generation was written by a release with a newer ledger layout.

    That release records transitions where this code does not look, so this code would take a
    change submitted there for pending and submit it again: it runs no pass for the job at all."""

    code = "ledger-layout-newer"
    default_hint = (
        "Deploy the release that wrote it to every instance of the function (this instance runs "
        "older code); the job's changes stay open in the ledger for it."
    )


# ---------------------------------------------------------------- permanent leaves: input


class ChangeDocumentError(PermanentError):
    """A change document is malformed; `details` holds one entry per problem."""

    code = "invalid-change"
    default_hint = "Fix the document as the message says and upload it again (docs/formats.md)."


class DbListValidationError(ChangeDocumentError):
    """A DbList fragment does not match the DTS object-list format."""

    code = "invalid-dblist"
    default_hint = (
        "Use the DTS DbList format: {db: {name, all, Table: {table: {name, all}}}} (docs/formats.md)."
    )


class InvalidJsonError(ChangeDocumentError):
    """The input is not valid JSON (truncated, malformed UTF-8, duplicate keys)."""

    code = "invalid-json"


class UnknownFormatError(ChangeDocumentError):
    """The input matches none of the accepted change formats."""

    code = "unknown-format"


class AmbiguousFormatError(ChangeDocumentError):
    """The input reads as two formats, or as plain text not marked as a table list.

    A stray word must never add a whole database: a table list needs a `.txt` name or a
    `# format: table-list` line."""

    code = "ambiguous-format"


class UnrecognisedEventError(ChangeDocumentError):
    """The invocation payload matches no known trigger shape."""

    code = "unrecognised-event"


class InputTooLargeError(ChangeDocumentError):
    """An input cap (size, depth, object count, line length, statements) was exceeded."""

    code = "input-too-large"


class InvalidNameError(ChangeDocumentError):
    """A database or table name is empty, has control characters, or is too long."""

    code = "invalid-name"


class UnroutableChangeError(PermanentError):
    """No job could be determined for the change."""

    code = "unroutable-change"
    default_hint = (
        'Name the job in the document ("job"), add a DTS_CHANGE_ROUTES rule, or set DTS_JOB_ID.'
    )


class RemovalNotAllowedError(PermanentError):
    """The change removes objects but its source is not allowed to remove."""

    code = "removal-not-allowed"
    default_hint = "Set allowRemovals on the route for this source, or remove objects explicitly."


class FileOssUrlRefusedError(PermanentError):
    """A FileOssUrl / OSS location is not allowed (bucket, host, scheme or address)."""

    code = "oss-url-refused"
    default_hint = "Only OSS buckets listed in DTS_CHANGE_ALLOWED_BUCKETS can be read."


class SourceObjectNotFoundError(PermanentError):
    """The OSS object named by the event or FileOssUrl does not exist."""

    code = "source-object-not-found"


class SourceVersionNotFoundError(SourceObjectNotFoundError):
    """The object version an event (or a FileOssUrl's `versionId`) names does not exist: OSS
    answered `NoSuchVersion`. The version id and key are in the details."""

    code = "source-version-not-found"
    default_hint = (
        "The version was deleted (or never existed in this bucket); upload the content again to "
        "apply it, or replay the dead letter once the version is restored"
    )


class ObjectSupersededError(PermanentError):
    """The object was overwritten after this event: its eTag is not the event's. The event's
    content is never applied (the newer upload's event applies the current one); both eTags are
    in the details."""

    code = "object-superseded"
    default_hint = "Nothing to do if the newer upload is the one wanted; upload the older content again otherwise."


# ---------------------------------------------------------------- permanent leaves: merge


class ConflictError(PermanentError):
    """An existing entry has different settings than the change wants."""

    code = "conflict"
    default_hint = 'Send onConflict: "replace" to overwrite the existing settings.'

    def __init__(self, message: str, *, existing: Any = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.existing = existing


class SettingsUnderWholeDatabaseError(PermanentError):
    """Table settings were sent for a database that is synchronized whole."""

    code = "settings-under-whole-database"
    default_hint = (
        "The database is synchronized whole (all: true); to rename or filter one table, first "
        "switch the database to all: false with an explicit table list (onConflict: replace)."
    )


class RemovalNeedsTableListError(PermanentError):
    """A table cannot be removed from a database synchronized whole."""

    code = "removal-needs-table-list"
    default_hint = (
        "The database is synchronized with all: true; replace it with all: false and the full "
        "list of tables to keep, or remove the whole database."
    )


class RemovalEmptiesDatabaseError(PermanentError):
    """A removal would leave a table-by-table database with no table listed.

    Deleting the database entry instead would silently drop its settings (target `name`,
    `dml_op`/`ddl_op`, other keys), so a later addition would recreate it under its source name."""

    code = "removal-empties-database"
    default_hint = (
        'To stop synchronizing the database, remove it explicitly (remove: ["<db>"]), which '
        "drops its settings too; to swap its tables, add the new table first, then remove the old one."
    )


class EmptyDbListError(PermanentError):
    """The list to send (the final one, or the removal phase sent first) would have no database."""

    code = "dblist-would-be-empty"
    default_hint = (
        "A DTS job synchronizes at least one object: add the replacement objects in an earlier "
        "change, or stop or release the job in the console."
    )


class RemoveNotListedError(PermanentError):
    """A change removes a name the job does not list (a case variant, a look-alike, a typo)."""

    code = "remove-not-listed"
    default_hint = (
        "Names are compared exactly: fix the name (details.nearMatches suggests the listed one) "
        "and send the change again; nothing of this change was applied."
    )


class TargetNameAddedError(PermanentError):
    """A change adds a source object named like a mapping's target, and its route refuses that.

    The route sets `onTargetNameAdd: "reject"`; by default such an addition is only a warning."""

    code = "target-name-added"
    default_hint = (
        "The name is where the job already writes a mapped object (src -> dst); add the source "
        'object instead, or set the route\'s onTargetNameAdd to "warn" if this is really a new source.'
    )


class DbListTooLargeError(PermanentError):
    """The serialized DbList exceeds the 1 MB ModifyDtsJob limit."""

    code = "dblist-too-large"
    default_hint = "Split the job, or synchronize whole databases instead of long table lists."


class InvariantViolationError(InternalError):
    """A DbList about to be written would lose objects nobody removed: the write is aborted."""

    code = "invariant-violation"

    def __init__(self, message: str, *, missing_objects: list[str] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.missing_objects = missing_objects or []


class GuardViolationError(InternalError):
    """The DbList about to be sent drops or changes a path of the job's DbObject that no removal or replace named.

    Found by the wire guard (guard.py), which compares the DbObject text as DTS returned it with the
    DbList text to send; the paths are JSON Pointers in `details.paths`."""

    code = "guard-violation"
    default_hint = (
        "Nothing was written. This is a bug in dts-change-handler (the merge lost data the wire guard "
        "caught); report it with the dead-letter record, and replay the changes once it is fixed."
    )


# ---------------------------------------------------------------- permanent leaves: service


class JobNotConfiguredError(PermanentError):
    """The job has not been configured (CheckStatus.InvalidInitStatus / NotConfigured)."""

    code = "job-not-configured"
    default_hint = "Configure the DTS job in the console first, then replay the dead letter."


class JobRegionMismatchError(PermanentError):
    """A change names another region than the one the function serves (DTS_REGION).

    The region may come from the document's job, a ModifyDtsJob request's RegionId, or the route."""

    code = "job-region-mismatch"
    default_hint = (
        "Send the change to the function deployed in that region, or drop the region from the "
        "change (it then goes to DTS_REGION)."
    )


class JobNotFoundError(PermanentError):
    """The job or instance does not exist in this region."""

    code = "job-not-found"
    default_hint = "Check the job id, instance id and DTS_REGION."


class JobIdsDisagreeError(PermanentError):
    """A change names a job id and an instance id that DTS says belong to different jobs."""

    code = "job-ids-disagree"
    default_hint = (
        "Name the job by one id (dtsJobId, or dtsInstanceId alone), or fix the pair in the change, "
        "its DTS_CHANGE_ROUTES rule or DTS_JOB_ID / DTS_INSTANCE_ID; then replay the dead letter."
    )


class PermissionDeniedError(PermanentError):
    """The caller is not allowed to perform the action (Forbidden.RAM and similar)."""

    code = "permission-denied"
    default_hint = "Grant the function role the actions in docs/ram-policy.json."


class SignatureMismatchError(PermanentError):
    """The request signature or access key was rejected."""

    code = "signature-mismatch"
    default_hint = "Check the AccessKey id/secret and that the clock is in sync."


class InvalidParameterError(PermanentError):
    """The service rejected a parameter (InvalidParameter, MissingParameter)."""

    code = "invalid-parameter"


class UnreadableDbObjectError(PermanentError):
    """DescribeDtsJobDetail returned no usable DbObject: writing would risk dropping objects."""

    code = "dbobject-unreadable"
    default_hint = (
        "The job's object list could not be read inline (empty DbObject, perhaps delivered via "
        "DbObjectOssUrl); no write was made. Check the job in the console."
    )


class ModificationFailedError(PermanentError):
    """DTS accepted the modification but its sub-task failed (precheck or run)."""

    code = "modification-failed"
    default_hint = "Read the evidence (PrecheckStatus.Detail), fix the cause, then replay."


class NotConfirmedError(PermanentError):
    """After a finished modification the change's objects are still not as requested."""

    code = "not-confirmed"
    default_hint = "Compare the job's object list with the change; replay once the cause is fixed."


class MaxAgeExceededError(PermanentError):
    """The change stayed open (pending, or submitted and never confirmed) longer than its maximum age.
    A submitted one may still be carried out by DTS: the evidence names its last submission."""

    code = "max-age-exceeded"
    default_hint = "See the last error in the record; fix the job, then replay."


class RemoteError(PermanentError):
    """The service answered an error this project does not classify more precisely."""

    code = "remote-error"


class InsecureEndpointError(PermanentError):
    """An endpoint would send credentials in clear text to a non-loopback host."""

    code = "insecure-endpoint"
    default_hint = "Use https://, or http:// only to 127.0.0.1 / localhost (the emulator)."


class ConfigurationError(PermanentError):
    """The function's configuration (environment) is invalid."""

    code = "invalid-configuration"


class VersionedStoreBucketError(ConfigurationError):
    """The ledger's or dead letters' OSS bucket has versioning enabled or suspended.

    OSS ignores `x-oss-forbid-overwrite` there, so create-if-absent (records, leases, dead
    letters) would silently overwrite: the function refuses to start."""

    code = "store-bucket-versioned"
    default_hint = (
        "Put DTS_CHANGE_LEDGER and DTS_CHANGE_DEAD_LETTER in a bucket whose versioning was never "
        "enabled (suspending it is not enough)."
    )


class ObjectExistsError(PermanentError):
    """An OSS create-if-absent write found the object already there (FileAlreadyExists, 409)."""

    code = "object-exists"
    default_hint = "Another writer created the object first; read it instead of writing it."


class InvalidSqlError(ChangeDocumentError):
    """A SQL change file has nothing that can be understood, or one of its table statements is broken."""

    code = "invalid-sql"
    default_hint = (
        "Fix the statement at the line the message names (a truncated upload, an unclosed "
        "parenthesis or quote), then upload the file again; docs/formats.md lists what each "
        "statement kind does."
    )


class InvalidEventError(ChangeDocumentError):
    """The payload has a known trigger shape, but a field it needs is missing or malformed."""

    code = "invalid-event"
    default_hint = (
        "Check the trigger's configuration; compare the payload with the samples in events/."
    )


class AsyncInvocationFailedError(PermanentError):
    """FC gave up on an asynchronous invocation and sent its failure record to `index.on_failure`."""

    code = "async-invocation-failed"
    default_hint = (
        "Read the error in the record (`dts-change dlq show`), fix the cause, then "
        "`dts-change dlq replay <id>` sends the original event to the handler again."
    )


class EventDeliveryFailedError(PermanentError):
    """EventBridge could not deliver an event to the function and dead-lettered it."""

    code = "event-delivery-failed"
    default_hint = (
        "Check the function's logs for the failed batch; once fixed, `dts-change dlq replay <id>` "
        "sends the event to the handler again."
    )


# ---------------------------------------------------------------- ledger and stores


class LedgerConflictError(TransientError):
    """Another writer recorded the next transition of a change first: re-read it and decide again."""

    code = "ledger-conflict"
    default_hint = "Another invocation moved the change at the same time; the next pass re-reads it."


class InvalidStoreKeyError(PermanentError):
    """A store key or id is empty, absolute, has '..' / NUL, or otherwise cannot name an object."""

    code = "invalid-store-key"
    default_hint = "Use the ids printed by `dts-change dlq list`; keys never start with '/' or hold '..'."


class CorruptRecordError(InternalError):
    """A ledger, lease or dead-letter object in the store is not the JSON this project writes."""

    code = "corrupt-record"
    default_hint = "Inspect the object named in the message; restore it or move it aside, then rerun."


class InvalidTransitionError(InternalError):
    """A change record was asked to move between states that the ledger does not allow."""

    code = "invalid-transition"


class ReplayRefusedError(PermanentError):
    """A replay named no dead-lettered change, or input kept too partially to run again.

    Bad input is replayable when its dead letter keeps the complete bytes or names an OSS
    object to read again."""

    code = "replay-refused"
    default_hint = "Only dead-lettered changes can be replayed; list them with `dts-change dlq list`."
