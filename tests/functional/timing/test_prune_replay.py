"""#12.3 and #12.9: pruning and replay (ledger and dead letters on OSS).

3. prune read a closed record, a replay then wrote `pending`, and prune deleted every version:
   the replayed change vanished. Pruning never deletes a record that changed after it was read.
9. a dead letter older than the ledger's retention could not be replayed although it holds the
   whole change: replay works from the dead letter."""

from __future__ import annotations

import threading
from pathlib import Path

from dts_change.app.handler import App
from dts_change.app.settings import Settings
from tests.harness import LocalDeployment, manual_change, oss_deployment, seed_state

DAY = 86400.0


def table_names(db_list: dict, db: str) -> set[str]:
    return set((db_list.get(db) or {}).get("Table", {}))


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _app(deploy: LocalDeployment, clock: Clock) -> App:
    return App(Settings.from_env(deploy.env, cwd=deploy.tmp_path), clock=clock, sleep=lambda _s: None)


def _replay(app: App, key: str) -> None:
    """What `dts-change dlq replay` does to the stores."""
    app.ledger.replay(key)
    app.dead_letters.mark_replayed(key)


def test_prune_racing_a_replay_keeps_the_replayed_change(tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path, seed_state(status="NotConfigured", modifyDurationSeconds=0.0))
    try:
        clock = Clock()
        app, operator = _app(deploy, clock), _app(deploy, clock)
        # GIVEN a change dead-lettered (job not configured) and closed for longer than the retention
        deploy.invoke(manual_change("late", add=["shop.replayed"]), app)
        assert deploy.states() == {"late": "dead_lettered"}
        key = deploy.dead_letters()[0].key
        deploy.set_job(status="Synchronizing")
        clock.now += 8 * DAY
        # AND the operator replays it while the timer's prune is between reading the record and
        # deleting its versions (the prune's first DeleteMultipleObjects)
        replayed = threading.Event()

        def replay_during_prune(_seconds: float) -> None:
            if not replayed.is_set():
                replayed.set()
                _replay(operator, key)

        deploy.server.app.sleep = replay_during_prune
        deploy.server.add_fault({"service": "oss", "action": "Bucket:POST?delete", "latencySeconds": 0.01, "count": 1})
        deploy.tick(app)
        assert replayed.is_set(), "the prune never reached the change"
        # THEN the replayed change survived the prune and is applied by the next passes
        assert deploy.states() == {"late": "pending"}
        deploy.settle(app=app)
        assert deploy.states() == {"late": "applied"}
        assert "replayed" in table_names(deploy.db_list(), "shop")
    finally:
        deploy.stop()


def test_replay_works_from_the_dead_letter_after_the_ledger_record_was_pruned(tmp_path: Path, monkeypatch, capsys) -> None:
    deploy = oss_deployment(tmp_path, seed_state(status="NotConfigured", modifyDurationSeconds=0.0))
    try:
        clock = Clock()
        clock.now = __import__("time").time()
        app = _app(deploy, clock)
        # GIVEN a dead-lettered change whose ledger record was pruned (closed longer than the retention)
        deploy.invoke(manual_change("old", add=["shop.from_dead_letter"]), app)
        key = deploy.dead_letters()[0].key
        clock.now += 8 * DAY
        deploy.tick(app)
        assert app.ledger.get(key) is None
        # WHEN the cause is fixed and the operator replays the dead letter with the CLI
        deploy.set_job(status="Synchronizing")
        for name, value in deploy.env.items():
            monkeypatch.setenv(name, value)
        from dts_change.app import cli

        assert cli.main(["dlq", "replay", key, "--json"]) == 0, capsys.readouterr().err
        # THEN the change is recorded again from the dead letter and applied
        deploy.settle()
        assert deploy.states() == {"old": "applied"}
        assert "from_dead_letter" in table_names(deploy.db_list(), "shop")
        assert deploy.dead_letters() == []
    finally:
        deploy.stop()
