#!/usr/bin/env python3
"""Build the Function Compute code folder (default `build/code`) without Docker.

FC runs the code on x86_64 Linux with its own Python, so the dependencies are downloaded as
manylinux wheels for that Python (`pip download --only-binary=:all: --python-version ...
--platform manylinux2014_x86_64`) and unpacked next to `index.py`, where the runtime finds them
without any PYTHONPATH. The sources are `src/index.py` and `src/dts_change/` (tests and caches
left out). Every module is then byte-compiled with an interpreter of the target version found on
this machine, because FC's code folder is read-only: without a matching `.pyc`, each cold start
compiles from source. No working interpreter of that version -> the build fails and says how to
get one; only `--no-precompile` ships without `.pyc`.

Usage: `python scripts/package.py [--python-version 3.12] [--python PATH] [--no-precompile]
[--output DIR]`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "build" / "code"
DEFAULT_PYTHON_VERSION = "3.10"
DEFAULT_PLATFORM = "manylinux2014_x86_64"
ENTRY_MODULE = "index.py"
PACKAGE_DIR = "dts_change"
# Never shipped: test code and interpreter or tool caches.
EXCLUDED_DIR_NAMES = frozenset(
    {"__pycache__", "tests", "test", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
)
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
# Parts of a wheel's `<name>.data/` folder that belong in the import path; the rest
# (scripts, headers, data) is not needed by a function.
IMPORTABLE_DATA_DIRS = frozenset({"purelib", "platlib"})


class PackagingError(Exception):
    """The code folder could not be built; the message says which step and why."""


@dataclass(frozen=True)
class BuildReport:
    """What was built, for the summary line."""

    output: Path
    files: int
    bytes_unpacked: int
    bytes_zipped: int
    wheels: tuple[str, ...]
    pycs: int = 0


def select_source_files(src_dir: Path) -> list[PurePosixPath]:
    """Relative paths of the sources to ship: the entry module plus the package, minus tests."""
    entry = src_dir / ENTRY_MODULE
    package = src_dir / PACKAGE_DIR
    if not entry.is_file():
        raise PackagingError(f"Missing entry module at {entry}: expected the FC handler file")
    if not package.is_dir():
        raise PackagingError(f"Missing package folder at {package}: expected src/{PACKAGE_DIR}")
    selected = [PurePosixPath(ENTRY_MODULE)]
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(src_dir)
        if any(part in EXCLUDED_DIR_NAMES for part in relative.parts):
            continue
        if path.is_dir() or path.name.endswith(EXCLUDED_SUFFIXES):
            continue
        if path.name.startswith("test_") and path.suffix == ".py":
            continue
        selected.append(PurePosixPath(relative.as_posix()))
    return selected


_PROJECT_SECTION = re.compile(r"^\[project\]\s*$(?P<body>.*?)(?=^\[|\Z)", re.MULTILINE | re.DOTALL)
_DEPENDENCIES = re.compile(r"^dependencies\s*=\s*\[(?P<items>.*?)\]", re.MULTILINE | re.DOTALL)
_QUOTED = re.compile(r"\"([^\"]+)\"|'([^']+)'")


def read_runtime_requirements(pyproject: Path) -> list[str]:
    """The `[project] dependencies` of pyproject.toml (no tomllib: this runs on Python 3.10)."""
    text = pyproject.read_text(encoding="utf-8")
    section = _PROJECT_SECTION.search(text)
    if section is None:
        raise PackagingError(f"No [project] table in {pyproject}: expected PEP 621 metadata")
    deps = _DEPENDENCIES.search(section.group("body"))
    if deps is None:
        raise PackagingError(f"No dependencies list in [project] of {pyproject}")
    items = deps.group("items")
    lines = [line.split("#", 1)[0] for line in items.splitlines()]
    return [a or b for a, b in _QUOTED.findall("\n".join(lines))]


def abi_tag(python_version: str) -> str:
    """CPython ABI tag for a `3.X` version string, e.g. `cp310`."""
    match = re.fullmatch(r"3\.(\d{1,2})", python_version)
    if match is None:
        raise PackagingError(
            f"Invalid --python-version {python_version!r}: expected 3.X, e.g. '3.10' or '3.12'"
        )
    return f"cp3{match.group(1)}"


def pip_download_command(
    requirements: list[str], dest: Path, python_version: str, platform: str, python: str | None = None
) -> list[str]:
    """The pip call that resolves and fetches wheels for FC's interpreter, not ours.

    pip evaluates environment markers (`async-timeout; python_version < "3.11"`) against the
    interpreter that runs it, whatever `--python-version` says, so the target interpreter runs
    pip when there is one; otherwise this one does."""
    return [
        python or sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "--python-version",
        python_version,
        "--implementation",
        "cp",
        "--abi",
        abi_tag(python_version),
        "--platform",
        platform,
        "--dest",
        str(dest),
        *requirements,
    ]


def wheel_member_target(name: str) -> PurePosixPath | None:
    """Where a wheel member lands relative to the code folder, or None when it is not needed."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise PackagingError(f"Unsafe path in wheel: {name!r}: expected a relative path")
    first = path.parts[0]
    if first.endswith(".data"):
        if len(path.parts) < 3 or path.parts[1] not in IMPORTABLE_DATA_DIRS:
            return None
        return PurePosixPath(*path.parts[2:])
    return path


def unpack_wheel(wheel: Path, target: Path) -> int:
    """Unpack one wheel into the code folder as pip would for a target dir; returns file count."""
    count = 0
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.infolist():
            if member.is_dir():
                continue
            relative = wheel_member_target(member.filename)
            if relative is None:
                continue
            destination = target / Path(*relative.parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, destination.open("wb") as sink:
                shutil.copyfileobj(source, sink)
            mode = member.external_attr >> 16
            if mode & 0o111:
                destination.chmod(0o755)
            count += 1
    return count


def copy_sources(src_dir: Path, target: Path) -> int:
    """Copy the selected sources into the code folder; returns file count."""
    files = select_source_files(src_dir)
    for relative in files:
        destination = target / Path(*relative.parts)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src_dir / Path(*relative.parts), destination)
    return len(files)


def tree_size(root: Path) -> tuple[int, int]:
    """(file count, total bytes) of a folder."""
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def zipped_size(root: Path) -> int:
    """Size of the folder as a deflated zip, roughly what `s deploy` uploads."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "code.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as out:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    out.write(path, path.relative_to(root).as_posix())
        return archive.stat().st_size


def download_wheels(
    requirements: list[str], dest: Path, python_version: str, platform: str, python: str | None = None
) -> list[Path]:
    """Run pip download; fail with pip's own output when a wheel is missing for the target."""
    command = pip_download_command(requirements, dest, python_version, platform, python)
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise PackagingError(f"pip download failed (exit {result.returncode}):\n{tail}")
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise PackagingError(f"pip download left no wheels in {dest}")
    return wheels


# Prints the interpreter's own version; run by every candidate so a shim or a wrong version shows.
_VERSION_PROBE = "import sys; print('%d.%d' % sys.version_info[:2])"
PROBE_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Probe:
    """What one candidate interpreter did when asked for its version."""

    path: str
    ok: bool
    reason: str


def interpreter_candidates(
    python_version: str,
    *,
    path_env: str | None = None,
    pyenv_root: Path | None = None,
    include_running: bool = True,
) -> list[str]:
    """Every `python3.X` this machine may have, in order: the interpreter running this script when
    it is that version, each one on PATH (not just the first: a pyenv shim often shadows a real
    one), then pyenv's own installs of that version."""
    name = f"python{python_version}"
    found: list[str] = []
    if include_running and f"{sys.version_info.major}.{sys.version_info.minor}" == python_version and sys.executable:
        found.append(sys.executable)
    for folder in (os.environ.get("PATH", "") if path_env is None else path_env).split(os.pathsep):
        candidate = Path(folder or ".") / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            found.append(str(candidate))
    root = pyenv_root if pyenv_root is not None else Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    versions = root / "versions"
    if versions.is_dir():
        installs = sorted(versions.glob(f"{python_version}.*"), key=_version_key, reverse=True)
        found += [str(d / "bin" / name) for d in installs if (d / "bin" / name).is_file()]
    return list(dict.fromkeys(found))


def _version_key(folder: Path) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else -1 for p in folder.name.split("."))


def probe_interpreter(path: str, python_version: str) -> Probe:
    """Run the candidate and check it reports `python_version` (a shim that cannot run fails here)."""
    try:
        done = subprocess.run(  # noqa: S603 - a fixed probe with a path we found ourselves
            [path, "-c", _VERSION_PROBE],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return Probe(path, False, f"cannot run: {exc}")
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        return Probe(path, False, f"exit {done.returncode}" + (f": {said[0]}" if said else ""))
    reported = done.stdout.strip()
    if reported != python_version:
        return Probe(path, False, f"reports Python {reported or '(nothing)'}, not {python_version}")
    return Probe(path, True, f"runs Python {reported}")


def find_interpreter(
    python_version: str,
    *,
    explicit: str | None = None,
    path_env: str | None = None,
    pyenv_root: Path | None = None,
    include_running: bool = True,
) -> str:
    """The first candidate that runs and reports `python_version`; else a PackagingError naming
    every candidate, why it was refused, and how to fix it."""
    candidates = (
        [explicit]
        if explicit
        else interpreter_candidates(
            python_version, path_env=path_env, pyenv_root=pyenv_root, include_running=include_running
        )
    )
    probes = [probe_interpreter(c, python_version) for c in candidates]
    for probe in probes:
        if probe.ok:
            return probe.path
    tried = "\n".join(f"  {p.path}: {p.reason}" for p in probes) or f"  no python{python_version} on PATH or in pyenv"
    raise PackagingError(
        f"No working Python {python_version} to precompile the code folder with. Tried:\n{tried}\n"
        f"FC's code folder is read-only, so without .pyc files every cold start compiles from source.\n"
        f"Fix: install Python {python_version} (e.g. `pyenv install {python_version}`, or your OS package "
        f"python{python_version}) and rerun, or pass --python /path/to/python{python_version}; "
        "--no-precompile ships without .pyc (slower cold starts)."
    )


def precompile(output: Path, interpreter: str) -> int:
    """Byte-compile the folder with the target interpreter; returns the number of .pyc files.

    FC's code folder is read-only, so a module without a matching `.pyc` is compiled from source
    on every cold start. `unchecked-hash` pycs stay valid whatever timestamps the zip carries.
    """
    done = subprocess.run(  # noqa: S603 - a fixed command with our own paths
        [interpreter, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(output)],
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-10:])
        raise PackagingError(f"{interpreter} -m compileall failed (exit {done.returncode}):\n{tail}")
    compiled = sum(1 for _ in output.rglob("*.pyc"))
    sources = sum(1 for _ in output.rglob("*.py"))
    if compiled < sources:
        raise PackagingError(
            f"{interpreter} wrote {compiled} .pyc files for {sources} modules in {output}: expected one each"
        )
    return compiled


def build(
    output: Path,
    *,
    src_dir: Path = REPO_ROOT / "src",
    pyproject: Path = REPO_ROOT / "pyproject.toml",
    python_version: str = DEFAULT_PYTHON_VERSION,
    platform: str = DEFAULT_PLATFORM,
    interpreter: str | None = None,
) -> BuildReport:
    """Rebuild `output` from scratch: sources, then every runtime wheel unpacked beside them, then
    `.pyc` files from `interpreter` (None: none, only for `--no-precompile`)."""
    requirements = read_runtime_requirements(pyproject)
    select_source_files(src_dir)  # fail before downloading anything
    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    copy_sources(src_dir, output)
    with tempfile.TemporaryDirectory(prefix="dts-change-wheels-") as tmp:
        wheels = download_wheels(requirements, Path(tmp), python_version, platform, interpreter)
        for wheel in wheels:
            unpack_wheel(wheel, output)
        names = tuple(w.name for w in wheels)
    pycs = precompile(output, interpreter) if interpreter else 0
    files, size = tree_size(output)
    return BuildReport(output, files, size, zipped_size(output), names, pycs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--python-version", default=DEFAULT_PYTHON_VERSION)
    parser.add_argument("--platform", default=DEFAULT_PLATFORM)
    parser.add_argument("--python", help="the interpreter to precompile with (default: searched)")
    parser.add_argument(
        "--no-precompile", action="store_true", help="ship without .pyc files (every cold start compiles)"
    )
    args = parser.parse_args(argv)
    try:
        abi_tag(args.python_version)
        interpreter = None
        if args.no_precompile:
            sys.stderr.write("package: --no-precompile: no .pyc files; every cold start compiles from source\n")
        else:  # found before anything is downloaded, so a missing interpreter fails fast
            interpreter = find_interpreter(args.python_version, explicit=args.python)
        report = build(
            args.output, python_version=args.python_version, platform=args.platform, interpreter=interpreter
        )
    except PackagingError as exc:
        sys.stderr.write(f"package: {exc}\n")
        return 1
    shown = os.path.relpath(report.output, Path.cwd())
    sys.stdout.write(
        f"{shown}: {report.files} files, {report.bytes_unpacked / 1e6:.1f} MB unpacked, "
        f"{report.bytes_zipped / 1e6:.1f} MB zipped, for python{args.python_version} "
        f"{args.platform}; {report.pycs} .pyc files"
        + (f" from {interpreter}" if interpreter else "")
        + "\n"
    )
    for name in report.wheels:
        sys.stdout.write(f"  {name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
