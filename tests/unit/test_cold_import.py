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
    assert "index" in loaded and "dts_change.app.handler" in loaded
    assert not any(m == "sqlglot" or m.startswith("sqlglot.") for m in loaded)
    assert not any(m.startswith("dts_change.emulator") for m in loaded)
    assert not any(m.startswith(("alibabacloud", "oss2", "aiohttp")) for m in loaded)


def test_import_index_adds_few_third_party_modules_beyond_requests_and_pydantic():
    base = modules_after("import requests\nimport pydantic\nfrom pydantic import BaseModel")
    ours = modules_after("import index")
    extra_third_party = {m for m in ours - base if not m.startswith(("dts_change", "index"))}
    # pydantic's field machinery is loaded by the first model class; nothing else outside stdlib
    # (gc is built into the interpreter: index.py pauses the collector during the import).
    assert {m.split(".")[0] for m in extra_third_party} <= {
        "pydantic", "annotated_types", "secrets", "uuid", "hmac", "gc",
    }


def run_probe(code: str) -> list[object]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=60)
    result: list[object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_import_index_defines_no_trigger_models_until_an_event_of_that_family_arrives():
    # GIVEN a fresh interpreter that imports the entry module, then splits one native OSS event
    code = (
        "import sys, json\n"
        "import index\n"
        "at_import = sorted(m for m in sys.modules if m.startswith('dts_change.intake.events'))\n"
        "from dts_change.intake.split import split_event\n"
        "envs = split_event(open('events/oss-object-created.json', 'rb').read())\n"
        "after = sorted(m for m in sys.modules if m.startswith('dts_change.intake.events.'))\n"
        "print(json.dumps([at_import, after, envs[0].source.key]))"
    )
    at_import, after, key = run_probe(code.replace("events/", str(REPO_ROOT / "events") + "/"))
    # THEN no trigger model is defined by the import, and the OSS event loads only the OSS family
    assert at_import == []
    assert after == ["dts_change.intake.events._wire", "dts_change.intake.events.oss"]
    assert key == "dts-change/incoming/new-table.sql"


def test_import_index_pauses_the_collector_only_for_the_import_and_freezes_what_it_created():
    enabled, frozen, gen0 = run_probe(
        "import gc, json\nbefore = gc.get_freeze_count()\nimport index\n"
        "print(json.dumps([gc.isenabled(), gc.get_freeze_count() - before, gc.get_count()[0]]))"
    )
    assert enabled is True
    assert isinstance(frozen, int) and frozen > 10_000  # the import's objects, out of every later collection
    assert isinstance(gen0, int) and gen0 < 700  # nothing left pending for the first collection
    # A collector turned off before the import stays off: index does not override its host.
    (still_off,) = run_probe("import gc, json\ngc.disable()\nimport index\nprint(json.dumps([gc.isenabled()]))")
    assert still_off is False


def test_import_index_resumes_the_collector_when_the_import_fails(tmp_path):
    # GIVEN the real index.py beside a dts_change package whose handler cannot be imported
    import shutil

    shutil.copy(REPO_ROOT / "src" / "index.py", tmp_path / "index.py")
    (tmp_path / "dts_change").mkdir()
    (tmp_path / "dts_change" / "__init__.py").write_text("")
    (tmp_path / "dts_change" / "app").mkdir()
    (tmp_path / "dts_change" / "app" / "__init__.py").write_text("")
    (tmp_path / "dts_change" / "app" / "handler.py").write_text("raise ImportError('broken on purpose')\n")
    code = (
        "import gc, json\n"
        "before = gc.get_freeze_count()\n"  # not 0 on every version: 3.12 starts with some frozen
        "try:\n    import index\nexcept ImportError as exc:\n    error = str(exc)\n"
        "print(json.dumps([error, gc.isenabled(), gc.get_freeze_count() - before]))"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                         timeout=60, cwd=tmp_path)
    error, enabled, frozen = json.loads(out.stdout.strip().splitlines()[-1])
    # THEN the import error reaches the caller, the collector runs again and nothing was frozen
    assert error == "broken on purpose"
    assert enabled is True and frozen == 0
