"""`import index` (the FC entry) must not pay for what only some paths need."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO_ROOT


def modules_after(stmt: str) -> set[str]:
    code = f"import sys, json\nbefore = set(sys.modules)\n{stmt}\nprint(json.dumps(sorted(set(sys.modules) - before)))"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=60)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_index_loads_neither_sqlglot_nor_the_emulator():
    loaded = modules_after("import index")
    assert "index" in loaded and "dts_change.handler" in loaded
    assert not any(m == "sqlglot" or m.startswith("sqlglot.") for m in loaded)
    assert not any(m.startswith("dts_change.emulator") for m in loaded)
    assert not any(m.startswith(("alibabacloud", "oss2", "aiohttp")) for m in loaded)


def test_import_index_adds_few_third_party_modules_beyond_requests_and_pydantic():
    base = modules_after("import requests\nimport pydantic\nfrom pydantic import BaseModel")
    ours = modules_after("import index")
    extra_third_party = {m for m in ours - base if not m.startswith(("dts_change", "index"))}
    # pydantic's field machinery is loaded by the first model class; nothing else outside stdlib.
    assert {m.split(".")[0] for m in extra_third_party} <= {"pydantic", "annotated_types", "secrets", "uuid", "hmac"}
