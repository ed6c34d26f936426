"""The capacity model (per-browser nodes or shared pools), and the schedule, bound and dispatch that follow it."""

import pytest

from farm.core.capacity import Capacity, CurvePoint, NodeOffer, Pool, best_concurrency, from_nodes, machine_sessions
from farm.core.catalogue import GRID_VERSION
from farm.core.config import FarmConfig
from farm.core.errors import ConfigError
from farm.core.matrix import Cell
from farm.core.schedule import Plan, Planning, lower_bound, simulate
from farm.infra.grid import GridStatus, parse_node
from farm.plugin.controller.dispatch import LongestFirstScheduling
from farm.plugin.idle import IDLE_NAME
from tests.unit.fakes import FakeNode

CHROME_ONLY = NodeOffer({"chrome": 2}, 2)
FIREFOX_ONLY = NodeOffer({"firefox": 2}, 2)
SHARED = NodeOffer({"chrome": 2, "firefox": 2}, 2)


def test_nodes_of_one_browser_each_are_pools_of_their_own():
    capacity = from_nodes([CHROME_ONLY, CHROME_ONLY, FIREFOX_ONLY])
    assert capacity.slots == {"chrome": 4, "firefox": 2}
    assert capacity.pool_of("chrome") == Pool(frozenset({"chrome"}), 4)
    assert capacity.model == "per-browser"


def test_nodes_serving_several_browsers_share_one_pool():
    capacity = from_nodes([SHARED, SHARED])
    assert capacity.slots == {"chrome": 4, "firefox": 4}  # what the Grid's slot list says
    assert capacity.pools == (Pool(frozenset({"chrome", "firefox"}), 4),)  # what can run at once
    assert capacity.model == "shared"
    assert capacity.workers() == 8  # every browser may need every session at some point


def test_a_node_without_max_sessions_offers_its_slots():
    assert from_nodes([NodeOffer({"chrome": 3}, 0)]).pools == (Pool(frozenset({"chrome"}), 3),)


def test_a_pool_limited_to_the_run_keeps_its_sessions():
    capacity = from_nodes([NodeOffer({"chrome": 4, "firefox": 4, "edge": 4}, 4)]).only(["chrome", "firefox"])
    assert capacity.slots == {"chrome": 4, "firefox": 4}
    assert capacity.pools == (Pool(frozenset({"chrome", "firefox"}), 4),)
    assert Capacity.from_json(capacity.to_json()) == capacity


def test_grid_status_max_sessions_makes_the_pool():
    raw = {
        "id": "n1",
        "uri": "http://n1:5555",
        "availability": "UP",
        "maxSessions": 2,
        "slots": [{"stereotype": {"browserName": name}} for name in ("chrome", "chrome", "firefox", "firefox")],
    }
    status = GridStatus("http://grid", True, GRID_VERSION, 0, [parse_node(raw), parse_node({**raw, "id": "n2", "availability": "DOWN"})])
    assert status.capacity_model() == Capacity({"chrome": 2, "firefox": 2}, (Pool(frozenset({"chrome", "firefox"}), 2),))


def cells(work: dict[str, list[float]]) -> tuple[list[Cell], dict[str, float]]:
    made = [Cell(f"t{i}[{b}]", f"t{i}", b) for b, seconds in work.items() for i in range(len(seconds))]
    return made, {c.nodeid: work[c.browser][int(c.test_id[1:])] for c in made}


# the case: firefox has more work than chrome; per-browser slots leave chrome's idle
WORK = {"chrome": [10.0] * 6, "firefox": [10.0] * 10}


def test_the_bound_follows_the_capacity_model():
    matrix, durations = cells(WORK)
    assert lower_bound(matrix, durations, {"chrome": 2, "firefox": 2}) == 50.0  # firefox's 100 s over 2 slots
    shared = Capacity({"chrome": 4, "firefox": 4}, (Pool(frozenset({"chrome", "firefox"}), 4),))
    assert lower_bound(matrix, durations, shared) == 40.0  # 160 s over the pool's 4 sessions


def test_simulation_lets_the_queued_browser_take_a_shared_pool():
    matrix, durations = cells(WORK)
    per_browser = simulate(matrix, durations, {"chrome": 2, "firefox": 2})
    shared = simulate(matrix, durations, Capacity({"chrome": 4, "firefox": 4}, (Pool(frozenset({"chrome", "firefox"}), 4),)))
    assert per_browser.makespan == 50.0
    assert shared.makespan == 40.0
    assert max(end for _, end, _ in shared.starts["chrome"]) <= 30.0  # chrome done early, firefox took its sessions


def test_simulation_never_exceeds_the_pool_or_a_browsers_slots():
    matrix, durations = cells({"chrome": [5.0] * 4, "firefox": [5.0] * 4})
    capacity = Capacity({"chrome": 1, "firefox": 3}, (Pool(frozenset({"chrome", "firefox"}), 3),))
    timeline = simulate(matrix, durations, capacity)
    events = sorted((start, end) for runs in timeline.starts.values() for start, end, _ in runs)
    for moment in (0.0, 5.0, 10.0):
        assert sum(1 for start, end in events if start <= moment < end) <= 3
    assert all(b[0] >= a[1] for a, b in zip(timeline.starts["chrome"], timeline.starts["chrome"][1:], strict=False))


def test_dispatch_keeps_a_shared_pool_full_and_within_its_sessions():
    pool = Capacity({"chrome": 2, "firefox": 2}, (Pool(frozenset({"chrome", "firefox"}), 2),))
    durations = {"c1": ("chrome", 3.0), "f1": ("firefox", 9.0), "f2": ("firefox", 8.0), "f3": ("firefox", 7.0)}
    plan = Plan(pool, {n: {"browser": b, "test_id": n, "expected": s} for n, (b, s) in durations.items()})
    sched = LongestFirstScheduling(lambda collection: plan, pool)
    workers = [FakeNode("c-a", "chrome"), FakeNode("c-b", "chrome"), FakeNode("f-a", "firefox"), FakeNode("f-b", "firefox")]
    collection = [*durations, f"::{IDLE_NAME}"]
    for worker in workers:
        sched.add_node(worker)
    sched.add_node_collection(workers[2], collection)  # one worker's collection is enough to start
    sched.schedule()
    assert {w.name: collection[i] for w, i in sched.running.items() if i is not None} == {"f-a": "f1"}
    for worker in (workers[3], workers[0], workers[1]):
        sched.add_node_collection(worker, collection)
        sched.schedule()
    running = {w.name: collection[i] for w, i in sched.running.items() if i is not None}
    assert running == {"f-a": "f1", "f-b": "f2"}  # the pool's 2 sessions, longest first; chrome waits
    sched.mark_test_complete(workers[3], collection.index("f2"))
    running = {w.name: collection[i] for w, i in sched.running.items() if i is not None}
    assert running == {"f-a": "f1", "f-b": "f3"}  # still longest first
    assert workers[1].shut is False and workers[0].shut is False  # chrome still has c1 pending
    sched.mark_test_complete(workers[2], collection.index("f1"))
    running = {w.name: collection[i] for w, i in sched.running.items() if i is not None}
    assert running == {"f-b": "f3", "c-a": "c1"}  # firefox's freed session serves chrome
    assert not workers[2].shut  # nothing left for firefox, but it holds no session: it ends with the run


def test_a_worker_holding_a_pool_session_another_browser_waits_for_ends_early():
    """Kept or session-scoped sessions count as taken: the firefox worker that holds one with no
    firefox left ends (quitting it) only because chrome waits for that session."""
    pool = Capacity({"chrome": 1, "firefox": 1}, (Pool(frozenset({"chrome", "firefox"}), 1),))
    durations = {"f1": ("firefox", 9.0), "c1": ("chrome", 3.0)}
    plan = Plan(pool, {n: {"browser": b, "test_id": n, "expected": s} for n, (b, s) in durations.items()})
    sched = LongestFirstScheduling(lambda collection: plan, pool)
    chrome, firefox = FakeNode("c-a", "chrome"), FakeNode("f-a", "firefox")
    collection = [*durations, f"::{IDLE_NAME}"]
    for worker in (chrome, firefox):
        sched.add_node(worker)
        sched.add_node_collection(worker, collection)
    sched.schedule()
    assert sched.running[firefox] == collection.index("f1") and sched.running[chrome] is None
    sched.note_held(firefox, 1)  # f1 ended with its session kept open
    sched.mark_test_complete(firefox, collection.index("f1"))
    assert sched.running[chrome] is None and firefox.shut and not chrome.shut  # the session goes first
    sched.remove_node(firefox)
    sched.schedule()
    assert sched.running[chrome] == collection.index("c1")


def test_a_worker_that_holds_nothing_ends_with_the_run_one_that_holds_a_session_at_once():
    pool = Capacity({"chrome": 2, "firefox": 2}, (Pool(frozenset({"chrome", "firefox"}), 3),))
    durations = {"f1": ("firefox", 2.0), "f2": ("firefox", 2.0), "c1": ("chrome", 9.0)}
    plan = Plan(pool, {n: {"browser": b, "test_id": n, "expected": s} for n, (b, s) in durations.items()})
    sched = LongestFirstScheduling(lambda collection: plan, pool)
    chrome, holder, other = FakeNode("c-a", "chrome"), FakeNode("f-a", "firefox"), FakeNode("f-b", "firefox")
    collection = [*durations, f"::{IDLE_NAME}"]
    for worker in (chrome, holder, other):
        sched.add_node(worker)
        sched.add_node_collection(worker, collection)
    sched.schedule()
    sched.note_held(holder, 1)  # its cell ended with a session kept open
    sched.mark_test_complete(holder, sched.running[holder])
    assert holder.shut  # the session goes back to the Grid now
    sched.mark_test_complete(other, sched.running[other])
    assert not other.shut  # ending it frees nothing; its teardown waits for c1 to finish
    sched.mark_test_complete(chrome, collection.index("c1"))
    assert other.shut and chrome.shut and sched.tests_finished


def test_planning_shards_and_orders_the_collected_cells_alike_everywhere(tmp_path):
    collected = [Cell(f"t{i}[{b}]", f"t{i}", b) for i in range(6) for b in ("chrome", "firefox")]
    history = {(f"t{i}", b): float(i + 1) for i in range(6) for b in ("chrome", "firefox")}
    planning = Planning(Capacity.per_browser({"chrome": 1, "firefox": 1}), history, frozenset({("t0", "chrome")}), (1, 2))
    planning.dump(tmp_path / "planning.json")
    again = Planning.load(tmp_path / "planning.json")
    assert again == planning
    one, two = planning.plan(collected), Planning(planning.capacity, history, frozenset(), (2, 2)).plan(collected)
    assert one.cells.keys() == again.plan(collected).cells.keys()
    assert set(one.cells).isdisjoint(two.cells) and set(one.cells) | set(two.cells) == {c.nodeid for c in collected}
    assert one.cells.get("t0[chrome]", {}).get("first", True)  # failed last time: first, if in this shard
    assert not one.estimated
    one.dump(tmp_path / "plan.json")
    assert Plan.load(tmp_path / "plan.json").to_json() == one.to_json()


def test_default_sessions_follow_cores_within_memory():
    gib = 1024**3
    assert machine_sessions(2, 24 * gib, 2) == 2  # this machine: cores bound it
    assert machine_sessions(16, 8 * gib, 2) == 3  # 6 GiB for browsers over 2 nodes
    assert machine_sessions(8, 2 * gib, 4) == 1  # never below one
    assert machine_sessions(64, 512 * gib, 1) == 16  # Grid's practical ceiling


def test_best_concurrency_is_the_fewest_sessions_near_the_most_work():
    flat = [CurvePoint(1, 30, 60.0, 2.0), CurvePoint(2, 58, 60.0, 2.1), CurvePoint(3, 59, 60.0, 3.0), CurvePoint(4, 60, 60.0, 4.0)]
    assert best_concurrency(flat) == 2  # 58/min is within 5 % of 60: two more browsers buy nothing
    rising = [CurvePoint(1, 30, 60.0, 2.0), CurvePoint(2, 60, 60.0, 2.0), CurvePoint(3, 90, 60.0, 2.0)]
    assert best_concurrency(rising) == 3


def test_shared_capacity_config():
    config = FarmConfig(capacity="shared", nodes={"chrome": 1, "firefox": 1}).validate()
    assert config.node_groups() == {"shared": 2}  # as many browsers at once as per-browser nodes
    assert FarmConfig().validate().node_groups() == {"chrome": 1, "firefox": 1}
    with pytest.raises(ConfigError, match="shared nodes serve chrome, firefox"):
        FarmConfig(capacity="shared", browsers=("chrome", "edge")).validate()
    with pytest.raises(ConfigError, match="capacity: 'pooled' must be one of browser, shared"):
        FarmConfig(capacity="pooled").validate()


def test_a_cell_waits_for_a_kept_session_that_frees_sooner_than_a_new_one_opens():
    """Shared pool, kept sessions: firefox's worker holding a session is about to finish; a second
    firefox worker would have to open a session (3 s measured in this run), so the cell waits for
    the holder. Without a measured open cost, or with a holder far from done, it starts at once."""
    pool = Capacity({"chrome": 2, "firefox": 2}, (Pool(frozenset({"chrome", "firefox"}), 2),))
    durations = {"f1": ("firefox", 1.0), "f2": ("firefox", 1.0), "f3": ("firefox", 1.0)}
    plan = Plan(pool, {n: {"browser": b, "test_id": n, "expected": s} for n, (b, s) in durations.items()})
    sched = LongestFirstScheduling(lambda collection: plan, pool)
    holder, fresh = FakeNode("f-a", "firefox"), FakeNode("f-b", "firefox")
    collection = [*durations, f"::{IDLE_NAME}"]
    sched.add_node(holder)
    sched.add_node_collection(holder, collection)
    sched.schedule()  # f1 to the holder: nothing measured yet
    sched.note_held(holder, 1)
    sched.note_opened("firefox", [3.0])
    sched.add_node(fresh)
    sched.add_node_collection(fresh, collection)
    sched.schedule()
    assert sched.running[fresh] is None  # the holder frees within 1 s, a new session takes 3 s
    sched.started_at[holder] -= 10  # overdue by far more than an open: it may hang, do not wait
    sched.schedule()
    assert collection[sched.running[fresh]] == "f2"


def test_a_run_starts_one_worker_per_session_that_can_run_at_once():
    assert Capacity.per_browser({"chrome": 2, "firefox": 2}).initial_workers() == 4  # every worker
    shared = Capacity({"chrome": 4, "firefox": 4}, (Pool(frozenset({"chrome", "firefox"}), 4),))
    assert (shared.workers(), shared.initial_workers()) == (8, 4)
    roomy = Capacity({"chrome": 1, "firefox": 1}, (Pool(frozenset({"chrome", "firefox"}), 5),))
    assert roomy.initial_workers() == 2  # never more than the browsers' slots


def shared_pool_run(durations: dict[str, tuple[str, float]], sessions: int = 2):
    """A shared pool of `sessions` for chrome and firefox (2 slots each), one first worker per
    browser, and a spawn that records what it was asked for."""
    pool = Capacity({"chrome": 2, "firefox": 2}, (Pool(frozenset({"chrome", "firefox"}), sessions),))
    plan = Plan(pool, {n: {"browser": b, "test_id": n, "expected": s} for n, (b, s) in durations.items()})
    asked: list[str] = []
    sched = LongestFirstScheduling(lambda collection: plan, pool, spawn=lambda browser: asked.append(browser) or True, initial_workers=2)
    chrome, firefox = FakeNode("c-a", "chrome"), FakeNode("f-a", "firefox")
    collection = [*durations, f"::{IDLE_NAME}"]
    for worker in (chrome, firefox):
        sched.add_node(worker)
    return sched, chrome, firefox, collection, asked


def test_a_browser_short_of_workers_gets_one_more_once_its_pool_has_a_session_free():
    sched, chrome, firefox, collection, asked = shared_pool_run(
        {"c1": ("chrome", 6.0), "f1": ("firefox", 5.0), "f2": ("firefox", 5.0), "f3": ("firefox", 5.0)}
    )
    sched.add_node_collection(firefox, collection)
    sched.schedule()
    assert asked == []  # the chrome worker is still starting: it may take the free session
    sched.add_node_collection(chrome, collection)
    sched.schedule()
    assert {w.name: collection[i] for w, i in sched.running.items() if i is not None} == {"c-a": "c1", "f-a": "f1"}
    assert asked == []  # the pool's 2 sessions are taken
    sched.mark_test_complete(chrome, collection.index("c1"))
    assert asked == ["firefox"]  # chrome is done: its session goes to one more firefox worker...
    assert sched.in_use("firefox") == 2 and sched.running[chrome] is None  # ...which counts as taking it
    spawned = FakeNode("f-b", "firefox")
    spawned.workerinput["farm_spawned"] = True
    sched.add_node(spawned)
    sched.add_node_collection(spawned, collection)
    sched.schedule()
    assert collection[sched.running[spawned]] == "f2" and asked == ["firefox"]
    assert sched.in_use("firefox") == 2 and not chrome.shut  # it holds nothing: it ends with the run


def test_a_ready_worker_uses_the_session_a_starting_worker_was_asked_for():
    """Starting a worker takes seconds: meanwhile the session it was asked for serves an idle
    worker of the other browser; the new worker takes the next session that frees."""
    sched, chrome, firefox, collection, asked = shared_pool_run(
        {"f1": ("firefox", 9.0), "f2": ("firefox", 8.0), "c1": ("chrome", 3.0), "c2": ("chrome", 2.0)}
    )
    for worker in (firefox, chrome):
        sched.add_node_collection(worker, collection)
    sched.schedule()
    assert asked == ["firefox"]  # for f2, the pool's second session
    assert {w.name: collection[i] for w, i in sched.running.items() if i is not None} == {"f-a": "f1", "c-a": "c1"}
    spawned = FakeNode("f-b", "firefox")
    spawned.workerinput["farm_spawned"] = True
    sched.add_node(spawned)
    sched.add_node_collection(spawned, collection)
    sched.schedule()
    assert sched.running[spawned] is None  # both sessions run cells: it waits for one
    sched.mark_test_complete(chrome, collection.index("c1"))
    assert collection[sched.running[spawned]] == "f2" and sched.running[chrome] is None  # longest first
    assert asked == ["firefox"]  # nobody else was asked for in between
    sched.mark_test_complete(firefox, collection.index("f1"))
    assert collection[sched.running[chrome]] == "c2"


def test_a_worker_is_asked_for_ahead_of_a_session_another_browser_gives_back():
    """f1 is firefox's last cell: its session comes back to the pool when it ends, and chrome has
    cells waiting. A chrome worker is asked for once f1's expected end is within a worker's start
    time (2 s in this run), so it is ready then; while firefox has cells left, it keeps the session."""
    for firefox_left, wanted in (({}, ["chrome"]), ({"f2": ("firefox", 1.0)}, [])):
        sched, chrome, firefox, collection, asked = shared_pool_run(
            {"f1": ("firefox", 9.0), "c1": ("chrome", 3.0), "c2": ("chrome", 2.5), "c3": ("chrome", 2.0), **firefox_left}
        )
        for worker in (firefox, chrome):
            sched.add_node_collection(worker, collection)
        sched.schedule()
        assert {w.name: collection[i] for w, i in sched.running.items() if i is not None} == {"f-a": "f1", "c-a": "c1"}
        sched.start_times.append(2.0)  # seconds a worker asked for earlier in the run took to start
        sched.schedule()
        assert asked == []  # f1 has 9 s to go
        sched.started_at[firefox] -= 8.0  # 1 s to go
        sched.schedule()
        assert asked == wanted, firefox_left


def test_a_worker_that_dies_before_it_is_ready_gives_its_session_back():
    sched, chrome, firefox, collection, asked = shared_pool_run({"c1": ("chrome", 6.0), "f1": ("firefox", 5.0), "f2": ("firefox", 5.0)})
    for worker in (chrome, firefox):
        sched.add_node_collection(worker, collection)
    sched.schedule()
    sched.mark_test_complete(chrome, collection.index("c1"))
    assert asked == ["firefox"] and sched.in_use("firefox") == 2
    lost = FakeNode("f-b", "firefox")
    lost.workerinput["farm_spawned"] = True
    sched.remove_node(lost)  # xdist's errordown for a worker that never reported ready
    assert sched.in_use("firefox") == 1
    sched.schedule()
    assert asked == ["firefox", "firefox"]  # f2 still waits for a second firefox worker


def test_a_new_worker_is_started_only_when_it_ends_the_browsers_cells_sooner():
    """f-a keeps its firefox session between cells; opening one took 3 s in this run. With 10 s of
    firefox pending, a second session ends it sooner (3 + 10/2 < 10/1); with 5 s it would not."""
    for pending, wanted in (({"f2": ("firefox", 5.0), "f3": ("firefox", 5.0)}, ["firefox"]), ({"f2": ("firefox", 5.0)}, [])):
        sched, chrome, firefox, collection, asked = shared_pool_run({"c1": ("chrome", 6.0), "f1": ("firefox", 5.5), **pending})
        for worker in (chrome, firefox):
            sched.add_node_collection(worker, collection)
        sched.schedule()
        sched.note_held(firefox, 1)
        sched.note_opened("firefox", [3.0])
        sched.mark_test_complete(chrome, collection.index("c1"))
        assert asked == wanted, pending
