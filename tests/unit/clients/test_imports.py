"""The FC entry imports the clients on cold start: they must stay light and SDK-free."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN_PREFIXES = (
    "sqlglot",
    "dts_change.emulator",
    "alibabacloud",
    "oss2",
    "darabonba",
    "Tea",
    "aiohttp",
    "xml.etree",
)


def test_client_modules_import_no_sdk_parser_or_emulator() -> None:
    code = (
        "import json, sys\n"
        "import dts_change.clients.dts, dts_change.clients.oss, dts_change.clients.credentials\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    loaded = json.loads(out.stdout)
    offending = [m for m in loaded if m.startswith(FORBIDDEN_PREFIXES)]
    assert offending == []
