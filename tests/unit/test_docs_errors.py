from __future__ import annotations

import importlib.util
import inspect

from dts_change.core import errors
from tests.conftest import REPO_ROOT


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_errors_doc", REPO_ROOT / "scripts" / "gen_errors_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_errors_doc_is_generated_from_the_current_error_classes():
    page = (REPO_ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    assert page == load_generator().render(), "run: .venv/bin/python scripts/gen_errors_doc.py"


def test_errors_doc_has_a_section_for_every_code():
    page = (REPO_ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    codes = {cls.code for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, errors.DtsChangeError)}
    assert len(codes) > 40
    for code in codes:
        assert f"## `{code}`" in page, code


def test_every_error_code_is_unique_per_class():
    classes = [cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, errors.DtsChangeError)]
    codes = [cls.code for cls in classes]
    assert len(codes) == len(set(codes))
