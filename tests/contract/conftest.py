"""Contract tests need the official Alibaba Cloud SDKs (test-only dependencies, pinned in
pyproject's `dev` extra); without them every test in this folder is skipped, not failed."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "alibabacloud_tea_openapi", reason="official SDK oracle alibabacloud-tea-openapi not installed"
)
pytest.importorskip(
    "alibabacloud_dts20200101", reason="official SDK oracle alibabacloud-dts20200101 not installed"
)
pytest.importorskip("alibabacloud_oss_v2", reason="official SDK oracle alibabacloud-oss-v2 not installed")
pytest.importorskip("oss2", reason="official SDK oracle oss2 not installed")
