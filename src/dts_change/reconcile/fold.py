"""Steps 2-3, fold and fit: pending changes in arrival order, one group of modification flags per
pass, as many as fit in 1 MB; rejected ones are dead-lettered, the rest goes to `submit`.
"""

from __future__ import annotations

from dataclasses import replace

from ..core.dblist import DbList, ObjectRef
from ..core.errors import (
    DbListTooLargeError,
)
from ..core.merge import ChangeSpec, FoldResult, effective_removals, fold_changes
from ..core.observe import log_event
from ..state.records import ChangeRecord, ChangeState
from .context import (
    PassReport,
    awaiting_confirmation,
    is_listed,
    last_submission,
    list_digest,
    needs_reserved,
    removal_confirmed,
    removal_phase_done,
)
from .submit import SubmitStep


def is_foldable(record: ChangeRecord) -> bool:
    if awaiting_confirmation(record) or needs_reserved(record):
        return False
    if record.state == ChangeState.PENDING:
        return bool(record.change.get("add") or record.change.get("remove"))
    if record.state == ChangeState.REMOVAL_SUBMITTED:
        last = last_submission(record)
        return bool(last and last.get("confirmed"))
    return False


def removals_left_to_fold(
    current: DbList, remove: tuple[ObjectRef, ...], earlier: list[ChangeSpec]
) -> tuple[ObjectRef, ...]:
    """The removals of a change DTS already carried out, as they apply when it is folded again.

    A name listed now came back after the removal (a later change, or a write whose answer was
    lost) and is not removed a second time. A name not listed stays: an earlier change of this
    fold may add it again, and ledger order says this removal takes it out (not
    `remove-not-listed`: it is gone because this change removed it). A database listed now keeps
    what it lists, but still loses the tables the earlier changes of this fold add to it: dropping
    the whole name would let an addition that comes before the removal in ledger order land after
    it (found by fault seed 30 under load: crm.c0 came back after `remove: [crm]`)."""
    out: list[ObjectRef] = []
    for ref in remove:
        if not is_listed(current, ref):
            out.append(ref)
            continue
        entry = current.databases[ref.db]
        if ref.table is not None or entry.whole:
            continue
        listed = entry.table_map()
        for spec in earlier:
            added = spec.add.databases.get(ref.db) if spec.add is not None else None
            for table in added.table_map() if added is not None else ():
                table_ref = ObjectRef(ref.db, table)
                if table not in listed and table_ref not in out:
                    out.append(table_ref)
    return tuple(out)


def without_cancelled_additions(
    current: DbList, remove: tuple[ObjectRef, ...], earlier: list[ChangeSpec]
) -> list[ChangeSpec]:
    """The earlier changes of a fold without what they add to a database that a change DTS already
    carried out removes whole and that is listed again now (by a later change).

    In ledger order that removal takes their entry away, settings and all, and the later change
    builds the one listed now: merged over it, an earlier entry of its own (the whole database, a
    target `name`, table settings) would be a `conflict` with what came after it, or widen it."""
    cancelled = {ref.db for ref in remove if ref.table is None and is_listed(current, ref)}
    out: list[ChangeSpec] = []
    for spec in earlier:
        if spec.add is None or not cancelled & spec.add.databases.keys():
            out.append(spec)
            continue
        kept = {db: entry for db, entry in spec.add.databases.items() if db not in cancelled}
        out.append(replace(spec, add=DbList(kept) if kept else None))
    return out


class FoldStep(SubmitStep):
    """Folds the open changes that fit and hands the first phase to `submit_phase`."""

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
        specs: list[ChangeSpec] = []
        current_digest = list_digest(current) if any(r.removal_intent for r in group) else None
        for index in range(len(group)):
            r = group[index]
            spec = requests[r.key].to_change_spec()
            remove = effective_removals(spec)  # without what it re-creates: that rides no removal phase
            intended = r.state == ChangeState.PENDING and r.removal_intent is not None
            # Pending with its removal phase confirmed and no intent: replayed after DTS refused
            # its addition phase; its removal stays carried out (not `remove-not-listed`).
            replayed = r.state == ChangeState.PENDING and r.removal_intent is None and removal_phase_done(r)
            landed = intended and r.removal_intent == current_digest
            if landed and not self.dry_run:
                r = self._record_landed_removal(r, remove)
                group[index] = r
            carried_out = removal_confirmed(r) or replayed or landed
            if carried_out:
                specs = without_cancelled_additions(current, remove, specs)
                remove = removals_left_to_fold(current, remove, specs)
            # With a removal intent but another list now (a write whose answer was lost, then
            # other writes): every name was listed when the intent was noted, so a name missing
            # now is gone (by that write or another) and one still listed is removed as asked.
            # Never `remove-not-listed`, never a listed name kept while the change counts applied.
            specs.append(ChangeSpec(r.key, spec.add, remove, spec.on_conflict, spec.target_names,
                                    removals_carried_out=carried_out or intended))
        by_id = {r.key: r for r in group}
        self.group = tuple(group)
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
            accepted = [by_id[o.change_id] for o in result.outcomes if o.status in ("applied", "no_op")]
            if not self.dry_run and len(accepted) > 1:
                # They close one write each: a failure between two would leave a later removal to
                # be folded alone after the addition it undoes closed, and refused as
                # `remove-not-listed` with that addition applied and its object never listed.
                # Noted first, the list read counts as the removals' own effect when it is.
                accepted = self._note_removal_intent(accepted, current)
            for r in accepted:
                self._mark_no_op(r)
            self.report.action = "no-op" if accepted else "nothing-to-do"
            return self.report
        phase, listed = phases[0]
        removing = {s.change_id for s in included_specs if s.remove}
        # A no-op is applied now only if it is one on the list read (alone): one that is a no-op
        # because an earlier change of this fold adds its object depends on that change landing.
        # It rides the addition phase (confirmed like the others) or waits for the next pass.
        spec_of = {s.change_id: s for s in included_specs}
        riding = {o.change_id for o in no_ops if not _no_op_alone(current, spec_of[o.change_id])}
        if phase == "removal":
            included = [by_id[o.change_id] for o in applied if o.change_id in removing]
            # A change whose removal is already confirmed is folded again only to keep ledger
            # order; it waits for the addition phase instead of riding a second removal.
            again = [r for r in included if removal_confirmed(r)]
            if len(again) < len(included):
                again_keys = {r.key for r in again}
                included = [r for r in included if r.key not in again_keys]
        else:
            included = [by_id[o.change_id] for o in result.outcomes
                        if o.status == "applied" or o.change_id in riding]
        for o in no_ops:
            if o.change_id in riding or (phase == "removal" and o.change_id in removing):
                continue
            self._mark_no_op(by_id[o.change_id])
        included_keys = {r.key for r in included}
        waiting = [by_id[o.change_id] for o in result.outcomes
                   if (o.status == "applied" or o.change_id in riding) and o.change_id not in included_keys]
        for r in waiting:
            self._set(r, "pending")
        return self.submit_phase(phase, listed, current, included, result)

    def _record_landed_removal(self, record: ChangeRecord, remove: tuple[ObjectRef, ...]) -> ChangeRecord:
        """The job lists what the write noted in the change's removal intent: its removals are
        carried out. Recorded as a confirmed removal phase, so that a later pass, after other
        writes changed the list, does not take a name a later change listed again for one still to
        remove (fault seed 99 under load: shop.orders removed after its re-addition landed)."""
        landed = {
            "phase": "removal",
            "client_token": None,
            "request_id": None,
            "at": self.ctx.clock(),
            "confirmed": True,
            "evidence": {"removalIntentListed": record.removal_intent},
            "expect": {"absent": [[ref.db, ref.table] for ref in remove], "present": []},
        }
        return self.ctx.ledger.transition(record, ChangeState.REMOVAL_SUBMITTED,
                                          submissions=[*record.submissions, landed], removal_intent=None)

    def _mark_no_op(self, record: ChangeRecord) -> None:
        if not self.dry_run:
            self.ctx.ledger.transition(record, ChangeState.APPLIED, evidence={"noOp": True})
            self.ctx.metrics.incr("changes_applied")
        self._set(record, "no_op")


def _no_op_alone(current: DbList, spec: ChangeSpec) -> bool:
    """Whether the change leaves the list read as it is by itself (no earlier change needed)."""
    outcomes = fold_changes(current, [spec]).outcomes
    return bool(outcomes) and outcomes[0].status == "no_op"
