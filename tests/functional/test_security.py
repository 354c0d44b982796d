"""Security of the handler end to end: refused FileOssUrl targets are never contacted, and no
secret or token value reaches a log line, a result, a dead-letter record or stdout.

Every test here runs with distinctive credentials, a loopback listener that records every hit,
and a socket guard that records (and refuses) any connection or name lookup that is not loopback,
so the metadata address and real OSS hosts are never actually contacted.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.harness import BUCKET, INSTANCE, JOB, LocalDeployment, fc_context, seed_state
from tests.secret_scan import SecretScan, mask, spying

ACCESS_KEY_ID = "LTAIsecscan0001"
SECRET = "S3cr3t-Value-9f8e7d6c5b4a39281706"
TOKEN = "STS.T0ken-Value-1a2b3c4d5e6f7a8b9c0d"
CONTEXT_KEY_ID = "STS.ctxkey0001"
CONTEXT_SECRET = "Ctx-S3cr3t-Value-0a9b8c7d6e5f4a3b"
CONTEXT_TOKEN = "Ctx-T0ken-Value-5f4e3d2c1b0a9f8e7d6c"
WRONG_SECRET = "Wr0ng-S3cr3t-Value-77aa66bb55cc44dd"
PRESIGNED_SIGNATURE = "PresignedSig9XyZ8wVu7tSr6qPo5nMl"
PRESIGNED_TOKEN = "PresignedStsToken4kJ3hG2fD1sA0pO9"
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


# ---------------------------------------------------------------------- fixtures


class HitRecorder(BaseHTTPRequestHandler):
    """Answers anything with a valid change document, so a hit would also have consequences."""

    def _hit(self) -> None:
        self.server.hits.append((self.command, self.path, self.headers.get("Host")))  # type: ignore[attr-defined]
        body = json.dumps({"id": "from-listener", "add": ["shop.stolen"]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = _hit

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def listener() -> Iterator[ThreadingHTTPServer]:
    """A loopback HTTP server on a port of its own that records every request it gets."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), HitRecorder)
    server.hits = []  # type: ignore[attr-defined]
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


class SocketGuard:
    """Every connect and name lookup; anything not loopback is refused before it leaves."""

    def __init__(self) -> None:
        self.connects: list[Any] = []
        self.lookups: list[str] = []

    def remote(self) -> list[Any]:
        hosts = [str(addr[0]) for addr in self.connects if isinstance(addr, tuple)]
        return [h for h in hosts if h not in LOOPBACK] + [h for h in self.lookups if h not in LOOPBACK]


@pytest.fixture
def guard(monkeypatch: pytest.MonkeyPatch) -> SocketGuard:
    guard = SocketGuard()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(address: Any) -> None:
        guard.connects.append(address)
        if isinstance(address, tuple) and str(address[0]) not in LOOPBACK:
            raise OSError(f"test guard: refused a connection to {address[0]}")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        guard.lookups.append(name)
        if name not in LOOPBACK:
            raise socket.gaierror(f"test guard: refused to resolve {name}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return guard


def secure_state() -> dict[str, Any]:
    state = seed_state(modifyDurationSeconds=0.0)
    state["credentials"] = {
        ACCESS_KEY_ID: {"secret": SECRET, "securityToken": TOKEN},
        CONTEXT_KEY_ID: {"secret": CONTEXT_SECRET, "securityToken": CONTEXT_TOKEN},
    }
    state["buckets"]["other-bucket"] = {"x.json": json.dumps({"add": ["shop.from_other_bucket"]})}
    return state


@pytest.fixture
def deploy(tmp_path: Path, guard: SocketGuard) -> Iterator[LocalDeployment]:
    d = LocalDeployment(
        tmp_path,
        secure_state(),
        ALIBABA_CLOUD_ACCESS_KEY_ID=ACCESS_KEY_ID,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=SECRET,
        ALIBABA_CLOUD_SECURITY_TOKEN=TOKEN,
        OSS_REGION="cn-hangzhou",
    )
    yield d
    d.stop()


@pytest.fixture(autouse=True)
def scan(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> Iterator[SecretScan]:
    """After each test: no distinctive value in any log line, result, dead letter, stdout or stderr."""
    values = (SECRET, TOKEN, CONTEXT_SECRET, CONTEXT_TOKEN, WRONG_SECRET, PRESIGNED_SIGNATURE, PRESIGNED_TOKEN)
    with spying(SecretScan(values), monkeypatch) as scan:
        yield scan
        out, err = capfd.readouterr()
        scan.check(extra_text=[("stdout", out), ("stderr", err)])


def modify_request(file_oss_url: str) -> dict[str, Any]:
    return {"DtsInstanceId": INSTANCE, "DtsJobId": JOB, "FileOssUrl": file_oss_url}


def dead_letter_reason(deploy: LocalDeployment) -> str | None:
    (letter,) = deploy.dead_letters()
    details = letter.error.get("details") or {}
    return details.get("reason") if isinstance(details, dict) else None


# ---------------------------------------------------------------------- refused FileOssUrl targets

REFUSED = [
    ("http://127.0.0.1:{port}/dts-change-config/x.json", "ip-literal"),
    ("HTTP://127.0.0.1:{port}/dts-change-config/x.json", "ip-literal"),
    ("http://[::1]:{port}/dts-change-config/x.json", "ip-literal"),
    ("http://2130706433:{port}/dts-change-config/x.json", "ip-literal"),
    ("http://0x7f000001:{port}/dts-change-config/x.json", "ip-literal"),
    ("http://127.1:{port}/dts-change-config/x.json", "ip-literal"),
    ("http://0177.0.0.1:{port}/dts-change-config/x.json", "ip-literal"),
    ("http://localhost:{port}/dts-change-config/x.json", "not-oss-host"),
    ("http://LOCALHOST.:{port}/dts-change-config/x.json", "not-oss-host"),
    ("http://dts-change-config.oss-cn-hangzhou.aliyuncs.com.localhost:{port}/x.json", "not-oss-host"),
    ("https://dts-change-config.oss-cn-hangzhou.aliyuncs.com:{port}/x.json", "not-oss-host"),
    ("http://user:pass@127.0.0.1:{port}/dts-change-config/x.json", "userinfo"),
    ("http://dts-change-config.oss-cn-hangzhou.aliyuncs.com@127.0.0.1:{port}/x.json", "userinfo"),
    ("http://dts-change-config.oss-cn-hangzhou.aliyuncs.com:x@localhost:{port}/x.json", "userinfo"),
    ("oss://dts-change-config@127.0.0.1:{port}/x.json", "userinfo"),
    ("ftp://127.0.0.1:{port}/x.json", "scheme"),
    ("gopher://127.0.0.1:{port}/_GET%20/", "scheme"),
    ("file:///etc/passwd", "scheme"),
    ("//127.0.0.1:{port}/dts-change-config/x.json", "scheme"),
    ("dict://127.0.0.1:{port}/info", "scheme"),
    ("http://100.100.100.200/latest/meta-data/ram/security-credentials/", "ip-literal"),
    ("http://100.100.100.200:80/latest/meta-data/", "ip-literal"),
    ("http://[::ffff:100.100.100.200]/latest/meta-data/", "ip-literal"),
    ("https://db-list-os-file.oss-cn-shanghai.aliyuncs.com/1234567890/dblist.txt", "dts-upload-bucket"),
    ("https://db-list-os-file.oss-cn-hangzhou.aliyuncs.com/x.json", "dts-upload-bucket"),
    ("oss://db-list-os-file/x.json", "dts-upload-bucket"),
    ("https://other-bucket.oss-cn-hangzhou.aliyuncs.com/x.json", "bucket-not-allowed"),
    ("oss://other-bucket/x.json", "bucket-not-allowed"),
    ("{oss}/other-bucket/x.json", "bucket-not-allowed"),
    ("https://dts-change-config.oss-cn-shanghai.aliyuncs.com/x.json", "region-mismatch"),
    (" http://127.0.0.1:{port}/x.json ", "ip-literal"),  # the request parser strips the URL
    ("http://127.0.0.1:{port}/x.json\r\nHost: evil", "malformed"),
    ("http://127.0.0.1:{port}:{port}/x.json", "malformed"),
]


@pytest.mark.parametrize("delivery", ["manual", "oss-file"])
@pytest.mark.parametrize(("template", "reason"), REFUSED, ids=[f"{r}-{i}" for i, (_, r) in enumerate(REFUSED)])
def test_file_oss_url_refused_target_is_never_contacted(
    deploy: LocalDeployment,
    listener: ThreadingHTTPServer,
    guard: SocketGuard,
    template: str,
    reason: str,
    delivery: str,
) -> None:
    # GIVEN a ModifyDtsJob request whose FileOssUrl names a target outside the rules
    url = template.format(port=listener.server_address[1], oss=deploy.server.endpoint)
    request = modify_request(url)
    # WHEN it arrives by manual invocation, or as a file in the trigger's own (allowed) bucket
    if delivery == "manual":
        result = deploy.invoke(request)
    else:
        body = json.dumps(request)
        deploy.put_object("dts-change/incoming/request.json", body)
        etag = hashlib.md5(body.encode(), usedforsecurity=False).hexdigest().upper()  # OSS's ETag of a PutObject
        result = deploy.invoke(
            {
                "events": [
                    {
                        "eventName": "ObjectCreated:PutObject",
                        "region": "cn-hangzhou",
                        "oss": {
                            "bucket": {"name": BUCKET},
                            "object": {"key": "dts-change/incoming/request.json", "eTag": etag},
                        },
                    }
                ]
            }
        )
    # THEN it is dead-lettered with the specific refusal, and nothing but the emulator was touched
    (change,) = result["changes"]
    assert (change["outcome"], change["code"]) == ("dead_lettered", "oss-url-refused")
    assert dead_letter_reason(deploy) == reason
    assert listener.hits == []  # type: ignore[attr-defined]
    assert guard.remote() == []
    reads = [c for c in deploy.server.calls() if c["service"] == "oss"]
    assert len(reads) == (0 if delivery == "manual" else 1)
    assert deploy.modify_calls() == []


@pytest.mark.parametrize(
    "template",
    [
        "https://dts-change-config.oss-cn-hangzhou.aliyuncs.com/dts-change/incoming/dblist-fragment.json",
        "https://dts-change-config.oss-cn-hangzhou-internal.aliyuncs.com/dts-change/incoming/dblist-fragment.json",
        "oss://dts-change-config/dts-change/incoming/dblist-fragment.json",
        "{oss}/dts-change-config/dts-change/incoming/dblist-fragment.json",
    ],
)
def test_file_oss_url_allowed_is_read_through_the_configured_endpoint_only(
    deploy: LocalDeployment, listener: ThreadingHTTPServer, guard: SocketGuard, template: str
) -> None:
    # GIVEN an allowed FileOssUrl (the positive control: the same checks, accepted)
    url = template.format(oss=deploy.server.endpoint)
    # WHEN the handler loads it
    result = deploy.invoke(modify_request(url))
    # THEN it read the object from the configured endpoint (the emulator), never the URL's host
    assert [c["outcome"] for c in result["changes"]] == ["submitted"]
    assert "inventory" in deploy.db_list()
    assert guard.remote() == []
    assert listener.hits == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("bucket", "key"),
    [
        ("100.100.100.200", "latest/meta-data"),
        ("127.0.0.1", "x.json"),
        ("evil.example.com", "x.json"),
        ("a@b", "x.json"),
        ("dts-change-config", "/etc/passwd"),
    ],
)
def test_oss_event_with_hostile_bucket_or_key_contacts_nothing_else(
    deploy: LocalDeployment, listener: ThreadingHTTPServer, guard: SocketGuard, bucket: str, key: str
) -> None:
    # GIVEN a forged OSS event naming a bucket that is an address, or a key that is a path
    event = {
        "events": [
            {"eventName": "ObjectCreated:PutObject", "oss": {"bucket": {"name": bucket}, "object": {"key": key, "eTag": "0"}}}
        ]
    }
    result = deploy.invoke(event)
    # THEN it is dead-lettered specifically and no host but the emulator was contacted
    (change,) = result["changes"]
    assert change["outcome"] == "dead_lettered"
    assert change["code"] in ("invalid-parameter", "source-object-not-found", "invalid-event")
    assert guard.remote() == []
    assert listener.hits == []  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- secrets


def assert_scanned(scan: SecretScan, *wheres: str) -> None:
    """The scan really looked (a vacuous pass proves nothing)."""
    for where in wheres:
        assert scan.scanned.get(where, 0) > 0, (where, scan.scanned)
    assert scan.log_lines(), "no log line was captured"


def test_secrets_success_path_never_leak(deploy: LocalDeployment, scan: SecretScan) -> None:
    deploy.invoke(json.loads((Path(__file__).parents[2] / "events" / "oss-object-created.json").read_text()))
    deploy.settle()
    assert set(deploy.states().values()) == {"applied"}
    assert_scanned(scan, "handler result")


def test_secrets_throttling_and_retries_never_leak(deploy: LocalDeployment, scan: SecretScan) -> None:
    deploy.server.add_fault({"action": "ModifyDtsJob", "code": "Throttling.User", "count": 2})
    result = deploy.invoke({"id": "thr-1", "add": ["shop.throttled"]})
    assert result["changes"][0]["outcome"] in ("submitted", "pending")
    deploy.settle()
    assert [c["outcome"] for c in deploy.modify_calls(accepted_only=False)][:2] == ["Throttling.User"] * 2
    assert deploy.states() == {"thr-1": "applied"}
    assert_scanned(scan, "handler result")


def test_secrets_token_expiry_and_context_credentials_never_leak(
    deploy: LocalDeployment, scan: SecretScan
) -> None:
    # GIVEN the token expires once on each DTS action, and FC hands credentials in the context
    deploy.server.add_fault({"action": "DescribeDtsJobDetail", "tokenExpiry": True, "count": 1})
    deploy.server.add_fault({"action": "ModifyDtsJob", "tokenExpiry": True, "count": 1})
    context = fc_context()
    context.credentials = SimpleNamespace(
        access_key_id=CONTEXT_KEY_ID, access_key_secret=CONTEXT_SECRET, security_token=CONTEXT_TOKEN
    )
    result = deploy.app.handle(json.dumps({"id": "tok-1", "add": ["shop.expiring"]}), context)
    # THEN the change went through after the reloads, and no token value surfaced anywhere
    assert result["changes"][0]["outcome"] == "submitted"
    outcomes = [c["outcome"] for c in deploy.server.calls()]
    assert outcomes.count("InvalidSecurityToken.Expired") == 2
    assert_scanned(scan, "handler result")


def test_secrets_signature_mismatch_never_leaks_either_secret(
    deploy: LocalDeployment, scan: SecretScan
) -> None:
    # GIVEN an instance configured with the wrong secret
    app = deploy.new_app(ALIBABA_CLOUD_ACCESS_KEY_SECRET=WRONG_SECRET)
    # WHEN a change needs DTS and an OSS event needs OSS
    change = deploy.invoke({"id": "sig-1", "add": ["shop.signed"]}, app=app)
    oss = deploy.invoke(
        {
            "events": [
                {
                    "eventName": "ObjectCreated:PutObject",
                    "oss": {"bucket": {"name": BUCKET}, "object": {"key": "dts-change/incoming/add-tables.json", "eTag": "0"}},
                }
            ]
        },
        app=app,
    )
    # THEN both are refused as signature mismatches, and neither secret appears anywhere
    assert {c["outcome"] for c in deploy.server.calls()} >= {"SignatureDoesNotMatch"}
    report_codes = {(r.get("error") or {}).get("code") for r in change["reconcile"]}
    assert "signature-mismatch" in report_codes | {c.get("code") for c in change["changes"]}
    assert oss["changes"][0]["code"] == "signature-mismatch"
    assert_scanned(scan, "handler result", "dead-letter record")


def test_secrets_dead_letters_never_leak(deploy: LocalDeployment, scan: SecretScan) -> None:
    # GIVEN bad input, a change the merge rejects, and a change DTS rejects
    deploy.invoke(b'{"id": "bad", "add": [')
    deploy.invoke({"id": "needs-list", "remove": ["hr.payroll"]})
    deploy.server.add_fault({"action": "ModifyDtsJob", "code": "InvalidParameter", "count": 1})
    deploy.invoke({"id": "rejected", "add": ["shop.rejected"]})
    deploy.settle()
    # THEN each is dead-lettered, and no record holds a secret (the spy scanned each as stored)
    codes = sorted(letter.error["code"] for letter in deploy.dead_letters())
    assert codes == ["invalid-json", "invalid-parameter", "removal-needs-table-list"]
    assert scan.scanned["dead-letter record"] == len(codes)
    assert_scanned(scan, "handler result")


def test_secrets_presigned_url_signature_never_logged_or_returned(
    deploy: LocalDeployment, scan: SecretScan
) -> None:
    # GIVEN a FileOssUrl copied from a presigned link (its query holds a signature and a token)
    url = (
        "https://dts-change-config.oss-cn-hangzhou.aliyuncs.com/dts-change/incoming/dblist-fragment.json"
        f"?Expires=1714550400&OSSAccessKeyId=LTAIpresign&Signature={PRESIGNED_SIGNATURE}"
        f"&security-token={PRESIGNED_TOKEN}"
    )
    accepted = deploy.invoke(modify_request(url))
    refused = deploy.invoke(modify_request(url.replace("dts-change-config", "other-bucket")))
    # THEN the accepted one is read without the query, the refused one quotes the URL without it
    assert accepted["changes"][0]["outcome"] == "submitted"
    assert refused["changes"][0]["code"] == "oss-url-refused"
    # AND the dead letter keeps the event for replay with the query credentials masked
    (letter,) = deploy.dead_letters()
    stored = json.dumps(letter.to_dict())
    assert "Signature=***" in stored and "security-token=***" in stored
    assert PRESIGNED_SIGNATURE not in stored and PRESIGNED_TOKEN not in stored
    assert_scanned(scan, "handler result", "dead-letter record")


def test_secret_scan_reports_planted_leaks_masked() -> None:
    # The scanner itself: a planted value is found wherever it hides, and reported masked.
    scan = SecretScan([SECRET])
    scan.scan("handler result", {"changes": [{"message": f"boom {SECRET}"}]})
    scan.scan("dead-letter record", b"clean")
    assert scan.hits == [f"handler result contains secret {mask(SECRET)}"]
    assert SECRET not in scan.hits[0]
    with pytest.raises(pytest.fail.Exception, match="Secret leaked"):
        scan.check()
