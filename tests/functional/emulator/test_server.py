"""The emulator as a server on loopback: lifecycle, keep-alive, resets, bodies, and the CLI."""

from __future__ import annotations

import http.client
import json
import os
import select
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
import requests

from dts_change.emulator import EmulatorServer
from dts_change.emulator import signature as sig
from dts_change.emulator.__main__ import main
from tests.emulator_fixture import emulator_server

TIMEOUT = 5


def _state(url: str) -> dict[str, Any]:
    response = requests.get(f"{url}/_emulator/state", timeout=TIMEOUT)
    response.raise_for_status()
    return dict(response.json())


def test_emulator_server_context_manager_yields_url_and_stops_listening() -> None:
    server = EmulatorServer()
    with server as url:
        assert url == server.endpoint
        assert url.startswith("http://127.0.0.1:")
        assert "dtsjob-demo" in _state(url)["jobs"]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/_emulator/state", timeout=TIMEOUT)


def test_emulator_server_endpoint_before_start_raises() -> None:
    with pytest.raises(RuntimeError):
        _ = EmulatorServer().endpoint


def test_emulator_server_keeps_connections_alive() -> None:
    # GIVEN one HTTP/1.1 connection
    with emulator_server() as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
        try:
            # WHEN two requests go over it
            for _ in range(2):
                conn.request("GET", "/_emulator/calls")
                response = conn.getresponse()
                assert response.status == 200
                response.read()
            # THEN both were answered on the same socket
            assert conn.sock is not None
        finally:
            conn.close()


def _signed_oss_get(url: str, bucket: str, key: str) -> requests.Response:
    """GET signed with OSS V1 for the demo key (faults apply to authenticated calls only)."""
    date = formatdate(usegmt=True)
    string_to_sign = sig.oss_v1_string_to_sign("GET", {"date": [date]}, bucket, key, [])
    auth = f"OSS LTAIdemo:{sig.oss_v1_signature('demo-secret', string_to_sign)}"
    return requests.get(
        f"{url}/{bucket}/{key}", headers={"Date": date, "Authorization": auth}, timeout=TIMEOUT
    )


def test_emulator_server_reset_fault_closes_the_socket_without_answer() -> None:
    with emulator_server() as server:
        server.add_fault({"service": "oss", "reset": True})
        with pytest.raises(requests.ConnectionError):
            _signed_oss_get(server.endpoint, "dts-changes", "x")
        # the next request is answered normally
        assert _signed_oss_get(server.endpoint, "dts-changes", "x").status_code == 404
        assert [c["outcome"] for c in server.calls()] == ["connection-reset", "NoSuchKey"]


def test_emulator_server_body_over_limit_answers_entity_too_large() -> None:
    with emulator_server({"settings": {"maxBodyBytes": 10}}) as server:
        response = requests.put(f"{server.endpoint}/b/k", data=b"x" * 11, timeout=TIMEOUT)
        assert response.status_code == 400
        assert b"EntityTooLarge" in response.content


def test_emulator_server_reads_chunked_bodies() -> None:
    # A chunked PUT to an unknown bucket is read fully and answered (AccessDenied: unsigned).
    with emulator_server() as server:
        response = requests.put(f"{server.endpoint}/b/k", data=iter([b"abc", b"def"]), timeout=TIMEOUT)
        assert response.status_code == 403


def test_emulator_server_loads_state_from_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"jobs": {"j1": {"instanceId": "i1", "dbList": {}}}}), encoding="utf-8")
    with EmulatorServer(state=path) as url:
        assert list(_state(url)["jobs"]) == ["j1"]


def test_emulator_server_admin_put_over_http_changes_state() -> None:
    with emulator_server() as server:
        state = _state(server.endpoint)
        state["jobs"]["dtsjob-demo"]["status"] = "Suspending"
        response = requests.put(f"{server.endpoint}/_emulator/state", json=state, timeout=TIMEOUT)
        assert response.status_code == 200
        assert server.get_state()["jobs"]["dtsjob-demo"]["status"] == "Suspending"


def _cli(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "dts_change.emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_cli_prints_listening_line_then_serves_until_sigterm(tmp_path: Path) -> None:
    # GIVEN the emulator started as a process on a free port with a state file
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"jobs": {"j1": {"instanceId": "i1", "dbList": {}}}}), encoding="utf-8")
    proc = _cli("--port", "0", "--state", str(state))
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "no 'listening on' line within 20 s"
        line = proc.stdout.readline().strip()
        # THEN its first line names the URL, which serves the state
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.removeprefix("listening on ")
        assert list(_state(url)["jobs"]) == ["j1"]
        # AND SIGTERM stops it cleanly
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_cli_main_with_unreadable_state_returns_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", "0", "--state", str(tmp_path / "missing.json")]) == 2
    assert "Cannot read emulator state file" in capsys.readouterr().err


def test_cli_main_with_invalid_state_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"jobs": {"j": {"status": 3}}}), encoding="utf-8")
    assert main(["--state", str(path)]) == 2
    assert "jobs.j.status" in capsys.readouterr().err


def test_emulator_server_serves_parallel_clients_and_logs_every_call() -> None:
    # GIVEN 8 threads each sending 10 signed OSS GETs
    with emulator_server() as server:

        def worker(_: int) -> list[int]:
            return [_signed_oss_get(server.endpoint, "dts-changes", "x").status_code for _ in range(10)]

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = [status for batch in pool.map(worker, range(8)) for status in batch]
        # THEN every request was answered and logged exactly once
        assert statuses == [404] * 80
        calls = server.calls("GetObject")
        assert len(calls) == 80
        assert sorted(c["seq"] for c in calls) == list(range(1, 81))


def test_emulator_server_stop_closes_kept_alive_connections() -> None:
    # GIVEN a session holding a kept-alive connection to the emulator
    server = EmulatorServer()
    with requests.Session() as session:
        with server as url:
            assert session.get(f"{url}/_emulator/calls", timeout=TIMEOUT).status_code == 200
        # WHEN the server has stopped, THEN the old connection no longer answers either
        with pytest.raises(requests.ConnectionError):
            session.get(f"{url}/_emulator/calls", timeout=TIMEOUT)
