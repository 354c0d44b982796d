"""Local DTS OpenAPI (2020-01-01, RPC) and OSS emulator on loopback (docs/emulator.md).

Only `EmulatorServer` is public; `python -m dts_change.emulator` (and `dts-change emulator`,
via `dts_change.emulator.__main__.main`) runs it as a process. Never imported by the handler.
"""

from __future__ import annotations

from dts_change.emulator.server import EmulatorServer

__all__ = ["EmulatorServer"]
