"""A fresh clone is enough: the fc3 schema is vendored intact, and no file points outside the repo."""

from __future__ import annotations

import hashlib
import re
import subprocess

import pytest

from .deploy_checks import FC3_SCHEMA, FC3_SCHEMA_SHA256, REPO_ROOT, SCHEMAS_DIR

# Paths of the machine the project was written on, or of a folder kept beside the clone.
# (Spelt in pieces so that this file does not match itself.)
OUTSIDE_PATH = re.compile("/work" + "/|" + r"(?<![\w.-])" + "shared" + "/")
TEXT_SUFFIXES = {".py", ".md", ".json", ".yaml", ".yml", ".toml", ".txt", ".sh", ".sql", ""}


def tracked_text_files() -> list[str]:
    try:
        listed = subprocess.run(
            ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=30
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        pytest.skip("not a git checkout: the tracked files cannot be listed")
    return [
        name
        for name in listed
        if (REPO_ROOT / name).is_file() and (REPO_ROOT / name).suffix in TEXT_SUFFIXES
    ]


def test_vendored_fc3_schema_is_the_recorded_upstream_copy() -> None:
    # The checksum pins the exact upstream file named in schemas/README.md.
    assert hashlib.sha256(FC3_SCHEMA.read_bytes()).hexdigest() == FC3_SCHEMA_SHA256
    notice = (SCHEMAS_DIR / "README.md").read_text(encoding="utf-8")
    assert "devsapp/fc3" in notice
    assert "4ca1c1b8c33e654438bb73b64cfc95a5c9d94f5a" in notice
    assert "MIT License" in notice and "Copyright (c) 2020 Serverless Devs" in notice
    assert FC3_SCHEMA_SHA256 in notice


def test_no_tracked_file_refers_to_a_path_outside_the_repository() -> None:
    found = []
    for name in tracked_text_files():
        text = (REPO_ROOT / name).read_text(encoding="utf-8", errors="replace")
        found += [f"{name}: {m.group(0)!r}" for m in OUTSIDE_PATH.finditer(text)]
    assert found == []


def test_outside_path_pattern_catches_both_forms() -> None:
    assert OUTSIDE_PATH.search("see " + "/work" + "/main/README.md")
    assert OUTSIDE_PATH.search("a copy of the " + "shared" + "/ folder beside the clone")
    assert not OUTSIDE_PATH.search("docs/shared-state.md and pre-shared/keys")
