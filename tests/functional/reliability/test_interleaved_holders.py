"""Lease holders, intake, replay and prune interleaved at every point, through the real handler.

Layout-independent on purpose (issue 12.10: the ledger's layout is being replaced): each test
drives `App` against the emulator over 127.0.0.1 with the ledger on its OSS, stops one instance
right before its N-th store write (or DTS call, or retry back-off) for every N of an
uninterrupted run, lets other instances act, then lets it go on. Nothing here names a ledger
object; the verdict is read from what an operator and DTS see:
- DTS: every carried-out ModifyDtsJob's DbList (the emulator's call log) and the job's final
  list. No change here removes anything, so in call order no list may drop an object the
  initial list or an earlier accepted call had (a stale holder's list landing after a newer one),
  and the final list holds every object of every change;
- `dts-change history <job> --json`: every change applied (or dead-lettered where the test says
  so), none left open; `dts-change status --json`: settled, no open change;
- the bucket: every change id still named by some object under the ledger's prefix.
A "stall" is a holder outliving its lease: the world's clocks (the emulator's, which stamps
OSS `Date`/`Last-Modified`, and every instance's wall and monotonic clocks) jump past the lease
while it is stopped, as after a long GC pause or a retry back-off.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from dts_change.app import cli
from dts_change.app.handler import App
from dts_change.app.settings import Settings
from dts_change.core.dblist import DbList, ObjectRef
from dts_change.core.errors import DtsChangeError
from tests.functional.reliability.checks import carried_out, lost_objects
from tests.harness import (
    BUCKET,
    JOB_KEY,
    TIMER,
    LocalDeployment,
    fc_context,
    manual_change,
    oss_deployment,
    seed_state,
)

LEASE = 60.0
STALL = LEASE + 2.0  # OSS time stamps have 1 s resolution
STORE_WRITES = frozenset({"put_if_absent", "put_if_absent_tagged", "put", "delete", "delete_many"})
DTS_CALLS = frozenset({"describe_dts_job_detail", "modify_dts_job"})
LEDGER_PREFIX = "dts-change/ledger/"


class World:
    """Shared time: the emulator's clock and every instance's clocks, moved together by `jump`."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def jump(self, seconds: float) -> None:
        self.offset += seconds


class Hooked:
    """`inner` (a store or the DTS client) running `action` once, right before the `at`-th call
    of one of `names` (counted from 1; 0 never fires). Wrappers built with the same `shared` one
    count together (`calls` names each call)."""

    def __init__(self, inner: Any, names: frozenset[str], at: int = 0, action: Callable[[], None] | None = None,
                 *, shared: Hooked | None = None, after: bool = False) -> None:
        self._inner = inner
        self._names = names
        self._counter = shared._counter if shared is not None else self
        self.at = at
        self.action = action
        self.calls: list[str] = []
        self.fired = False
        self.after = after
        """Run `action` once the `at`-th call has returned instead of before it."""

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self._names:
            return attr
        counter = self._counter

        def call(*args: Any, **kwargs: Any) -> Any:
            first = args[0] if args else ""
            counter.calls.append(f"{name} {first if isinstance(first, str) else list(first)[:1]}")
            due = len(counter.calls) == counter.at and not counter.fired and counter.action is not None
            if due and not counter.after:
                counter.fired = True
                counter.action()
            result = attr(*args, **kwargs)
            if due and counter.after and counter.action is not None:
                counter.fired = True
                counter.action()
            return result

        return call


class Site:
    """One deployment (emulator, ledger on its OSS) whose instances share a `World`."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.deploy: LocalDeployment = oss_deployment(
            tmp_path, seed_state(), DTS_CHANGE_LEASE_SECONDS=str(int(LEASE)), **env)
        self.world = World()
        self.deploy.server.core.clock = self.world.time
        self.initial = self.deploy.db_list()
        self.wanted: dict[str, list[str]] = {}
        """Change id -> the objects it adds (what DTS must end up listing)."""

    def instance(self, *, skew: float = 0.0, sleep: Callable[[float], None] | None = None) -> App:
        """A new FC instance; its wall clock `skew` seconds off the world's."""
        app = App(Settings.from_env(self.deploy.env, cwd=self.deploy.tmp_path),
                  clock=lambda: self.world.time() + skew, sleep=sleep or (lambda _s: None))
        app.ledger.monotonic = self.world.monotonic
        app.check_stores(fc_context())  # its probe writes are not the pass's
        return app

    def send(self, app: App, number: int) -> dict[str, Any]:
        """Change `change-NN` (adds shop.t_NN) through the handler, as an event."""
        change_id = f"change-{number:02d}"
        self.wanted[change_id] = [f"shop.t_{number:02d}"]
        return app.handle(json.dumps(manual_change(change_id, add=self.wanted[change_id])), fc_context())

    def backlog(self, recorder: App, numbers: Iterable[int]) -> None:
        """Changes recorded while the job is busy: all pending, none submitted."""
        self.deploy.set_job(status="Modifying")
        for number in numbers:
            self.send(recorder, number)
        self.deploy.set_job(status="Synchronizing")

    def settle(self, app: App, passes: int = 12) -> None:
        for _ in range(passes):
            if not app.ledger.jobs_with_open_changes():
                return
            app.handle(TIMER, fc_context())

    def stop(self) -> None:
        self.deploy.stop()


def tolerant(app: App, event: str = TIMER) -> None:
    """An invocation whose failure FC would retry: a `DtsChangeError` is allowed to escape."""
    with contextlib.suppress(DtsChangeError):
        app.handle(event, fc_context())


class Operator:
    """The CLI as an operator runs it, on the deployment's environment."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        self.monkeypatch = monkeypatch
        self.capsys = capsys

    def run(self, site: Site, *argv: str) -> tuple[int, Any]:
        for name, value in site.deploy.env.items():
            self.monkeypatch.setenv(name, value)
        self.capsys.readouterr()
        code = cli.main([*argv, "--json"])
        out = self.capsys.readouterr().out
        return code, json.loads(out)

    def states(self, site: Site) -> dict[str, str]:
        _code, entries = self.run(site, "history", JOB_KEY)
        return {e["change_id"]: e["state"] for e in entries}


def verdict(site: Site, operator: Operator, *, dead: Iterable[str] = (), may_be_pruned: Iterable[str] = ()) -> dict[str, Any]:
    """Everything that does not hold, from DTS's call log, the CLI and the bucket (empty: all good).

    `dead`: changes that must end dead-lettered (with an active dead letter); `may_be_pruned`:
    changes the ledger may have forgotten since (their objects must still be in DTS's list)."""
    dead, pruned = set(dead), set(may_be_pruned)
    deploy = site.deploy
    calls = carried_out(deploy.server.calls())
    final = deploy.db_list()
    found: dict[str, Any] = {}
    dropped = lost_objects(site.initial, calls, final, [])
    if dropped:
        found["an accepted list dropped objects of an earlier one"] = dropped
    sent = [DbList.from_user(c.db_list) for c in calls if c.db_list is not None]
    final_list = DbList.from_user(final)
    missing, never_sent = [], []
    for change_id, names in site.wanted.items():
        if change_id in dead:
            continue
        for name in names:
            db, _, table = name.partition(".")
            ref = ObjectRef(db, table)
            if not final_list.covers(ref):
                missing.append(f"{change_id}: {name}")
            if not any(s.covers(ref) for s in sent):
                never_sent.append(f"{change_id}: {name}")
    if missing:
        found["final DbList lacks"] = missing
    if never_sent:
        found["no accepted ModifyDtsJob carried"] = never_sent
    states = operator.states(site)
    expected = {c: ("dead_lettered" if c in dead else "applied") for c in site.wanted}
    if states != {c: s for c, s in expected.items() if c in states or c not in pruned}:
        found["history"] = {"shown": states, "expected": expected}
    code, view = operator.run(site, "status")
    open_changes = [c["change_id"] for job in view["jobs"] for c in job["open_changes"]]
    letters = sorted(d["change_id"] for job in view["jobs"] for d in job["dead_letters"])
    if open_changes or letters != sorted(dead) or (code == 0) != (not dead):
        found["status"] = {"exit": code, "open": open_changes, "dead letters": letters}
    bucket = deploy.server.get_state()["buckets"][BUCKET]
    ledger_text = "\n".join(str(v) for k, v in bucket.items() if k.startswith(LEDGER_PREFIX))
    untraced = [c for c in site.wanted if c not in pruned and f'"{c}"' not in ledger_text]
    if untraced:
        found["no ledger object names"] = untraced
    return found


def writes_of(run: Callable[[Hooked], None], make: Callable[[], tuple[Site, App]], names: frozenset[str]) -> int:
    """How many of `names` calls the instance `make` returns makes in `run`, uninterrupted."""
    site, app = make()
    try:
        counter = Hooked(app.ledger.store if names is STORE_WRITES else app.dts, names)
        run(counter)
        return len(counter.calls)
    finally:
        site.stop()


# ---------------------------------------------------------------------- 1. a stalled holder


def _takeover(site: Site, next_number: int, *, full: bool = True) -> Callable[[], None]:
    """What happens while the stalled holder sleeps: its lease ends; a change it never read
    arrives (`next_number`), whose event's pass takes the lease and submits it with the others
    (a list the stalled holder's differs from, so DTS cannot take the stale one for a retry of
    it); that instance's timer passes apply everything (`full=False`: none, the changes stay
    submitted); then one more change arrives and stays open (with `full=False` its event finds
    the job just seen busy and only records it)."""

    def act() -> None:
        site.world.jump(STALL)
        other = site.instance()
        site.send(other, next_number)
        if full:
            site.settle(other)
        else:
            other.busy_seen[JOB_KEY] = time.monotonic()
        site.send(other, next_number + 1)

    return act


def _finish(site: Site) -> None:
    """A cold instance's timer passes (the stalled holder's lease long over)."""
    site.world.jump(STALL)
    site.settle(site.instance())


def _holder_run(tmp_path: Path, kind: str, full: bool, at: int, after: bool) -> tuple[Site, Hooked]:
    """Two changes pending (`confirming`: submitted, not yet confirmed); holder A's timer pass
    stalls past its lease before (`after`: once it returned) its `at`-th DTS call while the next
    holder takes over (`_takeover`), then goes on with its remaining writes."""
    site = Site(tmp_path)
    site.backlog(site.instance(), [1, 2])
    if kind == "confirming":
        site.instance().handle(TIMER, fc_context())
    holder = site.instance()
    hooked = Hooked(holder.dts, DTS_CALLS, at, _takeover(site, 3, full=full), after=after)
    holder.dts = hooked
    tolerant(holder)
    return site, hooked


@pytest.mark.parametrize("kind", ["submitting", "confirming"])
@pytest.mark.parametrize("full", [True, False], ids=["taker-applies-all", "taker-submits-only"])
def test_a_holder_stalled_past_its_lease_around_each_dts_call_undoes_and_hides_nothing(
    tmp_path: Path, kind: str, full: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    operator = Operator(monkeypatch, capsys)
    reference, counted = _holder_run(tmp_path / "reference", kind, full, 0, False)
    reference.stop()
    calls = counted.calls
    assert calls, "the pass asked DTS nothing"
    problems: dict[str, Any] = {}
    for at in range(1, len(calls) + 1):
        for after in (False, True):
            if not after and calls[at - 1].startswith("modify_dts_job"):
                # Between the last check (describe + lease) and ModifyDtsJob: DTS has no
                # compare-and-set, a window no ledger closes (docs/reliability.md, "Windows that
                # remain"); the lease outlives the function timeout so a pass cannot stall there.
                continue
            # WHEN holder A stalls there, and wakes once the next holder took over
            site, hooked = _holder_run(tmp_path / f"at-{at}-{after}", kind, full, at, after)
            try:
                assert hooked.fired, (at, hooked.calls)
                _finish(site)
                # THEN every change is applied, DTS never got an older list after a newer one
                found = verdict(site, operator)
                if found:
                    problems[f"{'after' if after else 'before'} {calls[at - 1]}"] = found
            finally:
                site.stop()
    assert problems == {}, json.dumps(problems, default=str)[:4000]


@pytest.mark.parametrize("kind", ["submitting", "confirming"])
def test_a_holder_whose_retry_back_off_outlived_its_lease_wakes_after_the_next_holder_applied_everything(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    site = Site(tmp_path)
    try:
        # GIVEN two changes pending (or, for a confirming pass, submitted and not yet confirmed)
        site.backlog(site.instance(), [1, 2])
        if kind == "confirming":
            site.instance().handle(TIMER, fc_context())
        # WHEN holder A, having read them, backs off after a throttled DescribeDtsJobDetail for
        # longer than its lease; the next holder applies everything and a new change arrives
        takeover = _takeover(site, 3)
        fired: list[bool] = []

        def sleep(_seconds: float) -> None:
            if not fired:
                fired.append(True)
                takeover()

        holder = site.instance(sleep=sleep)
        site.deploy.server.add_fault({"service": "dts", "action": "DescribeDtsJobDetail",
                                      "code": "Throttling.User", "httpStatus": 400, "count": 1})
        # ... and A performs its remaining writes when it wakes
        tolerant(holder)
        assert fired, "the stall never happened"
        _finish(site)
        # THEN every change is applied, DTS never got an older list after a newer one
        assert verdict(site, Operator(monkeypatch, capsys)) == {}
    finally:
        site.stop()


# ---------------------------------------------------------------------- 2. at every store write


def _stalled_run(tmp_path: Path, at: int, action_for: Callable[[Site], Callable[[], None]]) -> tuple[Site, Hooked]:
    """Two changes recorded, then holder A's timer passes with `action_for(site)` run right
    before A's `at`-th store write; A goes on with that pass and stops (0: A settles alone)."""
    site = Site(tmp_path)
    site.backlog(site.instance(), [1, 2])
    holder = site.instance()
    hooked = Hooked(holder.ledger.store, STORE_WRITES, at, action_for(site))
    holder.ledger.store = hooked
    for _ in range(6):
        if hooked.fired or not holder.ledger.jobs_with_open_changes():
            break
        tolerant(holder)
    return site, hooked


def _every_write(tmp_path: Path, action_for: Callable[[Site], Callable[[], None]],
                 check: Callable[[Site], dict[str, Any]]) -> tuple[int, dict[int, Any]]:
    reference, counted = _stalled_run(tmp_path / "reference", 0, action_for)
    reference.stop()
    total = len(counted.calls)
    problems: dict[int, Any] = {}
    for at in range(1, total + 1):
        site, hooked = _stalled_run(tmp_path / f"at-{at}", at, action_for)
        try:
            assert hooked.fired, (at, hooked.calls)
            found = check(site)
            if found:
                problems[at] = {"stalled before": hooked.calls[at - 1], **found}
        finally:
            site.stop()
    return total, problems


@pytest.mark.parametrize("full", [True, False], ids=["taker-applies-all", "taker-submits-only"])
def test_a_holder_stalled_past_its_lease_before_each_of_its_store_writes_hides_and_undoes_nothing(
    tmp_path: Path, full: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    operator = Operator(monkeypatch, capsys)

    def check(site: Site) -> dict[str, Any]:
        _finish(site)
        return verdict(site, operator)

    total, problems = _every_write(tmp_path, lambda site: _takeover(site, 3, full=full), check)
    assert total >= 8
    assert problems == {}, json.dumps(problems, default=str)[:4000]


# ---------------------------------------------------------------------- 3. intake during a pass


def test_a_change_arriving_before_any_write_of_a_pass_is_neither_closed_nor_hidden_by_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    operator = Operator(monkeypatch, capsys)

    def arrive(site: Site) -> Callable[[], None]:
        def act() -> None:
            # Another instance takes a new change while A holds the lease (its own pass: lease-held)
            site.send(site.instance(), 3)

        return act

    def check(site: Site) -> dict[str, Any]:
        found: dict[str, Any] = {}
        # Right after A's pass: the new change is open, or applied with its object listed
        state = operator.states(site).get("change-03")
        listed = DbList.from_user(site.deploy.db_list()).covers(ObjectRef("shop", "t_03"))
        if state not in ("pending", "submitted") and not (state == "applied" and listed):
            found["after the pass"] = {"change-03": state, "listed": listed}
        site.settle(site.instance())
        return {**found, **verdict(site, operator)}

    total, problems = _every_write(tmp_path, arrive, check)
    assert total >= 8
    assert problems == {}, json.dumps(problems, default=str)[:4000]


# ---------------------------------------------------------------------- 4. replay, pass and prune

RETENTION = 60.0
PRUNER_AHEAD = RETENTION + 60.0
"""The racing instance's clock is ahead by more than the retention (so its prune takes the
dead-lettered change and the applied one) and less than any lease or grace."""


def _dead_lettered(tmp_path: Path) -> Site:
    """change-01 applied, change-02 dead-lettered (DTS refused it once, for good)."""
    site = Site(tmp_path, DTS_CHANGE_RETENTION_SECONDS=str(int(RETENTION)))
    app = site.instance()
    site.send(app, 1)
    site.settle(app)
    site.deploy.server.add_fault({"service": "dts", "action": "ModifyDtsJob", "code": "InvalidParameter",
                                  "message": "refused", "count": 1})
    site.send(app, 2)
    site.settle(app)
    assert {d.change_id for d in app.dead_letters.list()} == {"change-02"}
    return site


def _replay(operator: Operator, site: Site, app: App) -> None:
    """`dts-change dlq replay` of change-02's dead letter, on `app` (its stores maybe hooked)."""
    operator.monkeypatch.setattr(cli, "build_app", lambda *_a, **_k: app)
    try:
        code, _out = operator.run(site, "dlq", "replay", "change-02")
    finally:
        operator.monkeypatch.undo()
    assert code == 0


def _race(tmp_path: Path, operator: Operator, at: int, *, hook_replay: bool, ahead: float) -> tuple[Site, Hooked]:
    """The replay and a timer pass + prune of an instance whose clock is ahead: the one hooked
    (`hook_replay`: the replay's) stops before its `at`-th store write while the other runs."""
    site = _dead_lettered(tmp_path)
    replayer, racer = site.instance(), site.instance(skew=ahead)
    hooked_app = replayer if hook_replay else racer
    if hook_replay:
        action = lambda: tolerant(racer)  # noqa: E731
    else:
        action = lambda: _replay(operator, site, replayer)  # noqa: E731
    first = Hooked(hooked_app.ledger.store, STORE_WRITES, at, action)
    hooked_app.ledger.store = first
    hooked_app.dead_letters.store = Hooked(hooked_app.dead_letters.store, STORE_WRITES, shared=first)
    if hook_replay:
        _replay(operator, site, replayer)
    else:
        tolerant(racer)
    return site, first


@pytest.mark.parametrize("hook_replay", [True, False], ids=["replay-stopped", "pass-and-prune-stopped"])
def test_a_replay_racing_a_pass_and_a_prune_at_each_write_is_applied_and_shown(
    tmp_path: Path, hook_replay: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    _replay_race(tmp_path, Operator(monkeypatch, capsys), hook_replay=hook_replay, ahead=PRUNER_AHEAD)


def _replay_race(tmp_path: Path, operator: Operator, *, hook_replay: bool, ahead: float) -> None:
    reference, counted = _race(tmp_path / "reference", operator, 0, hook_replay=hook_replay, ahead=ahead)
    reference.stop()
    total = len(counted.calls)
    assert total >= 2, counted.calls
    problems: dict[int, Any] = {}
    for at in range(1, total + 1):
        site, hooked = _race(tmp_path / f"at-{at}", operator, at, hook_replay=hook_replay, ahead=ahead)
        try:
            assert hooked.fired, (at, hooked.calls)
            # THEN the replayed change is applied by the next passes and no longer dead-lettered
            site.settle(site.instance())
            found = verdict(site, operator, may_be_pruned={"change-01"})
            bucket = site.deploy.server.get_state()["buckets"][BUCKET]
            if not any("_replayed/" in k and "change-02" in str(v) for k, v in bucket.items()):
                found["no replayed dead letter in the bucket"] = sorted(k for k in bucket if "dead-letter" in k)
            if found:
                problems[at] = {"stopped before": hooked.calls[at - 1], **found}
        finally:
            site.stop()
    assert problems == {}, json.dumps(problems, default=str)[:4000]


# ---------------------------------------------------------------------- 5. clocks skewed past the lease

SKEW = 400.0
"""More than the default lease (300 s) and than the test's (60 s)."""


def _skewed_intake(tmp_path: Path, at: int) -> tuple[Site, Hooked]:
    """Instances S (the world's clock) and F (SKEW ahead). F records change-01; S records
    change-02 and stops before its `at`-th store write while F records change-03 and runs a
    timer pass; then S goes on."""
    site = Site(tmp_path)
    slow, fast = site.instance(), site.instance(skew=SKEW)
    site.send(fast, 1)

    def act() -> None:
        site.send(fast, 3)
        tolerant(fast)

    hooked = Hooked(slow.ledger.store, STORE_WRITES, at, act)
    slow.ledger.store = hooked
    site.send(slow, 2)
    return site, hooked


def test_instances_with_clocks_skewed_past_the_lease_lose_no_change_recorded_at_any_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    operator = Operator(monkeypatch, capsys)
    reference, counted = _skewed_intake(tmp_path / "reference", 0)
    reference.stop()
    total = len(counted.calls)
    problems: dict[int, Any] = {}
    for at in range(1, total + 1):
        site, hooked = _skewed_intake(tmp_path / f"at-{at}", at)
        try:
            assert hooked.fired, (at, hooked.calls)
            # THEN timer passes of both instances, taking turns, apply all three
            slow, fast = site.instance(), site.instance(skew=SKEW)
            for _ in range(6):
                site.settle(fast, passes=1)
                site.settle(slow, passes=1)
            found = verdict(site, operator)
            if found:
                problems[at] = {"stopped before": hooked.calls[at - 1], **found}
        finally:
            site.stop()
    assert problems == {}, json.dumps(problems, default=str)[:4000]


@pytest.mark.parametrize("ahead", [SKEW, -SKEW], ids=["taker-ahead", "taker-behind"])
def test_a_stalled_holder_and_a_taker_whose_clock_is_off_by_more_than_the_lease_apply_everything(
    tmp_path: Path, ahead: float, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    site = Site(tmp_path)
    try:
        # GIVEN two changes pending, recorded by an instance whose clock is off
        site.backlog(site.instance(skew=ahead), [1, 2])
        holder = site.instance()

        def takeover() -> None:
            # WHEN the holder stalls past its lease after reading and the other instance takes over
            site.world.jump(STALL)
            other = site.instance(skew=ahead)
            site.settle(other)
            site.send(other, 3)

        holder.dts = Hooked(holder.dts, DTS_CALLS, 1, takeover)
        tolerant(holder)
        # ... and the stale holder, waking, makes another pass on its own clock
        site.send(holder, 4)
        _finish(site)
        # THEN all four are applied, none hidden, no list older than an accepted one
        assert verdict(site, Operator(monkeypatch, capsys)) == {}
    finally:
        site.stop()


@pytest.mark.parametrize("hook_replay", [True, False], ids=["replay-stopped", "pass-and-prune-stopped"])
def test_a_replay_racing_a_pass_of_an_instance_whose_clock_is_ahead_past_the_lease_is_applied_and_shown(
    tmp_path: Path, hook_replay: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    _replay_race(tmp_path, Operator(monkeypatch, capsys), hook_replay=hook_replay, ahead=SKEW)


def _nested_race(tmp_path: Path, operator: Operator, replay_at: int, pass_at: int, ahead: float) -> tuple[Site, Hooked, Hooked]:
    """The replay stops before its `replay_at`-th store write (its reads
    done); meanwhile the instance `ahead` runs a timer pass + prune, which stops before its
    `pass_at`-th store write while the replay finishes; then the pass goes on."""
    site = _dead_lettered(tmp_path)
    replayer, racer = site.instance(), site.instance(skew=ahead)
    stopped, resume, done = threading.Event(), threading.Event(), threading.Event()

    def pause() -> None:
        stopped.set()
        resume.wait(10)

    def finish_replay() -> None:
        resume.set()
        done.wait(10)

    first = Hooked(replayer.ledger.store, STORE_WRITES, replay_at, pause)
    replayer.ledger.store = first
    replayer.dead_letters.store = Hooked(replayer.dead_letters.store, STORE_WRITES, shared=first)
    second = Hooked(racer.ledger.store, STORE_WRITES, pass_at, finish_replay)
    racer.ledger.store = second
    racer.dead_letters.store = Hooked(racer.dead_letters.store, STORE_WRITES, shared=second)
    codes: list[int] = []

    def replay() -> None:
        # What `dts-change dlq replay` writes before its own pass: the ledger's replay, then the
        # dead letter set aside (its pass is one like any other, raced by the other tests)
        try:
            letter = next(d for d in replayer.dead_letters.list() if d.change_id == "change-02")
            replayer.ledger.replay(letter.key, dead_letter=letter)
            replayer.dead_letters.mark_replayed(letter.dl_id)
            codes.append(0)
        finally:
            done.set()
            stopped.set()

    worker = threading.Thread(target=replay, daemon=True)
    worker.start()
    stopped.wait(10)
    tolerant(racer)
    resume.set()
    worker.join(10)
    assert codes == [0] and not worker.is_alive()
    return site, first, second


def test_a_pass_and_prune_of_an_instance_ahead_past_the_grace_interleaved_inside_a_replay_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    operator = Operator(monkeypatch, capsys)
    ahead = SKEW
    reference, counted, _ = _nested_race(tmp_path / "reference", operator, 0, 0, ahead)
    reference.stop()
    problems: dict[str, Any] = {}
    runs = 0
    for replay_at in range(1, len(counted.calls) + 1):
        for pass_at in range(1, 40):
            site, first, second = _nested_race(tmp_path / f"at-{replay_at}-{pass_at}", operator, replay_at, pass_at, ahead)
            runs += 1
            try:
                site.settle(site.instance())
                # Both may be pruned by the instance ahead (its clock is past their retention)
                found = verdict(site, operator, may_be_pruned={"change-01", "change-02"})
                if found:
                    problems[f"{replay_at}/{pass_at}"] = {
                        "replay stopped before": first.calls[replay_at - 1] if first.fired else None,
                        "pass stopped before": second.calls[pass_at - 1] if second.fired else None, **found}
            finally:
                site.stop()
            if not second.fired:
                break  # past the pass's last write
    assert runs >= 4
    assert problems == {}, json.dumps(problems, default=str)[:4000]


def test_a_holder_stalled_past_its_lease_leaves_no_dead_letter_for_a_change_the_next_holder_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    site = Site(tmp_path)
    try:
        # GIVEN two changes pending
        site.backlog(site.instance(), [1, 2])

        def takeover() -> None:
            # WHEN holder A stalls after reading them; the next holder applies both, then a new
            # change sets a filter on change-01's table (A's stale fold of change-01 now conflicts)
            site.world.jump(STALL)
            other = site.instance()
            site.settle(other)
            site.wanted["change-03"] = ["shop.t_01"]
            other.handle(json.dumps(manual_change("change-03", onConflict="replace", add={
                "shop": {"all": False, "Table": {"t_01": {"filter": "id > 1"}}}})), fc_context())

        holder = site.instance()
        holder.dts = Hooked(holder.dts, DTS_CALLS, 1, takeover)
        tolerant(holder)
        _finish(site)
        # THEN all three are applied and no dead letter names one (a stale holder's verdict on a
        # change another holder applied is not the change's fate)
        assert verdict(site, Operator(monkeypatch, capsys)) == {}
    finally:
        site.stop()
