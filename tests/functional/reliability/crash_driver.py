"""A handler process for the crash tests: deliver events, then timer passes until nothing is open.

    python -m tests.functional.reliability.crash_driver EVENTS.json [--safe-first K] [--settle S]

Configuration comes from the environment, as in FC. `DTS_CHANGE_TEST_CRASH_AT` makes the process
exit at that point (code 17); `--safe-first K` delivers the first K events through an instance
built without it, so the crash lands at a chosen place. Prints one line per step (flushed), so a
test killing the process at a random moment knows roughly where it was. Exit 0 when settled,
3 when open changes remain after `--settle` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from dts_change.app.handler import App
from dts_change.app.settings import Settings
from dts_change.core.errors import DtsChangeError

TIMER = json.dumps({"triggerTime": "2024-05-01T00:01:00Z", "triggerName": "reconcile", "payload": "{}"})
EXIT_UNSETTLED = 3


def context() -> SimpleNamespace:
    return SimpleNamespace(request_id=f"crash-{os.getpid()}-{time.monotonic_ns()}", function=SimpleNamespace(timeout=30))


def build_app(*, crash: bool) -> App:
    env = dict(os.environ)
    if not crash:
        env.pop("DTS_CHANGE_TEST_CRASH_AT", None)
    return App(Settings.from_env(env))


def deliver(app: App, event: str) -> None:
    """FC retries a failed async invocation; so does this driver, a few times."""
    for _ in range(5):
        try:
            app.handle(event, context())
            return
        except DtsChangeError as exc:
            if not exc.retryable:
                raise
            time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("events")
    parser.add_argument("--safe-first", type=int, default=0)
    parser.add_argument("--settle", type=float, default=10.0)
    args = parser.parse_args(argv)
    events = json.loads(Path(args.events).read_text(encoding="utf-8"))
    safe = build_app(crash=False)
    app = build_app(crash=True)
    for index, event in enumerate(events):
        deliver(safe if index < args.safe_first else app, event)
        print(f"delivered {index}", flush=True)
    deadline = time.monotonic() + args.settle
    while app.ledger.jobs_with_open_changes():
        if time.monotonic() > deadline:
            return EXIT_UNSETTLED
        app.handle(TIMER, context())
        print("tick", flush=True)
        time.sleep(0.05)
    print("settled", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
