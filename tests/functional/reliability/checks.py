"""What must hold after a run settles, computed from the ledger and the emulator's call log.

Shared by the randomised fault runs and the crash/restart runs. Every check returns a list of
problems (empty when the guarantee holds), so one failing run reports everything it broke.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from dts_change.core.change import ChangeRequest
from dts_change.core.dblist import DbList, ObjectRef
from dts_change.core.merge import fold_changes
from dts_change.state.ledger import Ledger
from dts_change.state.records import ChangeRecord, ChangeState

CLOSED = (ChangeState.APPLIED, ChangeState.DEAD_LETTERED)


@dataclass
class ModifyCall:
    """One ModifyDtsJob that DTS actually carried out (its answer may have been lost)."""

    seq: int
    client_token: str | None
    db_list: dict[str, Any] | None
    answer_lost: bool


@dataclass
class RunFacts:
    """Figures of one run, summed over runs for docs/reliability.md."""

    runs: int = 0
    changes: int = 0
    deliveries: int = 0
    duplicates: int = 0
    applied: int = 0
    dead_lettered: int = 0
    modify_accepted: int = 0
    modify_attempted: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    dead_letter_codes: dict[str, int] = field(default_factory=dict)
    objects_lost: int = 0

    def add(self, other: RunFacts) -> None:
        for name in ("runs", "changes", "deliveries", "duplicates", "applied", "dead_lettered", "modify_accepted",
                     "modify_attempted", "objects_lost"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for kind, count in other.faults.items():
            self.faults[kind] = self.faults.get(kind, 0) + count
        for code, count in other.dead_letter_codes.items():
            self.dead_letter_codes[code] = self.dead_letter_codes.get(code, 0) + count


def parse_seeds(text: str) -> list[int]:
    """ "1-5,9" -> [1, 2, 3, 4, 5, 9] (the seed lists of DTS_CHANGE_*_SEEDS)."""
    seeds: list[int] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        seeds.extend(range(int(low), int(high or low) + 1))
    return seeds


def carried_out(calls: Iterable[Mapping[str, Any]]) -> list[ModifyCall]:
    """ModifyDtsJob calls that changed the job: answered ok, or applied and then the answer lost
    (a fault with phase "after"); ClientToken replays (`deduplicated`) are left out."""
    out = []
    for call in calls:
        if call.get("action") != "ModifyDtsJob" or call.get("deduplicated"):
            continue
        fault = call.get("fault") or {}
        lost = fault.get("phase") == "after" and call.get("outcome") in ("connection-reset", fault.get("code"))
        if call.get("outcome") == "ok" or lost:
            out.append(ModifyCall(int(call["seq"]), call.get("clientToken"), call.get("dbList"), lost))
    return sorted(out, key=lambda c: c.seq)


def expected_db_list(initial: Mapping[str, Any], records: Iterable[ChangeRecord]) -> tuple[DbList, list[str]]:
    """The initial list folded with the APPLIED changes in the ledger's own sequence order.

    Also returns the applied changes the oracle itself rejects: the handler applied them, so in
    sequence order they must apply too."""
    applied = sorted((r for r in records if r.state is ChangeState.APPLIED), key=lambda r: r.seq)
    work = DbList.from_user(dict(initial))
    rejected = []
    # One change per fold: each against the list the earlier ones left. (Folded all at once, the
    # shared removal phase of rule 6 would refuse a removal that, in the runs, waited for the
    # additions before it and then applied: a pass-level rule, not a property of ledger order.)
    for r in applied:
        result = fold_changes(work, [ChangeRequest.from_record(r.change).to_change_spec()])
        rejected += [f"{o.change_id}: {o.error.code if o.error else '?'}" for o in result.outcomes
                     if o.status == "rejected"]
        work = result.after
    return work, rejected


def expected_reserved(initial: Mapping[str, Any], records: Iterable[ChangeRecord]) -> dict[str, Any]:
    """The job's Reserved after the APPLIED changes' `reserved` keys, in ledger order."""
    out = dict(initial)
    for record in sorted(records, key=lambda r: r.seq):
        if record.state is ChangeState.APPLIED:
            out.update(record.change.get("reserved") or {})
    return out


def removed_by_anyone(records: Iterable[ChangeRecord]) -> set[ObjectRef]:
    out: set[ObjectRef] = set()
    for record in records:
        out.update(ObjectRef(db, table) for db, table in record.change.get("remove") or [])
    return out


def lost_objects(
    initial: Mapping[str, Any], calls: list[ModifyCall], final: Mapping[str, Any], records: Iterable[ChangeRecord]
) -> list[str]:
    """Objects that disappeared from one list to the next in the job's history though no change
    removed them (DESIGN §1.1), over initial -> every carried-out ModifyDtsJob -> final."""
    removed = removed_by_anyone(records)
    history = [dict(initial)] + [c.db_list for c in calls if c.db_list is not None] + [dict(final)]
    lost: list[str] = []
    for step, (before, after) in enumerate(pairwise(history)):
        prev, nxt = DbList.from_user(before), DbList.from_user(after)
        for ref in sorted(prev.objects()):
            if ref in removed or ObjectRef(ref.db) in removed:
                continue
            entry = prev.databases[ref.db]
            if ref.table is None and not entry.whole and entry.table_map():
                continue  # a database listed table by table goes with its last table; those are checked
            if not nxt.covers(ref):
                lost.append(f"step {step}: {ref}")
    return lost


def repeated_removals(
    initial: Mapping[str, Any], calls: list[ModifyCall], final: Mapping[str, Any], records: Iterable[ChangeRecord]
) -> list[str]:
    """Objects taken out of the job more often than applied changes asked: a change applied twice
    (DTS drops and re-synchronizes a table removed and added again, so this is never harmless)."""
    asked: dict[ObjectRef, int] = {}
    for record in records:
        if record.state is ChangeState.APPLIED:
            for db, table in record.change.get("remove") or []:
                asked[ObjectRef(db, table)] = asked.get(ObjectRef(db, table), 0) + 1
    history = [dict(initial)] + [c.db_list for c in calls if c.db_list is not None] + [dict(final)]
    taken: dict[ObjectRef, int] = {}
    for before, after in pairwise(history):
        prev, nxt = DbList.from_user(before), DbList.from_user(after)
        for ref in prev.objects():
            entry = prev.databases[ref.db]
            if ref.table is None and not entry.whole:
                continue  # goes with its last table
            if not nxt.covers(ref):
                taken[ref] = taken.get(ref, 0) + 1
    problems = []
    for ref, count in sorted(taken.items()):
        allowed = asked.get(ref, 0) + (asked.get(ObjectRef(ref.db), 0) if ref.table is not None else 0)
        if count > allowed:
            problems.append(f"{ref} removed {count} times, asked {allowed}")
    return problems


def unsettled_changes(records: Iterable[ChangeRecord], dead_letter_codes: Mapping[str, str]) -> list[str]:
    """Every change must be applied, or dead-lettered with a code and a dead-letter record."""
    problems = []
    for r in records:
        if r.state not in CLOSED:
            problems.append(f"{r.change_id} is still {r.state.value}")
        elif r.state is ChangeState.DEAD_LETTERED:
            code = (r.last_error or {}).get("code")
            if not code:
                problems.append(f"{r.change_id} dead-lettered without a code")
            elif dead_letter_codes.get(r.key) != code:
                problems.append(f"{r.change_id} dead-lettered ({code}) but its dead-letter record says "
                                f"{dead_letter_codes.get(r.key)!r}")
    return problems


def double_submissions(
    records: Iterable[ChangeRecord], calls: list[ModifyCall], *, crashes: int = 0, noted: Iterable[str] = ()
) -> list[str]:
    """No change is carried by two carried-out ModifyDtsJob calls of the same phase, and every
    answered call is one the ledger knows (its ClientToken is on some change's submissions, or in
    `noted`: the write-ahead notes), except for at most `crashes` calls whose process died before
    it could record them."""
    carried = {c.client_token for c in calls}
    known: set[str] = set(noted)
    problems = []
    for r in records:
        known.update(r.unanswered_tokens)  # sent, answer lost, pass ended: the change keeps them
        per_phase: dict[str, set[str]] = {}
        for s in r.submissions:
            token = s.get("client_token")
            if token:
                known.add(token)
                if token in carried:
                    per_phase.setdefault(str(s.get("phase")), set()).add(token)
        for phase, tokens in per_phase.items():
            if len(tokens) > 1:
                problems.append(f"{r.change_id} was in {len(tokens)} accepted {phase} submissions")
    # Every accepted call, DbList or UPDATE_RESERVED, carries a ClientToken some change recorded.
    unknown = [c.seq for c in calls if not c.answer_lost and c.client_token not in known]
    if len(unknown) > crashes:
        problems.append(f"ModifyDtsJob calls {unknown} were accepted but no change records their ClientToken")
    return problems


def fault_counts(calls: Iterable[Mapping[str, Any]], kinds: Mapping[str, str]) -> dict[str, int]:
    """How often each kind of fault fired, from the call log (`kinds`: fault id -> kind)."""
    counts: dict[str, int] = {}
    for call in calls:
        for fault_id in (call.get("fault") or {}).get("ids") or []:
            kind = kinds.get(fault_id, fault_id)
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def unnoted_calls(noted: set[str], calls: list[ModifyCall]) -> list[int]:
    """Carried-out ModifyDtsJob calls (answered or not) whose ClientToken no write-ahead note
    names (`noted`: `noted_tokens`): the ledger writes the note before every call, so a crash or
    a failed ledger write after the call still leaves it explained. Empty when every write DTS
    received is named."""
    return [c.seq for c in calls if c.client_token not in noted]


def noted_tokens(ledger: Ledger, records: Iterable[ChangeRecord]) -> set[str]:
    """The ClientTokens of every write-ahead note of the jobs `records` belong to."""
    tokens: set[str] = set()
    for job in sorted({r.job_key for r in records}):
        tokens.update(str(n.get("client_token")) for n in ledger.sending_notes(job))
    return tokens
