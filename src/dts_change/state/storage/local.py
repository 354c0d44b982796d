"""`DirectoryStore`: one file per key under a root folder (tests, the demo, `--local`).

Create-if-absent must be atomic *and* complete, or a reader could see half a record: the data is
written and fsynced to a temporary file in the target's folder, then hard-linked to the target
name (`link` fails if the name exists, so exactly one of several writers wins), then the temporary
name is removed. Only where hard links are unsupported does it fall back on `O_CREAT | O_EXCL`,
which is still exclusive but lets a reader see a partly written file for a moment.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from ...core.errors import InvalidStoreKeyError, LeaseStoreError, short_repr
from .base import check_key, check_prefix

TEMP_PREFIX = ".dts-tmp-"
_LINK_UNSUPPORTED = frozenset(
    code
    for code in (
        getattr(errno, name, None) for name in ("EPERM", "ENOTSUP", "EOPNOTSUPP", "EXDEV", "EMLINK", "ENOSYS")
    )
    if code is not None
)
_MKDIR_RETRIES = 3


class DirectoryStore:
    """A `Store` over a local directory (never inside FC: its disk is gone with the instance)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        path = Path(root)
        if not path.is_absolute():
            raise InvalidStoreKeyError(
                f"Invalid directory store root {short_repr(str(root))} -> expected an absolute path"
            )
        self.root = path
        self.url = "file://" + quote(str(path))
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._error("create the root folder", str(path), exc) from exc

    def __repr__(self) -> str:
        return f"DirectoryStore({self.url!r})"

    # ------------------------------------------------------------------ Store

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as exc:
            raise self._error("read", key, exc) from exc

    def get_with_age(self, key: str) -> tuple[bytes, float | None] | None:
        """The file and its age by its modification time (one machine: one clock)."""
        path = self._path(key)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
                written = os.fstat(handle.fileno()).st_mtime
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as exc:
            raise self._error("read", key, exc) from exc
        return data, max(0.0, time.time() - written)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        temp = self._write_temp(path, key, data)
        try:
            os.link(temp, path)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in _LINK_UNSUPPORTED:
                raise self._error("create", key, exc) from exc
            return self._create_exclusive(path, key, data)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        return True

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        temp = self._write_temp(path, key, data)
        try:
            os.replace(temp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise self._error("write", key, exc) from exc

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise self._error("delete", key, exc) from exc
        # Empty folders are tidied away; a writer that loses its folder to this recreates it.
        parent = path.parent
        while parent != self.root:
            try:
                parent.rmdir()
            except OSError:
                return
            parent = parent.parent

    def delete_many(self, keys: list[str]) -> None:
        for key in keys:
            self.delete(key)

    def list(self, prefix: str) -> list[str]:
        check_prefix(prefix)
        folder = prefix.rpartition("/")[0]
        keys: list[str] = []
        # scandir by hand rather than os.walk + pathlib: every invocation lists a job's open-change
        # folder, which holds a thousand entries during a burst. Same rules as os.walk: folders
        # that vanish or cannot be read list nothing, symlinked folders are not followed.
        pending = [(os.path.join(self.root, folder) if folder else str(self.root), folder + "/" if folder else "")]
        while pending:
            path, base = pending.pop()
            try:
                scan = os.scandir(path)
            except OSError:
                continue
            with scan:
                for entry in scan:
                    name = entry.name
                    if name.startswith(TEMP_PREFIX):
                        continue
                    key = base + name
                    try:
                        is_dir = entry.is_dir()
                    except OSError:
                        is_dir = False
                    if not is_dir:
                        if key.startswith(prefix):
                            keys.append(key)
                    elif not entry.is_symlink() and (key + "/").startswith(prefix):
                        pending.append((entry.path, key + "/"))
        keys.sort()
        return keys

    # ------------------------------------------------------------------ helpers

    def _path(self, key: str) -> Path:
        check_key(key)
        if any(segment.startswith(TEMP_PREFIX) for segment in key.split("/")):
            raise InvalidStoreKeyError(
                f"Invalid store key {short_repr(key)} -> expected no segment starting with {TEMP_PREFIX!r}"
            )
        return self.root / key

    def _write_temp(self, path: Path, key: str, data: bytes) -> Path:
        """Write `data` to a fresh temporary file next to `path`, fsynced, and return its name."""
        temp = path.parent / f"{TEMP_PREFIX}{uuid.uuid4().hex}"
        fd = self._open_temp(temp, key)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise self._error("write", key, exc) from exc
        return temp

    def _open_temp(self, temp: Path, key: str) -> int:
        attempt = 1
        while True:
            try:
                temp.parent.mkdir(parents=True, exist_ok=True)
                return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileNotFoundError as exc:
                # A concurrent delete removed the (empty) folder between mkdir and open: again.
                if attempt == _MKDIR_RETRIES:
                    raise self._error("write", key, exc) from exc
                attempt += 1
            except OSError as exc:
                raise self._error("write", key, exc) from exc

    def _create_exclusive(self, path: Path, key: str, data: bytes) -> bool:
        """Fallback where hard links are not supported: exclusive, but not complete at once."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        except OSError as exc:
            raise self._error("create", key, exc) from exc
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise self._error("write", key, exc) from exc
        return True

    def _error(self, verb: str, key: str, exc: OSError) -> LeaseStoreError:
        return LeaseStoreError(
            f"Could not {verb} {short_repr(key)} in the directory store {self.url} -> "
            f"{type(exc).__name__} errno {exc.errno}: {exc.strerror}",
            hint="Check that the folder exists, is writable and the disk is not full",
        )
