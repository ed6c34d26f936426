"""Flaky marks from the last runs' verdicts, Allure's flag on the final attempt, --failed-first."""

from __future__ import annotations

import pytest

from farm.core import flakiness
from farm.core.matrix import Cell
from farm.core.report_files import CELL_LABEL, flag_flaky
from farm.core.results import CellResult
from farm.core.schedule import Plan
from farm.plugin.controller.dispatch import LongestFirstScheduling
from farm.plugin.idle import IDLE_NAME
from tests.unit.fakes import FakeNode


def result(test: str, status: str, browser: str = "chrome") -> CellResult:
    return CellResult(f"{test}[{browser}]", test, browser, status, 1.0, 0.0, 1.0)


def test_passes_fails_passes_is_flaky_with_its_pass_rate():
    outcomes: dict = {}
    for status in ("passed", "failed", "passed"):
        outcomes = flakiness.record(outcomes, [result("t", status), result("steady", "passed"), result("skip", "skipped")])
    assert outcomes[("t", "chrome")] == ["passed", "failed", "passed"]
    assert ("skip", "chrome") not in outcomes  # a skip says nothing
    cells = [
        {"nodeid": "t[chrome]", "test_id": "t", "browser": "chrome"},
        {"nodeid": "steady[chrome]", "test_id": "steady", "browser": "chrome"},
    ]
    assert flakiness.mark(cells, outcomes) == ["t[chrome]"]
    assert cells[0]["pass_rate"] == pytest.approx(0.667) and cells[1] == {**cells[1], "flaky": False, "pass_rate": 1.0}


def test_a_flaky_failure_beside_other_cells_says_how_many_ran_with_it():
    outcomes = {("t", "chrome"): ["passed", "failed"], ("u", "chrome"): ["passed", "failed"]}
    cells = [
        {"nodeid": "t[chrome]", "test_id": "t", "browser": "chrome", "status": "failed", "start": 10.0, "stop": 20.0},
        {"nodeid": "n[firefox]", "test_id": "n", "browser": "firefox", "status": "passed", "start": 15.0, "stop": 25.0},
        {"nodeid": "m[firefox]", "test_id": "m", "browser": "firefox", "status": "passed", "start": 20.0, "stop": 30.0},
        {"nodeid": "u[chrome]", "test_id": "u", "browser": "chrome", "status": "failed", "start": 30.0, "stop": 31.0},
    ]
    assert flakiness.mark(cells, outcomes) == ["t[chrome]", "u[chrome]"]
    assert cells[0]["beside"] == 1  # n overlapped; m began as t ended
    assert cells[3]["beside"] == 0  # alone: the flip is the test's own
    assert "beside" not in cells[1]


def test_the_window_forgets_old_runs():
    outcomes: dict = {}
    for status in ["failed"] + ["passed"] * flakiness.WINDOW:
        outcomes = flakiness.record(outcomes, [result("t", status)])
    assert len(outcomes[("t", "chrome")]) == flakiness.WINDOW and not flakiness.is_flaky(outcomes[("t", "chrome")])


def test_always_failing_is_not_flaky_and_failed_last_time_goes_first():
    outcomes = flakiness.record({}, [result("broken", "broken"), result("ok", "passed")])
    assert not flakiness.is_flaky(outcomes[("broken", "chrome")])
    assert flakiness.failed_last_time(outcomes) == {("broken", "chrome")}


def test_store_round_trip_and_corrupt_file(tmp_path):
    path = tmp_path / "outcomes.json"
    flakiness.save(path, {("t", "firefox"): ["passed", "broken"]})
    assert flakiness.load(path) == {("t", "firefox"): ["passed", "broken"]}
    path.write_text("{broken")
    with pytest.warns(flakiness.OutcomesWarning):
        assert flakiness.load(path) == {}


def test_allure_flag_goes_on_the_final_attempt_of_flaky_cells_only():
    def allure(cell: str, stop: int) -> dict:
        return {"labels": [{"name": CELL_LABEL, "value": cell}], "stop": stop, "statusDetails": {"message": "x"}}

    first, last, other = allure("t[chrome]", 1), allure("t[chrome]", 2), allure("u[chrome]", 3)
    assert flag_flaky([first, last, other], {"t[chrome]"}) == [last]
    assert last["statusDetails"] == {"message": "x", "flaky": True} and "flaky" not in first["statusDetails"]


def test_failed_first_cells_are_dispatched_before_longer_ones():
    cells = [Cell("long[chrome]", "long", "chrome"), Cell("failed[chrome]", "failed", "chrome")]
    expected = {"long[chrome]": 20.0, "failed[chrome]": 1.0}
    plan = Plan.build(cells, expected, {"chrome": 1}, first=frozenset({"failed[chrome]"}))

    collection = ["long[chrome]", "failed[chrome]", f"::{IDLE_NAME}"]
    sched, node = LongestFirstScheduling(lambda collection: plan, plan.capacity), FakeNode()
    sched.add_node(node)
    sched.add_node_collection(node, collection)
    sched.schedule()
    assert collection[node.sent[0]] == "failed[chrome]"
    assert plan.predicted_makespan == 21.0
