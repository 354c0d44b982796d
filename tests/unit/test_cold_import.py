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
    # (dataclasses is the standard record decorator the package uses).
    assert {m.split(".")[0] for m in extra_third_party} <= {
        "pydantic", "secrets", "uuid", "hmac", "dataclasses",
    }


def test_import_index_builds_no_pydantic_model_until_a_dblist_is_validated():
    # GIVEN a fresh interpreter that imports the entry module, then validates one DbList
    (at_import, classes_at_import, after, parsed) = run_probe(
        "import sys, json\n"
        "import index\n"
        "from pydantic import BaseModel\n"
        "def models(cls):\n"
        "    return [c.__module__ + '.' + c.__name__ for c in cls.__subclasses__()] + [m for s in cls.__subclasses__() for m in models(s)]\n"
        "loaded = lambda: sorted(m for m in sys.modules if m == 'dts_change.core.entries' or m.startswith('annotated_types'))\n"
        "at_import = loaded()\n"
        "classes = [m for m in models(BaseModel) if m.startswith('dts_change')]\n"
        "from dts_change.core.dblist import DbList\n"
        "db = DbList.from_user({'shop': {'all': False, 'Table': {'orders': {}}}})\n"
        "print(json.dumps([at_import, classes, loaded(), db.to_json()]))"
    )
    # THEN the import defined no model class and loaded neither the entry models nor pydantic's
    # field types (a timer pass with nothing pending never needs them) ...
    assert at_import == [] and classes_at_import == []
    # ... and the first validation loads them and validates as before
    assert "dts_change.core.entries" in after and "annotated_types" in after
    assert json.loads(parsed) == {"shop": {"all": False, "Table": {"orders": {}}}}


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


def test_import_index_leaves_the_collector_as_the_host_has_it():
    # GIVEN fresh interpreters, one with the collector on (the default) and one that turned it off
    enabled, frozen = run_probe(
        "import gc, json\nbefore = gc.get_freeze_count()\nimport index\n"
        "print(json.dumps([gc.isenabled(), gc.get_freeze_count() - before]))"
    )
    (still_off,) = run_probe("import gc, json\ngc.disable()\nimport index\nprint(json.dumps([gc.isenabled()]))")
    # THEN importing index neither pauses nor freezes anything: the host's collector is its own
    assert enabled is True and frozen == 0
    assert still_off is False


def test_import_index_passes_an_import_failure_to_the_caller(tmp_path):
    # GIVEN the real index.py beside a dts_change package whose handler cannot be imported
    import shutil

    shutil.copy(REPO_ROOT / "src" / "index.py", tmp_path / "index.py")
    (tmp_path / "dts_change").mkdir()
    (tmp_path / "dts_change" / "__init__.py").write_text("")
    (tmp_path / "dts_change" / "app").mkdir()
    (tmp_path / "dts_change" / "app" / "__init__.py").write_text("")
    (tmp_path / "dts_change" / "app" / "handler.py").write_text("raise ImportError('broken on purpose')\n")
    code = "import json\ntry:\n    import index\nexcept ImportError as exc:\n    error = str(exc)\nprint(json.dumps([error]))"
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                         timeout=60, cwd=tmp_path)
    (error,) = json.loads(out.stdout.strip().splitlines()[-1])
    # THEN the import error reaches the caller (FC reports it as the instance's start-up failure)
    assert error == "broken on purpose"
