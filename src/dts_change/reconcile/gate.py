"""The status gate: whether ModifyDtsJob may be called now, and the maximum age no open change
outlives whatever DTS answers.
"""

from __future__ import annotations

from typing import Any, Literal

from ..clients.dts_models import JobDetail, SubSyncJob
from ..core.errors import (
    MaxAgeExceededError,
)
from ..core.values import immutable
from ..state.records import ChangeRecord
from .context import PassBase

FAILED_SUB_JOB_STATUSES = frozenset({"precheckfailed", "failed", "initializefailed", "migrationfailed"})


FINISHED_SUB_JOB_STATUSES = frozenset({"finished"})


@immutable
class Verdict:
    """Whether the job may be modified now, and why not."""

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


class GateStep(PassBase):
    """The maximum age, checked at the gate of every pass."""

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
