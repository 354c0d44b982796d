from __future__ import annotations

import re

import pytest

from dts_change.app.settings import ENV_NAMES, Settings
from dts_change.core.errors import ConfigurationError
from tests.conftest import REPO_ROOT

BASE = {"DTS_REGION": "cn-hangzhou"}


def test_settings_defaults_outside_fc_use_a_local_state_folder(tmp_path):
    settings = Settings.from_env(BASE, cwd=tmp_path)
    assert settings.ledger_url == (tmp_path / ".dts-change" / "ledger").as_uri()
    assert settings.max_age_seconds == 86400 and settings.retention_seconds == 7 * 86400
    assert settings.dry_run is False and settings.dts_signature == "acs3" and settings.oss_signature == "v4"
    assert settings.oss_region == "cn-hangzhou"


def test_settings_region_defaults_to_fc_region():
    assert Settings.from_env({"FC_REGION": "cn-shanghai"}).dts_region == "cn-shanghai"


def test_settings_without_region_is_a_clear_error():
    with pytest.raises(ConfigurationError, match="DTS_REGION"):
        Settings.from_env({})


def test_settings_inside_fc_refuse_a_local_ledger():
    env = {**BASE, "FC_FUNCTION_NAME": "f", "DTS_CHANGE_LEDGER": "file:///tmp/x", "DTS_CHANGE_DEAD_LETTER": "oss://b/dl/"}
    with pytest.raises(ConfigurationError, match=r"DTS_CHANGE_LEDGER.*oss://"):
        Settings.from_env(env)


def test_settings_inside_fc_require_ledger_and_dead_letters():
    with pytest.raises(ConfigurationError, match="Missing setting DTS_CHANGE_LEDGER"):
        Settings.from_env({**BASE, "FC_FUNCTION_NAME": "f"})


def test_settings_inside_fc_ignore_the_test_crash_point():
    env = {**BASE, "FC_FUNCTION_NAME": "f", "DTS_CHANGE_LEDGER": "oss://b/l/", "DTS_CHANGE_DEAD_LETTER": "oss://b/d/",
           "DTS_CHANGE_TEST_CRASH_AT": "after-modify"}
    assert Settings.from_env(env).test_crash_at is None


@pytest.mark.parametrize(("name", "value"), [("DTS_CHANGE_DRY_RUN", "maybe"), ("DTS_CHANGE_MAX_AGE_SECONDS", "soon"),
                                              ("DTS_SIGNATURE_VERSION", "v3"), ("DTS_CHANGE_LEDGER", "s3://x")])
def test_settings_bad_values_name_the_variable(name, value, tmp_path):
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({**BASE, name: value}, cwd=tmp_path)


def test_readme_configuration_table_lists_every_variable_the_code_reads():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table = "\n".join(line for line in readme.splitlines() if line.startswith("|"))
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    assert set(ENV_NAMES) <= documented, set(ENV_NAMES) - documented


@pytest.mark.parametrize(
    ("retention", "lease", "timeout", "refused"),
    [
        ("60", None, 60.0, True),  # the old minimum: far below a pass plus the lease
        ("659", None, 60.0, True),  # 60 s timeout + 300 s default lease + 300 s margin = 660
        ("660", None, 60.0, False),
        ("1000", "700", 60.0, True),  # a longer lease raises the minimum
        ("1000", None, 401.0, True),  # so does a longer timeout
        (None, None, 600.0, False),  # the default (7 days) covers any FC timeout
    ],
)
def test_retention_below_the_timeout_plus_lease_plus_margin_is_refused(tmp_path, retention, lease, timeout, refused):
    from dts_change.app.handler import App

    env = {**BASE, **({"DTS_CHANGE_RETENTION_SECONDS": retention} if retention else {}),
           **({"DTS_CHANGE_LEASE_SECONDS": lease} if lease else {})}
    app = App(Settings.from_env(env, cwd=tmp_path), dts=object())
    if not refused:
        app.check_retention_covers(timeout)
        return
    with pytest.raises(ConfigurationError) as caught:
        app.check_retention_covers(timeout)
    needed = timeout + float(lease or 300) + 300
    message = caught.value.message
    assert "DTS_CHANGE_RETENTION_SECONDS" in message and f"{float(retention):g} s" in message, message
    assert f"at least {needed:g}" in message and f"timeout {timeout:g} s" in message, message
    assert f"Set DTS_CHANGE_RETENTION_SECONDS to {needed:g} or more" in (caught.value.hint or "")
