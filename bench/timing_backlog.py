"""Benchmark: a large backlog and a large prune with the ledger on OSS and a fixed OSS latency.

Issue 12.10. The emulator runs in this process (its server threads) with the demo job; the
handler is a real `App` whose ledger and dead letters are on the emulator's OSS. Every OSS call
gets `--latency` seconds more (an emulator fault with probability 1), as a real OSS round trip.

1. Backlog: N change events (default 2,000), each adding a distinct table, are recorded while the
   job is busy (no latency yet); then timer passes run, with a function timeout of `--timeout`
   seconds (default 120; the pass deadline is 5 s earlier), until every change is applied.
2. Prune: P applied changes (default 5,000), written straight into the emulator's bucket (built
   with a local ledger, so the set-up costs no OSS calls), closed longer than the retention; timer
   passes run until the ledger is empty.

Per pass: wall time against the deadline, OSS calls (counted in the client), changes moved
(submitted, applied or pruned) and OSS calls per open change at the start of the pass. Targets
(issue 12.10): no pass exceeds its deadline; <= 0.5 OSS calls per change per pass at 2,000
changes. Exit status 1 if one is missed.

    .venv/bin/python bench/timing_backlog.py [--changes 2000] [--prune 5000] [--latency 0.01]
                                             [--timeout 120] [--no-write] [--cold [--no-snapshot]]

`--cold`: the passes run in another `App` than the one that recorded the backlog (a cold
instance, which holds nothing in memory but reads the job's snapshot the recording instance
kept, `state/snapshots.py`); never writes the documentation. `--cold --no-snapshot`: the same with
the snapshot deleted first (what a cold instance costs without it).

Writes the section "Backlog and prune under OSS latency" of docs/performance.md when run with
the defaults.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from dts_change.app.handler import App  # noqa: E402
from dts_change.app.settings import DEADLINE_MARGIN_SECONDS, Settings  # noqa: E402
from dts_change.emulator import EmulatorServer  # noqa: E402
from dts_change.state.ledger import Ledger  # noqa: E402
from dts_change.state.records import ChangeState  # noqa: E402
from dts_change.state.snapshots import snapshot_name  # noqa: E402
from dts_change.state.storage import DirectoryStore  # noqa: E402

JOB = "dtsjob1demo"
BUCKET = "dts-change-config"
LEDGER_PREFIX = "dts-change/ledger"
TIMER = json.dumps({"triggerTime": "2024-05-01T00:01:00Z", "triggerName": "reconcile", "payload": '{"action":"reconcile"}'})
SECTION = "## Backlog and prune under OSS latency"
DOC = REPO / "docs" / "performance.md"
DAY = 86400.0


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def seed_state() -> dict[str, Any]:
    state: dict[str, Any] = json.loads(
        (REPO / "src" / "dts_change" / "samples" / "local-state.json").read_text(encoding="utf-8")
    )
    state["jobs"][JOB].update({"modifyDurationSeconds": 0.0})
    return state


def new_app(server: EmulatorServer, workdir: Path, clock: Clock) -> tuple[App, dict[str, int]]:
    env = {
        "DTS_REGION": "cn-hangzhou",
        "DTS_ENDPOINT": server.endpoint,
        "OSS_ENDPOINT": server.endpoint,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIdemo",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "demo-secret",
        "DTS_JOB_ID": JOB,
        "DTS_INSTANCE_ID": "dtsinst1demo",
        "DTS_CHANGE_LEDGER": f"oss://{BUCKET}/{LEDGER_PREFIX}",
        "DTS_CHANGE_DEAD_LETTER": f"oss://{BUCKET}/dts-change/dead-letter",
        "DTS_CHANGE_ALLOWED_BUCKETS": BUCKET,
        "DTS_CHANGE_LOG_LEVEL": "ERROR",
    }
    app = App(Settings.from_env(env, cwd=workdir), clock=clock)
    counter = {"oss": 0}
    send = app.oss._request

    def counted(*args: Any, **kwargs: Any) -> Any:
        counter["oss"] += 1
        return send(*args, **kwargs)

    app.oss._request = counted  # type: ignore[method-assign]
    return app, counter


def context(timeout: float) -> Any:
    return SimpleNamespace(request_id=f"bench-{time.monotonic_ns()}", function=SimpleNamespace(timeout=timeout))


def set_job(server: EmulatorServer, **fields: Any) -> None:
    state = server.get_state()
    state["jobs"][JOB].update(fields)
    server.put_state(state)


def run_passes(app: App, counter: dict[str, int], timeout: float, done: Any, count_open: Any) -> list[dict[str, Any]]:
    passes = []
    for _ in range(500):
        if done():
            break
        open_before = count_open()
        calls_before = counter["oss"]
        started = time.monotonic()
        result = app.handle(TIMER, context(timeout))
        elapsed = time.monotonic() - started
        calls = counter["oss"] - calls_before
        actions = [r["action"] for r in result["reconcile"]]
        passes.append({"seconds": round(elapsed, 2), "oss_calls": calls, "open_before": open_before,
                       "calls_per_open_change": round(calls / open_before, 2) if open_before else None,
                       "actions": actions})
        print(f"  pass {len(passes)}: {elapsed:.1f} s, {calls} OSS calls, {open_before} open, {actions}", flush=True)
    return passes


def backlog(server: EmulatorServer, workdir: Path, changes: int, latency: float, timeout: float,
            cold: bool = False, snapshot: bool = True) -> dict[str, Any]:
    clock = Clock()
    app, counter = new_app(server, workdir, clock)
    set_job(server, status="Modifying")
    started = time.monotonic()
    for i in range(changes):
        app.handle(json.dumps({"id": f"b{i:05d}", "add": [f"shop.backlog_{i:05d}"]}), context(timeout))
    recorded = time.monotonic() - started
    intake_calls = counter["oss"]
    print(f"backlog: {changes} changes recorded in {recorded:.1f} s ({intake_calls} OSS calls, no latency)", flush=True)
    if cold:
        if not snapshot:
            app.ledger.store.delete(snapshot_name(f"{JOB}/Forward"))
        app, counter = new_app(server, workdir, clock)  # another instance: has read nothing yet
    set_job(server, status="Synchronizing")
    server.add_fault({"id": "oss-latency", "service": "oss", "latencySeconds": latency, "probability": 1.0})
    ledger = app.ledger

    def open_count() -> int:
        return len(ledger.store.list("open/"))

    started = time.monotonic()
    passes = run_passes(app, counter, timeout, lambda: not ledger.jobs_with_open_changes(), open_count)
    wall = time.monotonic() - started
    server.clear_faults()
    applied = len(ledger.all_records({ChangeState.APPLIED}))
    tables = server.get_state()["jobs"][JOB]["dbList"]["shop"]["Table"]
    listed = sum(1 for i in range(changes) if f"backlog_{i:05d}" in tables)
    return {"changes": changes, "passes": passes, "wall_seconds": round(wall, 1), "applied": applied,
            "listed": listed, "intake_oss_calls": intake_calls, "recorded_seconds": round(recorded, 1)}


def prune(server: EmulatorServer, workdir: Path, records: int, latency: float, timeout: float) -> dict[str, Any]:
    # Build closed records with a local ledger, then copy them into the emulator's bucket.
    clock = Clock()
    local = Ledger(DirectoryStore(workdir / "prune-build"), clock=clock)
    for i in range(records):
        record, _ = local.record(idempotency_key=f"prune-{i}", change_id=f"p{i:05d}", job_key=f"{JOB}/Forward",
                                 change={"id": f"p{i:05d}", "job": {"dtsJobId": JOB, "direction": "Forward"}})
        # Each closed on its own (a one-entry batch, as a dead letter is); the builder is the
        # job's only writer, so it knows the record was read after the i batches it wrote.
        record.read_batch = i
        local.transition(record, ChangeState.APPLIED, evidence={"bench": True})
    state = server.get_state()
    bucket = state["buckets"][BUCKET]
    root = workdir / "prune-build"
    for path in root.rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            bucket[f"{LEDGER_PREFIX}/{path.relative_to(root).as_posix()}"] = path.read_text(encoding="utf-8")
    server.put_state(state)
    clock.now += 8 * DAY
    app, counter = new_app(server, workdir, clock)
    before = len(app.ledger.store.list("closed/"))
    print(f"prune: {before} closed changes past the retention", flush=True)
    server.add_fault({"id": "oss-latency", "service": "oss", "latencySeconds": latency, "probability": 1.0})

    def closed_count() -> int:
        return len(app.ledger.store.list("closed/"))

    started = time.monotonic()
    passes = run_passes(app, counter, timeout, lambda: not app.ledger.store.list("closed/"), closed_count)
    wall = time.monotonic() - started
    server.clear_faults()
    left = len(app.ledger.store.list("changes/"))
    return {"records": before, "passes": passes, "wall_seconds": round(wall, 1), "versions_left": left}


def verdicts(result: dict[str, Any], deadline: float) -> list[str]:
    misses = []
    for name in ("backlog", "prune"):
        part = result.get(name)
        if not part:
            continue
        worst = max(p["seconds"] for p in part["passes"]) if part["passes"] else 0.0
        if worst > deadline:
            misses.append(f"{name}: a pass took {worst} s, over the {deadline} s deadline")
    part = result.get("backlog")
    if part:
        per_change = [p["calls_per_open_change"] for p in part["passes"] if p["calls_per_open_change"] is not None]
        if per_change and max(per_change) > 0.5:
            misses.append(f"backlog: up to {max(per_change)} OSS calls per open change in a pass (target <= 0.5)")
        if part["applied"] != part["changes"] or part["listed"] != part["changes"]:
            misses.append(f"backlog: {part['applied']} applied, {part['listed']} listed of {part['changes']}")
    part = result.get("prune")
    if part and part["versions_left"]:
        misses.append(f"prune: {part['versions_left']} change versions left")
    return misses


def render(result: dict[str, Any], args: argparse.Namespace, misses: list[str]) -> str:
    deadline = args.timeout - DEADLINE_MARGIN_SECONDS
    lines = [SECTION, "", "<!-- generated by bench/timing_backlog.py; do not edit by hand -->", ""]
    lines.append(
        f"Parameters: ledger and dead letters on the emulator's OSS; {args.latency * 1000:g} ms added to every OSS "
        f"call; function timeout {args.timeout:g} s (pass deadline {deadline:g} s); modifications finish at once. "
        "OSS calls are counted in the handler's client; a pass is one timer invocation."
    )
    lines.append("")
    for name, what, moved in (("backlog", "changes", "applied"), ("prune", "records", "pruned")):
        part = result.get(name)
        if not part:
            continue
        passes = part["passes"]
        size = part.get("changes") or part.get("records")
        per_minute = round(size / part["wall_seconds"] * 60) if part["wall_seconds"] else None
        worst = max((p["seconds"] for p in passes), default=0.0)
        lines.append(f"### {name.capitalize()}: {size:,} {what}")
        lines.append("")
        lines.append(f"- passes: {len(passes)}; longest {worst} s against the {deadline:g} s deadline; "
                     f"wall time {part['wall_seconds']} s; {per_minute} {what} {moved} per minute")
        if name == "backlog":
            lines.append(f"- recording the backlog (before, no latency): {part['intake_oss_calls']} OSS calls "
                         f"({part['intake_oss_calls'] / size:.1f} per change)")
            lines.append(f"- result: {part['applied']} applied, {part['listed']} listed in the job")
        else:
            lines.append(f"- change versions left: {part['versions_left']}")
        lines.append("")
        lines.append("| pass | seconds | OSS calls | changes at start | OSS calls per change at start | actions |")
        lines.append("|---|---|---|---|---|---|")
        for index, p in enumerate(passes, 1):
            actions = ", ".join(sorted(set(p["actions"]))) or "(prune only)"
            lines.append(f"| {index} | {p['seconds']} | {p['oss_calls']} | {p['open_before']} | "
                         f"{p['calls_per_open_change']} | {actions} |")
        lines.append("")
    lines.append("Targets: " + ("all met." if not misses else "missed: " + "; ".join(misses) + "."))
    lines.append("")
    lines.append(
        "Where the calls go: a pass lists the job's open index, every change version at once "
        "(`changes/`, 1,000 names a call) and the job's batches, and reads only the objects it does not "
        "hold in memory with the ETag the listing gives (this instance recorded the changes, so it reads "
        "none back); it writes one batch object for all the changes it submits and one for all it "
        "confirms (1,000 changes at most each: a larger one could pass the store's 16 MB read cap and "
        "no other instance could read it again, review 4), plus one `closed/` marker naming the "
        "applied ones and one DeleteMultipleObjects of their open markers (per batch); the rest is the lease, the order cursor, the write-ahead note and the "
        "listings of prune (with `snapshots/` and, where one is kept, the job's index for one key). A "
        "cold instance (another FC instance, or after a restart) reads the job's snapshot "
        "(`snapshots/<job>.json`, one GetObject: the open changes' versions with their ETags, which the "
        "recording instance kept up to date each time a quarter more were held) and reads one by one "
        "only the open changes whose listed version and ETag no entry has, then is warm: with `--cold` "
        "(2026-12-06, three runs on a busy machine, batch floor included) the first pass over the 2,000 "
        "changes made 374, 401 and 390 calls (0.19-0.20 per change: the changes recorded after the "
        "recording instance's last snapshot write are read one by one; the same code without the "
        "floor made 334 in that hour, and 31-205 on a quiet machine before) in 7-9 s, the next 25; "
        "with `--cold --no-snapshot` it made 2,027 (1.01 per change) in 27.7 s (37.4 s on the busy machine) "
        "(`tests/functional/timing/test_oss_calls_per_pass.py` checks both passes of a cold instance "
        "against the 0.5 target). Every write to open changes is one batch of the "
        "job's sequence (`batches/<job>/<n>.json`, create-if-absent, numbered after the batch read with "
        "the records), so a holder that outlived its lease collides instead of hiding a change. Of "
        "the job's batches a reader GETs only those at most 300 s older (store `LastModified`) than "
        "the oldest own version it resolves, listed from a hint the listing must bear out "
        "(docs/reliability.md): one open change after 10,000 closed one a minute costs a cold "
        "instance 10 GETs and 4 listing pages (20,001 GETs before), a warm one 0 GETs and 3 pages. Prune "
        "here runs on an instance that never read these records (each closed on its own by a one-entry "
        "batch, as a dead letter is): it lists every version once, reads each change's latest version "
        "once (the `closed/` marker's name gives the version, seq and batch: no marker read) and "
        "deletes up to 250 changes, then their batches (never the job's highest), then their markers, "
        "in DeleteMultipleObjects calls."
    )
    lines.append("")
    return "\n".join(lines)


def write_section(text: str) -> None:
    page = DOC.read_text(encoding="utf-8")
    if SECTION in page:
        head, _, rest = page.partition(SECTION)
        following = rest.find("\n## ")
        tail = rest[following + 1:] if following >= 0 else ""
        page = head + text + ("\n" + tail if tail else "")
    else:
        page = page.rstrip("\n") + "\n\n" + text
    DOC.write_text(page, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=2000)
    parser.add_argument("--prune", type=int, default=5000)
    parser.add_argument("--latency", type=float, default=0.01)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--no-snapshot", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for name, run in (("backlog", lambda s: backlog(s, workdir, args.changes, args.latency, args.timeout,
                                                        args.cold, not args.no_snapshot)),
                          ("prune", lambda s: prune(s, workdir, args.prune, args.latency, args.timeout))):
            if (args.changes if name == "backlog" else args.prune) <= 0:
                continue
            state = seed_state()
            state["settings"] = {"maxCalls": 1000}
            server = EmulatorServer("127.0.0.1", 0, state)
            server.start()
            try:
                result[name] = run(server)
            finally:
                server.stop()
    misses = verdicts(result, args.timeout - DEADLINE_MARGIN_SECONDS)
    text = render(result, args, misses)
    print(text)
    defaults = (args.changes, args.prune, args.latency, args.timeout) == (2000, 5000, 0.01, 120.0)
    if defaults and not args.no_write and not args.cold:
        write_section(text)
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
