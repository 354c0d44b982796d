"""The burst benchmark's machinery on a small burst: concurrent handler processes coalesce, lose nothing.

Same code as `bench/burst.py` (emulator process, spawned worker processes sharing one ledger,
timer passes, measurements from the emulator's call log), sized to run in a few seconds.
"""

from __future__ import annotations

import math
from pathlib import Path
from xml.etree import ElementTree

import pytest
from bench.burst import BurstConfig, objects_of, presence_times, run_burst
from bench.burst_report import SECTION_HEADING, render_svg, replace_section

EVENTS = 30


@pytest.fixture(scope="module")
def small_burst(tmp_path_factory: pytest.TempPathFactory):
    cfg = BurstConfig(
        events=EVENTS,
        modify_seconds=0.2,
        interval=0.3,
        workers=2,
        baseline_events=6,
        baseline_workers=2,
        poll_seconds=0.03,
        max_seconds=30.0,
        workdir=tmp_path_factory.mktemp("burst"),
    )
    result = run_burst(cfg)
    return cfg, result.ours, result.naive, result.checks


def test_burst_small_every_change_applied_nothing_lost(small_burst):
    _cfg, ours, _naive, _checks = small_burst
    assert not ours.timed_out
    assert ours.applied == EVENTS
    assert ours.lost == []
    assert ours.missing_additions == []
    assert ours.dead_lettered == 0
    assert not any(o.startswith("raised:") for o in ours.outcomes)


def test_burst_small_coalesces_into_few_modifications(small_burst):
    # 30 events from 2 processes while each modification keeps the job busy for 0.2 s
    _cfg, ours, _naive, _checks = small_burst
    assert 1 <= ours.modify_accepted <= 5
    assert ours.modify_attempted == ours.modify_accepted  # never sent while the job was busy
    assert ours.outcomes.get("pending", 0) > EVENTS // 2  # most events were recorded and left to a pass


def test_burst_small_timeline_and_wall_time_are_measured(small_burst):
    _cfg, ours, _naive, _checks = small_burst
    assert len(ours.timeline) == EVENTS
    assert ours.timeline == sorted(ours.timeline)
    assert math.isfinite(ours.wall_seconds) and ours.wall_seconds == ours.timeline[-1]
    assert 0 < ours.in_list_seconds <= ours.wall_seconds


def test_burst_small_naive_baseline_modifies_once_per_event(small_burst):
    _cfg, _ours, naive, _checks = small_burst
    assert naive is not None
    assert naive.applied == naive.events == 6
    assert naive.modify_accepted == 6
    assert naive.modify_attempted >= naive.modify_accepted
    assert naive.lost == []


def test_burst_small_verdicts_name_every_target(small_burst):
    _cfg, _ours, _naive, checks = small_burst
    names = [v.name for v in checks]
    assert names[:4] == [
        "objects lost",
        "changes applied",
        "accepted ModifyDtsJob calls",
        "wall time until all applied",
    ]
    by_name = {v.name: v for v in checks}
    assert by_name["objects lost"].ok and by_name["changes applied"].ok


def test_presence_times_an_object_counts_from_the_last_modification_that_brought_it_back():
    calls = [
        {"seq": 1, "action": "ModifyDtsJob", "outcome": "ok", "time": 10.0, "dbList": {"a": {"Table": {"t": {}}}}},
        {"seq": 2, "action": "ModifyDtsJob", "outcome": "OperationDenied.JobStatusModifying", "time": 10.5,
         "dbList": {"a": {"Table": {"t": {}, "u": {}}}}},
        {"seq": 3, "action": "ModifyDtsJob", "outcome": "ok", "time": 11.0, "dbList": {"a": {"Table": {}}}},
        {"seq": 4, "action": "ModifyDtsJob", "outcome": "ok", "time": 12.0, "dbList": {"a": {"Table": {"t": {}}}}},
    ]
    since = presence_times(calls, modify_seconds=0.5)
    assert since["a.t"] == 12.5  # removed by seq 3, back with seq 4; the refused call counts for nothing
    assert "a.u" not in since
    assert objects_of({"a": {"Table": {"t": {}}}, "b": {"all": True}}) == {"a", "a.t", "b"}


def test_replace_section_keeps_other_sections(tmp_path: Path):
    doc = "# Performance\n\n## Other\n\nkept\n\n" + SECTION_HEADING + "\n\nold\n\n## Later\n\nalso kept\n"
    out = replace_section(doc, SECTION_HEADING + "\n\nnew\n")
    assert "old" not in out and "new" in out
    assert out.index("## Other") < out.index(SECTION_HEADING) < out.index("## Later")
    assert "kept" in out and "also kept" in out
    appended = replace_section("# Performance\n", SECTION_HEADING + "\n\nfirst\n")
    assert appended.endswith(SECTION_HEADING + "\n\nfirst\n")


def test_render_svg_draws_both_handlers(small_burst):
    cfg, ours, naive, _checks = small_burst
    svg = render_svg(cfg, ours, naive)
    root = ElementTree.fromstring(svg)  # well-formed
    lines = [e for e in root.iter() if e.tag.endswith("polyline")]
    strokes = [e.get("stroke") for e in lines]
    assert strokes.count("#16c") == 2  # ours, in the main plot and in the inset
    assert strokes.count("#c33") >= 3  # the baseline measured (twice) and extrapolated
    assert all(e.get("points") for e in lines)
    assert "ours:" in svg and "naive baseline" in svg
