"""`removals_left_to_fold`: what a change whose removal DTS carried out removes when folded again."""

from __future__ import annotations

from dts_change.core.dblist import DbList, ObjectRef
from dts_change.core.merge import ChangeSpec, fold_changes
from dts_change.reconcile.fold import removals_left_to_fold, without_cancelled_additions

# Raw DbList JSON, as DTS lists it: crm synchronized table by table, staging whole.
CURRENT = DbList.from_user({
    "crm": {"name": "crm", "all": False, "Table": {"c2": {"name": "c2", "all": True}}},
    "staging": {"name": "staging", "all": True},
})


def adds(change_id: str, db: str, *tables: str) -> ChangeSpec:
    fragment = {db: {"name": db, "all": False, "Table": {t: {"name": t, "all": True} for t in tables}}}
    return ChangeSpec(change_id, add=DbList.from_user(fragment))


def test_database_listed_again_still_loses_the_tables_earlier_changes_add() -> None:
    earlier = [adds("a", "crm", "c0", "c2"), adds("b", "crm", "c1"), adds("c", "shop", "x")]
    left = removals_left_to_fold(CURRENT, (ObjectRef("crm"),), earlier)
    # c2 is listed now (it came back later): kept; c0 and c1 come before the removal: removed
    assert left == (ObjectRef("crm", "c0"), ObjectRef("crm", "c1"))


def test_refold_in_ledger_order_gives_the_list_read_when_the_lost_write_landed() -> None:
    earlier = [adds("a", "crm", "c0")]
    removal = ChangeSpec("rm", remove=removals_left_to_fold(CURRENT, (ObjectRef("crm"),), earlier),
                         removals_carried_out=True)
    result = fold_changes(CURRENT, [*earlier, removal, adds("later", "crm", "c2")])
    assert result.after == CURRENT
    assert result.plan.phases() == []


def test_names_listed_now_are_not_removed_again_and_unlisted_ones_stay() -> None:
    left = removals_left_to_fold(
        CURRENT,
        (ObjectRef("crm", "c2"), ObjectRef("crm", "gone"), ObjectRef("hr"), ObjectRef("staging")),
        [adds("a", "staging", "s9")],
    )
    # crm.c2 and the whole staging are listed now: not removed again (staging is synchronized
    # whole, so the table an earlier change adds is inside it anyway); the others stay
    assert left == (ObjectRef("crm", "gone"), ObjectRef("hr"))


def test_earlier_entries_of_a_database_listed_again_go_with_its_removal() -> None:
    # a adds crm whole and shop.x, b adds crm under a target name: rm-crm (carried out) takes both
    # crm entries away in ledger order; crm listed now is the later change's
    whole = ChangeSpec("a", add=DbList.from_user({"crm": {"name": "crm", "all": True},
                                                  "shop": {"name": "shop", "all": False,
                                                           "Table": {"x": {"name": "x", "all": True}}}}))
    mapped = ChangeSpec("b", add=DbList.from_user({"crm": {"name": "crm_t", "all": True}}))
    earlier = without_cancelled_additions(CURRENT, (ObjectRef("crm"),), [whole, mapped, adds("c", "hr", "e")])
    assert [s.add.databases.keys() if s.add else None for s in earlier] == [{"shop"}, None, {"hr"}]
    removal = ChangeSpec("rm", remove=removals_left_to_fold(CURRENT, (ObjectRef("crm"),), earlier),
                         removals_carried_out=True)
    result = fold_changes(CURRENT, [*earlier, removal, adds("later", "crm", "c2")])
    assert [o.status for o in result.outcomes] == ["applied", "no_op", "applied", "no_op", "no_op"]
    assert result.after.databases["crm"] == CURRENT.databases["crm"]


def test_a_database_not_listed_now_keeps_the_earlier_additions_for_the_fold_to_cancel() -> None:
    earlier = [adds("a", "hr", "e")]
    assert without_cancelled_additions(CURRENT, (ObjectRef("hr"), ObjectRef("crm", "c2")), earlier) == earlier
