"""`make bench` only reports; tracked result files change only when asked (`make bench RECORD=1`)."""

from __future__ import annotations

import subprocess

from bench import run_all
from bench.burst import parse_args

from tests.conftest import REPO_ROOT


def test_burst_writes_its_tracked_files_only_with_record():
    _, plain = parse_args([])
    _, recorded = parse_args(["--record"])
    assert plain.record is False
    assert recorded.record is True


def test_make_bench_passes_record_only_when_record_is_set():
    dry = subprocess.run(["make", "-n", "bench"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    recorded = subprocess.run(
        ["make", "-n", "bench", "RECORD=1"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert "bench/run_all.py" in dry.stdout and "--record" not in dry.stdout
    assert "bench/run_all.py --record" in recorded.stdout


def test_run_all_forwards_record_to_the_publishing_benchmarks(monkeypatch):
    seen: list[list[str]] = []

    class Done:
        returncode = 0

    def fake_run(argv, check):
        seen.append(list(argv))
        return Done()

    monkeypatch.setattr(run_all.subprocess, "run", fake_run)
    assert run_all.main([]) == 0
    assert not any("--record" in argv for argv in seen)
    seen.clear()
    assert run_all.main(["--record"]) == 0
    assert [argv[1].rsplit("/", 1)[-1] for argv in seen if "--record" in argv] == ["burst.py"]
