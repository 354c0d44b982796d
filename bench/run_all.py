"""`make bench`: run every benchmark in its own process and report each verdict.

`--record` (`make bench RECORD=1`) lets the benchmarks that publish results rewrite their tracked
files (docs/burst.svg, docs/performance.md); without it nothing in the repository changes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["dblist_merge.py", "cold_import.py", "packaged_cold_start.py", "burst.py", "sql_dump.py", "timing_backlog.py"]


RECORDING = {"burst.py"}
WRITES_UNLESS_TOLD = {"timing_backlog.py"}
"""Benchmarks that rewrite their docs section when run with their defaults: told not to here."""


def main(argv: list[str] | None = None) -> int:
    record = "--record" in (sys.argv[1:] if argv is None else argv)
    failed = []
    for name in BENCHES:
        path = HERE / name
        if not path.exists():
            print(f"-- {name}: not present, skipped")
            continue
        print(f"\n-- running bench/{name}", flush=True)
        extra = ["--record"] if record and name in RECORDING else []
        if name in WRITES_UNLESS_TOLD and not record:
            extra = ["--no-write"]
        rc = subprocess.run([sys.executable, str(path), *extra], check=False).returncode
        if rc != 0:
            failed.append(name)
    print(f"\nbenchmarks over target: {', '.join(failed) if failed else 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
