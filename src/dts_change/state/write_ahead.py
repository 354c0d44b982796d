"""The write-ahead note before every ModifyDtsJob (`sent/<job>/...`): a call DTS carried out is
named even when the process dies or the ledger write fails right after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .records import (
    _PRUNE_BATCH,
    _SENT,
    _dumps,
    _loads,
    _ns,
)
from .storage.base import Store, check_key, escape_segment


class WriteAheadNotes:
    """The ledger's notes of calls about to be made (`Ledger` is one)."""

    store: Store
    clock: Callable[[], float]
    monotonic: Callable[[], float]

    def note_sending(
        self, job_key: str, *, client_token: str, phase: str, keys: list[str], sent_sha256: str
    ) -> str:
        """Write, before a ModifyDtsJob, which changes it carries under which ClientToken.

        One object per submission, whatever the number of changes: a process that dies (or whose
        ledger write fails) right after DTS carried the call out still leaves the call explained,
        so every write DTS received is one the ledger can name. Another pass sending the same
        token writes another note (same token, later time). Pruned with the closed changes, by age."""
        now = self.clock()
        name = f"{_SENT}{escape_segment(job_key)}/{_ns(now):020d}-{check_key(client_token)}.json"
        body = _dumps(
            {
                "client_token": client_token,
                "phase": phase,
                "keys": sorted(keys),
                "dblist_sha256": sent_sha256,
                "job_key": job_key,
                "at": now,
            },
            what="sending note",
        )
        self.store.put_if_absent(name, body)
        return name

    def sending_notes(self, job_key: str) -> list[dict[str, Any]]:
        """The write-ahead notes of a job, oldest first (for audits and the reliability checks)."""
        prefix = f"{_SENT}{escape_segment(job_key)}/"
        notes = []
        for name in self.store.list(prefix):
            raw = self.store.get(name)
            if raw is not None:
                notes.append(_loads(raw, where=f"{self.store.url}{name}"))
        return notes

    def _prune_sending_notes(self, cutoff_ns: int, deadline: float | None) -> None:
        """Delete write-ahead notes older than the retention; the age is in the name (no reads)."""
        old: list[str] = []
        for name in self.store.list(_SENT):
            if deadline is not None and self.monotonic() >= deadline:
                break
            stamp = name.rsplit("/", 1)[-1].partition("-")[0]
            if stamp.isdigit() and int(stamp) <= cutoff_ns:
                old.append(name)
                if len(old) >= _PRUNE_BATCH:
                    self._delete_many(old)
                    old = []
        self._delete_many(old)

    def _delete_many(self, names: list[str]) -> None:
        if not names:
            return
        delete_many = getattr(self.store, "delete_many", None)
        if delete_many is not None:
            delete_many(names)
            return
        for name in names:
            self.store.delete(name)
