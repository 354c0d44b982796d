"""Properties of the DbList model and the merge engine over generated lists and changes."""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dts_change.core.dblist import DbList, ObjectRef
from dts_change.core.merge import ChangeSpec, check_no_loss, fold_changes
from tests.reference.generators import dts_lists as adversarial_lists
from tests.reference.generators import removals as adversarial_removals
from tests.reference.generators import user_fragments as adversarial_fragments

EXAMPLES = int(os.environ.get("DTS_CHANGE_FUZZ_EXAMPLES", "150"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NAMES = st.sampled_from(["sales", "hr", "销售", "Orders", "orders", "t 1", "订单", "a+b"])


@st.composite
def dts_table(draw: st.DrawFn) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if draw(st.booleans()):
        entry["name"] = draw(NAMES)
    if draw(st.booleans()):
        entry["all"] = draw(st.booleans())
    if draw(st.booleans()):
        entry["state"] = "normal"
    if draw(st.booleans()):
        entry["primary_key"] = draw(st.sampled_from(["id", "k1,k2"]))
    if draw(st.integers(0, 4)) == 0:
        entry["filter"] = "id>10"
    return entry


@st.composite
def dts_database(draw: st.DrawFn) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if draw(st.booleans()):
        entry["name"] = draw(NAMES)
    coverage = draw(st.sampled_from(["absent", "whole", "partial", "legacy"]))
    if coverage == "whole":
        entry["all"] = True
    elif coverage == "partial":
        entry["all"] = False
        entry["Table"] = draw(st.dictionaries(NAMES, dts_table(), min_size=1, max_size=4))
    elif coverage == "legacy":
        entry["Table"] = draw(st.dictionaries(NAMES, dts_table(), min_size=1, max_size=2))
    if draw(st.booleans()):
        entry["state"] = "normal"
    if draw(st.integers(0, 3)) == 0:
        entry["View"] = {"v": {"name": "v"}}
    return entry


dts_lists = st.dictionaries(NAMES, dts_database(), max_size=5)


@st.composite
def user_fragment(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for db in draw(st.lists(NAMES, min_size=1, max_size=3, unique=True)):
        if draw(st.integers(0, 3)) == 0:
            out[db] = {"name": db, "all": True}
            continue
        table_names = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
        table_entries: dict[str, Any] = {}
        for t in table_names:
            entry: dict[str, Any] = {"all": True}
            if draw(st.integers(0, 4)) == 0:
                entry["name"] = t + "_v2"
            table_entries[t] = entry
        out[db] = {"all": False, "Table": table_entries}
    return out


@st.composite
def removal(draw: st.DrawFn) -> tuple[ObjectRef, ...]:
    refs = []
    for _ in range(draw(st.integers(0, 3))):
        db = draw(NAMES)
        table = draw(st.one_of(st.none(), NAMES))
        refs.append(ObjectRef(db, table))
    return tuple(refs)


@st.composite
def change(draw: st.DrawFn, idx: int = 0) -> ChangeSpec:
    add = draw(st.one_of(st.none(), user_fragment()))
    remove = draw(removal())
    return ChangeSpec(
        change_id=f"c{idx}-{draw(st.integers(0, 10**6))}",
        add=DbList.from_user(add) if add is not None else None,
        remove=remove,
        on_conflict=draw(st.sampled_from(["reject", "replace"])),
    )


def parse(data: dict[str, Any]) -> DbList:
    return DbList.from_dts(json.dumps(data, ensure_ascii=False))


@SETTINGS
@given(dts_lists)
def test_property_unknown_and_server_keys_round_trip(data):
    assert parse(data).to_wire(keep_server_keys=True) == data


@SETTINGS
@given(dts_lists)
def test_property_reported_size_equals_serialized_bytes(data):
    parsed = parse(data)
    assert parsed.byte_size() == len(parsed.to_json().encode("utf-8"))
    assert parsed.byte_size(keep_server_keys=True) == len(
        json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    )


@SETTINGS
@given(dts_lists, st.lists(change(), max_size=4))
def test_property_fold_never_loses_an_object_nobody_removed(data, changes):
    before = parse(data)
    result = fold_changes(before, changes)
    check_no_loss(before, result.after, result.removals)
    removed_dbs = {r.db for r in result.removals if r.table is None}
    for ref in before.objects():
        if ref in result.removals or ref.db in removed_dbs:
            continue
        if ref.table is None and not before.databases[ref.db].whole:
            continue  # a partial database may vanish when its last listed table is removed
        assert result.after.covers(ref), ref
    for phase, listed in result.plan.phases():
        assert phase in ("removal", "addition")
        check_no_loss(before, listed, result.removals)


@SETTINGS
@given(dts_lists, change())
def test_property_folding_a_change_twice_equals_once(data, one):
    before = parse(data)
    once = fold_changes(before, [one]).after
    twice = fold_changes(once, [one]).after
    assert twice == once
    assert fold_changes(before, [one, one]).after == once


@SETTINGS
@given(dts_lists, user_fragment(), user_fragment())
def test_property_pure_additions_without_conflicts_are_order_independent(data, frag_a, frag_b):
    before = parse(data)
    a = ChangeSpec("a", add=DbList.from_user(frag_a))
    b = ChangeSpec("b", add=DbList.from_user(frag_b))
    ab = fold_changes(before, [a, b])
    ba = fold_changes(before, [b, a])
    if any(o.status == "rejected" for o in ab.outcomes + ba.outcomes):
        return
    assert ab.after == ba.after


@SETTINGS
@given(dts_lists, removal())
def test_property_removals_remove_exactly_what_they_select(data, refs):
    before = parse(data)
    result = fold_changes(before, [ChangeSpec("r", remove=refs)])
    if result.outcomes[0].status == "rejected":
        # whole-database table, or (issue 11) a name not listed, a last table, the last database
        assert result.outcomes[0].error.code in {
            "removal-needs-table-list", "remove-not-listed", "removal-empties-database", "dblist-would-be-empty"}
        assert result.after == before
        return
    for ref in refs:
        assert not result.after.covers(ref) or (
            ref.table is not None and ref.db not in before.databases
        )
    untouched = [
        r for r in before.objects()
        if r.db not in {x.db for x in refs if x.table is None} and r not in refs and r.table is not None
    ]
    for ref in untouched:
        assert result.after.covers(ref)


# ---------------------------------------------------------------------- adversarial jobs (#11, #17)
# The generators of tests/reference: DTS's own key names as object names, dots, backticks, case and
# look-alike variants, renames and settings at both levels, unknown containers, a missing `all`,
# several databases, two-way jobs. The reference model (tests/reference) judges the merge on them;
# these properties hold whatever the merge decides.


@SETTINGS
@given(adversarial_lists())
def test_property_adversarial_lists_round_trip_byte_for_byte(data):
    assert parse(data).to_wire(keep_server_keys=True) == data


@SETTINGS
@given(st.data())
def test_property_adversarial_change_folded_twice_equals_once(data):
    current = data.draw(adversarial_lists())
    fragment = data.draw(adversarial_fragments(current))
    refs = tuple(ObjectRef(db, t) for db, t in data.draw(adversarial_removals(current)))
    one = ChangeSpec("c", add=DbList.from_user(fragment), remove=refs,
                     on_conflict=data.draw(st.sampled_from(["reject", "replace"])))
    before = parse(current)
    once = fold_changes(before, [one])
    if once.outcomes[0].status == "rejected":
        assert once.after == before
        return
    assert fold_changes(once.after, [ChangeSpec("c", add=one.add, on_conflict=one.on_conflict)]).outcomes[0].status in ("no_op", "rejected")
    for _, listed in once.plan.phases():
        check_no_loss(before, listed, once.removals)
