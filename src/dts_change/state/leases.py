"""The per-(job, direction) lease: create-if-absent generations, read on the store's clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Literal

from ..core.errors import (
    CorruptRecordError,
    DtsChangeError,
    InvalidTransitionError,
    LeaseHeldError,
    NewerLedgerLayoutError,
    short_repr,
)
from ..core.values import immutable
from .records import (
    _LEASE_ATTEMPTS,
    _LEASES,
    _VERSION_SUFFIX,
    _dumps,
    _loads,
    _parse_version,
)
from .storage.base import Store, escape_segment

LEDGER_LAYOUT = 2
"""The ledger layout this code writes, in every lease generation (`ledger_layout`): 2 is the batch
layout (`batches/<job>/<n>.json` carries the transitions of open changes). A record without the
field was written by layout 1 (each transition a change's own next version). Code of layout 1
that has the rollout guard refuses to run a pass once the job's latest generation says more than
1: it would read a change submitted through a batch as pending and submit it again
(docs/deploying.md, "Upgrading to the batch layout"). This code stands aside in turn for a
generation that says more than 2 (`NewerLedgerLayoutError`)."""


@immutable
class Lease:
    """A held lease generation; `token` tells our generation from a lookalike with the same owner."""

    job_key: str
    owner: str
    generation: int
    acquired_at: float
    expires_at: float
    token: str
    released: bool = False
    ttl_seconds: float = 0.0
    """How long the lease lives, counted on the store's clock from when its object was written
    (`acquired_at`/`expires_at` are the writer's clock, kept for people reading the record)."""
    ledger_layout: int = LEDGER_LAYOUT
    """The ledger layout of the code that wrote this generation (1 when the record has none)."""

    @property
    def ttl(self) -> float:
        return self.ttl_seconds or max(0.0, self.expires_at - self.acquired_at)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str) -> Lease:
        try:
            lease = cls(
                job_key=str(data["job_key"]),
                owner=str(data["owner"]),
                generation=int(data["generation"]),
                acquired_at=float(data["acquired_at"]),
                expires_at=float(data["expires_at"]),
                token=str(data["token"]),
                released=bool(data.get("released", False)),
                ttl_seconds=float(data.get("ttl_seconds") or 0.0),
                ledger_layout=_layout(data.get("ledger_layout", 1)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptRecordError(
                f"Invalid lease in {where}: {short_repr(exc)} -> expected the fields written by this ledger"
            ) from exc
        return lease


def _layout(value: Any) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"ledger_layout {value!r} is not an integer")
    return value


class LeaseBook:
    """The ledger's leases (`Ledger` is one); the attributes are the ledger's."""

    store: Store
    clock: Callable[[], float]
    monotonic: Callable[[], float]
    lease_time: Literal["store", "local"]
    _held_until: dict[str, float]
    _orphans: set[str]
    _below: dict[str, list[int]]
    _lease_tags: dict[str, str]

    def acquire_lease(self, job_key: str, owner: str, ttl_seconds: float) -> Lease:
        """Take the job's lease by creating its next generation; `LeaseHeldError` while another is live.

        A live lease is never taken over, not even by the same owner name; an expired or released one
        is taken over by creating the next generation, which exactly one contender manages."""
        if not ttl_seconds > 0:
            raise InvalidTransitionError(
                f"Invalid lease ttl {ttl_seconds!r} for job {short_repr(job_key)} -> expected seconds > 0"
            )
        folder = f"{_LEASES}{escape_segment(job_key)}/"
        current: Lease | None = None
        store_error: DtsChangeError | None = None
        for _ in range(_LEASE_ATTEMPTS):
            generations = self._lease_generations(folder)
            latest = generations[-1] if generations else 0
            aged = self._read_lease_aged(folder, latest) if generations else None
            if generations and aged is None:
                continue  # pruned between list and get: look again
            current = aged[0] if aged is not None else None
            if current is not None and current.ledger_layout > LEDGER_LAYOUT:
                raise self._newer_layout(job_key, current)
            if aged is not None and self._live(*aged):
                raise self._lease_held(job_key, aged[0])
            now = self.clock()
            lease = Lease(
                job_key=job_key,
                owner=owner,
                generation=latest + 1,
                acquired_at=now,
                expires_at=now + ttl_seconds,
                token=uuid.uuid4().hex,
                ttl_seconds=ttl_seconds,
            )
            started = self.monotonic()
            try:
                created, tag = self._create(self._lease_key(folder, lease.generation), self._lease_bytes(lease))
            except DtsChangeError as exc:
                # The answer may be lost after OSS stored it (issue 12.7): the generation, if it
                # exists, is ours and unused, so this instance may take the next one at once.
                self._orphans.add(lease.token)
                store_error = exc
                continue
            store_error = None
            if created:
                self._held_until[lease.token] = started + ttl_seconds
                if tag is not None:
                    self._lease_tags[lease.token] = tag
                try:
                    # Pruning frees old generation numbers: a contender that listed long ago can create
                    # one again after newer generations exist. Only the highest generation is the lease.
                    listed = self._lease_generations(folder)
                    newer = [g for g in listed if g > lease.generation]
                    if newer:
                        self.store.delete(self._lease_key(folder, lease.generation))
                        raise self._lease_held(job_key, self._read_lease(folder, newer[-1]))
                    self._prune_generations(folder, generations, keep_from=latest)
                except DtsChangeError:
                    self._give_up(lease)
                    raise
                # What the release deletes, from this listing (it need not list again).
                self._below[lease.token] = [g for g in listed if latest <= g < lease.generation]
                return lease
        if store_error is not None:
            raise store_error  # every attempt failed on the store: not a lease someone holds
        if current is None:
            current = self._latest_lease(folder)
        raise self._lease_held(job_key, current)

    def lease_is_current(self, lease: Lease) -> bool:
        """True while `lease` is unexpired, still stored, and no later generation exists.

        Unexpired by our monotonic clock from before the lease was written (a wall clock that is
        off or jumps changes nothing); a lease this instance did not take falls back on its clock."""
        if lease.released:
            return False
        until = self._held_until.get(lease.token)
        if until is not None:
            if self.monotonic() >= until:
                return False
        elif self.clock() >= lease.expires_at:
            return False
        folder = f"{_LEASES}{escape_segment(lease.job_key)}/"
        tag = self._lease_tags.get(lease.token)
        list_tagged = getattr(self.store, "list_tagged", None)
        if tag is not None and list_tagged is not None:
            # One listing instead of two reads: no later generation, and ours is still the object
            # we wrote (its ETag, the MD5 of bytes that hold our random token, as PutObject gave it).
            listed: dict[str, str | None] = dict(list_tagged(folder))
            numbers = (_parse_version(name[len(folder) :]) for name in listed)
            if any(n is not None and n > lease.generation for n in numbers):
                return False
            return listed.get(self._lease_key(folder, lease.generation)) == tag
        if self.store.get(self._lease_key(folder, lease.generation + 1)) is not None:
            return False
        stored = self._read_lease(folder, lease.generation)
        return stored is not None and stored.token == lease.token

    def release_lease(self, lease: Lease) -> None:
        """Give the lease up by creating the next generation marked released (nothing is deleted).

        Never raises for store trouble: a release whose answer was lost leaves either the released
        generation or our own, which this instance no longer counts as live (issue 12.7)."""
        try:
            self._release(lease)
        except DtsChangeError:
            self._give_up(lease)

    def _give_up(self, lease: Lease) -> None:
        self._held_until.pop(lease.token, None)
        self._lease_tags.pop(lease.token, None)
        self._below.pop(lease.token, None)
        self._orphans.add(lease.token)

    def _release(self, lease: Lease) -> None:
        until = self._held_until.get(lease.token)
        below = self._below.pop(lease.token, None)
        if until is None or below is None or lease.released:
            if not self.lease_is_current(lease):
                return
        elif self.monotonic() >= until:
            return
        # else: a lease this instance took and still holds by its own clock, counted from before
        # the lease was written: the store sees it live too, and a live lease is never taken
        # over, so there is no later generation to look for. Create-if-absent of the next one
        # settles any doubt: it fails if one exists, and under newer generations it is ignored.
        folder = f"{_LEASES}{escape_segment(lease.job_key)}/"
        now = self.clock()
        released = Lease(
            job_key=lease.job_key,
            owner=lease.owner,
            generation=lease.generation + 1,
            acquired_at=now,
            expires_at=now,
            token=uuid.uuid4().hex,
            released=True,
        )
        self._held_until.pop(lease.token, None)
        self._lease_tags.pop(lease.token, None)
        if self.store.put_if_absent(
            self._lease_key(folder, released.generation), self._lease_bytes(released)
        ):
            if below is None:
                below = self._lease_generations(folder)
            self._prune_generations(folder, below, keep_from=lease.generation)

    def _create(self, key: str, data: bytes) -> tuple[bool, str | None]:
        """Create-if-absent, with the new object's ETag where the store tells it (`TaggedStore`):
        lease generations here, record versions in the ledger."""
        put_if_absent_tagged = getattr(self.store, "put_if_absent_tagged", None)
        if put_if_absent_tagged is None:
            return self.store.put_if_absent(key, data), None
        created, tag = put_if_absent_tagged(key, data)
        return bool(created), tag if isinstance(tag, str) else None

    def _lease_generations(self, folder: str) -> list[int]:
        numbers = (_parse_version(name[len(folder) :]) for name in self.store.list(folder))
        return sorted(n for n in numbers if n is not None)

    def _read_lease(self, folder: str, generation: int) -> Lease | None:
        name = self._lease_key(folder, generation)
        raw = self.store.get(name)
        if raw is None:
            return None
        return Lease.from_dict(_loads(raw, where=f"{self.store.url}{name}"), where=f"{self.store.url}{name}")

    def _read_lease_aged(self, folder: str, generation: int) -> tuple[Lease, float | None] | None:
        """The lease generation and its age on the store's clock (None where the store cannot tell)."""
        name = self._lease_key(folder, generation)
        get_with_age = getattr(self.store, "get_with_age", None) if self.lease_time == "store" else None
        if get_with_age is None:
            lease = self._read_lease(folder, generation)
            return (lease, None) if lease is not None else None
        found: tuple[bytes, float | None] | None = get_with_age(name)
        if found is None:
            return None
        raw, age = found
        where = f"{self.store.url}{name}"
        return Lease.from_dict(_loads(raw, where=where), where=where), age

    def _live(self, lease: Lease, age: float | None) -> bool:
        """Whether a stored lease still holds: by its age on the store's clock when the store tells
        it (issue 12.2: the writer's and the reader's clocks may disagree by more than a lease),
        else by the writer's expiry against our clock."""
        if lease.released or lease.token in self._orphans:
            return False
        if age is not None:
            return age < lease.ttl
        return self.clock() < lease.expires_at

    def _latest_lease(self, folder: str) -> Lease | None:
        generations = self._lease_generations(folder)
        return self._read_lease(folder, generations[-1]) if generations else None

    def _prune_generations(self, folder: str, generations: list[int], *, keep_from: int) -> None:
        """Old generations are noise once two newer exist; the previous one stays so that its holder
        sees the takeover through `lease_is_current`."""
        for generation in generations:
            if generation < keep_from:
                self.store.delete(self._lease_key(folder, generation))

    @staticmethod
    def _lease_key(folder: str, generation: int) -> str:
        return f"{folder}{generation:012d}{_VERSION_SUFFIX}"

    @staticmethod
    def _lease_bytes(lease: Lease) -> bytes:
        return _dumps(lease.to_dict(), what="lease")

    @staticmethod
    def _newer_layout(job: str, current: Lease) -> NewerLedgerLayoutError:
        return NewerLedgerLayoutError(
            f"Lease for job {short_repr(job)}: generation {current.generation} was written by "
            f"{short_repr(current.owner)} with ledger layout {current.ledger_layout}, newer than this "
            f"release's {LEDGER_LAYOUT} -> expected every instance to run that release; this one "
            "runs no pass for the job",
            holder=current.owner,
            details={"job_key": job, "generation": current.generation, "ledger_layout": current.ledger_layout},
        )

    def _lease_held(self, job: str, current: Lease | None) -> LeaseHeldError:
        holder = current.owner if current is not None else None
        until = current.expires_at if current is not None else None
        return LeaseHeldError(
            f"Lease for job {short_repr(job)} is held by {short_repr(holder)} until {until} -> expected "
            "it free, released or expired",
            holder=holder,
            details={"job_key": job, "expires_at": until},
        )
