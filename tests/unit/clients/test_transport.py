"""Endpoint rules: https anywhere, plain http only to loopback; malformed endpoints refused."""

from __future__ import annotations

import pytest

from dts_change.clients.transport import HttpTransport, is_loopback_host, parse_endpoint
from dts_change.core.errors import InsecureEndpointError


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.5.6.7",
        "http://[::1]:9000",
        "http://localhost:1",
        "http://LOCALHOST",
        "https://dts.cn-hangzhou.aliyuncs.com",
        "https://10.0.0.1",
        "dts.cn-hangzhou.aliyuncs.com",
    ],
)
def test_parse_endpoint_allowed(url: str) -> None:
    ep = parse_endpoint(url)
    assert ep.scheme in ("http", "https")


@pytest.mark.parametrize(
    "url",
    [
        "http://dts.cn-hangzhou.aliyuncs.com",
        "http://10.0.0.1:8080",
        "http://128.0.0.1",
        "http://localhost.evil.com",
        "http://[::2]",
        "http://0.0.0.0:80",
    ],
)
def test_parse_endpoint_plain_http_non_loopback_refused(url: str) -> None:
    with pytest.raises(InsecureEndpointError) as info:
        parse_endpoint(url, setting="DTS endpoint")
    assert "DTS endpoint" in str(info.value)
    assert "clear text" in str(info.value)


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1", "https://user:pw@host", "https://host/?a=1", "https://host:99999", "https://"],
)
def test_parse_endpoint_malformed_refused(url: str) -> None:
    with pytest.raises(InsecureEndpointError):
        parse_endpoint(url)


def test_parse_endpoint_bare_host_means_https_and_netloc_kept() -> None:
    ep = parse_endpoint("dts.cn-hangzhou.aliyuncs.com")
    assert ep.base_url == "https://dts.cn-hangzhou.aliyuncs.com"
    assert parse_endpoint("http://127.0.0.1:8080/").netloc == "127.0.0.1:8080"


def test_is_loopback_host_variants() -> None:
    assert is_loopback_host("127.0.0.1")
    assert is_loopback_host("[::1]")
    assert not is_loopback_host("example.com")


def test_transport_session_ignores_environment() -> None:
    # .netrc or proxy variables must never rewrite our signed requests
    transport = HttpTransport()
    assert transport._session.trust_env is False
    transport.close()


def test_transport_sends_through_the_configured_proxy_and_never_replays_a_cookie() -> None:
    # A loopback server standing in for an HTTP proxy: it sees the absolute URL of each request
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    seen: list[tuple[str, str | None]] = []

    class Proxy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Cookie")))
            body = b"ok"
            self.send_response(200)
            self.send_header("Set-Cookie", "session=abc")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    transport = HttpTransport(proxies={"http": f"http://127.0.0.1:{server.server_port}"})
    try:
        # WHEN two requests go out, the first answered with a Set-Cookie
        for _ in range(2):
            response = transport.send("GET", "http://127.0.0.1:9/bucket?list-type=2", headers={"X-A": "1"}, what="t")
            assert response.status_code == 200 and response.content == b"ok"
        # THEN both went through the proxy, and the second carried no cookie from the first
        assert seen == [("http://127.0.0.1:9/bucket?list-type=2", None)] * 2
    finally:
        transport.close()
        server.shutdown()
        server.server_close()
