"""Builders for emulator unit tests: a fake clock, signed WireRequests, an app without sockets.

Requests are signed with the emulator's own algorithm functions; those are pinned to the
published vectors in test_signature.py and cross-checked by the official SDKs in
tests/contract, so using them here only saves retyping the rules.
"""

from __future__ import annotations

import copy
import hashlib
import time
from email.utils import formatdate
from typing import Any
from urllib.parse import quote, urlencode

from dts_change.emulator import signature as sig
from dts_change.emulator.admin import EmulatorCore
from dts_change.emulator.server import EmulatorApp
from dts_change.emulator.wire import WireRequest, WireResponse

T0 = 1704164645.0  # 2024-01-02T03:04:05Z
HOST = "127.0.0.1:8000"
AK, SECRET = "LTAIdemo", "demo-secret"
STS_AK, STS_SECRET, STS_TOKEN = "STS.demo", "sts-secret", "token/+=1"

DEFAULT_DBLIST: dict[str, Any] = {
    "sales": {"name": "sales", "all": False, "Table": {"orders": {"name": "orders", "all": True}}}
}


class FakeClock:
    """Manual time for the emulator: tests advance it instead of sleeping."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def job_state(**overrides: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "instanceId": "dtsins-demo",
        "status": "Synchronizing",
        "direction": "Forward",
        "modifyDurationSeconds": 2,
        "dbList": copy.deepcopy(DEFAULT_DBLIST),
        "reserved": {},
    }
    job.update(overrides)
    return job


def base_state(**jobs: dict[str, Any]) -> dict[str, Any]:
    return {
        "credentials": {
            AK: {"secret": SECRET, "securityToken": None},
            STS_AK: {"secret": STS_SECRET, "securityToken": STS_TOKEN},
        },
        "jobs": jobs or {"dtsjob-demo": job_state()},
        "buckets": {"dts-changes": {"changes/0001.json": '{"add": {}}'}},
        "faults": [],
        "calls": [],
    }


class Harness:
    """An EmulatorApp on a fake clock with helpers to send signed DTS and OSS requests."""

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        self.clock = FakeClock()
        self.sleep = RecordingSleep()
        self.core = EmulatorCore(state if state is not None else base_state(), clock=self.clock)
        self.app = EmulatorApp(self.core, self.sleep)
        self._nonce = 0

    def nonce(self) -> str:
        self._nonce += 1
        return f"{self._nonce:032x}"

    def send(self, request: WireRequest) -> WireResponse:
        return self.app.handle(request)

    def dts(self, action: str, query: dict[str, str] | None = None, **kwargs: Any) -> WireResponse:
        return self.send(self.acs3(action, query or {}, **kwargs))

    def acs3(
        self,
        action: str,
        query: dict[str, str],
        *,
        form: dict[str, str] | None = None,
        ak: str = AK,
        secret: str = SECRET,
        token: str | None = None,
        at: float | None = None,
        nonce: str | None = None,
        version: str = "2020-01-01",
        body_override: bytes | None = None,
        extra_headers: dict[str, str] | None = None,
        unsigned_headers: dict[str, str] | None = None,
    ) -> WireRequest:
        body = urlencode(form).encode() if form else b""
        headers = {
            "host": HOST,
            "x-acs-action": action,
            "x-acs-version": version,
            "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at or self.clock())),
            "x-acs-signature-nonce": nonce or self.nonce(),
            "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        }
        if form:
            headers["content-type"] = "application/x-www-form-urlencoded"
        if token is not None:
            headers["x-acs-security-token"] = token
        headers.update(extra_headers or {})
        lower = {k: [v] for k, v in headers.items()}
        canonical = sig.acs3_canonical_request(
            "POST", "/", list(query.items()), lower, list(lower), headers["x-acs-content-sha256"]
        )
        signature = sig.acs3_signature(secret, sig.acs3_string_to_sign(canonical))
        headers["Authorization"] = (
            f"ACS3-HMAC-SHA256 Credential={ak},SignedHeaders={';'.join(sorted(lower))},Signature={signature}"
        )
        headers.update(unsigned_headers or {})
        target = "/" + ("?" + urlencode(query) if query else "")
        return WireRequest.build("POST", target, headers, body if body_override is None else body_override)

    def rpc_v1(
        self,
        action: str,
        params: dict[str, str],
        *,
        form: dict[str, str] | None = None,
        ak: str = AK,
        secret: str = SECRET,
        token: str | None = None,
        method: str = "POST",
        fmt: str | None = "JSON",
        at: float | None = None,
    ) -> WireRequest:
        common = {
            "Action": action,
            "Version": "2020-01-01",
            "AccessKeyId": ak,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
            "SignatureNonce": self.nonce(),
            "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at or self.clock())),
        }
        if fmt is not None:
            common["Format"] = fmt
        if token is not None:
            common["SecurityToken"] = token
        query = {**common, **params}
        signed = [*query.items(), *(form or {}).items()]
        query["Signature"] = sig.rpc_v1_signature(secret, sig.rpc_v1_string_to_sign(method, signed))
        headers = {"host": HOST}
        body = b""
        if form:
            headers["content-type"] = "application/x-www-form-urlencoded"
            body = urlencode(form).encode()
        return WireRequest.build(method, "/?" + urlencode(query), headers, body)

    def oss(
        self,
        method: str,
        bucket: str,
        key: str | None = None,
        *,
        body: bytes = b"",
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        version: str = "v4",
        ak: str = AK,
        secret: str = SECRET,
        token: str | None = None,
        at: float | None = None,
    ) -> WireResponse:
        when = at or self.clock()
        hdrs = {"host": HOST, **(headers or {})}
        if token is not None:
            hdrs["x-oss-security-token"] = token
        pairs = list((query or {}).items())
        lower = {k.lower(): [v] for k, v in hdrs.items()}
        if version == "v4":
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
            hdrs["x-oss-date"] = stamp
            hdrs["x-oss-content-sha256"] = "UNSIGNED-PAYLOAD"
            lower = {k.lower(): [v] for k, v in hdrs.items()}
            canonical = sig.oss_v4_canonical_request(method, bucket, key, pairs, lower, [])
            scope = f"{stamp[:8]}/cn-hangzhou/oss/aliyun_v4_request"
            signature = sig.oss_v4_signature(
                secret, stamp[:8], "cn-hangzhou", "oss", sig.oss_v4_string_to_sign(stamp, scope, canonical)
            )
            hdrs["Authorization"] = f"OSS4-HMAC-SHA256 Credential={ak}/{scope},Signature={signature}"
        else:
            hdrs["date"] = formatdate(when, usegmt=True)
            lower = {k.lower(): [v] for k, v in hdrs.items()}
            string_to_sign = sig.oss_v1_string_to_sign(method, lower, bucket, key, pairs)
            hdrs["Authorization"] = f"OSS {ak}:{sig.oss_v1_signature(secret, string_to_sign)}"
        path = "/" + quote(bucket) + "/" + (quote(key, safe="") if key else "")
        target = path + ("?" + urlencode(query, quote_via=quote) if query else "")
        return self.send(WireRequest.build(method, target, hdrs, body))

    def calls(self, action: str | None = None) -> list[dict[str, Any]]:
        return self.core.get_calls(action)
