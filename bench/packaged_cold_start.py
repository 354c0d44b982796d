"""Benchmark: the packaged cold start, as FC runs it, against importing the official SDKs.

What a new FC instance of the handler does before its first answer: import `index` from the code
folder `make package` built (`build/code`), run `index.initialize`, and handle a first OSS event
(read the change file, record it in the ledger, one reconcile pass: here against the emulator on
127.0.0.1, with the ledger and dead letters on its OSS). Each sample is a fresh interpreter of the
runtime's version (3.10, found as `make package` finds it), timing those three steps inside the
process; the code folder is treated as read-only (no .pyc written), as in FC. Variants:

- ours, with the `.pyc` files `make package` ships (first event: a JSON change document; for
  information also a SQL DDL file, whose parser is imported on the first .sql file);
- ours, from a copy without `.pyc` (what `--no-precompile`, or a failed precompile, ships);
- the alternative a user would pick: importing the official DTS client
  (`alibabacloud_dts20200101`) and OSS client (`alibabacloud_oss_v2`), at the versions of this
  project's dev dependencies, packaged the same way (manylinux wheels for 3.10, precompiled).

Target (issue 14): our cold start <= 0.5 x the SDKs' import alone, for import + initialize
(with .pyc) and, the issue's last point, for import + initialize + first OSS event; both ratios
are checked. The first event's round trips to the emulator are counted from its call log. Needs
`make package` first (the SDK folder is downloaded and built by this script into build/sdk-code,
from PyPI, on the first run).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
CODE = ROOT / "build" / "code"
SDK_CODE = ROOT / "build" / "sdk-code"
RUNTIME_VERSION = "3.10"
RUNS = int(os.environ.get("BENCH_PACKAGED_RUNS", "20"))
TARGET = 0.5
SDK_PACKAGES = ("alibabacloud-dts20200101", "alibabacloud-oss-v2")

OURS_PROBE = """
import json, sys, time
from types import SimpleNamespace
t0 = time.perf_counter()
import index
t1 = time.perf_counter()
context = SimpleNamespace(request_id="bench-1", function=SimpleNamespace(timeout=110))
index.initialize(context)
t2 = time.perf_counter()
result = json.loads(index.handler(open(sys.argv[1], "rb").read(), context))
t3 = time.perf_counter()
import os
here = os.getcwd()
pycs = sum(1 for m in list(sys.modules.values()) if (getattr(m, "__cached__", None) or "").startswith(here)
           and os.path.exists(m.__cached__))
print(json.dumps({"import": t1 - t0, "initialize": t2 - t1, "event": t3 - t2, "total": t3 - t0,
                  "outcomes": [c["outcome"] for c in result["changes"]], "pycs": pycs}))
"""
SDK_PROBE = """
import json, time
t0 = time.perf_counter()
from alibabacloud_dts20200101.client import Client as DtsClient
from alibabacloud_tea_openapi import models as open_api_models
import alibabacloud_oss_v2 as oss
t1 = time.perf_counter()
print(json.dumps({"total": t1 - t0}))
"""

FLOOR_PROBE = """
import json, time
t0 = time.perf_counter()
import json as _json, logging, requests
from pydantic import BaseModel, Field
class First(BaseModel):
    name: str = Field(min_length=1)
First(name="x")
t1 = time.perf_counter()
print(json.dumps({"total": t1 - t0}))
"""
"""The floor any handler on the product's run-time dependencies pays: importing requests and
pydantic and defining and using a first pydantic model (pydantic loads its field machinery then)."""


def load_package_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dts_change_package_script", ROOT / "scripts" / "package.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def sdk_requirements() -> list[str]:
    """The official SDKs at the versions pinned in pyproject's dev dependencies."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pins = []
    for name in SDK_PACKAGES:
        match = re.search(rf'"({re.escape(name)}==[^"]+)"', text)
        pins.append(match.group(1) if match else name)
    return pins


def build_sdk_code(package: ModuleType, interpreter: str) -> None:
    """build/sdk-code: the SDKs and their dependencies, packaged as `make package` packages ours."""
    if (SDK_CODE / ".complete").exists():
        return
    if SDK_CODE.exists():
        shutil.rmtree(SDK_CODE)
    SDK_CODE.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="dts-change-sdk-wheels-") as tmp:
        for wheel in package.download_wheels(
            sdk_requirements(), Path(tmp), RUNTIME_VERSION, package.DEFAULT_PLATFORM, interpreter
        ):
            package.unpack_wheel(wheel, SDK_CODE)
    package.precompile(SDK_CODE, interpreter)
    (SDK_CODE / ".complete").write_text("ok\n", encoding="utf-8")


# The first event of each kind: the OSS trigger's event for an object of the seed bucket.
FIRST_EVENTS = {"json": "dts-change/incoming/add-tables.json", "sql": "dts-change/incoming/new-table.sql"}


def oss_event(state: dict[str, object], key: str, path: Path) -> Path:
    """events/oss-object-created.json for `key`, with the ETag OSS gives its body."""
    event = json.loads((ROOT / "events" / "oss-object-created.json").read_text(encoding="utf-8"))
    body = state["buckets"]["dts-change-config"][key]  # type: ignore[index]
    record = event["events"][0]["oss"]["object"]
    record.update({"key": key, "size": len(body.encode()), "eTag": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest().upper()})
    path.write_text(json.dumps(event), encoding="utf-8")
    return path


def without_pycs(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def run(interpreter: str, code_dir: Path, probe: str, env: dict[str, str], *args: str) -> dict[str, object]:
    out = subprocess.run(
        [interpreter, "-c", probe, *args],
        capture_output=True, text=True, check=False, env=env, cwd=code_dir, timeout=120,
    )
    if out.returncode != 0:
        raise RuntimeError(f"probe failed in {code_dir}:\n{out.stderr[-3000:]}")
    data: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def function_env(endpoint: str, state: dict[str, object], code_dir: Path) -> dict[str, str]:
    """What FC gives the handler (s.yaml's variables, FC's own names), pointed at the emulator."""
    key_id, cred = next(iter(state["credentials"].items()))  # type: ignore[attr-defined]
    job_id = next(iter(state["jobs"]))  # type: ignore[call-overload]
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(code_dir),  # FC puts the code folder on sys.path
        "PYTHONDONTWRITEBYTECODE": "1",  # FC's code folder is read-only
        "FC_FUNCTION_NAME": "dts-change-handler",
        "FC_REGION": "cn-hangzhou",
        "DTS_REGION": "cn-hangzhou",
        "OSS_REGION": "cn-hangzhou",
        "DTS_ENDPOINT": endpoint,
        "OSS_ENDPOINT": endpoint,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": cred["secret"],
        "DTS_JOB_ID": job_id,
        "DTS_CHANGE_ALLOWED_BUCKETS": "dts-change-config",
        "DTS_CHANGE_LEDGER": "oss://dts-change-config/dts-change/ledger/",
        "DTS_CHANGE_DEAD_LETTER": "oss://dts-change-config/dts-change/dead-letter/",
        "DTS_CHANGE_LOG_LEVEL": "WARNING",
    }


def callgrind(interpreter: str, code_dir: Path, env: dict[str, str], *args: str, only_imports: bool = False) -> int | None:
    """Instructions valgrind's callgrind counts for `interpreter *args` (None without valgrind):
    the whole run, or with `only_imports` only what runs inside CPython's import function."""
    if shutil.which("valgrind") is None:
        return None
    toggle = ["--toggle-collect=PyImport_ImportModuleLevelObject"] if only_imports else []
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", *toggle, "--callgrind-out-file=/dev/null", interpreter, *args],
        capture_output=True, text=True, check=False, env=env, cwd=code_dir, timeout=900,
    )
    match = re.search(r"Collected : (\d+)", out.stderr)
    return int(match.group(1)) if match else None


def whole_instructions(interpreter: str, code_dir: Path, env: dict[str, str], *args: str) -> int | None:
    """Instructions of a whole probe run, for the cold start with its first event."""
    return callgrind(interpreter, code_dir, env, *args)


def instructions(interpreter: str, code_dir: Path, statement: str) -> int | None:
    """Instructions executed inside import statements: a cross-check that does not move with the
    machine's load."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(code_dir), "PYTHONDONTWRITEBYTECODE": "1",
           "DTS_REGION": "cn-hangzhou"}
    return callgrind(interpreter, code_dir, env, "-c", statement, only_imports=True)


def ms(values: list[float]) -> str:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return f"median {statistics.median(values) * 1000:.1f} ms (IQR {(q[2] - q[0]) * 1000:.1f} ms)"


def main() -> int:
    package = load_package_script()
    if not (CODE / "index.py").is_file():
        print(f"packaged_cold_start: {CODE} is missing: run `make package` first")
        return 1
    try:
        interpreter = package.find_interpreter(RUNTIME_VERSION)
    except package.PackagingError as exc:
        print(f"packaged_cold_start: {exc}")
        return 1
    if not list(CODE.rglob("__pycache__/index.*.pyc")):
        print(f"packaged_cold_start: {CODE} has no .pyc files: run `make package` (not --no-precompile)")
        return 1
    build_sdk_code(package, interpreter)
    sys.path.insert(0, str(ROOT / "src"))
    from dts_change.emulator import EmulatorServer

    state = json.loads((ROOT / "src" / "dts_change" / "samples" / "local-state.json").read_text(encoding="utf-8"))
    for job in state["jobs"].values():
        job["modifyDurationSeconds"] = 0.0
    server = EmulatorServer("127.0.0.1", 0, state)
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="dts-change-nopyc-") as tmp:
            bare = Path(tmp) / "code"
            without_pycs(CODE, bare)
            events = {kind: oss_event(state, key, Path(tmp) / f"{kind}.json") for kind, key in FIRST_EVENTS.items()}
            sdk_env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(SDK_CODE), "PYTHONDONTWRITEBYTECODE": "1"}
            series: list[tuple[str, list[dict[str, object]]]] = [
                ("pyc", []), ("nopyc", []), ("sdk", []), ("pyc-sql", []), ("nopyc-sql", []), ("floor", [])
            ]
            shuffler = random.Random(RUNS)
            round_trips: list[int] = []
            for _ in range(RUNS):
                shuffler.shuffle(series)
                for name, samples in series:
                    if name == "sdk":
                        samples.append(run(interpreter, SDK_CODE, SDK_PROBE, sdk_env))
                        continue
                    if name == "floor":
                        samples.append(run(interpreter, CODE, FLOOR_PROBE, {**sdk_env, "PYTHONPATH": str(CODE)}))
                        continue
                    server.reset()  # every sample is the first event of a fresh deployment
                    code_dir = CODE if name.startswith("pyc") else bare
                    event = events["sql" if name.endswith("-sql") else "json"]
                    env = function_env(server.endpoint, state, code_dir)
                    samples.append(run(interpreter, code_dir, OURS_PROBE, env, str(event)))
                    if name == "pyc":  # initialize's GetBucketVersioning, then the first event's
                        round_trips.append(len(server.calls()) - 1)
            # The same comparison by instructions (does not move with the machine's load): each
            # probe whole, minus an empty interpreter's start-up in the same environment.
            server.reset()
            env = function_env(server.endpoint, state, CODE)
            floor_env = {**sdk_env, "PYTHONPATH": str(CODE)}
            counted = {
                "ours": whole_instructions(interpreter, CODE, env, "-c", OURS_PROBE, str(events["json"])),
                "ours-bare": whole_instructions(interpreter, CODE, env, "-c", "pass"),
                "sdk": whole_instructions(interpreter, SDK_CODE, sdk_env, "-c", SDK_PROBE),
                "sdk-bare": whole_instructions(interpreter, SDK_CODE, sdk_env, "-c", "pass"),
                "floor": whole_instructions(interpreter, CODE, floor_env, "-c", FLOOR_PROBE),
                "floor-bare": whole_instructions(interpreter, CODE, floor_env, "-c", "pass"),
            }
    finally:
        server.stop()
    by_name = dict(series)
    totals = {name: [float(s["total"]) for s in samples] for name, samples in by_name.items()}  # type: ignore[arg-type]
    print("== packaged_cold_start: import index + initialize + first OSS event, from build/code, "
          f"python{RUNTIME_VERSION} ({interpreter}) ==")
    print(f"runs: {RUNS} each, fresh processes, interleaved in a shuffled order; code folder read-only")
    print("first OSS event: a JSON change document (dts-change/incoming/add-tables.json), "
          f"{'/'.join(str(n) for n in sorted(set(round_trips)))} round trips to the emulator (after initialize's one)")
    for name, label in (("pyc", "ours, with .pyc   "), ("nopyc", "ours, without .pyc")):
        parts = {k: [float(s[k]) for s in by_name[name]] for k in ("import", "initialize", "event")}  # type: ignore[arg-type]
        print(f"{label}: total {ms(totals[name])}; import {ms(parts['import'])}, initialize "
              f"{ms(parts['initialize'])}, first event {ms(parts['event'])}")
    print("for information, first OSS event a SQL DDL file (new-table.sql: the DDL parser, sqlglot, is "
          "imported on the first .sql file):")
    for name, label in (("pyc-sql", "ours, with .pyc   "), ("nopyc-sql", "ours, without .pyc")):
        print(f"  {label}: total {ms(totals[name])}; first event {ms([float(s['event']) for s in by_name[name]])}")  # type: ignore[arg-type]
    outcomes = {tuple(s["outcomes"]) for name in ("pyc", "nopyc", "pyc-sql", "nopyc-sql") for s in by_name[name]}  # type: ignore[arg-type]
    print(f"first-event outcomes: {sorted(outcomes)}; modules of the code folder loaded from .pyc (with / without): "
          f"{by_name['pyc'][0]['pycs']} / {by_name['nopyc'][0]['pycs']}")
    print(f"official SDKs' import (DTS + OSS clients, packaged the same way): {ms(totals['sdk'])}")
    startup = {
        name: [float(s["import"]) + float(s["initialize"]) for s in by_name[name]]  # type: ignore[arg-type]
        for name in ("pyc", "nopyc")
    }
    sdk = statistics.median(totals["sdk"])
    ratio = statistics.median(startup["pyc"]) / sdk
    print(f"ratio ours (import + initialize, with .pyc) / SDKs' import: {ratio:.3f} (target <= {TARGET}) -> "
          f"{'OK' if ratio <= TARGET else 'OVER TARGET'}")
    with_event = statistics.median(totals["pyc"]) / sdk
    print(f"ratio ours (import + initialize + first OSS event, with .pyc) / SDKs' import: {with_event:.3f} (target "
          f"<= {TARGET}) -> {'OK' if with_event <= TARGET else 'OVER TARGET'}")
    print("for information: without .pyc, import + "
          f"initialize takes {statistics.median(startup['nopyc']) / statistics.median(startup['pyc']):.2f}x and the "
          f"whole cold start {statistics.median(totals['nopyc']) / statistics.median(totals['pyc']):.2f}x as long")
    bare = instructions(interpreter, CODE, "pass")
    ours_i = instructions(interpreter, CODE, "import index")
    sdk_i = instructions(interpreter, SDK_CODE, SDK_PROBE.split("t0 = time.perf_counter()")[1].split("t1 =")[0])
    if bare is not None and ours_i and sdk_i:
        print(f"instructions inside imports (callgrind, minus start-up's own): ours `import index` "
              f"{(ours_i - bare) / 1e6:.0f} M, SDKs {(sdk_i - bare) / 1e6:.0f} M -> ratio "
              f"{(ours_i - bare) / (sdk_i - bare):.3f}")
    print(f"floor, requests + pydantic + a first model (what any handler on these dependencies pays): "
          f"{ms(totals['floor'])} -> {statistics.median(totals['floor']) / sdk:.3f} of the SDKs' import")
    if all(counted.values()):
        c = {k: float(v or 0) for k, v in counted.items()}
        whole, sdk_whole, floor = c["ours"] - c["ours-bare"], c["sdk"] - c["sdk-bare"], c["floor"] - c["floor-bare"]
        print(f"instructions of the whole probe (callgrind, minus an empty start-up): ours import + initialize + "
              f"first OSS event {whole / 1e6:.0f} M, SDKs' import {sdk_whole / 1e6:.0f} M -> ratio "
              f"{whole / sdk_whole:.3f}; floor {floor / 1e6:.0f} M ({floor / sdk_whole:.3f}), so this project's own "
              f"code and first event {(whole - floor) / 1e6:.0f} M ({(whole - floor) / sdk_whole:.3f})")
    ok = ratio <= TARGET and with_event <= TARGET and all(o and all(x in ("applied", "submitted") for x in o) for o in outcomes)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
