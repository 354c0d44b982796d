"""Step 4, submit: ONE phase (reserved, removals or additions) per pass, after the no-loss and
size checks, a re-read of the job, the lease check and the wire guard; the write-ahead note
names the call before it is made.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from ..clients.dts_models import ModifyResult
from ..core.change import ChangeRequest, canonical_json
from ..core.dblist import DbList
from ..core.errors import (
    DbListChangedError,
    DtsChangeError,
    GuardViolationError,
    LeaseHeldError,
)
from ..core.guard import allowance_for, check_dblist, check_reserved, databases_of
from ..core.merge import FoldResult, check_no_loss, diff_dblists, effective_removals
from ..core.observe import log_event
from ..state.records import ChangeRecord, ChangeState
from .context import (
    SETUP_ERRORS,
    PassBase,
    PassReport,
    Phase,
    databases_touched,
    is_listed,
    list_digest,
    refs_wanted,
    removal_confirmed,
    sha256_text,
)
from .gate import is_modifiable
from .retry import call_with_retry
from .subtask import canonical_dblist_sha256


def client_token_for(job_key: str, phase: str, before_json: str, sent_json: str) -> str:
    """DESIGN §1.3: a retry of the same submission reuses the token; a different one never does."""
    before_hash = hashlib.sha256(before_json.encode("utf-8")).hexdigest()
    sent_hash = hashlib.sha256(sent_json.encode("utf-8")).hexdigest()
    material = f"{job_key}\n{phase}\n{before_hash}\n{sent_hash}".encode()
    return hashlib.sha256(material).hexdigest()[:64]


class _OwnWriteLandedError(Exception):
    """A retried write's earlier attempt was carried out (its answer lost): record, do not resend."""


class SubmitStep(PassBase):
    """Sends one phase and records it on the changes it carries."""

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
            if exc.retryable or isinstance(exc, SETUP_ERRORS):
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
        moves: list[tuple[ChangeRecord, ChangeState, dict[str, Any]]] = []
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
            moves.append((r, r.state, {"submissions": [*r.submissions, {**submission, "expect_reserved": sent}]}))
        self.ctx.ledger.transition_many(moves)  # one batch record for the submission
        for r in reserved_records:
            self._set(r, "submitted")
        self.report.action = "submitted"
        self.report.modify_request_id = result.request_id
        return self.report

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
        # The changes carried are part of the submission: an add -> remove -> add toggle sends the
        # same list from the same list twice, and DTS would take the second for a retry of the first.
        carried = canonical_json(sorted(f"{r.key}#{r.replays}" for r in included))
        token = client_token_for(self.job_key, phase, f"{before_json}\n{carried}", sent_json)
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
        unnoted = included
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
            if exc.retryable or isinstance(exc, SETUP_ERRORS):
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
                included = self._void_removal_intents(unnoted, included)
                log_event("isolating a refused change", logging.WARNING, job=self.job_key, code=exc.code,
                          changes=len(included), retrying=len(included) // 2)
                return self.fold_and_submit(self._prefix_before(included, current), current)
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
        moves: list[tuple[ChangeRecord, ChangeState, dict[str, Any]]] = []
        for r in included:
            expect = _expectation(self.request(r), listed, phase)
            own = {**submission, "expect": expect, "diff": self.report.change_diffs.get(r.key)}
            cleared: dict[str, Any] = {"removal_intent": None} if r.removal_intent is not None else {}
            moves.append((r, state, {"submissions": [*r.submissions, own], **cleared}))
        # One ledger object for the whole submission (a batch record), however many changes.
        self.ctx.ledger.transition_many(moves)
        for r in included:
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

    group: tuple[ChangeRecord, ...] = ()
    """The changes of the fold being submitted, in ledger order (set by `fold.FoldStep`)."""

    def fold_and_submit(self, foldable: list[ChangeRecord], current: DbList) -> PassReport:
        """Fold again and submit (`fold.FoldStep`): isolating a refused change sends its first half."""
        raise NotImplementedError

    def _void_removal_intents(self, before: list[ChangeRecord], noted: list[ChangeRecord]) -> list[ChangeRecord]:
        """DTS refused the call for good, so nothing of it was carried out: the removal intents
        noted for it are taken back (kept, a removal not listed when folded again would count as
        carried out). Returns the latest version of each record."""
        out = []
        for old, new in zip(before, noted, strict=True):
            latest = new
            if new is not old and new.removal_intent != old.removal_intent:
                latest = self.ctx.ledger.update(new, removal_intent=old.removal_intent)
            out.append(latest)
        return out

    def _prefix_before(self, included: list[ChangeRecord], current: DbList) -> list[ChangeRecord]:
        """The fold's changes before the first one of the second half of `included`, in ledger
        order: the half is folded again WITH the earlier changes it follows (an earlier addition
        the removal phase left waiting), never without them.

        A change after the cut whose removal was carried out goes back to pending with a removal
        intent on the list read: if the earlier changes sent now list again what it removed, it
        is removed again when it is folded after them (not taken for a later change's work)."""
        cut = included[len(included) // 2].key
        latest = {r.key: r for r in included}
        prefix: list[ChangeRecord] = []
        after_cut = False
        for folded in self.group or included:
            record = latest.get(folded.key, folded)
            after_cut = after_cut or record.key == cut
            if self.report.outcomes.get(record.key) in ("dead_lettered", "no_op"):
                continue
            if not after_cut:
                prefix.append(record)
                continue
            if removal_confirmed(record) and not self.dry_run and self._relists(prefix, record):
                record = self.ctx.ledger.transition(record, ChangeState.PENDING, removal_intent=list_digest(current))
            self._set(record, "pending")
        return prefix

    def _relists(self, prefix: list[ChangeRecord], record: ChangeRecord) -> bool:
        """Whether a change of `prefix` adds something `record`'s removal names. Only then does it
        go back to a removal intent: otherwise a name of its removal listed now came back after it
        (a later change, a write from elsewhere), and an intent on the list read would have the
        next pass remove it a second time once the prefix changed the list."""
        removed = effective_removals(self.request(record).to_change_spec())
        for earlier in prefix:
            add = self.request(earlier).to_change_spec().add
            if add is not None and any(add.covers(ref) for ref in removed):
                return True
        return False

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
        culprits = [r for r in included if databases_touched(self.request(r)) & lost_dbs] or included
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
        note (folded again they are no-ops). One ledger object per submission (a batch record)."""
        digest: str | None = None
        moves: list[tuple[ChangeRecord, ChangeState, dict[str, Any]]] = []
        for record in included:
            if record.state == ChangeState.PENDING and self.request(record).remove:
                digest = digest or list_digest(listed)
                if record.removal_intent != digest:
                    moves.append((record, record.state, {"removal_intent": digest}))
        noted = {new.key: new for new in self.ctx.ledger.transition_many(moves)}
        return [noted.get(record.key, record) for record in included]

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
        # A pass that waited (back-off) may wake after its lease ended and another holder moved
        # these changes on with batch records, which an own version written from the records read
        # here would silently replace (no create-if-absent conflict with a batch): the notes are
        # written only while the lease is still ours (the write-ahead note names the call anyway).
        noting = isinstance(error, DbListChangedError) or unanswered_token is not None
        if noting and (self._lease is None or self.ctx.ledger.lease_is_current(self._lease)):
            self.note_error(included, error, unanswered_token=unanswered_token)
        for r in included:
            self._set(r, "pending")
        self.report.action = "aborted"
        self.report.error = error.to_dict()
        return self.report


def _expectation(change: ChangeRequest, listed: DbList, phase: Phase) -> dict[str, Any]:
    """The change's objects as they stand in the list sent for it, kept on its submission.

    Later changes folded into the same submission may remove, re-add or re-set what this change
    asked for; the job then matches the sent list, not the change alone, so confirmation checks
    this (checking the change alone sent the earlier change again over the later one)."""
    present: list[list[Any]] = []
    if phase == "addition":
        for ref, settings in refs_wanted(change):
            if not listed.covers(ref):
                continue
            wanted: dict[str, Any] | None = None
            entry = listed.databases[ref.db]
            if ref.table is not None and settings and not entry.whole:
                effective = entry.table_map()[ref.table].settings(ref.table)
                wanted = {k: effective.get(k) for k in settings}
            present.append([ref.db, ref.table, wanted])
    absent = [[ref.db, ref.table] for ref in change.remove if not is_listed(listed, ref)]
    return {"present": present, "absent": absent}
