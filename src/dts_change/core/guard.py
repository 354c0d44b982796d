"""The wire guard: the last check before every ModifyDtsJob, on plain JSON only.

The merge works on models (`dblist.DbList`); a blind spot in them (a key stripped, a container
dropped) would be shared by every check written with them. This module shares nothing with them:
it reads the `DbObject` text exactly as DescribeDtsJobDetail returned it and the exact `DbList`
text about to be sent, both with `json.loads`, and requires every path of the first (every key at
every depth, with its value) to be in the second with the same value. The only exceptions:

- DTS's own marker: a string `state` directly on a database entry (`/db/state`) or on a table
  entry (`/db/Table/t/state`). A `state` anywhere else (a table or column called `state`, a key
  of a filter object) is data like any other name.
- What this pass's plan explicitly gives up: a removed database (`/db` and below), a removed
  table (`/db/Table/t` and below), and the keys an `onConflict: replace` fragment overlays
  (`/db/key`, `/db/Table/t/key`; a whole-database replace also releases `/db/all` and
  `/db/Table`).

Paths are reported as JSON Pointers (RFC 6901), so names with dots, slashes or spaces stay exact.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import GuardViolationError
from .values import immutable

Path = tuple[str, ...]

MAX_REPORTED = 20
"""How many lost paths a violation lists; the count says how many there were."""


@immutable
class Allowance:
    """Paths the plan gives up: each may change or vanish together with everything below it."""

    released: frozenset[Path] = frozenset()

    def covers(self, path: Path) -> bool:
        released = self.released
        return bool(released) and any(path[:n] in released for n in range(1, len(path) + 1))


def allowance_for(
    removals: Iterable[tuple[str, str | None]], replacements: Iterable[Mapping[str, Any]] = ()
) -> Allowance:
    """Build the allowance from the plan, in plain values.

    `removals`: (database, table or None) pairs removed explicitly. `replacements`: the DbList
    fragments of the changes that say `onConflict: replace`, as plain JSON objects."""
    released: set[Path] = set()
    for db, table in removals:
        released.add((db,) if table is None else (db, "Table", table))
    for fragment in replacements:
        for db, entry in fragment.items():
            if not isinstance(entry, Mapping):
                continue  # not a fragment entry: it releases nothing
            released.update((db, key) for key in entry if key not in ("Table", "all"))
            tables = entry.get("Table")
            if entry.get("all") is True or (entry.get("all") is None and not tables):
                released.update({(db, "all"), (db, "Table")})
            if isinstance(tables, Mapping):
                for table, t_entry in tables.items():
                    if isinstance(t_entry, Mapping):
                        released.update((db, "Table", table, key) for key in t_entry)
    return Allowance(frozenset(released))


def pointer(path: Path) -> str:
    """RFC 6901 JSON Pointer of `path` (`~` as `~0`, `/` as `~1`)."""
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in path)


def databases_of(pointers: Iterable[str]) -> set[str]:
    """The database names (first segments) of JSON Pointers, unescaped."""
    out: set[str] = set()
    for p in pointers:
        if p.startswith("/"):
            out.add(p[1:].split("/", 1)[0].replace("~1", "/").replace("~0", "~"))
    return out


def _is_dts_marker(path: Path, value: Any) -> bool:
    """DTS's `state` marker: a string, directly on a database or a table entry, nowhere else."""
    if not isinstance(value, str) or not path or path[-1] != "state":
        return False
    return len(path) == 2 or (len(path) == 4 and path[1] == "Table")


def without_dts_markers(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a plain DbList without DTS's markers (the rule of `_is_dts_marker`), to compare
    two lists whatever side added them."""
    out: dict[str, Any] = {}
    for db, entry in data.items():
        if not isinstance(entry, Mapping):
            out[db] = entry
            continue
        kept = {k: v for k, v in entry.items() if not _is_dts_marker((db, k), v)}
        tables = kept.get("Table")
        if isinstance(tables, Mapping):
            kept["Table"] = {
                t: ({k: v for k, v in t_entry.items() if not _is_dts_marker((db, "Table", t, k), v)}
                    if isinstance(t_entry, Mapping) else t_entry)
                for t, t_entry in tables.items()
            }
        out[db] = kept
    return out


_PLAIN = (str, int, bool, type(None))


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON text: `1` is not `1.0` nor `true`, key order inside values does not matter."""
    if type(a) in _PLAIN or type(b) in _PLAIN:
        return type(a) is type(b) and a == b  # the common case, without serialising
    return json.dumps(a, sort_keys=True, ensure_ascii=False) == json.dumps(b, sort_keys=True, ensure_ascii=False)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 60 else text[:59] + "…"


def find_losses(before_text: str, sent_text: str, allowance: Allowance) -> list[tuple[str, str]]:
    """(JSON Pointer, what happened) for every path of `before_text` not kept in `sent_text`.

    Walks with an explicit stack: a deeply nested filter cannot exhaust the recursion limit."""
    before = json.loads(before_text)
    sent = json.loads(sent_text)
    if not isinstance(before, dict) or not isinstance(sent, dict):
        return [("", "the DbObject read or the DbList to send is not a JSON object")]
    losses: list[tuple[str, str]] = []
    released = allowance.released
    stack: list[tuple[Path, dict[str, Any], dict[str, Any]]] = [((), before, sent)]
    while stack:
        path, old, new = stack.pop()
        for key, value in old.items():
            here = (*path, key)
            # Only `here` itself: a node is walked only when no prefix of its path was released.
            if here in released or (key == "state" and _is_dts_marker(here, value)):
                continue
            if key not in new:
                losses.append((pointer(here), "missing"))
            elif isinstance(value, dict):
                if isinstance(new[key], dict):
                    stack.append((here, value, new[key]))
                else:
                    losses.append((pointer(here), f"an object became {_short(new[key])}"))
            elif not _same(value, new[key]):
                losses.append((pointer(here), f"changed from {_short(value)} to {_short(new[key])}"))
    return sorted(losses)


def check_dblist(before_text: str | None, sent_text: str, allowance: Allowance) -> None:
    """Raise `GuardViolationError` naming the lost paths; return when everything is kept."""
    if before_text is None:
        raise GuardViolationError(
            "Guard violation: no DbObject text was read before this write, so nothing can be "
            "compared; nothing was sent",
            details={"paths": []},
        )
    try:
        losses = find_losses(before_text, sent_text, allowance)
    except (ValueError, RecursionError) as exc:
        raise GuardViolationError(
            f"Guard violation: the DbObject read or the DbList to send is not JSON ({exc}); "
            "nothing was sent",
            details={"paths": []},
        ) from None
    if losses:
        shown = "; ".join(f"{p or '/'} {what}" for p, what in losses[:MAX_REPORTED])
        more = f" (and {len(losses) - MAX_REPORTED} more)" if len(losses) > MAX_REPORTED else ""
        raise GuardViolationError(
            f"Guard violation: the DbList about to be sent does not keep {len(losses)} path(s) of "
            f"the job's DbObject that no removal or replace named: {shown}{more}; nothing was sent",
            details={"paths": [p for p, _ in losses], "lost": [{"path": p, "what": w} for p, w in losses]},
        )


def check_reserved(db_list_text: str | None, sent: Mapping[str, Any], asked: Iterable[Mapping[str, Any]]) -> None:
    """An UPDATE_RESERVED request carries no DbList, and only keys and values the changes asked
    for (the last change asking a key wins); DTS merges `Reserved`, so the rest is kept."""
    if db_list_text is not None:
        raise GuardViolationError(
            "Guard violation: an UPDATE_RESERVED request would carry a DbList (it would replace "
            "the object list); nothing was sent",
            details={"paths": ["/DbList"]},
        )
    wanted: dict[str, Any] = {}
    for change in asked:
        wanted.update(change)
    wrong = sorted(
        pointer((key,)) for key, value in sent.items() if key not in wanted or not _same(value, wanted[key])
    )
    if wrong:
        raise GuardViolationError(
            f"Guard violation: the Reserved map to send sets {', '.join(wrong[:MAX_REPORTED])}, "
            "which no change asked for with that value; nothing was sent",
            details={"paths": wrong},
        )
