"""`dts-change status`: per job and direction, is everything settled, and if not, what waits.

Built from the ledger (open changes, submissions), the dead letters and one DescribeDtsJobDetail
per job; nothing is written. `settled` is what a monitor checks: no dead letter waiting, no change
pending longer than the threshold, and the job could be read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..core.change import JobTarget
from ..core.errors import DtsChangeError
from ..state.deadletter import UNROUTED, DeadLetterRecord
from ..state.records import OPEN_STATES, ChangeRecord, ChangeState
from .cli_text import age, stamp

DescribeJob = Callable[[JobTarget], str]
"""Returns the job's DTS status (raises DtsChangeError when it cannot be read)."""


def _target(records: list[ChangeRecord], job: str, default: JobTarget | None) -> JobTarget | None:
    for record in records:
        raw = record.change.get("job")
        if isinstance(raw, dict):
            return JobTarget.from_dict(raw)
    if default is not None and default.key == job:
        return default
    return None


def _last_modification(records: Iterable[ChangeRecord]) -> dict[str, Any] | None:
    latest: tuple[float, dict[str, Any], ChangeRecord] | None = None
    for record in records:
        for submission in record.submissions:
            if not submission.get("client_token"):
                # Not a call: a removal recorded from its listed intent (`removalIntentListed`),
                # noted by the pass that saw it, after the write whose answer was lost.
                continue
            at = float(submission.get("at") or 0)
            if latest is None or at >= latest[0]:
                latest = (at, submission, record)
    if latest is None:
        return None
    at, submission, record = latest
    if submission.get("confirmed"):
        outcome = "confirmed"
    elif record.state == ChangeState.DEAD_LETTERED:
        outcome = "dead_lettered"
    elif record.state == ChangeState.APPLIED:
        outcome = "applied"
    else:
        outcome = "awaiting confirmation"
    return {
        "at": stamp(at),
        "phase": submission.get("phase"),
        "client_token": submission.get("client_token"),
        "request_id": submission.get("request_id"),
        "change_id": record.change_id,
        "outcome": outcome,
    }


def collect_status(
    records: list[ChangeRecord],
    dead_letters: list[DeadLetterRecord],
    describe: DescribeJob,
    *,
    now: float,
    max_pending_age: float,
    default_job: JobTarget | None = None,
    only: str | None = None,
) -> dict[str, Any]:
    """The status of every job the ledger, the dead letters or the settings know (or only `only`:
    a job key `<job>/<direction>` or a bare job id)."""
    by_job: dict[str, list[ChangeRecord]] = {}
    for record in records:
        by_job.setdefault(record.job_key, []).append(record)
    jobs = set(by_job) | {d.job_key for d in dead_letters if d.job_key and d.job_key != UNROUTED}
    if default_job is not None:
        jobs.add(default_job.key)
    if only:
        jobs = {j for j in jobs if j == only or j.split("/", 1)[0] == only}
        if not jobs:
            jobs = {only if "/" in only else f"{only}/Forward"}
    views = []
    for job in sorted(jobs):
        views.append(
            _job_view(job, by_job.get(job, []), [d for d in dead_letters if d.job_key == job], describe,
                      now=now, max_pending_age=max_pending_age, default_job=default_job)
        )
    unrouted = [d for d in dead_letters if d.job_key in (UNROUTED, "")] if not only else []
    attention = sum(1 for v in views if not v["settled"]) + (1 if unrouted else 0)
    return {
        "settled": attention == 0,
        "max_pending_age_seconds": max_pending_age,
        "jobs": views,
        "unrouted_dead_letters": [_letter(d) for d in unrouted],
    }


def _job_view(
    job: str, records: list[ChangeRecord], letters: list[DeadLetterRecord], describe: DescribeJob, *,
    now: float, max_pending_age: float, default_job: JobTarget | None,
) -> dict[str, Any]:
    target = _target(records, job, default_job)
    dts_status: str | None = None
    dts_error: dict[str, Any] | None = None
    if target is None:
        dts_error = {"code": "unknown-job", "message": f"no job id known for {job}"}
    else:
        try:
            dts_status = describe(target)
        except DtsChangeError as exc:
            dts_error = {"code": exc.code, "message": exc.message}
    open_changes = []
    overdue = 0
    for record in sorted((r for r in records if r.state in OPEN_STATES), key=lambda r: r.seq):
        since = record.pending_since or record.created_at
        waited = max(0.0, now - since)
        late = waited > max_pending_age
        overdue += late
        open_changes.append({
            "change_id": record.change_id,
            "key": record.key,
            "state": record.state.value,
            "since": stamp(since),
            "age_seconds": round(waited, 1),
            "overdue": late,
            "last_error": (record.last_error or {}).get("code"),
        })
    return {
        "job": job,
        "dts_status": dts_status,
        "dts_error": dts_error,
        "open_changes": open_changes,
        "last_modification": _last_modification(records),
        "dead_letters": [_letter(d) for d in letters],
        "settled": not letters and not overdue and dts_error is None,
    }


def _letter(record: DeadLetterRecord) -> dict[str, Any]:
    return {
        "dead_letter_id": record.dl_id,
        "change_id": record.change_id,
        "code": record.error.get("code"),
        "dead_lettered_at": stamp(record.dead_lettered_at),
    }


def render_status(view: dict[str, Any], *, now: float) -> list[str]:
    """The human form: one block per job, then one verdict line."""
    lines: list[str] = []
    for job in view["jobs"]:
        status = job["dts_status"] or f"unreadable ({job['dts_error']['code']}: {job['dts_error']['message']})"
        lines.append(f"job {job['job']}: DTS status {status}")
        if job["open_changes"]:
            lines.append(f"  open changes: {len(job['open_changes'])}")
            for change in job["open_changes"]:
                late = " (over the threshold)" if change["overdue"] else ""
                error = f", last error {change['last_error']}" if change["last_error"] else ""
                lines.append(f"    {change['change_id']} ({change['key'][:12]}): {change['state']} for "
                             f"{age(change['age_seconds'])}{late}{error}")
        else:
            lines.append("  open changes: none")
        last = job["last_modification"]
        if last:
            lines.append(f"  last modification: {last['at']} {last['phase']} phase of {last['change_id']}: "
                         f"{last['outcome']}")
            lines.append(f"    ClientToken {last['client_token']}, DTS request id {last['request_id']}")
        else:
            lines.append("  last modification: none")
        if job["dead_letters"]:
            lines.append(f"  dead letters waiting: {len(job['dead_letters'])}")
            lines.extend(f"    {d['dead_letter_id']}  {d['change_id']}  {d['code']}" for d in job["dead_letters"])
        else:
            lines.append("  dead letters waiting: none")
    if view["unrouted_dead_letters"]:
        lines.append(f"input that reached no job, dead-lettered: {len(view['unrouted_dead_letters'])}")
        lines.extend(f"    {d['dead_letter_id']}  {d['code']}" for d in view["unrouted_dead_letters"])
    if not view["jobs"] and not view["unrouted_dead_letters"]:
        lines.append("no job known yet (no change recorded, no DTS_JOB_ID)")
    lines.append("settled" if view["settled"] else
                 "needs attention: see the dead letters (`dts-change dlq list`) or the changes waiting")
    return lines
