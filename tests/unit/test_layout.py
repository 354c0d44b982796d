"""The tree matches docs/architecture.md and its dependencies point one way (issue #15)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "src" / "dts_change"
ARCHITECTURE = REPO_ROOT / "docs" / "architecture.md"

# What each top-level part may import from the package (besides itself); read bottom-up as the doc does.
ALLOWED = {
    "core": set(),
    "clients": {"core"},
    "state": {"core", "clients"},
    "intake": {"core"},
    "reconcile": {"core", "clients", "state"},
    "app": {"core", "clients", "state", "intake", "reconcile", "emulator"},
    "emulator": {"core"},
}


def _part(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else ""


def _imports(path: Path) -> set[str]:
    """Every dts_change module `path` imports, lazily or not, as an absolute dotted name."""
    own = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = own if path.name == "__init__.py" else own.rsplit(".", 1)[0]
    package = package.removesuffix(".__init__")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.startswith("dts_change"):
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names if (PACKAGE.parent / f"{target}.{alias.name}".replace(".", "/")).is_dir()
                             or (PACKAGE.parent / (f"{target}.{alias.name}".replace(".", "/") + ".py")).is_file())
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("dts_change"))
    return found


def test_layout_dependencies_point_one_way():
    # GIVEN every module of the package, with its top-level part
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if len(rel.parts) == 1:
            continue  # dts_change/__init__.py
        part = rel.parts[0]
        # WHEN its imports are resolved, THEN each names its own part or one the table allows
        for target in _imports(path):
            other = _part(target)
            if other and other != part and other not in ALLOWED[part]:
                wrong.append(f"{rel}: imports {target}")
    assert wrong == []


def test_layout_no_module_left_at_the_top():
    # Only the package marker and data sit beside the folders: every module lives in a part of the flow.
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py"]
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} == {*ALLOWED, "samples"}


def test_layout_every_module_named_in_architecture_md_exists_and_every_module_is_named():
    # GIVEN the module table of docs/architecture.md
    text = ARCHITECTURE.read_text(encoding="utf-8")
    table = text[text.index("## Modules"): text.index("## Decisions")]
    named = set(re.findall(r"`((?:core|intake|state|reconcile|clients|app|emulator|samples)/[\w./-]*)`", table))
    # THEN every path it names exists
    assert sorted(n for n in named if not (PACKAGE / n).exists()) == []
    # AND every module of the flow's folders is named, alone or through its folder
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if path.name == "__init__.py" or rel.count("/") == 0:
            continue
        # a folder of the flow lists its modules one by one; a sub-folder, clients/ or emulator/ may be named whole
        folders = {rel.rsplit("/", k)[0] + "/" for k in range(1, rel.count("/") + 1)}
        folders = {f for f in folders if f.count("/") > 1 or f in ("clients/", "emulator/")}
        if rel not in named and not folders & named:
            missing.append(rel)
    assert missing == []
