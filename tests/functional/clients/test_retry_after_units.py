from __future__ import annotations

import pytest

from dts_change.clients.credentials import Credentials
from dts_change.clients.dts import DtsClient
from dts_change.core.errors import ThrottledError


def test_client_reads_emulator_retry_after_as_the_same_duration(fresh_emulator):
    # GIVEN the emulator throttles with a 2 s retry-after (sent in ms, as the official SDK reads it)
    fresh_emulator.add_fault({"action": "DescribeDtsJobDetail", "code": "Throttling.User", "retryAfterSeconds": 2})
    client = DtsClient("cn-hangzhou", fresh_emulator.endpoint, Credentials("LTAIdemo", "demo-secret"))
    # WHEN we describe THEN our client reports the same 2 s
    with pytest.raises(ThrottledError) as info:
        client.describe_dts_job_detail("dtsjob-demo")
    assert info.value.retry_after == pytest.approx(2.0)
