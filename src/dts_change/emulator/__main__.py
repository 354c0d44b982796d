"""`python -m dts_change.emulator [--host 127.0.0.1] [--port N] [--state FILE]`.

Prints `listening on http://HOST:PORT` as its first stdout line (flushed, so a parent process can
read the port), then serves until SIGINT or SIGTERM. `main` is what `dts-change emulator` calls.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from dts_change.core.errors import ConfigurationError
from dts_change.emulator.server import EmulatorServer

EXIT_OK = 0
EXIT_USAGE = 2


def build_parser(prog: str = "python -m dts_change.emulator") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Local DTS (2020-01-01) and OSS emulator on loopback."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port, 0 = any free port (default)")
    parser.add_argument("--state", default=None, help="JSON state file (default: the demo state)")
    return parser


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run the emulator until SIGINT/SIGTERM; 0 on a clean stop, 2 on bad arguments or state.

    `prog` names the command in --help (the CLI passes "dts-change emulator").
    """
    parser = build_parser(prog) if prog else build_parser()
    args = parser.parse_args(argv)
    try:
        server = EmulatorServer(args.host, args.port, args.state)
        endpoint = server.start()
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"listening on {endpoint}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
