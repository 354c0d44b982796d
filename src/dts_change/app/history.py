"""`dts-change history JOB`: the audit trail of a job's changes, newest first, from the ledger.

Each entry says where the change came from, what it asked, when it was recorded, submitted and
applied or dead-lettered, what it added and removed, and the ClientToken and DTS request ids that
match DTS's own records. Read-only; the ledger keeps closed changes for
DTS_CHANGE_RETENTION_SECONDS, so the trail reaches back that far.
"""

from __future__ import annotations

from typing import Any

from ..core.dblist import ObjectRef
from ..reconcile.context import absent_names
from ..state.deadletter import DeadLetterRecord
from ..state.records import ChangeRecord, ChangeState
from .cli_text import human_list, refs_of_dblist, refs_of_pairs, stamp

_SOURCE_FIELDS = ("bucket", "key", "message_id", "topic", "queue", "event_id", "file_oss_url")


def _touches(refs: list[ObjectRef], wanted: ObjectRef) -> bool:
    """A change touches `shop.orders` when it names it, or names its whole database `shop`;
    it touches `shop` when it names `shop` or any table in it."""
    for ref in refs:
        if ref.db != wanted.db:
            continue
        if wanted.table is None or ref.table is None or ref.table == wanted.table:
            return True
    return False


def history_entry(record: ChangeRecord) -> dict[str, Any]:
    change = record.change
    raw_source = change.get("source")
    source: dict[str, Any] = raw_source if isinstance(raw_source, dict) else {}
    asked_add = [str(r) for r in refs_of_dblist(change.get("add"))]
    asked_remove = [str(r) for r in refs_of_pairs(change.get("remove"))]
    added: list[str] = []
    removed: list[str] = []
    calls = [s for s in record.submissions if s.get("client_token")]
    for submission in record.submissions:
        raw_diff = submission.get("diff")
        diff: dict[str, Any] = raw_diff if isinstance(raw_diff, dict) else {}
        added += [a for a in diff.get("added", []) if a not in added]
        removed += [r for r in diff.get("removed", []) if r not in removed]
        if not submission.get("client_token"):
            # A removal recorded from its listed intent (`removalIntentListed`) after a call whose
            # answer was lost: the names it took out, with no call of its own to date it by.
            removed += [r for r in absent_names(submission) if r not in removed]
    closed_at = record.updated_at if record.state in (ChangeState.APPLIED, ChangeState.DEAD_LETTERED) else None
    return {
        "change_id": record.change_id,
        "key": record.key,
        "state": record.state.value,
        "source": {"trigger": source.get("kind"), **{k: source[k] for k in _SOURCE_FIELDS if source.get(k)}},
        "correlation_id": change.get("correlationId"),
        "asked": {"add": asked_add, "remove": asked_remove},
        "recorded_at": stamp(record.created_at),
        "submitted_at": [stamp(s.get("at")) for s in calls if s.get("at")],
        "applied_at": stamp(closed_at) if record.state == ChangeState.APPLIED else None,
        "dead_lettered_at": stamp(closed_at) if record.state == ChangeState.DEAD_LETTERED else None,
        "objects_added": added,
        "objects_removed": removed,
        "no_op": bool((record.evidence or {}).get("noOp")) if isinstance(record.evidence, dict) else False,
        "client_tokens": [s["client_token"] for s in calls],
        "request_ids": [s["request_id"] for s in record.submissions if s.get("request_id")],
        "error": (record.last_error or {}).get("code") if record.state == ChangeState.DEAD_LETTERED else None,
        "replays": record.replays,
        "_times": (record.created_at, record.updated_at),
        "_refs": [*refs_of_dblist(change.get("add")), *refs_of_pairs(change.get("remove"))],
    }


def collect_history(
    records: list[ChangeRecord], job: str, *, since: float | None = None, until: float | None = None,
    touching: ObjectRef | None = None, letters: list[DeadLetterRecord] | None = None,
) -> list[dict[str, Any]]:
    """Entries of `job` (a job key or a bare job id), newest first, filtered by time and object.

    `letters` (active and replayed dead letters) add each change's earlier dead-letterings: the
    ledger's latest version of a replayed change no longer says it was dead-lettered."""
    by_key: dict[str, list[DeadLetterRecord]] = {}
    for letter in letters or []:
        by_key.setdefault(letter.key, []).append(letter)
    out = []
    for record in records:
        if not _names_job(record, job):
            continue
        entry = history_entry(record)
        entry["dead_letters"] = [
            {"dead_letter_id": d.dl_id, "at": stamp(d.dead_lettered_at), "code": d.error.get("code"),
             "request_ids": list(d.request_ids), "replayed_at": stamp(d.replayed_at)}
            for d in sorted(by_key.get(record.key, []), key=lambda d: d.dead_lettered_at)
        ]
        first, last = entry.pop("_times")
        refs = entry.pop("_refs")
        if since is not None and last < since:
            continue
        if until is not None and first > until:
            continue
        if touching is not None and not _touches(refs, touching):
            continue
        entry["_sort"] = first
        out.append(entry)
    out.sort(key=lambda e: e.pop("_sort"), reverse=True)
    return out


def render_history(entries: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for e in entries:
        lines.append(f"{e['recorded_at']}  {e['change_id']} ({e['key'][:12]}): {e['state']}"
                     + (" (no change needed)" if e["no_op"] else ""))
        source = e["source"]
        where = human_list(f"{k} {v}" for k, v in source.items() if k != "trigger")
        lines.append(f"  source: {source.get('trigger') or 'unknown'}"
                     + (f" ({where})" if where != "none" else "")
                     + (f", correlation id {e['correlation_id']}" if e["correlation_id"] else ""))
        lines.append(f"  asked: add {human_list(e['asked']['add'])}; remove {human_list(e['asked']['remove'])}")
        if e["submitted_at"]:
            lines.append(f"  submitted: {human_list(e['submitted_at'])}")
        if e["applied_at"]:
            lines.append(f"  applied: {e['applied_at']}")
        for d in e.get("dead_letters", []):
            replayed = f", replayed {d['replayed_at']}" if d["replayed_at"] else ""
            lines.append(f"  dead-lettered: {d['at']} ({d['code']}{replayed}) {d['dead_letter_id']}")
        if e["dead_lettered_at"] and not e.get("dead_letters"):
            lines.append(f"  dead-lettered: {e['dead_lettered_at']} ({e['error']})")
        if e["objects_added"] or e["objects_removed"]:
            lines.append(f"  added: {human_list(e['objects_added'])}; removed: {human_list(e['objects_removed'])}")
        if e["client_tokens"]:
            lines.append(f"  ClientToken: {human_list(e['client_tokens'])}")
            lines.append(f"  DTS request ids: {human_list(e['request_ids'])}")
    if not entries:
        lines.append("no change matches")
    return lines


def _names_job(record: ChangeRecord, job: str) -> bool:
    """`job` is the record's job key, its bare job id, or the instance id the change named (the
    key is the job id since instance ids are resolved before recording)."""
    if record.job_key == job or record.job_key.split("/", 1)[0] == job:
        return True
    bare, _, direction = job.partition("/")
    named = record.change.get("job")
    instance = named.get("dtsInstanceId") if isinstance(named, dict) else None
    return bool(instance) and instance == bare and (not direction or record.job_key.endswith(f"/{direction}"))
