"""Duration history store and folding pytest reports into cell results (pure logic)."""

import json
import time

import pytest

from farm import history
from farm.matrix import Cell, base_test_id
from farm.results import CellState, read_cells, summarize


def test_history_round_trip_and_atomic_file(tmp_path):
    path = tmp_path / "history.json"
    history.save(path, {("t::a", "chrome"): 1.23456, ("t::a", "firefox"): 2.0})
    assert history.load(path) == {("t::a", "chrome"): 1.235, ("t::a", "firefox"): 2.0}
    assert [p.name for p in tmp_path.iterdir()] == ["history.json"]


@pytest.mark.parametrize("content", ["{not json", '{"format": "other"}', '{"format": "farm-history/1", "durations": [{"test": 1}]}', "[]"])
def test_corrupt_history_warns_and_falls_back(tmp_path, content):
    path = tmp_path / "history.json"
    path.write_text(content)
    with pytest.warns(history.HistoryWarning, match="using estimates"):
        assert history.load(path) == {}


def test_missing_history_is_empty(tmp_path):
    assert history.load(tmp_path / "none.json") == {}


def test_merge_smooths_and_drops_removed_tests():
    old = {("a", "chrome"): 10.0, ("gone", "chrome"): 5.0}
    merged = history.merge(old, {("a", "chrome"): 20.0, ("b", "firefox"): 3.0}, present_tests={"a", "b"})
    assert merged == {("a", "chrome"): 15.0, ("b", "firefox"): 3.0}


def fold(*reports):
    state = CellState()
    done = False
    for when, outcome, props in reports:
        done = state.add(when, outcome, 1.0, props)
    return done, state


def test_passed_cell():
    done, state = fold(("setup", "passed", {}), ("call", "passed", {}), ("teardown", "passed", {"farm": {"browser": "chrome"}}))
    assert done and state.status() == "passed" and state.result("x").browser == "chrome"
    assert state.result("x").duration == 3.0


def test_the_first_classified_failure_decides_the_status():
    product = {"farm_failure": {"kind": "product", "status": "failed", "message": "AssertionError"}}
    test_error = {"farm_failure": {"kind": "test", "status": "broken", "message": "NoSuchElementException"}}
    assert fold(("setup", "passed", {}), ("call", "failed", product), ("teardown", "passed", {}))[1].status() == "failed"
    assert fold(("setup", "passed", {}), ("call", "failed", test_error), ("teardown", "passed", {}))[1].status() == "broken"
    # a teardown error after a failed call does not hide the product failure (Allure keeps the first too)
    done, state = fold(("setup", "passed", {}), ("call", "failed", product), ("teardown", "failed", test_error))
    assert done and state.status() == "failed" and state.result("x").failure_when == "call"


def test_skipped_cell():
    assert fold(("setup", "skipped", {}), ("teardown", "passed", {}))[1].status() == "skipped"


def test_rerun_counts_attempts_and_keeps_final_outcome():
    failure = {"farm_failure": {"kind": "product", "message": "x"}}
    done, state = fold(
        ("setup", "passed", {}),
        ("call", "rerun", failure),
        ("teardown", "passed", {}),
        ("setup", "passed", {}),
        ("call", "passed", {}),
        ("teardown", "passed", {}),
    )
    assert done and state.status() == "passed" and state.attempts == 2


def test_worker_crash_is_broken_infrastructure():
    done, state = fold(("???", "failed", {}))
    result = state.result("t.py::x[chrome]")
    assert done and result.status == "broken" and result.failure_kind == "infrastructure"


def test_read_cells_skips_a_torn_last_line(tmp_path):
    path = tmp_path / "cells.jsonl"
    _, state = fold(("setup", "passed", {}), ("teardown", "passed", {}))
    line = json.dumps(state.result("a").__dict__)
    path.write_text(line + "\n" + line[:20])
    assert [r.nodeid for r in read_cells(path)] == ["a"]


def test_summary_counts_not_run_and_makespans():
    _, state = fold(
        ("setup", "passed", {"farm": {"start": 100.0}}),
        ("teardown", "passed", {"farm": {"stop": 104.0, "browser": "chrome", "test_id": "a"}}),
    )
    done = state.result("a[chrome]")
    planned = [Cell("a[chrome]", "a", "chrome"), Cell("b[chrome]", "b", "chrome")]
    summary = summarize([done], planned, {"chrome": 1}, predicted=5.0)
    assert summary["counts"]["passed"] == 1 and summary["not_run"] == ["b[chrome]"]
    assert summary["not_run_cells"] == [
        {"nodeid": "b[chrome]", "test_id": "b", "browser": "chrome", "reason": "not run: no result came back for it"}
    ]
    assert summary["makespan"] == {"predicted": 5.0, "actual": 4.0, "lower_bound": 2.0}


@pytest.mark.parametrize(
    ("nodeid", "ids", "index", "expected"),
    [
        ("t.py::test[chrome]", ["chrome"], 0, "t.py::test"),
        ("t.py::test[chrome-1]", ["chrome", "1"], 0, "t.py::test[1]"),
        ("t.py::test[a-b-firefox]", ["a-b", "firefox"], 1, "t.py::test[a-b]"),
        ("t.py::test", [], -1, "t.py::test"),
    ],
)
def test_base_test_id(nodeid, ids, index, expected):
    assert base_test_id(nodeid, ids, index) == expected


def test_not_run_cells_carry_the_schedulers_reason_else_why_the_run_stopped():
    planned = [Cell("a[firefox]", "a", "firefox"), Cell("b[chrome]", "b", "chrome")]
    summary = summarize([], planned, {"chrome": 1}, 1.0, {"a[firefox]": "not run: no firefox slot left"}, stopped="interrupted")
    reasons = {c["nodeid"]: c["reason"] for c in summary["not_run_cells"]}
    assert reasons == {"a[firefox]": "not run: no firefox slot left", "b[chrome]": "not run: the run stopped (interrupted)"}


def test_an_infrastructure_retry_is_counted_and_its_reason_kept():
    lost = {"farm_failure": {"kind": "infrastructure", "message": "WebDriverException: Unable to execute request for an existing session"}}
    done, state = fold(
        ("setup", "passed", {}),
        ("call", "rerun", lost),
        ("teardown", "passed", {}),
        ("setup", "passed", {}),
        ("call", "passed", {}),
        ("teardown", "passed", {"farm": {"browser": "chrome", "test_id": "a", "start": 1.0, "stop": 9.0}}),
    )
    result = state.result("a[chrome]")
    assert done and result.status == "passed" and result.attempts == 2
    assert result.retries == ["infrastructure: WebDriverException: Unable to execute request for an existing session"]
    summary = summarize([result], [Cell("a[chrome]", "a", "chrome")], {"chrome": 1}, 1.0)
    assert summary["infrastructure_retries"] == 1 and summary["cells"][0]["retries"] == result.retries


def test_history_learns_nothing_from_a_cell_retried_for_the_infrastructure():
    from farm.results import CellResult

    def cell(test_id: str, status: str, retries: list[str], when: str = "") -> CellResult:
        return CellResult(f"{test_id}[chrome]", test_id, "chrome", status, 30.0, 0.0, 30.0, retries=retries, failure_when=when)

    results = [
        cell("a", "passed", []),
        cell("b", "passed", ["infrastructure: Unable to execute request for an existing session"]),
        cell("c", "failed", ["product: AssertionError"], "call"),
        cell("d", "broken", [], "call"),
        cell("e", "failed", [], "setup"),  # its fixture failed: the test body never ran
    ]
    assert history.learnable(results) == {("a", "chrome"): 30.0, ("c", "chrome"): 30.0}


def test_progress_names_the_browsers_that_lost_slots():
    from farm.results import describe_lost_slots

    assert describe_lost_slots({"chrome": 4, "firefox": 2}, {"chrome": 2, "firefox": 2}).startswith("slots up: chrome 2 of 4")
    assert describe_lost_slots({"chrome": 4}, {"chrome": 4}) == "" and describe_lost_slots({"chrome": 4}, None) == ""


def test_progress_counts_broken_cells_as_broken_and_no_time_left_once_done():
    from farm.capacity import Capacity
    from farm.results import CellResult, describe_progress
    from farm.schedule import Plan

    plan = Plan(
        capacity=Capacity.per_browser({"chrome": 2}),
        cells={f"t{i}": {"browser": "chrome", "test_id": f"t{i}", "expected": 10.0} for i in range(4)},
    )
    plan.predicted_makespan = 20.0

    def cell(nodeid: str, status: str) -> CellResult:
        return CellResult(nodeid, nodeid, "chrome", status, 1.0, 0.0, 1.0)

    halfway = describe_progress([cell("t0", "passed"), cell("t1", "broken")], 4, time.monotonic(), plan)
    assert halfway.startswith("2/4 cells: 1 passed, 1 broken;") and "left" in halfway and "failed" not in halfway
    done = describe_progress([cell(f"t{i}", "broken") for i in range(4)], 4, time.monotonic() - 30, plan)
    assert done.startswith("4/4 cells: 0 passed, 4 broken;") and "left" not in done
