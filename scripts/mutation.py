"""Mutation testing of the modules that decide what is sent to DTS (`make mutation`, `make mutation-ci`).

Runs mutmut (pinned in pyproject's dev extras) over the modules listed in `[tool.mutmut] only_mutate`
(add a module there to cover it), against the tests in `pytest_add_cli_args_test_selection`, then
prints the score per module and every mutant no test noticed. A module under `--min-score` makes the
command fail.

`--sample` runs a fixed part only — the mutants whose number ends in 0 or 5, about one in five,
spread over every function — so CI can afford it on each submission and a falling score shows.
Mutants are always regenerated from scratch (the `mutants/` folder is a cache of the last run).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTMUT = [sys.executable, "-m", "mutmut"]
SAMPLE_PATTERN = "*__mutmut_*[05]"
KILLED = ("killed", "timeout")  # a timeout is a change the tests noticed (they hung on it)


def modules_from_config() -> list[str]:
    """`src/dts_change/core/merge.py` -> `dts_change.core.merge`, from pyproject's only_mutate."""
    text = (ROOT / "pyproject.toml").read_text("utf-8")
    match = re.search(r"^only_mutate\s*=\s*\[(.*?)\]", text, re.MULTILINE | re.DOTALL)
    if match is None:
        raise SystemExit("pyproject.toml: [tool.mutmut] only_mutate is missing")
    paths = re.findall(r'"([^"]+)"', match.group(1))
    return [p.removeprefix("src/").removesuffix(".py").replace("/", ".") for p in paths]


def module_of(mutant: str, modules: list[str]) -> str | None:
    for module in modules:
        if mutant.startswith(module + "."):
            return module
    return None


def read_results() -> dict[str, str]:
    out = subprocess.run(  # noqa: S603 - a fixed command
        [*MUTMUT, "results", "--all", "true"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    results = {}
    for line in out.stdout.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            results[name] = status
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", action="store_true", help="only the fixed sample (CI)")
    parser.add_argument("--min-score", type=float, default=0.0, help="fail when a module scores lower (percent)")
    parser.add_argument("--examples", default="20", help="Hypothesis examples per property during the run")
    parser.add_argument("--jobs", default=str(os.cpu_count() or 1), help="mutants tested in parallel")
    parser.add_argument("--show", action="store_true", help="print the diff of every surviving mutant")
    args = parser.parse_args(argv)

    modules = modules_from_config()
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    env = {**os.environ, "DTS_CHANGE_FUZZ_EXAMPLES": args.examples}
    patterns = [SAMPLE_PATTERN] if args.sample else []
    started = time.monotonic()
    command = [*MUTMUT, "run", "--max-children", args.jobs, *patterns]
    run = subprocess.run(  # noqa: S603 - a fixed command; the patterns are ours
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False
    )
    elapsed = time.monotonic() - started
    if run.returncode != 0:
        sys.stderr.write(run.stderr[-4000:])
        print(f"mutmut run failed (exit {run.returncode})")
        return 2

    results = {n: s for n, s in read_results().items() if not args.sample or fnmatch.fnmatch(n, SAMPLE_PATTERN)}
    failed = False
    survivors: list[str] = []
    print(f"mutation testing ({'sample ' + SAMPLE_PATTERN if args.sample else 'all mutants'}), {elapsed:.0f} s")
    for module in modules:
        mine = {n: s for n, s in results.items() if module_of(n, modules) == module}
        if not mine:
            print(f"  {module}: no mutants (module missing?)")
            continue
        counts = Counter(mine.values())
        killed = sum(counts[s] for s in KILLED)
        score = 100.0 * killed / len(mine)
        detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        print(f"  {module}: {score:.1f} % ({killed}/{len(mine)} killed; {detail})")
        failed = failed or score < args.min_score
        survivors.extend(sorted(n for n, s in mine.items() if s not in KILLED))
    if survivors:
        print(f"not killed ({len(survivors)}; explained in docs/testing.md when they cannot be):")
        for name in survivors:
            print(f"  {name}: {results[name]}")
            if args.show:
                diff = subprocess.run(  # noqa: S603 - a fixed command
                    [*MUTMUT, "show", name], cwd=ROOT, capture_output=True, text=True, check=False
                )
                print("    " + diff.stdout.strip().replace("\n", "\n    "))
    if failed:
        print(f"FAILED: a module scores under {args.min_score} %")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
