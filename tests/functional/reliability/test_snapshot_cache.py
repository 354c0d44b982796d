"""#12.10: the job's snapshot (`state/snapshots.py`) is a cache checked by ETag: whatever is wrong
with it (an entry whose change moved on, corrupt bytes, another job's snapshot, none at all), a
cold instance's passes do exactly what they do without it.

Through the handler, ledger on the emulator's OSS: a backlog recorded while the job is busy
(the recording instance keeps the snapshot), the snapshot spoiled, then timer passes of another
instance until nothing is open. Compared with the same run where the snapshot was deleted first:
the DbList of every accepted ModifyDtsJob in the emulator's call log, the final DbList, and what
`dts-change status` and `history` show.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dts_change.app import cli
from dts_change.state.records import ChangeState
from dts_change.state.snapshots import snapshot_name, tag_of
from dts_change.state.storage import Store
from tests.harness import BUCKET, JOB_KEY, OSS_LEDGER_ENV, LocalDeployment, manual_change, oss_deployment

BACKLOG = 80
MOVED = "s005"
"""The change whose version object is written again (other bytes) after the snapshot was kept."""
REPLAYED = "s007"
"""The change dead-lettered and replayed after the snapshot was kept."""

LEDGER_PREFIX = OSS_LEDGER_ENV["DTS_CHANGE_LEDGER"].removeprefix(f"oss://{BUCKET}/")

Spoil = Callable[[Store, str], None]


def _store(deploy: LocalDeployment) -> Store:
    return deploy.app.ledger.store


def _record_backlog(deploy: LocalDeployment) -> None:
    deploy.set_job(status="Modifying")
    for i in range(BACKLOG):
        if i == BACKLOG - 1:
            deploy.app.busy_seen.clear()  # this event's pass looks at the job again (and keeps the snapshot)
        deploy.invoke(manual_change(f"s{i:03d}", add=[f"shop.snap_{i:03d}"]))


def _move_on(store: Store) -> None:
    """The change `MOVED` recorded again under the same key and version (as after a prune and a
    redelivery): same name, other bytes, so another ETag; it now adds `shop.moved`."""
    for name in store.list("changes/"):
        raw = store.get(name)
        assert raw is not None
        data = json.loads(raw)
        if data["change_id"] == MOVED:
            data["change"] = json.loads(json.dumps(data["change"]).replace("snap_005", "moved"))
            store.put(name, json.dumps(data, sort_keys=True).encode("utf-8"))
            return
    raise AssertionError(f"no record of {MOVED}")


def _replay(deploy: LocalDeployment) -> None:
    """The change `REPLAYED` dead-lettered (a one-entry batch on its version 0) and replayed (its
    version 1, pending again): the snapshot's entry names version 0."""
    ledger = deploy.app.ledger
    record = next(r for r in ledger.open_changes(JOB_KEY) if r.change_id == REPLAYED)
    ledger.transition(record, ChangeState.DEAD_LETTERED)
    assert ledger.replay(record.key).version == 1


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *,
         moved: str | None, spoil: Spoil | None) -> dict[str, Any]:
    """Record the backlog, move a change on (`rewritten`, `replayed`; None: not), spoil the
    snapshot (None: delete it), then settle on a cold instance; what DTS got and what the CLI
    shows."""
    deploy = oss_deployment(tmp_path)
    try:
        _record_backlog(deploy)
        store, name = _store(deploy), snapshot_name(JOB_KEY)
        kept = store.get(name)
        assert kept is not None and len(json.loads(kept)["entries"]) >= 64, "the recording instance kept no snapshot"
        if moved == "rewritten":
            _move_on(store)
        elif moved == "replayed":
            _replay(deploy)
        if spoil is None:
            store.delete(name)
        else:
            spoil(store, name)
        deploy.set_job(status="Synchronizing")
        cold = deploy.new_app()
        deploy.settle(app=cold)
        for key, value in deploy.env.items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        code = cli.main(["status", "--json"])
        status = json.loads(capsys.readouterr().out)
        cli.main(["history", JOB_KEY, "--json"])
        history = json.loads(capsys.readouterr().out)
        return {
            "sent": [c.get("dbList") for c in deploy.modify_calls()],
            "final": deploy.db_list(),
            "status": (code, [[c["change_id"] for c in job["open_changes"]] for job in status["jobs"]],
                       [[d["change_id"] for d in job["dead_letters"]] for job in status["jobs"]]),
            "history": sorted((e["change_id"], e["state"]) for e in history),
        }
    finally:
        deploy.stop()


def _tables(result: dict[str, Any]) -> set[str]:
    return set(result["final"]["shop"]["Table"])


def _stale(store: Store, name: str) -> None:
    """Left as the recording instance kept it: its entry of the moved change names the version
    and ETag it had then."""


def _not_json(store: Store, name: str) -> None:
    store.put(name, b'{"head": {"format": 1, "job": "')


def _tampered(store: Store, name: str) -> None:
    """Every entry's bytes changed, the tags kept (what the listing gives): must not be used."""
    data = json.loads(store.get(name) or b"")
    for entry in data["entries"]:
        entry[3] = entry[3].replace("snap_", "evil_")
    store.put(name, json.dumps(data).encode("utf-8"))


def _other_job(store: Store, name: str) -> None:
    """Another job's snapshot under this job's name, its entries' tags made right for the bytes."""
    data = json.loads(store.get(name) or b"")
    data["head"]["job"] = "dtsother1/Forward"
    for entry in data["entries"]:
        entry[3] = entry[3].replace("snap_", "evil_")
        entry[2] = tag_of(entry[3].encode("utf-8"))
    store.put(name, json.dumps(data).encode("utf-8"))


def _oversized(store: Store, name: str) -> None:
    """Tampered entries padded past the byte cap."""
    _tampered(store, name)
    data = json.loads(store.get(name) or b"")
    data["pad"] = "x" * (8 * 1024 * 1024)
    store.put(name, json.dumps(data).encode("utf-8"))


_REFERENCE: dict[str | None, dict[str, Any]] = {}


@pytest.mark.parametrize(
    ("moved", "spoil"),
    [("rewritten", _stale), ("replayed", _stale), (None, _not_json), (None, _tampered), (None, _other_job),
     (None, _oversized)],
    ids=["stale-rewritten", "stale-replayed", "not-json", "tampered", "other-job", "oversized"],
)
def test_a_spoiled_snapshot_never_changes_what_the_passes_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], moved: str | None,
    spoil: Spoil,
) -> None:
    # GIVEN the same run with no snapshot at all
    if moved not in _REFERENCE:
        _REFERENCE[moved] = _run(tmp_path / "without", monkeypatch, capsys, moved=moved, spoil=None)
    reference = _REFERENCE[moved]
    # WHEN a cold instance settles the backlog with the snapshot spoiled
    result = _run(tmp_path / "spoiled", monkeypatch, capsys, moved=moved, spoil=spoil)
    # THEN DTS got the same lists, and status and history show the same
    assert result == reference
    assert reference["history"] == sorted((f"s{i:03d}", "applied") for i in range(BACKLOG))
    assert reference["status"] == (0, [[]], [[]])  # settled: nothing open, no dead letter
    tables = _tables(reference)
    assert not any(t.startswith("evil_") for t in tables)
    if moved == "rewritten":
        # the moved change's current bytes were applied, not the snapshot's copy
        assert "moved" in tables and "snap_005" not in tables
        assert any("moved" in json.dumps(sent) for sent in reference["sent"])


def _age_object(deploy: LocalDeployment, key: str, seconds: float) -> None:
    """Make the emulator's object `key` (under the ledger's prefix) `seconds` old."""
    state = deploy.server.get_state()
    full = f"{LEDGER_PREFIX}/{key}"
    assert full in state["buckets"][BUCKET]
    meta = state.setdefault("objectMeta", {}).setdefault(BUCKET, {}).setdefault(full, {})
    meta["lastModified"] = time.time() - seconds
    deploy.server.put_state(state)


def test_prune_deletes_a_snapshot_older_than_the_retention_or_of_a_settled_job(tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path)
    try:
        # GIVEN a backlog recorded while the job is busy, with its snapshot kept
        _record_backlog(deploy)
        store, name = _store(deploy), snapshot_name(JOB_KEY)
        assert store.get(name) is not None
        # WHEN another instance prunes (every change still open) with the snapshot a minute old
        # by the listing's LastModified
        other = deploy.new_app().ledger
        _age_object(deploy, name, 60)
        other.prune()
        # THEN it stays
        assert store.get(name) is not None
        # WHEN it is older than the retention (7 days) and that instance prunes again
        _age_object(deploy, name, 7 * 86400 + 60)
        other.prune()
        # THEN prune deleted it, though the changes are still open
        assert store.get(name) is None
        assert deploy.open_count() == BACKLOG
        # WHEN the job settles, on an instance that keeps a new snapshot on its way
        deploy.set_job(status="Synchronizing")
        deploy.settle(app=deploy.new_app())
        # THEN nothing is open and no snapshot is left
        assert deploy.open_count() == 0
        assert store.list("snapshots/") == []
    finally:
        deploy.stop()
