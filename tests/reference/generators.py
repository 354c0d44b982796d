"""Hypothesis generators of DTS object lists and changes, shared by the reference properties, the
merge fuzz (`make fuzz`) and the randomised fault runs.

They produce what users and DTS actually send and what the older generators never did: adversarial
names (`name`, `all`, `Table`, `column`, dots, backticks, spaces, case variants, look-alike
Unicode), renames at both levels, filters, column maps, `dml_op`/`ddl_op`, unknown keys and
containers, database-level settings, a missing `all`, several databases, two-way (mirrored)
jobs, and, now and then, fragments the engine must refuse (bad names, the 128-character limit,
misspelt keys).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Names that collide with DTS's own keys, need quoting in "db.table" strings, or differ only by
# case or by look-alike characters (Cyrillic "о", fullwidth "ｏ").
ADVERSARIAL_NAMES = [
    "orders", "Orders", "ORDERS", "\u043erders", "\uff4frders",
    "name", "all", "Table", "table", "column", "filter", "dml_op",
    "a.b", "`q`", "t 1", " lead", "销售", "x",
]
STATE = "state"  # DTS's server key used as a name (issue #11 point 1)


def names(*, with_state: bool) -> st.SearchStrategy[str]:
    pool = ADVERSARIAL_NAMES + ([STATE] if with_state else [])
    return st.sampled_from(pool)


OPS = st.sampled_from(["I,U,D", "I", "U,D"])


@st.composite
def unknown_container(draw: st.DrawFn, *, with_state: bool) -> Any:
    """A key DTS may add or a newer API may carry: kept byte for byte, whatever its shape."""
    inner = draw(names(with_state=with_state))
    return draw(st.sampled_from([
        {"v1": {"name": "v1"}},
        [1, {inner: "x"}],
        {inner: {"deep": [inner]}},
        "pk1,pk2",
    ]))


@st.composite
def dts_table(draw: st.DrawFn, key: str, *, with_state: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if draw(st.booleans()):
        entry["name"] = draw(st.sampled_from([key, key + "_dst", draw(names(with_state=with_state))]))
    if draw(st.booleans()):
        entry["all"] = draw(st.booleans())
    if draw(st.integers(0, 3)) == 0:
        entry["state"] = draw(st.sampled_from(["normal", "Normal"]))
    if draw(st.integers(0, 3)) == 0:
        entry["filter"] = draw(st.sampled_from(["id>10", "`all`='x'", {"expr": "id>1"}]))
    if draw(st.integers(0, 3)) == 0:
        cols = draw(st.lists(names(with_state=with_state), min_size=1, max_size=3, unique=True))
        entry["column"] = {c: c + "_dst" for c in cols}
    if draw(st.integers(0, 4)) == 0:
        entry["dml_op"] = draw(OPS)
    if draw(st.integers(0, 4)) == 0:
        entry["ddl_op"] = draw(OPS)
    if draw(st.integers(0, 4)) == 0:
        entry["primary_key"] = draw(unknown_container(with_state=with_state))
    return entry


@st.composite
def dts_database(draw: st.DrawFn, key: str, *, with_state: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if draw(st.booleans()):
        entry["name"] = draw(st.sampled_from([key, key + "_dst", draw(names(with_state=with_state))]))
    coverage = draw(st.sampled_from(["absent", "whole", "partial", "partial", "legacy"]))
    table_names = draw(st.lists(names(with_state=with_state), min_size=1, max_size=4, unique=True))
    if coverage == "whole":
        entry["all"] = True
    elif coverage == "partial":
        entry["all"] = False
    if coverage in ("partial", "legacy"):
        entry["Table"] = {t: draw(dts_table(t, with_state=with_state)) for t in table_names}
    if draw(st.integers(0, 3)) == 0:
        entry["state"] = "normal"
    if draw(st.integers(0, 4)) == 0:
        entry["dml_op"] = draw(OPS)
    if draw(st.integers(0, 4)) == 0:
        entry["ddl_op"] = draw(OPS)
    if draw(st.integers(0, 4)) == 0:
        entry["View"] = draw(unknown_container(with_state=with_state))
    return entry


@st.composite
def dts_lists(draw: st.DrawFn, *, with_state: bool = False, min_size: int = 1) -> dict[str, Any]:
    """A job's list as DescribeDtsJobDetail returns it (parsed), often with several databases;
    sometimes a two-way pair, where each database's target is the other's source."""
    keys = draw(st.lists(names(with_state=with_state), min_size=min_size, max_size=5, unique=True))
    out = {k: draw(dts_database(k, with_state=with_state)) for k in keys}
    if len(keys) >= 2 and draw(st.integers(0, 3)) == 0:
        a, b = keys[0], keys[1]
        out[a]["name"], out[b]["name"] = b, a  # mirrored: a -> b and b -> a
    return out


@st.composite
def fragment_table(draw: st.DrawFn, key: str, *, with_state: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    shape = draw(st.sampled_from(["bare", "all", "rename", "filter", "column", "ops", "narrow", "extra"]))
    if shape == "all":
        entry["all"] = True
    elif shape == "rename":
        entry["name"] = key + draw(st.sampled_from(["_dst", "_v2"]))
    elif shape == "filter":
        entry["filter"] = draw(st.sampled_from(["id>10", "id>99"]))
    elif shape == "column":
        entry["column"] = {draw(names(with_state=with_state)): "c_dst"}
    elif shape == "ops":
        entry["dml_op"] = draw(OPS)
    elif shape == "narrow":
        entry["all"] = False
    elif shape == "extra":
        entry["primary_key"] = draw(st.sampled_from(["id", "k1,k2"]))
    if draw(st.integers(0, 5)) == 0:
        entry["name"] = key
    return entry


@st.composite
def fragment_database(draw: st.DrawFn, key: str, *, with_state: bool) -> dict[str, Any]:
    shape = draw(st.sampled_from(["whole", "missing-all", "settings", "tables", "tables", "tables", "nothing"]))
    entry: dict[str, Any] = {}
    if shape == "nothing":  # "all": false and no table: would synchronize nothing
        return {"all": False, **draw(st.sampled_from([{}, {"Table": {}}]))}
    if shape == "whole" or (shape == "settings" and draw(st.booleans())):
        entry["all"] = True
    if shape in ("whole", "missing-all", "settings", "tables"):
        if draw(st.integers(0, 2)) == 0:
            entry["name"] = draw(st.sampled_from([key, key + "_dst", key.upper()]))
        if draw(st.integers(0, 3)) == 0:
            entry["dml_op"] = draw(OPS)
        if draw(st.integers(0, 4)) == 0:
            entry["ddl_op"] = draw(OPS)
    if shape == "tables":
        entry["all"] = False
        tables = draw(st.lists(names(with_state=with_state), min_size=1, max_size=3, unique=True))
        entry["Table"] = {t: draw(fragment_table(t, with_state=with_state)) for t in tables}
    return entry


def _invalid_variants(valid: dict[str, Any]) -> list[dict[str, Any]]:
    """Fragments §2.3/§7 say must be refused, built from a valid one."""
    db = next(iter(valid))
    return [
        {**valid, "": {"all": True}},
        {**valid, "bad\x07name": {"all": True}},
        {**valid, "n" * 129: {"all": True}},
        {**valid, db: {**valid[db], "name": ""}},
        {**valid, db: {"ALL": True}},
        {**valid, db: {"all": "yes"}},
        {**valid, db: {"table": {"t": {}}, "all": False}},
        {**valid, db: {"Table": {"t": {}}}},  # a Table list without "all"
        {**valid, db: {"all": False, "Table": {"t" * 129: {}}}},
    ]


@st.composite
def user_fragments(
    draw: st.DrawFn, existing: dict[str, Any] | None = None, *, with_state: bool = False,
    invalid_rate: int = 0,
) -> dict[str, Any]:
    """A DbList fragment a user sends: databases taken from the job's list or new, any shape;
    with `invalid_rate` n > 0, about 1 in n is one the engine must refuse."""
    pool = list(existing or {}) + ADVERSARIAL_NAMES + ([STATE] if with_state else [])
    keys = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True))
    out = {k: draw(fragment_database(k, with_state=with_state)) for k in keys}
    if existing:
        # Often reuse tables the job lists, so that conflicts and no-ops happen.
        for k, entry in out.items():
            listed = list((existing.get(k) or {}).get("Table") or {})
            if listed and "Table" in entry and draw(st.booleans()):
                t = draw(st.sampled_from(listed))
                entry["Table"][t] = draw(fragment_table(t, with_state=with_state))
    if invalid_rate and draw(st.integers(0, invalid_rate - 1)) == 0:
        out = draw(st.sampled_from(_invalid_variants(out)))
    if draw(st.integers(0, 9)) == 0:
        out["n" * 128] = {"all": True}  # exactly the longest accepted name
    return out


@st.composite
def removals(draw: st.DrawFn, existing: dict[str, Any]) -> list[tuple[str, str | None]]:
    """Mostly objects the job lists (databases and tables), sometimes a name it does not."""
    listed: list[tuple[str, str | None]] = []
    for db, entry in existing.items():
        listed.append((db, None))
        listed.extend((db, t) for t in entry.get("Table") or {})
    refs = []
    for _ in range(draw(st.integers(0, 2))):
        if listed and draw(st.integers(0, 5)) > 0:
            refs.append(draw(st.sampled_from(listed)))
        else:
            refs.append((draw(st.sampled_from(ADVERSARIAL_NAMES)), draw(st.one_of(st.none(), st.sampled_from(ADVERSARIAL_NAMES)))))
    return list(dict.fromkeys(refs))
