"""Filters, selectors and per-point plans (what a configuration means for one point)."""

from __future__ import annotations

from datetime import datetime

import pytest

from opencrate.components.history.config.model import (
    EqualsFilter,
    RangeFilter,
    Selector,
    ThresholdFilter,
    TimeFilter,
)
from opencrate.components.history.config.persist_syntax import parse_persist
from opencrate.components.history.filters import FilterState, filter_passes
from opencrate.components.history.selectors import IdHierarchy, NodeHierarchy
from opencrate.components.history.strategies import (
    PointPlan,
    compile_plan,
    next_fire_ms,
    storage_id,
)


@pytest.mark.parametrize(
    ("spec", "value", "last", "passes"),
    [
        (ThresholdFilter(name="t", value=0.5), 20.0, None, True),  # first value
        (ThresholdFilter(name="t", value=0.5), 20.5, (0, 20.0), False),  # not strictly greater
        (ThresholdFilter(name="t", value=0.5), 20.6, (0, 20.0), True),
        (ThresholdFilter(name="t", value=0.5), 19.4, (0, 20.0), True),
        (ThresholdFilter(name="t", value=0.5), True, (0, False), True),  # not a number
        (ThresholdFilter(name="t", value=0.5), 3, (0, 3.0), True),  # change of kind
        (ThresholdFilter(name="t", value=10, relative=True), 105.0, (0, 100.0), False),
        (ThresholdFilter(name="t", value=10, relative=True), 111.0, (0, 100.0), True),
        (ThresholdFilter(name="t", value=10, relative=True), -0.1, (0, 0.0), True),
        (TimeFilter(name="t", interval_ms=60_000), 1.0, (1_000, 0.0), False),
        (TimeFilter(name="t", interval_ms=60_000), 1.0, (-59_000, 0.0), True),
        (EqualsFilter(name="e", values=("ON",)), True, None, True),
        (EqualsFilter(name="e", values=("ON",)), False, None, False),
        (EqualsFilter(name="e", values=("1",)), 1.0, None, True),
        (EqualsFilter(name="e", values=("OFF",), negate=True), False, None, False),
        (EqualsFilter(name="e", values=("idle",), negate=True), "run", None, True),
        (RangeFilter(name="r", lower=18, upper=26), 18.0, None, True),
        (RangeFilter(name="r", lower=18, upper=26), 26.5, None, False),
        (RangeFilter(name="r", lower=18, upper=26), "text", None, True),
        (RangeFilter(name="r", lower=0, upper=40, inside=False), 40.0, None, True),
        (RangeFilter(name="r", lower=0, upper=40, inside=False), 20.0, None, False),
    ],
)
def test_filter_semantics(spec: object, value: object, last: object, passes: bool) -> None:
    assert filter_passes(spec, value, 1_000, last) is passes  # type: ignore[arg-type]


def test_filter_state_moves_only_when_recorded() -> None:
    state = FilterState()
    tenth = [ThresholdFilter(name="tenth", value=1.0)]
    assert state.passes(tenth, "p", 20.0, 0)
    state.record(tenth, "p", 20.0, 0)
    assert not state.passes(tenth, "p", 20.5, 1)
    # Drift is measured from the last *stored* value, not the last seen one.
    assert state.passes(tenth, "p", 21.5, 2)
    assert state.passes(tenth, "other", 20.5, 1)  # per point


def test_selectors_subtree_exclusions_and_id_fallback() -> None:
    nodes = {
        "site": None,
        "ahu1": "site",
        "ahu1/sat": "ahu1",
        "ahu1/debug": "ahu1",
        "vav1": "site",
        "vav1/flow": "vav1",
    }

    class Node:
        def __init__(self, parent: str | None) -> None:
            self.parent_id = parent

    class Lookup:
        def get_or_none(self, node_id: str) -> Node | None:
            return Node(nodes[node_id]) if node_id in nodes else None

    hierarchy = NodeHierarchy(Lookup())
    assert hierarchy.ancestors("ahu1/sat") == {"ahu1", "site"}
    assert hierarchy.ancestors("2002/ai-1") == {"2002"}  # unknown: id convention
    assert IdHierarchy().ancestors("a/b/c") == {"a", "a/b"}

    cfg = parse_persist(
        """Strategies { hourly : "0 0 * * * ?" }
        Items {
            site*, !ahu1/debug : strategy = everyChange
            ahu1* -> "ahu" : strategy = hourly, restoreOnStartup
            !vav1*, ahu1/sat : strategy = everyUpdate
        }""",
        service="sqlite",
    )

    def plan(point: str):  # type: ignore[no-untyped-def]
        return compile_plan(cfg, point, hierarchy.ancestors(point))

    sat = plan("ahu1/sat")
    assert [r.index for r in sat.on_change] == [0]
    assert [r.index for r in sat.on_update] == [2]
    assert list(sat.on_cron) == ["hourly"]
    assert sat.restore
    assert sat.storage_id == "ahu"
    debug = plan("ahu1/debug")
    assert debug.on_change == ()  # excluded on line 0 only
    assert list(debug.on_cron) == ["hourly"]
    flow = plan("vav1/flow")
    assert [r.index for r in flow.on_change] == [0]
    assert flow.on_update == ()  # '!vav1*' wins on its own line
    assert not plan("site").stores_anything  # 'site*' is the members, not the node
    assert storage_id(cfg, "vav1/flow", hierarchy.ancestors("vav1/flow")) == "vav1/flow"


def test_points_selected_by_the_same_lines_share_one_plans_rules() -> None:
    cfg = parse_persist(
        'Items {\n  * : strategy = everyUpdate\n  1/b -> "bee" : strategy = everyChange\n}',
        service="sqlite",
    )
    shared: dict[tuple[int, ...], PointPlan] = {}
    a, c, b = (compile_plan(cfg, p, frozenset(), shared=shared) for p in ("1/a", "1/c", "1/b"))
    # Same lines: the same rule tuples (one object for any number of points) ...
    assert a.on_update is c.on_update
    assert a.on_update_or_change is c.on_update_or_change
    assert len(shared) == 2  # (0,) and (0, 1)
    # ... each with its own point and storage id, as without sharing.
    assert (a.point_id, a.storage_id, c.storage_id, b.storage_id) == ("1/a", "1/a", "1/c", "bee")
    assert b == compile_plan(cfg, "1/b", frozenset())
    assert [r.index for r in b.on_update_or_change] == [0, 1]


def test_update_triggers_change_lines_only_on_change() -> None:
    cfg = parse_persist(
        "Items { * : strategy = everyChange\n a : strategy = everyUpdate }", service="memory"
    )
    plan = compile_plan(cfg, "a", frozenset())
    assert [r.index for r in plan.lines_for_update(changed=False)] == [1]
    assert [r.index for r in plan.lines_for_update(changed=True)] == [1, 0]


def test_cron_has_a_seconds_field() -> None:
    start = int(datetime(2026, 1, 1, 12, 0, 0).astimezone().timestamp() * 1000)
    assert next_fire_ms("*/10 * * * * *", start) == start + 10_000
    assert next_fire_ms("0 */5 * * * *", start) == start + 300_000
    assert Selector.parse("!ahu1*") == Selector.parse(" !ahu1* ")
