"""The outcome of an invocation: each change's result, from its pass and the ledger's last word.
"""

from __future__ import annotations

from ..core.observe import Metrics
from ..reconcile.context import PassReport
from ..state.ledger import Ledger
from ..state.records import ChangeState
from .record import ChangeResult

_STATE_OUTCOMES = {
    ChangeState.PENDING: "pending",
    ChangeState.REMOVAL_SUBMITTED: "submitted",
    ChangeState.SUBMITTED: "submitted",
    ChangeState.APPLIED: "applied",
    ChangeState.DEAD_LETTERED: "dead_lettered",
}


_SETTLED_BY_PASS = frozenset({"submitted", "applied", "no_op"})
"""Pass outcomes that say what the pass itself did with the change: it has its own diff, and
the ledger has nothing to add."""


class OutcomeStep:
    """Turns the passes' reports into each change's result (`App` is one)."""

    ledger: Ledger

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
                if own is not None and outcome in _SETTLED_BY_PASS:
                    # This change's own diff: the pass's covers every change folded with it.
                    result.diff = {k: len(own.get(k, [])) for k in ("added", "removed", "changed")}
                    result.details["objects"] = {k: own[k] for k in ("added", "removed", "changed") if own.get(k)}
                if outcome in _SETTLED_BY_PASS and not any(result.key in r.dead_letter_ids for r in reports):
                    # The pass wrote this change's last state itself, under the job's lease: reading
                    # it back would only cost a round trip on every event (issue 14).
                    continue
            record = result.closed if result.outcome == "duplicate" else None
            if record is None:
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
