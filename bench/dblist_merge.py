"""Benchmark: parse + fold + serialise a near-limit DbList, as a ratio against plain json round trip.

Synthetic job: >= 7,000 tables over >= 50 databases (about 0.85 MB as DTS returns it, with
`state` keys and some destination extras), plus 1,000 single-table additions folded as 1,000
changes (a burst). The floor is `json.loads` + `json.dumps` of the same DbObject text in this
process. Target: median ratio <= 10.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import tracemalloc
from typing import Any

from dts_change.core.dblist import MAX_DBLIST_BYTES, DbList, ObjectRef
from dts_change.core.merge import ChangeSpec, fold_changes

DATABASES = 60
TABLES_PER_DB = 165
ADDITIONS = 1_000
RUNS = 7
TARGET_RATIO = 10.0


def synthetic_db_object() -> str:
    data: dict[str, Any] = {}
    for d in range(DATABASES):
        db = f"shop_{d:03d}"
        tables: dict[str, Any] = {}
        for t in range(TABLES_PER_DB):
            name = f"orders_{d:03d}_{t:05d}"
            entry: dict[str, Any] = {"name": name, "all": True, "state": "normal"}
            if t % 5 == 0:
                entry.update({"type": "partition", "primary_key": "id", "part_key": "id"})
            tables[name] = entry
        data[db] = {"name": db, "all": False, "state": "normal", "Table": tables}
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def additions() -> list[ChangeSpec]:
    out = []
    for i in range(ADDITIONS):
        db = f"shop_{i % DATABASES:03d}"
        table = f"new_table_{i:05d}"
        fragment = {db: {"all": False, "Table": {table: {"name": table, "all": True}}}}
        out.append(ChangeSpec(change_id=f"c{i}", add=DbList.from_user(fragment)))
    return out


def ours(text: str, changes: list[ChangeSpec]) -> bytes:
    current = DbList.from_dts(text)
    result = fold_changes(current, changes)
    return result.after.to_bytes()


def floor(text: str) -> bytes:
    return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False).encode()


def median_seconds(fn: Any, *args: Any) -> tuple[float, list[float]]:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn(*args)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), samples


def main() -> int:
    text = synthetic_db_object()
    changes = additions()
    size_in = len(text.encode())
    out = ours(text, changes)
    tables_in = DATABASES * TABLES_PER_DB
    assert tables_in >= 7_000 and DATABASES >= 50
    assert len(out) <= MAX_DBLIST_BYTES, f"result {len(out)} bytes over the 1 MB limit"
    result_list = DbList.from_dts(out.decode())
    assert result_list.table_count() == tables_in + ADDITIONS
    assert result_list.covers(ObjectRef("shop_000", "new_table_00000"))

    # Interleave warm-up, then measure both in the same process.
    floor(text)
    ours(text, changes)
    floor_s, _ = median_seconds(floor, text)
    ours_s, _ = median_seconds(ours, text, changes)
    ratio = ours_s / floor_s

    tracemalloc.start()
    ours(text, changes)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    print("== dblist_merge: parse + fold 1,000 changes + serialise ==")
    print(f"input DbObject: {size_in:,} bytes, {tables_in:,} tables in {DATABASES} databases")
    print(f"output DbList: {len(out):,} bytes ({len(out) / MAX_DBLIST_BYTES:.1%} of the 1 MB limit)")
    print(f"floor  (json.loads + json.dumps): median {floor_s * 1000:.1f} ms over {RUNS} runs")
    print(f"ours   (parse + fold + serialise): median {ours_s * 1000:.1f} ms over {RUNS} runs")
    print(f"ratio: {ratio:.2f}x the floor (target <= {TARGET_RATIO:.0f}x) -> "
          f"{'OK' if ratio <= TARGET_RATIO else 'OVER TARGET'}")
    print(f"peak traced memory during one run: {peak / 1e6:.1f} MB (input {size_in / 1e6:.2f} MB)")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
