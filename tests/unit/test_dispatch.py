"""The xdist scheduler against recording mock workers (as in xdist's testing/test_dsession.py)."""

import pytest

from farm.core.capacity import Capacity
from farm.core.schedule import Plan
from farm.plugin.controller.dispatch import LongestFirstScheduling
from farm.plugin.controller.scheduling import initial_browsers
from farm.plugin.idle import IDLE_NAME
from tests.unit.fakes import FakeNode


def scheduler(plan: Plan, **kwargs) -> LongestFirstScheduling:
    """The scheduler as the plugin makes it: the plan arrives with the first collection."""
    return LongestFirstScheduling(lambda collection: plan, plan.capacity, **kwargs)


def make(durations: dict[str, tuple[str, float]], slots: dict[str, int], workers: int, **kwargs):
    plan = Plan(
        capacity=Capacity.per_browser(slots), cells={n: {"browser": b, "test_id": n, "expected": s} for n, (b, s) in durations.items()}
    )
    return started(plan, [FakeNode(f"gw{i}") for i in range(workers)], **kwargs)


def started(plan: Plan, nodes: list[FakeNode], **kwargs):
    """The scheduler with `nodes` added and each having collected the plan's cells and the idle item."""
    collection = [*plan.cells, f"::{IDLE_NAME}"]
    sched = scheduler(plan, **kwargs)
    for node in nodes:
        sched.add_node(node)
    for node in nodes:
        sched.add_node_collection(node, collection)
    return sched, nodes, collection


def running(sched, collection):
    return {node.name: collection[i] for node, i in sched.running.items() if i is not None}


def test_first_dispatch_is_longest_first_with_idle_sentinel():
    sched, nodes, collection = make({"a": ("chrome", 1), "b": ("chrome", 9), "c": ("chrome", 5)}, {"chrome": 2}, 2)
    sched.schedule()
    idle = collection.index(f"::{IDLE_NAME}")
    assert nodes[0].sent == [collection.index("b"), idle]
    assert nodes[1].sent == [collection.index("c"), idle]
    assert not sched.tests_finished and sched.has_pending


def test_per_browser_slot_limit_holds_back_cells():
    cells = {"f1": ("firefox", 9), "f2": ("firefox", 8), "c1": ("chrome", 1)}
    sched, nodes, collection = make(cells, {"firefox": 1, "chrome": 1}, 3)
    sched.schedule()
    assert sorted(running(sched, collection).values()) == ["c1", "f1"]  # f2 waits for firefox's slot
    assert nodes[2].sent == []


def test_freed_slot_takes_longest_pending_of_a_free_browser():
    cells = {"f1": ("firefox", 9), "f2": ("firefox", 8), "c1": ("chrome", 1), "c2": ("chrome", 0.5)}
    sched, nodes, collection = make(cells, {"firefox": 1, "chrome": 1}, 2)
    sched.schedule()
    chrome_node = next(n for n in nodes if collection[sched.running[n]] == "c1")
    sched.mark_test_complete(chrome_node, collection.index("c1"))
    assert collection[sched.running[chrome_node]] == "c2"  # f2 is longer, but firefox's slot is busy


def test_workers_shut_down_once_the_last_cell_is_done():
    sched, nodes, _collection = make({"a": ("chrome", 2), "b": ("chrome", 1)}, {"chrome": 2}, 3)
    sched.schedule()
    assert not any(n.shut for n in nodes)  # nothing for the third worker, but ending it frees nothing
    sched.mark_test_complete(nodes[0], sched.running[nodes[0]])
    assert not any(n.shut for n in nodes)  # nor while b runs: its teardown would slow b
    sched.mark_test_complete(nodes[1], sched.running[nodes[1]])
    assert all(n.shut for n in nodes)
    assert sched.tests_finished
    for node in nodes:
        assert sched.remove_node(node) is None


def test_idle_completion_does_not_free_a_slot():
    sched, nodes, collection = make({"a": ("chrome", 2), "b": ("chrome", 1), "c": ("chrome", 1)}, {"chrome": 1}, 2)
    sched.schedule()
    first = next(n for n in nodes if sched.running[n] is not None)
    sched.mark_test_complete(first, sched.running[first])
    sched.mark_test_complete(first, collection.index(f"::{IDLE_NAME}"))
    assert sum(1 for i in sched.running.values() if i is not None) == 1


def test_crashed_worker_returns_its_cell_and_frees_the_slot():
    sched, nodes, collection = make({"a": ("chrome", 2), "b": ("chrome", 1)}, {"chrome": 1}, 2)
    sched.schedule()
    victim = next(n for n in nodes if sched.running[n] is not None)
    assert sched.remove_node(victim) == "a"
    replacement = FakeNode("gw9")
    sched.add_node(replacement)
    sched.add_node_collection(replacement, collection)
    sched.schedule()
    assert "b" in running(sched, collection).values()


def test_requeued_cell_runs_again():
    sched, nodes, collection = make({"a": ("chrome", 2)}, {"chrome": 1}, 1)
    sched.schedule()
    sched.mark_test_complete(nodes[0], collection.index("a"))
    assert sched.tests_finished
    sched.finished_nodes.clear()
    sched.mark_test_pending("a")
    assert running(sched, collection) == {"gw0": "a"}


def test_collection_mismatch_is_an_error():
    plan = Plan(capacity=Capacity.per_browser({"chrome": 1}), cells={"a": {"browser": "chrome", "expected": 1.0}})
    sched = scheduler(plan)
    one, two = FakeNode("gw0"), FakeNode("gw1")
    sched.add_node(one)
    sched.add_node(two)
    sched.add_node_collection(one, ["a", f"::{IDLE_NAME}"])
    sched.schedule()
    with pytest.raises(RuntimeError, match="different set of tests"):
        sched.add_node_collection(two, ["b", f"::{IDLE_NAME}"])


def test_collection_stays_complete_after_a_worker_leaves():
    sched, nodes, _collection = make({"a": ("chrome", 3), "b": ("chrome", 2), "c": ("chrome", 1)}, {"chrome": 2}, 2)
    sched.schedule()
    sched.mark_test_complete(nodes[0], sched.running[nodes[0]])
    sched.mark_test_complete(nodes[0], sched.running[nodes[0]])
    assert not nodes[0].shut
    sched.remove_node(nodes[0])  # it crashed, say
    sched.mark_test_complete(nodes[1], sched.running[nodes[1]])
    assert nodes[1].shut and sched.tests_finished


class GridSlots:
    """What the Grid reports, changed by the test; counts how often the scheduler asked."""

    def __init__(self, **slots: int) -> None:
        self.slots: dict[str, int] | None = dict(slots)
        self.asked = 0

    def __call__(self) -> Capacity | None:
        self.asked += 1
        return None if self.slots is None else Capacity.per_browser(self.slots)


def test_lost_node_shrinks_the_browser_limit_and_reruns_wait_within_it():
    grid = GridSlots(chrome=2)
    cells = {"a": ("chrome", 5), "b": ("chrome", 4), "c": ("chrome", 3), "d": ("chrome", 2)}
    sched, nodes, collection = make(cells, {"chrome": 2}, 2, capacity=grid, refresh_every=0)
    sched.schedule()
    assert sorted(running(sched, collection).values()) == ["a", "b"]
    grid.slots = {"chrome": 1}  # one node DOWN: a's rerun still holds its worker and counts as busy
    node_b = next(n for n in nodes if collection[sched.running[n]] == "b")
    sched.mark_test_complete(node_b, collection.index("b"))
    assert running(sched, collection) == {next(n.name for n in nodes if n is not node_b): "a"}  # c waits: 1 busy of 1
    node_a = next(n for n in nodes if n is not node_b)
    sched.mark_test_complete(node_a, collection.index("a"))
    assert list(running(sched, collection).values()) == ["c"]
    assert grid.asked >= 3


def test_browser_without_slots_left_gets_its_pending_cells_dropped_with_the_reason():
    grid = GridSlots(chrome=1, firefox=1)
    dropped: list[tuple[str, str]] = []
    cells = {"f1": ("firefox", 9), "f2": ("firefox", 8), "f3": ("firefox", 7), "c1": ("chrome", 2), "c2": ("chrome", 1)}
    sched, nodes, collection = make(cells, {"chrome": 1, "firefox": 1}, 2, capacity=grid, on_drop=lambda n, r: dropped.append((n, r)))
    sched.schedule()
    assert sorted(running(sched, collection).values()) == ["c1", "f1"]
    grid.slots = {"chrome": 1}  # the only firefox node died
    sched.refresh_every = 0
    firefox_worker = next(n for n in nodes if collection[sched.running[n]] == "f1")
    sched.mark_test_complete(firefox_worker, collection.index("f1"))  # f1 ended (broken, rerun found no slot)
    assert sorted(n for n, _ in dropped) == ["f2", "f3"]
    assert all("no firefox slot left" in reason for _, reason in dropped)
    assert sched.dropped.keys() == {"f2", "f3"}
    chrome_worker = next(n for n in nodes if n is not firefox_worker)
    sched.mark_test_complete(chrome_worker, collection.index("c1"))
    assert "c2" in running(sched, collection).values()
    sched.mark_test_complete(next(n for n in nodes if sched.running[n] is not None), collection.index("c2"))
    assert sched.tests_finished and all(n.shut for n in nodes)


def test_no_answer_from_the_grid_keeps_the_last_known_limits():
    grid = GridSlots(chrome=2)
    sched, _nodes, collection = make({"a": ("chrome", 2), "b": ("chrome", 1)}, {"chrome": 2}, 2, capacity=grid, refresh_every=0)
    grid.slots = None
    sched.schedule()
    assert sorted(running(sched, collection).values()) == ["a", "b"] and not sched.dropped


def test_dropping_waits_while_a_cell_of_that_browser_still_runs():
    grid = GridSlots(chrome=1)
    sched, nodes, collection = make({"a": ("chrome", 2), "b": ("chrome", 1)}, {"chrome": 1}, 2, capacity=grid, refresh_every=0)
    sched.schedule()
    grid.slots = {}
    sched.schedule()
    assert not sched.dropped  # a is still running (its rerun may find a slot again)
    grid.slots = {"chrome": 1}  # the node came back (farm up)
    worker = next(n for n in nodes if sched.running[n] is not None)
    sched.mark_test_complete(worker, collection.index("a"))
    assert "b" in running(sched, collection).values() and not sched.dropped


# one browser per worker, held sessions ------------------------------------------------------------


def make_workers(durations: dict[str, tuple[str, float]], slots: dict[str, int], browsers: list[str], **kwargs):
    plan = Plan(
        capacity=Capacity.per_browser(slots), cells={n: {"browser": b, "test_id": n, "expected": s} for n, (b, s) in durations.items()}
    )
    return started(plan, [FakeNode(f"gw{i}", b) for i, b in enumerate(browsers)], **kwargs)


def test_each_worker_gets_only_cells_of_its_browser_longest_first():
    cells = {"f1": ("firefox", 9), "f2": ("firefox", 8), "f3": ("firefox", 7), "c1": ("chrome", 1), "c2": ("chrome", 0.5)}
    sched, nodes, collection = make_workers(cells, {"chrome": 1, "firefox": 2}, ["chrome", "firefox", "firefox"])
    sched.schedule()
    assert running(sched, collection) == {"gw0": "c1", "gw1": "f1", "gw2": "f2"}
    sched.mark_test_complete(nodes[0], collection.index("c1"))
    assert running(sched, collection)["gw0"] == "c2"  # f3 is longer, but gw0 serves chrome
    sched.mark_test_complete(nodes[0], collection.index("c2"))
    assert not nodes[0].shut  # no chrome left, but firefox has its own slots: it ends with the run
    sched.mark_test_complete(nodes[1], collection.index("f1"))
    assert running(sched, collection)["gw1"] == "f3"
    sent = {n.name: [collection[i] for i in n.sent if not collection[i].endswith(IDLE_NAME)] for n in nodes}
    assert sent == {"gw0": ["c1", "c2"], "gw1": ["f1", "f3"], "gw2": ["f2"]}


def test_held_sessions_count_as_slots_of_their_browser():
    cells = {f"c{i}": ("chrome", 10 - i) for i in range(6)}
    sched, nodes, collection = make_workers(cells, {"chrome": 2}, ["chrome", "chrome"])
    sched.schedule()
    assert sched.in_use("chrome") == 2
    # gw0 finishes its cell but keeps its session-scoped driver: still one slot taken
    sched.note_held(nodes[0], 1)
    sched.mark_test_complete(nodes[0], collection.index("c0"))
    assert sched.in_use("chrome") == 2 and running(sched, collection)["gw0"] == "c2"  # reuses its own session
    # the Grid loses a node: 1 slot left. Both workers hold one, so neither may take a new cell
    # beyond what the held sessions already cover, and nobody asks the Grid for a third session.
    sched.limits = Capacity.per_browser({"chrome": 1})
    sched.note_held(nodes[1], 0)
    sched.mark_test_complete(nodes[1], collection.index("c1"))
    assert sched.running[nodes[1]] is None  # gw0 holds the only slot: gw1 (holding none) waits
    sched.note_held(nodes[0], 1)
    sched.mark_test_complete(nodes[0], collection.index("c2"))
    assert running(sched, collection) == {"gw0": "c3"}  # the holder goes on with its own session
    assert sched.in_use("chrome") <= sched.limits.slots["chrome"]


def test_a_worker_holding_sessions_is_counted_while_idle():
    cells = {"c1": ("chrome", 5), "c2": ("chrome", 4), "c3": ("chrome", 3)}
    sched, nodes, collection = make_workers(cells, {"chrome": 2}, ["chrome", "chrome"])
    sched.schedule()
    sched.note_held(nodes[0], 2)  # e.g. a session- and a module-scoped driver
    sched.mark_test_complete(nodes[0], collection.index("c1"))
    # gw0 holds 2 (one beyond its share) while gw1 runs: 3 sessions on 2 slots already, so gw0
    # starts nothing more until gw1's cell ends
    assert sched.in_use("chrome") == 3 and not sched.fits(nodes[0], "chrome") and sched.running[nodes[0]] is None
    sched.note_held(nodes[1], 0)
    sched.mark_test_complete(nodes[1], collection.index("c2"))
    assert running(sched, collection) == {"gw0": "c3"} and sched.in_use("chrome") == 2


def test_the_busiest_browser_gets_the_workers_that_start_first():
    """xdist starts workers in turn: the browser with the most work per worker takes the first ones."""
    per_browser = {"chrome": 2, "firefox": 2}
    assert initial_browsers(per_browser, 4, {"chrome": 1.0, "firefox": 1.1}) == ["firefox", "firefox", "chrome", "chrome"]
    assert initial_browsers(per_browser, 4, {"chrome": 1.0, "firefox": 0.5}) == ["chrome", "chrome", "firefox", "firefox"]
    # No history: alternate, as before.
    assert initial_browsers(per_browser, 4, {}) == ["chrome", "firefox", "chrome", "firefox"]


def test_initial_workers_keep_their_split_whatever_the_order():
    """A shared pool of 4 sessions over 4 slots of each browser still starts 2 workers of each, and
    3 chrome workers beside 1 firefox stay so; only the order follows the work per worker."""
    shared = {"firefox": 4, "chrome": 4}
    assert initial_browsers(shared, 4, {"firefox": 1.0, "chrome": 1.2}) == ["chrome", "chrome", "firefox", "firefox"]
    uneven = {"chrome": 3, "firefox": 1}
    # Work per worker, not per cell: firefox's one worker is the busier at 0.5 of chrome's cost per cell.
    assert initial_browsers(uneven, 4, {"chrome": 1.0, "firefox": 0.5}) == ["firefox", "chrome", "chrome", "chrome"]
    assert initial_browsers(uneven, 4, {"chrome": 1.0, "firefox": 0.2}) == ["chrome", "chrome", "chrome", "firefox"]


def make_capped(cells: dict[str, tuple[str, float, str]], slots: dict[str, int], cap: int = 0):
    """Workers of fixed browsers; cells as nodeid -> (browser, expected, xdist group)."""
    plan = Plan(
        capacity=Capacity.per_browser(slots).at_most(cap),
        cells={n: {"browser": b, "test_id": n, "expected": s, **({"group": g} if g else {})} for n, (b, s, g) in cells.items()},
    )
    return started(plan, [FakeNode(f"{b[0]}{i}", b) for b, n in slots.items() for i in range(n)])


def test_workers_1_runs_one_cell_at_a_time_across_browsers():
    cells = {"c1": ("chrome", 3, ""), "c2": ("chrome", 2, ""), "f1": ("firefox", 5, ""), "f2": ("firefox", 1, "")}
    sched, _nodes, collection = make_capped(cells, {"chrome": 2, "firefox": 2}, cap=1)
    order = []
    sched.schedule()
    while sched.running and any(i is not None for i in sched.running.values()):
        assert len(running(sched, collection)) == 1
        node, index = next((n, i) for n, i in sched.running.items() if i is not None)
        order.append(collection[index])
        sched.mark_test_complete(node, index)
        sched.mark_test_complete(node, collection.index(f"::{IDLE_NAME}"))
    assert order == ["f1", "c1", "c2", "f2"]  # longest first, one at a time
    uncapped, _, collection = make_capped(cells, {"chrome": 2, "firefox": 2})
    uncapped.schedule()
    assert len(running(uncapped, collection)) == 4


def test_cells_of_one_xdist_group_never_overlap_whatever_their_browser():
    cells = {
        "build-c": ("chrome", 5, "docs"),
        "build-f": ("firefox", 4, "docs"),
        "other-f": ("firefox", 1, ""),
        "lone-c": ("chrome", 1, ""),
    }
    sched, _nodes, collection = make_capped(cells, {"chrome": 2, "firefox": 2})
    sched.schedule()
    assert sorted(running(sched, collection).values()) == ["build-c", "lone-c", "other-f"]  # build-f waits for its group
    node = next(n for n, i in sched.running.items() if i is not None and collection[i] == "build-c")
    sched.mark_test_complete(node, collection.index("build-c"))
    assert "build-f" in running(sched, collection).values()


def test_a_cap_keeps_the_prediction_and_bound_honest():
    from farm.core.matrix import Cell
    from farm.core.schedule import lower_bound, simulate

    cells = [Cell("c1", "c1", "chrome"), Cell("c2", "c2", "chrome"), Cell("f1", "f1", "firefox")]
    expected = {"c1": 3.0, "c2": 2.0, "f1": 4.0}
    capacity = Capacity.per_browser({"chrome": 2, "firefox": 2})
    assert simulate(cells, expected, capacity).makespan == 4.0
    assert simulate(cells, expected, capacity.at_most(1)).makespan == 9.0
    assert lower_bound(cells, expected, capacity.at_most(1)) == 9.0
    assert capacity.at_most(1).initial_workers() == 1 and Capacity.from_json(capacity.at_most(3).to_json()).cells == 3


def test_after_a_node_loss_an_idle_worker_gives_back_the_session_a_rerun_waits_for():
    """Kept sessions (--isolation context): gw1's cell lost its node and is re-run on gw1, which
    asks the Grid for a session; gw0 idles holding the only slot left. gw0 ends, freeing it."""
    cells = {f"c{i}": ("chrome", 10 - i) for i in range(5)}
    sched, nodes, collection = make_workers(cells, {"chrome": 2}, ["chrome", "chrome"])
    sched.schedule()
    sched.limits = Capacity.per_browser({"chrome": 1})  # one chrome node DOWN while gw1's cell re-runs
    sched.note_held(nodes[1], 1)
    sched.note_held(nodes[0], 1)
    sched.mark_test_complete(nodes[0], collection.index("c0"))
    assert nodes[0].shut and sched.running[nodes[0]] is None  # pending cells or not, it gives the slot back
    assert not nodes[1].shut
    sched.remove_node(nodes[0])  # it has ended (xdist tells the scheduler)
    sched.mark_test_complete(nodes[1], collection.index("c1"))
    assert running(sched, collection) == {"gw1": "c2"}  # the re-run's worker goes on with the slot


def test_without_a_node_loss_an_idle_holder_over_its_share_waits_its_turn():
    cells = {"c1": ("chrome", 5), "c2": ("chrome", 4), "c3": ("chrome", 3)}
    sched, nodes, collection = make_workers(cells, {"chrome": 2}, ["chrome", "chrome"])
    sched.schedule()
    sched.note_held(nodes[0], 2)
    sched.mark_test_complete(nodes[0], collection.index("c1"))
    assert not nodes[0].shut and sched.in_use("chrome") == 3
