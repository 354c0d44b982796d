"""Seeded randomised runs under faults and concurrency: nothing lost, every change accounted for.

A handful of seeds run in CI; set DTS_CHANGE_RELIABILITY_SEEDS ("1-200" or "3,7,11") for more.
Each run: 16-24 changes (additions, removals, both, conflicts, replacements, whole databases)
delivered out of order with duplicates by three concurrent instances (separate `App`s sharing the
ledger), plus a removal and an addition of one table racing, against the emulator over loopback
with throttling, 5xx, connection resets (before and after the write), latency spikes, token
expiry and OSS read failures on a share of calls, and a job whose modification takes time.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from dts_change.core.dblist import DbList
from tests.functional.reliability.checks import (
    RunFacts,
    carried_out,
    double_submissions,
    expected_db_list,
    expected_reserved,
    fault_counts,
    lost_objects,
    noted_tokens,
    parse_seeds,
    repeated_removals,
    unnoted_calls,
    unsettled_changes,
)
from tests.functional.reliability.scenario import CONTENT_CODES, run_scenario
from tests.harness import JOB

DEFAULT_SEEDS = "1-4"
TOTALS = RunFacts()


SEEDS = parse_seeds(os.environ.get("DTS_CHANGE_RELIABILITY_SEEDS") or DEFAULT_SEEDS)


def test_parse_seeds_ranges_and_lists_expand_in_order() -> None:
    assert parse_seeds("1-3, 7") == [1, 2, 3, 7]


@pytest.mark.parametrize("seed", SEEDS)
def test_randomised_faults_seeded_run_settles_without_loss(seed: int, tmp_path: Path) -> None:
    # GIVEN / WHEN one seeded run of changes, duplicates, races and faults, settled
    run = run_scenario(seed, tmp_path)
    deploy = run.deploy
    try:
        records = deploy.app.ledger.all_records()
        letters = {d.key: (d.error or {}).get("code") for d in deploy.dead_letters()}
        calls = deploy.server.calls()
        modifies = carried_out(calls)
        final = deploy.db_list()
        # THEN nothing unexpected escaped the handler
        assert run.unexpected == [], f"seed {seed}"
        # AND every change reached the ledger and is applied or dead-lettered with its code
        assert {r.change_id for r in records} == set(run.change_ids), f"seed {seed}"
        assert unsettled_changes(records, letters) == [], f"seed {seed}"
        # AND only the change's own content explains a dead letter, never a fault
        fault_letters = [f"{r.change_id}: {(r.last_error or {}).get('code')}" for r in records
                         if r.state.value == "dead_lettered" and (r.last_error or {}).get("code") not in CONTENT_CODES]
        assert fault_letters == [], f"seed {seed}"
        # AND the final list is the initial one folded with the applied changes in ledger order
        expected, rejected = expected_db_list(run.initial, records)
        assert rejected == [], f"seed {seed}"
        assert DbList.from_user(final) == expected, f"seed {seed}"
        reserved = deploy.server.get_state()["jobs"][JOB]["reserved"]
        assert reserved == expected_reserved(run.initial_reserved, records), f"seed {seed}"
        # AND no object nobody removed went missing at any step of the job's history
        lost = lost_objects(run.initial, modifies, final, records)
        assert lost == [], f"seed {seed}"
        # AND nothing was removed more often than changes asked (no change applied twice)
        assert repeated_removals(run.initial, modifies, final, records) == [], f"seed {seed}"
        # AND no change rode in two accepted submissions of the same phase
        # (a ledger write that fails after the call is covered by the note written before it)
        noted = noted_tokens(deploy.app.ledger, records)
        assert double_submissions(records, modifies, noted=noted) == [], f"seed {seed}"
        # AND every write DTS carried out was named by a write-ahead note before it was sent
        assert unnoted_calls(noted, modifies) == [], f"seed {seed}"
        facts = RunFacts(
            runs=1,
            changes=len(records),
            deliveries=run.deliveries,
            duplicates=run.duplicates,
            applied=sum(r.state.value == "applied" for r in records),
            dead_lettered=sum(r.state.value == "dead_lettered" for r in records),
            modify_accepted=len(modifies),
            modify_attempted=sum(c.get("action") == "ModifyDtsJob" for c in calls),
            faults=fault_counts(calls, run.fault_kinds),
            dead_letter_codes=dict(Counter(str((r.last_error or {}).get("code")) for r in records
                                           if r.state.value == "dead_lettered")),
            objects_lost=len(lost),
        )
        TOTALS.add(facts)
        print(f"seed {seed}: {facts} in {run.elapsed:.2f}s")
    finally:
        deploy.stop()


def test_randomised_faults_totals_are_reported(capsys: pytest.CaptureFixture[str]) -> None:
    """Runs last in this module: prints the totals quoted in docs/reliability.md."""
    if TOTALS.runs == 0:
        pytest.skip("no randomised run in this session (selected alone)")
    with capsys.disabled():
        print(f"\nrandomised fault runs: {TOTALS}")
    assert TOTALS.objects_lost == 0
