"""Longest-first schedule, estimates for unseen cells, lower bound and shards (pure logic)."""

import heapq
import random

import pytest

from farm.core.matrix import Cell
from farm.core.schedule import DEFAULT_ESTIMATE, Plan, expected_durations, longest_first, lower_bound, relative_costs, shard, simulate


def cells_for(tests: dict[str, float], browsers=("chrome", "firefox")) -> tuple[list[Cell], dict[str, float]]:
    cells, expected = [], {}
    for test, seconds in tests.items():
        for browser in browsers:
            cell = Cell(f"{test}[{browser}]", test, browser)
            cells.append(cell)
            expected[cell.nodeid] = seconds
    return cells, expected


def test_longest_first_orders_by_expected_then_nodeid():
    cells, expected = cells_for({"a": 1.0, "b": 9.0, "c": 4.0}, browsers=("chrome",))
    assert [c.test_id for c in longest_first(cells, expected)] == ["b", "c", "a"]


def test_longest_first_ties_are_reproducible():
    cells, expected = cells_for({"b": 2.0, "a": 2.0}, browsers=("chrome",))
    assert [c.test_id for c in longest_first(reversed(cells), expected)] == ["a", "b"]


def test_simulate_respects_per_browser_slots():
    cells, expected = cells_for({"a": 10.0, "b": 10.0, "c": 10.0})
    timeline = simulate(cells, expected, {"chrome": 3, "firefox": 1})
    assert [start for start, _, _ in timeline.starts["chrome"]] == [0.0, 0.0, 0.0]  # three slots: all at once
    assert [start for start, _, _ in timeline.starts["firefox"]] == [0.0, 10.0, 20.0]
    assert timeline.makespan == 30.0  # firefox's single slot runs all three


def in_collection_order(seconds: list[float], slots: int) -> float:
    """The makespan of handing cells out in collection order, each to the first free slot (xdist's load)."""
    free = [0.0] * slots
    for s in seconds:
        heapq.heapreplace(free, free[0] + s)
    return max(free)


def test_simulate_beats_collection_order_on_skewed_work():
    # Longest first starts the 9 s cell at once; collection order starts it after the short ones.
    tests = {"a": 1.0, "b": 1.0, "c": 1.0, "d": 9.0}
    cells, expected = cells_for(tests, browsers=("chrome",))
    assert simulate(cells, expected, {"chrome": 2}).makespan == 9.0
    assert in_collection_order(list(tests.values()), 2) == 10.0


def test_lower_bound_is_max_of_longest_and_average_load():
    cells, durations = cells_for({"a": 8.0, "b": 1.0, "c": 1.0})
    assert lower_bound(cells, durations, {"chrome": 2, "firefox": 2}) == 8.0
    cells, durations = cells_for({f"t{i}": 2.0 for i in range(10)})
    assert lower_bound(cells, durations, {"chrome": 2, "firefox": 4}) == 10.0  # chrome: 20 s over 2 slots


def test_estimates_use_history_first():
    cells, _ = cells_for({"a": 0})
    expected = expected_durations(cells, {("a", "chrome"): 3.0, ("a", "firefox"): 5.0})
    assert expected == {"a[chrome]": 3.0, "a[firefox]": 5.0}


def test_unseen_cell_scaled_by_browser_ratio():
    history = {("a", "chrome"): 2.0, ("a", "firefox"): 4.0, ("b", "chrome"): 5.0, ("b", "firefox"): 10.0, ("c", "chrome"): 3.0}
    cells, _ = cells_for({"c": 0})
    assert expected_durations(cells, history)["c[firefox]"] == pytest.approx(6.0)  # firefox is 2x chrome


def test_relative_costs_follow_the_history_and_are_even_without_it():
    history = {("a", "chrome"): 2.0, ("a", "firefox"): 3.0, ("b", "chrome"): 4.0, ("b", "firefox"): 6.0, ("c", "edge"): 9.0}
    assert relative_costs(history, ["chrome", "firefox", "edge"]) == {"chrome": 1.0, "firefox": 1.5, "edge": 1.0}
    assert relative_costs(history, ["firefox", "chrome"]) == {"firefox": 1.0, "chrome": pytest.approx(2 / 3)}
    # Totals, not the median cell: one firefox cell that opened the kept session outweighs the rest.
    kept = {("open", "chrome"): 1.0, ("open", "firefox"): 4.0}
    kept |= {(t, b): s for t in "xyz" for b, s in (("chrome", 1.0), ("firefox", 0.9))}
    assert relative_costs(kept, ["chrome", "firefox"])["firefox"] == pytest.approx(6.7 / 4.0)
    assert relative_costs({}, ["chrome", "firefox"]) == {"chrome": 1.0, "firefox": 1.0}


def test_unseen_test_gets_browser_median_then_default():
    history = {("a", "chrome"): 1.0, ("b", "chrome"): 3.0, ("c", "chrome"): 8.0}
    cells, _ = cells_for({"a": 0, "b": 0, "c": 0, "new": 0}, browsers=("chrome",))
    assert expected_durations(cells, history)["new[chrome]"] == 3.0
    cells, _ = cells_for({"x": 0})
    assert expected_durations(cells, {}) == {"x[chrome]": DEFAULT_ESTIMATE, "x[firefox]": DEFAULT_ESTIMATE}


def test_history_of_removed_tests_does_not_skew_estimates():
    history = {("gone", "chrome"): 100.0, ("a", "chrome"): 2.0}
    cells, _ = cells_for({"a": 0, "new": 0}, browsers=("chrome",))
    assert expected_durations(cells, history)["new[chrome]"] == 2.0


@pytest.mark.parametrize("count", [1, 2, 3, 5, 7])
def test_shards_partition_the_matrix_exactly(count):
    rng = random.Random(count)
    cells, expected = cells_for({f"t{i}": rng.uniform(1, 20) for i in range(31)})
    parts = [shard(cells, expected, i, count) for i in range(1, count + 1)]
    flat = [c for part in parts for c in part]
    assert sorted(flat) == sorted(cells)
    assert len(flat) == len(set(flat))


def test_shards_are_balanced_by_expected_work():
    rng = random.Random(7)
    cells, expected = cells_for({f"t{i}": rng.uniform(1, 20) for i in range(40)})
    loads = [sum(expected[c.nodeid] for c in shard(cells, expected, i, 4)) for i in range(1, 5)]
    assert max(loads) - min(loads) <= max(expected.values())  # greedy LPT bound
    for i in range(1, 5):  # each shard gets both browsers' work
        assert {c.browser for c in shard(cells, expected, i, 4)} == {"chrome", "firefox"}


def test_shard_index_out_of_range():
    cells, expected = cells_for({"a": 1.0})
    with pytest.raises(ValueError, match="index must be from 1 to 2"):
        shard(cells, expected, 3, 2)


def test_plan_round_trips(tmp_path):
    cells, expected = cells_for({"a": 2.0, "b": 1.0})
    plan = Plan.build(cells, expected, {"chrome": 1, "firefox": 1})
    plan.dump(tmp_path / "plan.json")
    again = Plan.load(tmp_path / "plan.json")
    assert again.cells["a[firefox]"] == {"browser": "firefox", "test_id": "a", "expected": 2.0, "first": False}
    assert again.predicted_makespan == 3.0


def test_a_browserless_test_is_planned_once_on_its_first_browser():
    from farm.core.capacity import Capacity
    from farm.core.schedule import Planning

    cells = [Cell(f"{t}[{b}]", t, b) for t in ("helper", "page") for b in ("chrome", "firefox")]
    plan = Planning(Capacity.per_browser({"chrome": 1, "firefox": 1}), browserless=frozenset({"helper"})).plan(cells)
    assert sorted(plan.cells) == ["helper[chrome]", "page[chrome]", "page[firefox]"]
    assert plan.cells["helper[chrome]"]["browserless"] is True and "browserless" not in plan.cells["page[chrome]"]


def test_a_guessed_plan_is_revised_by_the_cells_that_finish():
    from farm.core.capacity import Capacity
    from farm.core.results import CellResult, first_round_revision
    from farm.core.schedule import Planning, revised_makespan

    cells = [Cell(f"t{i}[{b}]", f"t{i}", b) for i in range(4) for b in ("chrome", "firefox")]
    plan = Planning(Capacity.per_browser({"chrome": 1, "firefox": 1})).plan(cells)
    assert plan.predicted_makespan == 4 * DEFAULT_ESTIMATE  # nothing measured: every cell a guess
    # the first cell of each browser took 20 s: the others are now expected to take as long
    finished = {"t0[chrome]": 20.0, "t0[firefox]": 20.0}
    assert revised_makespan(plan, finished) == 80.0
    assert revised_makespan(plan, {}) == plan.predicted_makespan
    results = [CellResult(n, n.split("[")[0], n.split("[")[1][:-1], "passed", s, 1.0, 1.0 + s) for n, s in finished.items()]
    assert first_round_revision(results, plan) == {"cells": 2, "makespan": 80.0}
    # measured cells keep what was measured for them; only guesses move
    measured = Planning(
        Capacity.per_browser({"chrome": 1, "firefox": 1}), {(f"t{i}", b): 1.0 for i in range(4) for b in ("chrome", "firefox")}
    )
    known = measured.plan(cells)
    assert revised_makespan(known, {"t0[chrome]": 1.0}) == known.predicted_makespan == 4.0
    assert first_round_revision(results, known) is None
