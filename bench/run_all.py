"""`make bench`: run every benchmark in its own process and report each verdict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["dblist_merge.py", "cold_import.py", "packaged_cold_start.py", "burst.py", "sql_dump.py"]


def main() -> int:
    failed = []
    for name in BENCHES:
        path = HERE / name
        if not path.exists():
            print(f"-- {name}: not present, skipped")
            continue
        print(f"\n-- running bench/{name}", flush=True)
        rc = subprocess.run([sys.executable, str(path)], check=False).returncode
        if rc != 0:
            failed.append(name)
    print(f"\nbenchmarks over target: {', '.join(failed) if failed else 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
