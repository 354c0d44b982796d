"""The persistent local deployment behind `--local`: emulator state, ledger and dead letters in one folder.

Every `--local` command (invoke, plan, reconcile, status, history, dlq) opens the same folder, so
what one command leaves (a pending change, a dead letter, a job still `Modifying`) is what the
next one sees, as in a deployment. Layout of the folder (default `.dts-change/local/`):

    emulator.json      the emulated DTS jobs and OSS buckets, saved after every command that writes
    ledger/            the change ledger (DTS_CHANGE_LEDGER)
    dead-letter/       the dead letters (DTS_CHANGE_DEAD_LETTER)
    .lock              held while a command runs, so two commands never interleave

A new folder is seeded from the sample job shipped with the package (`samples/local-state.json`),
so `--local` works from any directory; `dts-change local reset` starts over from it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from ..core.errors import ConfigurationError
from .settings import ENV_NAMES

DEFAULT_STATE_DIR = Path(".dts-change") / "local"
SAMPLE_STATE = "local-state.json"
EMULATOR_FILE = "emulator.json"

# What the local deployment itself provides; the user's values would point at the cloud.
_PROVIDED = ("ALIBABA_CLOUD_", "DTS_", "OSS_", "FC_")
# DTS_CHANGE_* names the local deployment sets itself: a user value is reported, not used.
_OWNED = ("DTS_CHANGE_LEDGER", "DTS_CHANGE_DEAD_LETTER")


def sample_state() -> dict[str, Any]:
    """The sample job (package data, so it is there however the package was installed)."""
    text = resources.files("dts_change").joinpath("samples").joinpath(SAMPLE_STATE).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def read_seed(path: Path | None) -> dict[str, Any]:
    """A seed state from `--state FILE`, or the sample when none is given."""
    if path is None:
        return sample_state()
    return _read_state(path, what="seed state file", hint="Pass --state with an emulator state JSON file")


def _read_state(path: Path, *, what: str, hint: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"No {what} at {path}", hint=hint) from None
    except OSError as exc:
        raise ConfigurationError(f"Cannot read {what} {path}: {exc.strerror}", hint=hint) from None
    except ValueError as exc:
        raise ConfigurationError(f"The {what} {path} is not complete JSON ({exc})", hint=hint) from None
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), dict) or not data["jobs"]:
        raise ConfigurationError(f"The {what} {path} holds no job (expected an object with \"jobs\")", hint=hint)
    if not isinstance(data.get("credentials"), dict) or not data["credentials"]:
        raise ConfigurationError(f"The {what} {path} holds no credentials", hint=hint)
    return data


@dataclass
class LocalRun:
    """One command's view of the running local deployment."""

    env: dict[str, str]
    server: Any
    job_id: str
    state_dir: Path

    def job_state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.server.get_state()
        job: dict[str, Any] = state["jobs"][self.job_id]
        return job


class LocalDeployment:
    """The folder of one local deployment; `open` runs the emulator over it for one command."""

    def __init__(self, state_dir: Path | str | None = None) -> None:
        self.state_dir = Path(state_dir if state_dir is not None else DEFAULT_STATE_DIR).resolve()
        self.emulator_file = self.state_dir / EMULATOR_FILE
        self.ledger_dir = self.state_dir / "ledger"
        self.dead_letter_dir = self.state_dir / "dead-letter"

    def exists(self) -> bool:
        return self.emulator_file.exists()

    def load(self, seed: Path | None = None) -> dict[str, Any]:
        """The saved emulator state, or the seed for a deployment not created yet."""
        if not self.exists():
            return read_seed(seed)
        return _read_state(
            self.emulator_file,
            what="local deployment state",
            hint=f"Start over with `dts-change local reset --state-dir {self.state_dir}`",
        )

    def reset(self, seed: Path | None = None, *, faults: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Start over: the seed's jobs and buckets, an empty ledger, no dead letters (and the
        emulator faults given, to rehearse a failure)."""
        state = read_seed(seed)
        state["faults"] = [*(state.get("faults") or []), *(faults or [])]
        with self._locked():
            for folder in (self.ledger_dir, self.dead_letter_dir):
                shutil.rmtree(folder, ignore_errors=True)
            self._save(state)
        return state

    @contextlib.contextmanager
    def open(
        self, *, seed: Path | None = None, persist: bool = True, user_env: Mapping[str, str] | None = None,
        notes: TextIO | None = None,
    ) -> Iterator[LocalRun]:
        """Run the emulator over the saved state for one command.

        `persist=False` (plan) leaves the folder exactly as it was: nothing is created, the
        emulator's state is not saved, and the ledger and dead letters point at a scratch
        folder deleted afterwards."""
        from ..emulator import EmulatorServer  # noqa: PLC0415 - only the local mode needs the emulator

        scratch: tempfile.TemporaryDirectory[str] | None = None
        lock: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if persist:
            lock = self._locked()
        else:
            scratch = tempfile.TemporaryDirectory(prefix="dts-change-plan-")
        with lock:
            if seed is not None and self.exists():
                print(f"note: --state seeds a new local deployment only; {self.state_dir} exists -> "
                      f"`dts-change local reset --state {seed}` starts over from it", file=notes or sys.stderr)
            state = self.load(seed)
            server = EmulatorServer(host="127.0.0.1", port=0, state=state)
            server.start()
            try:
                root = Path(scratch.name) if scratch is not None else self.state_dir
                if scratch is not None and self.ledger_dir.is_dir():
                    # A plan reads the ledger (is this id known already?) from a copy it may discard.
                    shutil.copytree(self.ledger_dir, root / "ledger")
                env = local_env(state, server.endpoint, root, dict(os.environ if user_env is None else user_env),
                                notes=notes or sys.stderr)
                job_id = next(iter(state["jobs"]))
                yield LocalRun(env=env, server=server, job_id=job_id, state_dir=self.state_dir)
                if persist:
                    self._save(server.get_state())
            finally:
                server.stop()
                if scratch is not None:
                    scratch.cleanup()

    def _save(self, state: Mapping[str, Any]) -> None:
        """Write-then-rename, so an interrupted save leaves the previous state, never half a file."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        temp = self.emulator_file.with_suffix(".json.tmp")
        temp.write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(temp, self.emulator_file)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / ".lock", "a+b") as handle:
            try:
                import fcntl  # noqa: PLC0415 - POSIX only; elsewhere commands simply do not overlap-check
            except ImportError:
                yield
                return
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def local_env(
    state: Mapping[str, Any], endpoint: str, root: Path, user_env: Mapping[str, str], *, notes: TextIO
) -> dict[str, str]:
    """The function's environment for the local deployment, keeping the user's DTS_CHANGE_* settings.

    Cloud coordinates (endpoints, keys, job ids) come from the emulator; routes, removals, caps,
    limits and the log level come from the user, and are validated like in a deployment."""
    key_id, cred = next(iter(state["credentials"].items()))
    job_id, job = next(iter(state["jobs"].items()))
    env = {k: v for k, v in user_env.items() if not k.startswith(_PROVIDED)}
    replaced = sorted(k for k in user_env if k.startswith(_PROVIDED) and not k.startswith(("DTS_CHANGE_", "FC_")))
    if replaced:
        print(f"note: --local uses its own endpoints, keys and job; {', '.join(replaced)} not used", file=notes)
    for name, value in user_env.items():
        if not name.startswith("DTS_CHANGE_"):
            continue
        if name in _OWNED:
            print(f"note: --local keeps its own ledger and dead letters; {name} is not used", file=notes)
            continue
        if name not in ENV_NAMES:
            print(f"warning: {name} is not a setting dts-change reads (see README's configuration table)",
                  file=notes)
            continue
        env[name] = value
    env.update(
        {
            "DTS_REGION": str(state.get("region") or "cn-hangzhou"),
            "DTS_ENDPOINT": endpoint,
            "OSS_ENDPOINT": endpoint,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": str(key_id),
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": str(cred["secret"]),
            "DTS_JOB_ID": str(job_id),
            "DTS_INSTANCE_ID": str(job.get("instanceId") or ""),
            "DTS_CHANGE_LEDGER": (root / "ledger").as_uri(),
            "DTS_CHANGE_DEAD_LETTER": (root / "dead-letter").as_uri(),
        }
    )
    if not env.get("DTS_CHANGE_ALLOWED_BUCKETS", "").strip():
        env["DTS_CHANGE_ALLOWED_BUCKETS"] = ",".join(state.get("buckets") or {})
    env.setdefault("DTS_CHANGE_LOG_LEVEL", "WARNING")
    if cred.get("securityToken"):
        env["ALIBABA_CLOUD_SECURITY_TOKEN"] = str(cred["securityToken"])
    return env
