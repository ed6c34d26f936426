"""Duration history store and folding pytest reports into cell results (pure logic)."""

import json
import time
from datetime import date, timedelta

import pytest

from farm.core import durations
from farm.core.matrix import Cell, base_test_id
from farm.core.results import CellResult, CellState, read_cells, summarize

TODAY = date(2026, 12, 5)


def cell(test: str, browser: str, seconds: float, status: str = "passed") -> CellResult:
    return CellResult(f"{test}[{browser}]", test, browser, status, seconds, 0.0, seconds, failure_when="call")


def test_durations_round_trip_and_atomic_file(tmp_path):
    path = tmp_path / "durations.json"
    store = durations.Durations({("t::a", "chrome"): 1.23456, ("t::a", "firefox"): 2.0}, {}, ["run-1"])
    durations.save(path, store)
    assert durations.load(path) == {("t::a", "chrome"): 1.235, ("t::a", "firefox"): 2.0}
    assert durations.read(path).learned_runs == ["run-1"]
    assert [p.name for p in tmp_path.iterdir()] == ["durations.json"]


def test_a_file_of_the_first_format_is_still_read(tmp_path):
    path = tmp_path / "durations.json"
    path.write_text(json.dumps({"format": "farm-history/1", "durations": [{"test": "a", "browser": "chrome", "seconds": 2.5}]}))
    store = durations.read(path, TODAY)
    assert store.seconds == {("a", "chrome"): 2.5} and store.measured_on == {("a", "chrome"): "2026-12-05"}


@pytest.mark.parametrize("content", ["{not json", '{"format": "other"}', '{"format": "farm-history/1", "durations": [{"test": 1}]}', "[]"])
def test_corrupt_history_warns_and_falls_back(tmp_path, content):
    path = tmp_path / "durations.json"
    path.write_text(content)
    with pytest.warns(durations.HistoryWarning, match="using estimates"):
        assert durations.load(path) == {}


def test_missing_history_is_empty(tmp_path):
    assert durations.load(tmp_path / "none.json") == {}


def test_merge_smooths_and_keeps_what_the_run_did_not_measure():
    """A `-k` run, a `-m` run or a run of another folder measures a few tests: the others keep theirs."""
    old = durations.Durations({("a", "chrome"): 10.0, ("other_suite", "chrome"): 5.0}, {("a", "chrome"): "2026-12-01"}, [])
    merged = durations.merge(old, {("a", "chrome"): 20.0, ("b", "firefox"): 3.0}, TODAY)
    assert merged.seconds == {("a", "chrome"): 15.0, ("b", "firefox"): 3.0, ("other_suite", "chrome"): 5.0}
    assert merged.measured_on[("a", "chrome")] == "2026-12-05"


def test_only_entries_unmeasured_for_keep_days_are_dropped():
    stale = (TODAY - timedelta(days=durations.KEEP_DAYS + 1)).isoformat()
    recent = (TODAY - timedelta(days=durations.KEEP_DAYS)).isoformat()
    old = durations.Durations(
        {("gone", "chrome"): 5.0, ("quiet", "chrome"): 4.0}, {("gone", "chrome"): stale, ("quiet", "chrome"): recent}, []
    )
    assert durations.merge(old, {}, TODAY).seconds == {("quiet", "chrome"): 4.0}


def test_a_run_is_learned_once():
    once = durations.learn(durations.Durations(), "run-1", [cell("a", "chrome", 10.0)], TODAY)
    assert once is not None and once.seconds == {("a", "chrome"): 10.0} and once.learned_runs == ["run-1"]
    assert durations.learn(once, "run-1", [cell("a", "chrome", 20.0)], TODAY) is None
    twice = durations.learn(once, "run-2", [cell("a", "chrome", 20.0)], TODAY)
    assert twice is not None and twice.seconds == {("a", "chrome"): 15.0}


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


def test_a_rerun_without_its_own_teardown_report_is_still_an_attempt():
    """pytest-rerunfailures 16.1 and older (what pip picks beside pytest 7) log setup and the rerun call
    but not the failed attempt's teardown: the next setup starts the next attempt."""
    failure = {"farm_failure": {"kind": "product", "status": "failed", "message": "x"}}
    reports = [("setup", "passed", {}), ("call", "rerun", failure)] * 2 + [("setup", "passed", {}), ("call", "failed", failure)]
    done, state = fold(*reports, ("teardown", "passed", {}))
    assert done and state.status() == "failed" and state.attempts == 3 and len(state.retries) == 2


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
    from farm.core.results import CellResult

    def cell(test_id: str, status: str, retries: list[str], when: str = "") -> CellResult:
        return CellResult(f"{test_id}[chrome]", test_id, "chrome", status, 30.0, 0.0, 30.0, retries=retries, failure_when=when)

    results = [
        cell("a", "passed", []),
        cell("b", "passed", ["infrastructure: Unable to execute request for an existing session"]),
        cell("c", "failed", ["product: AssertionError"], "call"),
        cell("d", "broken", [], "call"),
        cell("e", "failed", [], "setup"),  # its fixture failed: the test body never ran
    ]
    assert durations.learnable(results) == {("a", "chrome"): 30.0, ("c", "chrome"): 30.0}


def test_progress_names_the_browsers_that_lost_slots():
    from farm.core.results import describe_lost_slots

    assert describe_lost_slots({"chrome": 4, "firefox": 2}, {"chrome": 2, "firefox": 2}).startswith("slots up: chrome 2 of 4")
    assert describe_lost_slots({"chrome": 4}, {"chrome": 4}) == "" and describe_lost_slots({"chrome": 4}, None) == ""


def test_progress_counts_broken_cells_as_broken_and_no_time_left_once_done():
    from farm.core.capacity import Capacity
    from farm.core.results import CellResult, describe_progress
    from farm.core.schedule import Plan

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


def test_tests_that_open_no_browser_are_learned_and_forgotten_by_what_their_cells_did():
    from farm.core.durations import browserless_tests
    from farm.core.results import CellResult

    def cell(test: str, browser: str, sessions: list, status: str = "passed") -> CellResult:
        return CellResult(f"{test}[{browser}]", test, browser, status, 1.0, 0.0, 1.0, sessions=sessions)

    session = [{"id": "s", "browser": "chrome"}]
    ran = [cell("helper", "chrome", []), cell("helper", "firefox", []), cell("page", "chrome", session), cell("page", "firefox", [])]
    ran += [cell("broke", "chrome", [], "broken")]  # broke before it could open one: says nothing
    assert browserless_tests({"page", "gone"}, ran) == {"helper", "gone"}  # a test not in the run keeps its state
