"""`removals_left_to_fold`: what a change whose removal DTS carried out removes when folded again."""

from __future__ import annotations

from dts_change.core.dblist import DbList, ObjectRef
from dts_change.core.merge import ChangeSpec, fold_changes
from dts_change.reconcile.fold import removals_left_to_fold

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
