"""The request pipeline (`EmulatorApp`) and the loopback HTTP server around it (`EmulatorServer`).

Per request, in moto's `call_action` order: route (admin, DTS at `/`, OSS path style),
authenticate, consult the fault plan, dispatch to the handlers, log the call. The pipeline works
on `WireRequest` values so unit tests drive it without sockets; `EmulatorServer` is a thin
`ThreadingHTTPServer` (the SDKs keep connections alive) on daemon threads.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from dts_change.core.errors import ConfigurationError
from dts_change.emulator.admin import ADMIN_PREFIX, CallRecord, EmulatorCore, handle_admin
from dts_change.emulator.auth import AuthContext, AuthResult, authenticate_dts, authenticate_oss
from dts_change.emulator.dts_handlers import DtsHandlers
from dts_change.emulator.faults import FaultDecision
from dts_change.emulator.oss_handlers import OssHandlers, oss_action, split_path
from dts_change.emulator.wire import (
    MalformedRequestError,
    WireRequest,
    WireResponse,
    json_body,
    new_request_id,
    xml_document,
)
from dts_change.emulator.wire_errors import (
    EmulatedApiError,
    EntityTooLargeError,
    InternalError,
    InvalidArgumentError,
    InvalidParameterError,
    render_dts_error,
    render_oss_error,
)

# Never logged: credentials travel in these parameters (RPC V1) and headers.
_SECRET_PARAMS = frozenset(
    {
        "Signature",
        "SecurityToken",
        "security-token",
        "x-oss-signature",
        "x-oss-security-token",
        "OSSAccessKeyId",
    }
)
_LOGGED_AS_FIELDS = frozenset({"DbList"})
SERVER_TIMEOUT_SECONDS = 30.0
START_TIMEOUT_SECONDS = 10.0


def oss_request_id() -> str:
    return secrets.token_hex(12).upper()


def _is_oss_request(request: WireRequest, names: set[str]) -> bool:
    auth = (request.header("authorization") or "").lstrip()
    return (
        auth.startswith("OSS")
        or request.raw_path not in ("", "/")
        or bool({"OSSAccessKeyId", "x-oss-signature"} & names)
    )


class EmulatorApp:
    """Routes and runs one request against an `EmulatorCore`; no sockets involved."""

    def __init__(self, core: EmulatorCore, sleep: Callable[[float], None] = time.sleep) -> None:
        self.core = core
        self.sleep = sleep

    def handle(self, request: WireRequest) -> WireResponse:
        if request.raw_path == ADMIN_PREFIX or request.raw_path.startswith(ADMIN_PREFIX + "/"):
            return handle_admin(self.core, request)
        try:
            names = {name for name, _ in request.query_pairs()}
        except MalformedRequestError:
            names = set()
        if _is_oss_request(request, names):
            return self._handle_oss(request)
        return self._handle_dts(request)

    # ------------------------------------------------------------ shared

    def _auth_context(self, now: float) -> AuthContext:
        settings = self.core.settings
        return AuthContext(
            lookup=self.core.lookup_credential,
            now=now,
            max_skew_seconds=settings.max_clock_skew_seconds,
            nonces=self.core.nonces if settings.check_nonce else None,
        )

    def _new_call(self, service: str, method: str, request_id: str) -> CallRecord:
        with self.core.lock:
            seq = self.core.calls.next_seq()
        return CallRecord(seq, service, method, request_id, self.core.clock())

    def _finish(self, call: CallRecord, status: int, outcome: str) -> None:
        call.set(outcome=outcome, httpStatus=status)
        with self.core.lock:
            self.core.calls.append(call)

    def _apply_faults(self, decision: FaultDecision | None, phase: str) -> WireResponse | None:
        """Sleep for injected latency (outside the lock), then reset or raise if due now."""
        if decision is None:
            return None
        if phase == "before" and decision.latency_seconds > 0:
            self.sleep(decision.latency_seconds)
        if decision.phase != phase:
            return None
        if decision.reset:
            return WireResponse(0, reset=True)
        if decision.error is not None:
            raise decision.error
        return None

    # ------------------------------------------------------------ DTS

    def _handle_dts(self, request: WireRequest) -> WireResponse:
        request_id = new_request_id()
        call = self._new_call("dts", request.method, request_id)
        host = request.header("host") or ""
        xml = False
        try:
            with self.core.lock:
                now = self.core.clock()
                try:
                    query, form = request.query_pairs(), request.form_pairs()
                except MalformedRequestError as exc:
                    raise InvalidParameterError("query", str(exc)) from exc
                params: dict[str, str] = {}
                for name, value in [*query, *form]:
                    params[name] = value
                acs3 = (request.header("authorization") or "").lstrip().startswith("ACS3-")
                action = request.header("x-acs-action") if acs3 else params.get("Action")
                version = request.header("x-acs-version") if acs3 else params.get("Version")
                xml = not acs3 and (params.get("Format") or "XML").upper() != "JSON"
                call.set(action=action, params=_loggable_params(params))
                auth = authenticate_dts(request, query, form, self._auth_context(now))
                call.set(signature=auth.to_log())
                if auth.error is not None:
                    raise auth.error
                decision = self.core.faults.decide("dts", action, params.get("DtsJobId"), params=params)
                call.set(fault=None if decision is None else decision.to_log())
            dropped = self._apply_faults(decision, "before")
            if dropped is not None:
                self._finish(call, 0, "connection-reset")
                return dropped
            with self.core.lock:
                handlers = DtsHandlers(self.core.dts, self.core.oss)
                body = handlers.dispatch(action, version, params, call, self.core.clock(), f"http://{host}")
            dropped = self._apply_faults(decision, "after")
            if dropped is not None:
                self._finish(call, 0, "connection-reset")
                return dropped
        except EmulatedApiError as error:
            self._finish(call, error.http_status, error.code)
            return render_dts_error(error, request_id, host, xml=xml)
        except ConfigurationError as error:
            wire = InvalidParameterError("state", error.message)
            self._finish(call, wire.http_status, wire.code)
            return render_dts_error(wire, request_id, host, xml=xml)
        self._finish(call, 200, "ok")
        payload = {"RequestId": request_id, **body}
        headers = [("x-acs-request-id", request_id)]
        if xml:
            root = f"{action}Response"
            return WireResponse(
                200, [("Content-Type", "text/xml;charset=utf-8"), *headers], xml_document(root, payload)
            )
        return WireResponse(
            200, [("Content-Type", "application/json;charset=utf-8"), *headers], json_body(payload)
        )

    # ------------------------------------------------------------ OSS

    def _handle_oss(self, request: WireRequest) -> WireResponse:
        request_id = oss_request_id()
        call = self._new_call("oss", request.method, request_id)
        host = request.header("host") or ""
        try:
            try:
                bucket, key = split_path(request.path())
                query_pairs = request.query_pairs()
            except MalformedRequestError as exc:
                raise InvalidArgumentError(str(exc)) from exc
            query = dict(query_pairs)
            action = oss_action(request.method, bucket, key, list(query))
            call.set(action=action, bucket=bucket, key=key, params=_loggable_params(query))
            with self.core.lock:
                now = self.core.clock()
                auth: AuthResult = authenticate_oss(
                    request, bucket, key, query_pairs, self._auth_context(now)
                )
                call.set(signature=auth.to_log())
                if auth.error is not None:
                    raise auth.error
                decision = self.core.faults.decide("oss", action, None, key)
                call.set(fault=None if decision is None else decision.to_log())
            dropped = self._apply_faults(decision, "before")
            if dropped is not None:
                self._finish(call, 0, "connection-reset")
                return dropped
            with self.core.lock:
                response = OssHandlers(self.core.oss).dispatch(
                    action, request, bucket, key, query, call, self.core.clock()
                )
            dropped = self._apply_faults(decision, "after")
            if dropped is not None:
                self._finish(call, 0, "connection-reset")
                return dropped
        except EmulatedApiError as error:
            self._finish(call, error.http_status, error.code)
            return render_oss_error(error, request_id, host)
        self._finish(call, response.status, "ok")
        response.headers.extend([("x-oss-request-id", request_id), ("Server", "AliyunOSS")])
        return response


def _loggable_params(params: Mapping[str, str]) -> dict[str, str]:
    return {
        name: value
        for name, value in params.items()
        if name not in _SECRET_PARAMS and name not in _LOGGED_AS_FIELDS
    }


# ---------------------------------------------------------------- HTTP server


class _RequestHandler(BaseHTTPRequestHandler):
    """Bytes <-> WireRequest/WireResponse; keep-alive, bounded bodies, timeouts on idle sockets."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms per call on Linux loopback), which made every emulated call slow.
    disable_nagle_algorithm = True
    server_version = "dts-change-emulator"
    sys_version = ""
    timeout = SERVER_TIMEOUT_SECONDS
    app: EmulatorApp

    def date_time_string(self, timestamp: float | None = None) -> str:
        """`Date` on the emulator's clock (what a test moves), sent once per answer."""
        return formatdate(self.app.core.clock() if timestamp is None else timestamp, usegmt=True)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log; the call log is the record."""

    def _serve(self) -> None:
        limit = self.app.core.settings.max_body_bytes
        try:
            body = self._read_body(limit)
        except ValueError as exc:
            too_large = EntityTooLargeError(str(exc))
            self._send(render_oss_error(too_large, oss_request_id(), self.headers.get("host", "")))
            self.close_connection = True
            return
        request = WireRequest(self.command, self.path, tuple(self.headers.items()), body)
        try:
            response = self.app.handle(request)
        except Exception as exc:  # an emulator bug must answer, never hang the client
            error = InternalError(f"Emulator failure: {type(exc).__name__}: {exc}"[:300])
            response = render_dts_error(error, new_request_id(), self.headers.get("host", ""))
        if response.reset:
            self._reset_connection()
            return
        self._send(response)

    def _read_body(self, limit: int) -> bytes:
        if (self.headers.get("transfer-encoding") or "").lower() == "chunked":
            return self._read_chunked(limit)
        length = int(self.headers.get("content-length") or 0)
        if length > limit:
            raise ValueError(f"Request body of {length} bytes exceeds {limit}")
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self, limit: int) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            total += size
            if total > limit:
                raise ValueError(f"Chunked request body exceeds {limit} bytes")
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _send(self, response: WireResponse) -> None:
        self.send_response(response.status)
        names = {name.lower() for name, _ in response.headers}
        for name, value in response.headers:
            self.send_header(name, value)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)
        self.wfile.flush()

    def _reset_connection(self) -> None:
        """Fault injection: drop the socket with an RST and answer nothing."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve  # noqa: N815 - stdlib names


class _Server(ThreadingHTTPServer):
    """Tracks open connections so stop() can close kept-alive ones too."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)

    def close_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class EmulatorServer:
    """Local DTS + OSS on loopback, for the demo, tests and benchmarks.

    Example::

        server = EmulatorServer(state={"credentials": {...}, "jobs": {...}})
        with server as url:                 # starts; url is "http://127.0.0.1:<port>"
            ...point clients at url...
            server.get_state()["calls"]     # admin verbs as plain methods
        # stopped here

    `state` is a dict, a path to a JSON file, or None for the demo state. `port=0` picks a free
    port. `start()` returns the endpoint once the socket listens; `stop()` shuts down and joins.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        state: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if isinstance(state, (str, os.PathLike)):
            state = load_state_file(state)
        self.host = host
        self.port = port
        self.core = EmulatorCore(state, clock=clock)
        self.app = EmulatorApp(self.core, sleep)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("EmulatorServer is not started; call start() first")
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        if self._server is not None:
            return self.endpoint
        handler = type("EmulatorRequestHandler", (_RequestHandler,), {"app": self.app})
        server = _Server((self.host, self.port), handler)
        self.port = int(server.server_address[1])
        ready = threading.Event()

        def serve() -> None:
            ready.set()
            server.serve_forever(poll_interval=0.1)

        thread = threading.Thread(target=serve, name=f"dts-emulator-{self.port}", daemon=True)
        thread.start()
        if not ready.wait(START_TIMEOUT_SECONDS):
            server.server_close()
            raise RuntimeError(f"Emulator did not start within {START_TIMEOUT_SECONDS} s")
        self._server, self._thread = server, thread
        return self.endpoint

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout=START_TIMEOUT_SECONDS)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------ admin verbs, in-process

    def get_state(self) -> dict[str, Any]:
        return self.core.get_state()

    def put_state(self, state: Mapping[str, Any]) -> dict[str, Any]:
        return self.core.put_state(state)

    def reset(self) -> dict[str, Any]:
        return self.core.reset()

    def add_fault(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        return self.core.add_fault(spec)

    def clear_faults(self) -> None:
        self.core.clear_faults()

    def add_hook(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        return self.core.add_hook(spec)

    def clear_hooks(self) -> None:
        self.core.clear_hooks()

    def calls(self, action: str | None = None) -> list[dict[str, Any]]:
        return self.core.get_calls(action)


def load_state_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a state JSON file; a clear ConfigurationError when it is missing or not JSON."""
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot read emulator state file {str(file)!r}: {exc.strerror}",
            hint="Pass --state with a readable JSON file (docs/emulator.md)",
        ) from exc
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"Emulator state file {str(file)!r} is not JSON: {exc.msg} at line {exc.lineno}",
            hint="Fix the JSON; docs/emulator.md describes the state",
        ) from exc
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"Emulator state file {str(file)!r} holds {type(data).__name__}, not a JSON object",
            hint="The state is an object with credentials, jobs, buckets (docs/emulator.md)",
        )
    return data
