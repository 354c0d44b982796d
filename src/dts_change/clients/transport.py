"""The HTTP layer both clients share: endpoint rules, one session, timeouts, no redirects.

Credentials travel in headers, so an endpoint must be HTTPS unless it is a loopback host (the
emulator); a redirect is never followed (it could carry a signed request elsewhere); every network
failure becomes a `NetworkError`. The session ignores the environment (`trust_env=False`): a
`.netrc` entry would otherwise replace our Authorization header.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

import requests

from ..core.errors import (
    ConfigurationError,
    InputTooLargeError,
    InsecureEndpointError,
    NetworkError,
    short_repr,
)
from ..core.values import immutable

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 10.0
_CHUNK = 64 * 1024


@immutable
class Endpoint:
    """A validated base URL: scheme, host (no brackets), netloc as sent in `Host`, optional path."""

    scheme: str
    host: str
    netloc: str
    path: str = ""

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path}"


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 and `localhost` (only those never leave the machine)."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_region(region: str, service: str) -> None:
    """Reject a region id that cannot be one (it becomes part of hostnames and signatures)."""
    if not region or not region.replace("-", "").isalnum():
        raise ConfigurationError(
            f"Invalid {service} region {short_repr(region)} -> expected an id like 'cn-hangzhou'"
        )


def parse_endpoint(url: str, *, setting: str = "endpoint") -> Endpoint:
    """Validate an endpoint URL: https anywhere, http only to a loopback host.

    A bare host (`dts.cn-hangzhou.aliyuncs.com`) means https. Raises `InsecureEndpointError`.
    """
    text = url.strip()
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if not host or parts.username or parts.password or parts.query or parts.fragment:
        raise InsecureEndpointError(
            f"Invalid {setting}: {short_repr(url)} -> expected scheme://host[:port] with no "
            "user info, query or fragment"
        )
    try:
        _ = parts.port
    except ValueError:
        raise InsecureEndpointError(
            f"Invalid {setting}: {short_repr(url)} has a bad port -> expected 1-65535"
        ) from None
    if scheme not in ("https", "http"):
        raise InsecureEndpointError(
            f"Invalid {setting}: scheme {short_repr(scheme)} in {short_repr(url)} -> expected "
            "https, or http to a loopback host"
        )
    if scheme == "http" and not is_loopback_host(host):
        raise InsecureEndpointError(
            f"Refused {setting}: plain http to non-loopback host {short_repr(host)} would send "
            "credentials in clear text -> expected https://, or http:// to 127.0.0.1/::1/localhost"
        )
    return Endpoint(scheme, host, parts.netloc.lower(), parts.path.rstrip("/"))


@immutable
class Timeouts:
    """Connect and read timeouts of one HTTP request, in seconds."""

    connect: float = DEFAULT_CONNECT_TIMEOUT
    read: float = DEFAULT_READ_TIMEOUT


class HttpTransport:
    """One `requests.Session` per client instance; sends exactly the bytes and headers given."""

    def __init__(
        self,
        *,
        timeouts: Timeouts | None = None,
        proxies: Mapping[str, str] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.timeouts = timeouts or Timeouts()
        self._session = session or requests.Session()
        self._session.trust_env = False
        if proxies:
            self._session.proxies.update(proxies)

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        stream: bool = False,
        what: str,
    ) -> requests.Response:
        """Send once; `what` names the call in a NetworkError (never the URL's query or headers)."""
        # A prepared request sent as is: the session adds nothing to a signed request (no cookies,
        # no auth, no environment), so its per-call merging is skipped (requests' "Prepared
        # Requests"); the session's proxies and TLS verification still apply in `send`.
        prepared = requests.PreparedRequest()
        try:
            prepared.prepare(method=method, url=url, headers=dict(headers), data=body)
            return self._session.send(
                prepared,
                timeout=(self.timeouts.connect, self.timeouts.read),
                allow_redirects=False,
                stream=stream,
            )
        except requests.Timeout as exc:
            raise NetworkError(
                f"{what} timed out -> no answer within connect {self.timeouts.connect}s / read "
                f"{self.timeouts.read}s ({type(exc).__name__})"
            ) from None
        except requests.RequestException as exc:
            raise NetworkError(f"{what} failed before an answer arrived -> {type(exc).__name__}") from None

    def close(self) -> None:
        self._session.close()


def read_capped(response: requests.Response, max_bytes: int, *, what: str) -> bytes:
    """The whole body of a streamed response, refusing more than `max_bytes`.

    The declared Content-Length is checked first so an oversized object is refused unread.
    """
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        response.close()
        raise InputTooLargeError(
            f"{what} is too large: Content-Length {declared} bytes -> limit {max_bytes} bytes"
        )
    chunks: list[bytes] = []
    size = 0
    try:
        stream: Iterator[bytes] = response.iter_content(chunk_size=_CHUNK)
        for chunk in stream:
            size += len(chunk)
            if size > max_bytes:
                raise InputTooLargeError(
                    f"{what} is too large: more than {max_bytes} bytes -> limit {max_bytes} bytes"
                )
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise NetworkError(f"{what}: connection broke while reading -> {type(exc).__name__}") from None
    finally:
        response.close()
    return b"".join(chunks)
