"""scripts/package.py: what goes into build/code, and how wheels are unpacked (no network here).

The real download is verified by running `make package` (see docs/deploying.md); these tests
cover every decision the script makes on its own.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import zipfile
from pathlib import Path, PurePosixPath
from types import ModuleType

import pytest

from .deploy_checks import REPO_ROOT, SRC_DIR

SCRIPT = REPO_ROOT / "scripts" / "package.py"


@pytest.fixture(scope="module")
def package() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dts_change_package_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def make_src(root: Path) -> Path:
    src = root / "src"
    for relative in (
        "index.py",
        "dts_change/__init__.py",
        "dts_change/py.typed",
        "dts_change/clients/dts.py",
        "dts_change/emulator/server.py",
        "dts_change/routes.schema.json",
        "dts_change/__pycache__/merge.cpython-310.pyc",
        "dts_change/tests/test_merge.py",
        "dts_change/test_inline.py",
        "dts_change/stale.pyc",
    ):
        path = src / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# sample\n", encoding="utf-8")
    (src / "other_module.py").write_text("# not shipped\n", encoding="utf-8")
    return src


def make_wheel(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


def test_select_source_files_keeps_package_drops_tests_and_caches(
    package: ModuleType, tmp_path: Path
) -> None:
    selected = package.select_source_files(make_src(tmp_path))
    assert [str(p) for p in selected] == [
        "index.py",
        "dts_change/__init__.py",
        "dts_change/clients/dts.py",
        "dts_change/emulator/server.py",
        "dts_change/py.typed",
        "dts_change/routes.schema.json",
    ]


def test_select_source_files_missing_entry_module_raises(package: ModuleType, tmp_path: Path) -> None:
    src = make_src(tmp_path)
    (src / "index.py").unlink()
    with pytest.raises(package.PackagingError, match=r"Missing entry module at .*index\.py"):
        package.select_source_files(src)


def test_select_source_files_real_tree_ships_index_and_package(package: ModuleType) -> None:
    if not (SRC_DIR / "index.py").is_file():
        pytest.xfail("src/index.py is not written yet")
    selected = {str(p) for p in package.select_source_files(SRC_DIR)}
    assert "index.py" in selected
    assert "dts_change/__init__.py" in selected
    assert not [p for p in selected if "__pycache__" in p or p.endswith(".pyc")]
    assert not [p for p in selected if not (p == "index.py" or p.startswith("dts_change/"))]


def test_read_runtime_requirements_reads_pyproject_dependencies(package: ModuleType) -> None:
    requirements = package.read_runtime_requirements(REPO_ROOT / "pyproject.toml")
    names = [r.split(">")[0].split("=")[0].split("<")[0] for r in requirements]
    assert names == ["requests", "pydantic", "sqlglot"]
    if sys.version_info >= (3, 11):
        import tomllib

        data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
        assert requirements == data["project"]["dependencies"]


def test_read_runtime_requirements_ignores_comments_and_dev_extras(
    package: ModuleType, tmp_path: Path
) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\ndependencies = [\n  "requests>=2",  # http\n  \'sqlglot\',\n]\n'
        '[project.optional-dependencies]\ndev = ["pytest"]\n',
        encoding="utf-8",
    )
    assert package.read_runtime_requirements(pyproject) == ["requests>=2", "sqlglot"]


def test_pip_download_command_targets_fc_interpreter(package: ModuleType, tmp_path: Path) -> None:
    command = package.pip_download_command(["pydantic>=2"], tmp_path, "3.10", "manylinux2014_x86_64")
    text = " ".join(command)
    assert command[1:4] == ["-m", "pip", "download"]
    for flag in (
        "--only-binary=:all:",
        "--python-version 3.10",
        "--implementation cp",
        "--abi cp310",
        "--platform manylinux2014_x86_64",
        f"--dest {tmp_path}",
    ):
        assert flag in text
    assert command[-1] == "pydantic>=2"
    assert command[0] == sys.executable
    # the target interpreter runs pip when there is one: it evaluates the markers for its version
    assert package.pip_download_command(["x"], tmp_path, "3.10", "p", "/opt/py310/bin/python3.10")[0] == (
        "/opt/py310/bin/python3.10"
    )


def test_abi_tag_invalid_python_version_rejected(package: ModuleType) -> None:
    assert package.abi_tag("3.12") == "cp312"
    with pytest.raises(package.PackagingError, match=r"Invalid --python-version '310'"):
        package.abi_tag("310")


def test_unpack_wheel_places_importable_data_and_drops_scripts(package: ModuleType, tmp_path: Path) -> None:
    # GIVEN a wheel with a package, metadata, platlib data and a console script
    wheel = make_wheel(
        tmp_path / "demo-1.0-cp310-cp310-manylinux2014_x86_64.whl",
        {
            "demo/__init__.py": "VALUE = 1\n",
            "demo-1.0.dist-info/METADATA": "Name: demo\n",
            "demo-1.0.data/platlib/demo_ext.py": "EXT = 2\n",
            "demo-1.0.data/scripts/demo-cli": "#!/bin/sh\n",
        },
    )
    target = tmp_path / "code"
    # WHEN unpacked into the code folder
    count = package.unpack_wheel(wheel, target)
    # THEN importable files sit at the root and the script is left out
    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert files == ["demo-1.0.dist-info/METADATA", "demo/__init__.py", "demo_ext.py"]
    assert count == 3


@pytest.mark.parametrize("name", ["../evil.py", "/etc/evil.py", "demo/../../evil.py"])
def test_wheel_member_target_unsafe_path_rejected(package: ModuleType, name: str) -> None:
    with pytest.raises(package.PackagingError, match="Unsafe path in wheel"):
        package.wheel_member_target(name)


def test_wheel_member_target_maps_purelib(package: ModuleType) -> None:
    assert package.wheel_member_target("x-1.data/purelib/x/a.py") == PurePosixPath("x/a.py")
    assert package.wheel_member_target("x-1.data/headers/x.h") is None


def test_build_assembles_sources_and_wheels_from_scratch(
    package: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a source tree, a stale output folder and a stand-in for pip download
    src = make_src(tmp_path)
    output = tmp_path / "build" / "code"
    (output / "stale").mkdir(parents=True)
    calls: list[tuple[list[str], str, str]] = []

    def fake_download(
        requirements: list[str], dest: Path, version: str, plat: str, python: str | None = None
    ) -> list[Path]:
        calls.append((requirements, version, plat))
        return [make_wheel(dest / "dep-1-py3-none-any.whl", {"dep/__init__.py": "X = 1\n"})]

    monkeypatch.setattr(package, "download_wheels", fake_download)
    # WHEN the code folder is built for python3.12
    report = package.build(output, src_dir=src, pyproject=REPO_ROOT / "pyproject.toml", python_version="3.12")
    # THEN it holds exactly the sources plus the unpacked dependency
    files = sorted(p.relative_to(output).as_posix() for p in output.rglob("*") if p.is_file())
    assert files == [
        "dep/__init__.py",
        "dts_change/__init__.py",
        "dts_change/clients/dts.py",
        "dts_change/emulator/server.py",
        "dts_change/py.typed",
        "dts_change/routes.schema.json",
        "index.py",
    ]
    assert calls[0][1:] == ("3.12", "manylinux2014_x86_64")
    assert report.files == 7
    assert report.wheels == ("dep-1-py3-none-any.whl",)
    assert report.bytes_zipped > 0


def test_precompile_writes_pycs_with_the_target_interpreter(package: ModuleType, tmp_path: Path) -> None:
    # GIVEN a code folder and this interpreter, which runs
    (tmp_path / "mod.py").write_text("X = 1\n", encoding="utf-8")
    # WHEN it is precompiled THEN an unchecked-hash pyc for this version sits beside the module
    assert package.precompile(tmp_path, sys.executable) == 1
    tag = sys.implementation.cache_tag
    (pyc,) = (tmp_path / "__pycache__").glob(f"mod.{tag}.pyc")
    flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
    assert flags == 0b01  # hash-based, not checked against the source


def test_precompile_source_that_does_not_compile_fails_loudly(package: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def (:\n", encoding="utf-8")
    with pytest.raises(package.PackagingError, match="compileall failed"):
        package.precompile(tmp_path, sys.executable)


# ------------------------------------------------------------------ finding the interpreter

THIS_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
OTHER_VERSION = "3.9" if THIS_VERSION != "3.9" else "3.8"


def fake_interpreter(folder: Path, version: str, script: str) -> Path:
    """An executable `python<version>` that runs `script` (a shell body) instead of Python."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"python{version}"
    path.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def real_interpreter(folder: Path, version: str) -> Path:
    """`python<version>` in `folder` that is this interpreter (so it reports THIS_VERSION)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"python{version}"
    path.symlink_to(sys.executable)
    return path


PYENV_SHIM = 'echo "pyenv: python$0: command not found" >&2; exit 127'


def test_find_interpreter_skips_a_shim_that_cannot_run(package: ModuleType, tmp_path: Path) -> None:
    # GIVEN a pyenv-style shim first on PATH and a real interpreter of the version after it
    shim = fake_interpreter(tmp_path / "shims", THIS_VERSION, PYENV_SHIM)
    real = real_interpreter(tmp_path / "bin", THIS_VERSION)
    path_env = os.pathsep.join([str(shim.parent), str(real.parent)])
    # WHEN the packager looks for the target version THEN it takes the one that runs
    found = package.find_interpreter(
        THIS_VERSION, path_env=path_env, pyenv_root=tmp_path / "none", include_running=False
    )
    assert found == str(real)


def test_find_interpreter_only_a_shim_fails_with_the_fix(package: ModuleType, tmp_path: Path) -> None:
    shim = fake_interpreter(tmp_path / "shims", THIS_VERSION, PYENV_SHIM)
    with pytest.raises(package.PackagingError) as raised:
        package.find_interpreter(
            THIS_VERSION, path_env=str(shim.parent), pyenv_root=tmp_path / "none", include_running=False
        )
    text = str(raised.value)
    assert f"{shim}: exit 127: pyenv: python" in text
    assert f"pyenv install {THIS_VERSION}" in text and "--no-precompile" in text and "--python" in text


def test_find_interpreter_wrong_version_is_refused(package: ModuleType, tmp_path: Path) -> None:
    # GIVEN "python<other>" that is really this interpreter (e.g. a mislinked alias)
    liar = real_interpreter(tmp_path / "bin", OTHER_VERSION)
    with pytest.raises(package.PackagingError, match=rf"reports Python {THIS_VERSION}, not {OTHER_VERSION}"):
        package.find_interpreter(OTHER_VERSION, path_env=str(liar.parent), pyenv_root=tmp_path / "none")


def test_find_interpreter_prints_garbage_is_refused(package: ModuleType, tmp_path: Path) -> None:
    odd = fake_interpreter(tmp_path / "bin", THIS_VERSION, "echo hello")
    probe = package.probe_interpreter(str(odd), THIS_VERSION)
    assert not probe.ok and probe.reason == f"reports Python hello, not {THIS_VERSION}"


def test_find_interpreter_uses_pyenv_installs_when_path_has_none(package: ModuleType, tmp_path: Path) -> None:
    # GIVEN nothing on PATH, and pyenv installs of the version (newest patch release first)
    older = real_interpreter(tmp_path / "pyenv" / "versions" / f"{THIS_VERSION}.2" / "bin", THIS_VERSION)
    newer = real_interpreter(tmp_path / "pyenv" / "versions" / f"{THIS_VERSION}.10" / "bin", THIS_VERSION)
    pyenv = {"path_env": "", "pyenv_root": tmp_path / "pyenv", "include_running": False}
    assert package.interpreter_candidates(THIS_VERSION, **pyenv) == [str(newer), str(older)]
    assert package.find_interpreter(THIS_VERSION, **pyenv) == str(newer)


def test_find_interpreter_running_interpreter_of_the_version_comes_first(package: ModuleType, tmp_path: Path) -> None:
    # `python3.X scripts/package.py` with nothing of that version on PATH still precompiles
    assert package.interpreter_candidates(THIS_VERSION, path_env="", pyenv_root=tmp_path / "none") == [sys.executable]
    assert package.interpreter_candidates(OTHER_VERSION, path_env="", pyenv_root=tmp_path / "none") == []


def test_find_interpreter_explicit_python_is_checked_too(package: ModuleType, tmp_path: Path) -> None:
    good = real_interpreter(tmp_path / "bin", THIS_VERSION)
    assert package.find_interpreter(THIS_VERSION, explicit=str(good)) == str(good)
    with pytest.raises(package.PackagingError, match="not " + OTHER_VERSION):
        package.find_interpreter(OTHER_VERSION, explicit=str(good))


def test_main_without_interpreter_fails_before_downloading(
    package: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a target version other than the running interpreter's, so only the broken shim is a candidate
    shim = fake_interpreter(tmp_path / "shims", OTHER_VERSION, PYENV_SHIM)
    monkeypatch.setenv("PATH", str(shim.parent))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "none"))
    monkeypatch.setattr(package, "download_wheels", lambda *a: pytest.fail("downloaded before the probe"))
    assert package.main(["--output", str(tmp_path / "out"), "--python-version", OTHER_VERSION]) == 1
    err = capsys.readouterr().err
    assert f"No working Python {OTHER_VERSION}" in err and "--no-precompile" in err
    assert not (tmp_path / "out").exists()


def test_main_no_precompile_is_the_only_way_without_pycs(
    package: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, object] = {}

    def fake_build(output: Path, **kwargs: object) -> object:
        seen.update(kwargs)
        return package.BuildReport(output, 1, 1, 1, (), 0)

    monkeypatch.setattr(package, "build", fake_build)
    monkeypatch.setattr(package, "find_interpreter", lambda *a, **k: pytest.fail("probed with --no-precompile"))
    assert package.main(["--output", str(tmp_path / "out"), "--no-precompile"]) == 0
    assert seen["interpreter"] is None
    assert "no .pyc files" in capsys.readouterr().err
