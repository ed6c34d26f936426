"""Environment, executor and categories files, and merging them across CI jobs (pure logic)."""

import re

import pytest
from selenium.common.exceptions import SessionNotCreatedException, WebDriverException

from farm.core.catalogue import GRID_VERSION
from farm.core.failures import classify, marker
from farm.core.report_files import (
    CATEGORIES,
    environment_for_run,
    executor_from_env,
    executors_as_environment,
    from_properties,
    merge_environments,
    not_run_results,
    to_properties,
)
from farm.plugin.worker.sessions import WrongBrowser


def test_executor_for_github_actions():
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_REPOSITORY": "org/shop",
        "GITHUB_RUN_ID": "99",
        "GITHUB_RUN_NUMBER": "12",
        "GITHUB_WORKFLOW": "browsers",
        "GITHUB_JOB": "chrome",
    }
    executor = executor_from_env(env, "runner")
    assert executor["name"] == "GitHub Actions" and executor["buildOrder"] == 12
    assert executor["buildUrl"] == "https://github.example/org/shop/actions/runs/99" and executor["buildName"] == "browsers #12 chrome"


def test_executor_for_gitlab_and_jenkins_and_local():
    gitlab = executor_from_env(
        {
            "GITLAB_CI": "true",
            "CI_PIPELINE_ID": "5",
            "CI_PIPELINE_IID": "3",
            "CI_JOB_NAME": "firefox",
            "CI_JOB_URL": "https://gitlab.example/j/1",
        },
        "h",
    )
    assert (gitlab["name"], gitlab["buildUrl"], gitlab["buildOrder"]) == ("GitLab CI", "https://gitlab.example/j/1", 3)
    jenkins = executor_from_env(
        {"JENKINS_URL": "https://ci", "JOB_NAME": "shop", "BUILD_NUMBER": "41", "BUILD_URL": "https://ci/shop/41"}, "h"
    )
    assert (jenkins["name"], jenkins["buildName"], jenkins["buildOrder"]) == ("Jenkins", "shop #41", 41)
    assert executor_from_env({}, "laptop") == {"name": "laptop", "type": "local", "buildName": "farm on laptop"}


def test_environment_shows_real_browser_versions_and_capacity():
    summary = {
        "cells": [
            {"browser": "chrome", "browser_version": "156.0.1"},
            {"browser": "firefox", "browser_version": "153.8.0"},
            {"browser": "chrome", "browser_version": ""},
        ]
    }
    grid = {
        "grid_url": "http://127.0.0.1:4444",
        "version": GRID_VERSION,
        "browsers": {"chrome": {"nodes": 2, "slots": 4, "version": "156"}, "firefox": {"nodes": 1, "slots": 2, "version": "153"}},
    }
    env = environment_for_run(summary, grid, "0.1.0", "http://farm-host:8000/")
    assert env["chrome.version"] == "156.0.1" and env["firefox.version"] == "153.8.0"
    assert env["chrome.nodes"] == "2" and env["chrome.slots"] == "4" and env["grid.version"] == GRID_VERSION
    assert env["base.url"] == "http://farm-host:8000/" and env["farm"] == "0.1.0"


def test_merging_keeps_common_values_once_and_differing_ones_per_job():
    merged = merge_environments(
        [
            ("job-chrome", {"grid.version": GRID_VERSION, "chrome.version": "156"}),
            ("job-firefox", {"grid.version": GRID_VERSION, "firefox.version": "153"}),
        ]
    )
    assert merged == {"grid.version": GRID_VERSION, "chrome.version [job-chrome]": "156", "firefox.version [job-firefox]": "153"}


def test_every_jobs_executor_survives_a_merge():
    env = executors_as_environment(
        [
            ("a", {"name": "GitHub Actions", "buildName": "#1 chrome", "buildUrl": "u1"}),
            ("b", {"name": "GitHub Actions", "buildName": "#1 firefox", "buildUrl": "u2"}),
        ]
    )
    assert env == {"executor [a]": "GitHub Actions #1 chrome u1", "executor [b]": "GitHub Actions #1 firefox u2"}


@pytest.mark.parametrize("value", ["http://x:1/a=b", "line\nbreak", "<b>'\"ünï</b>", "#not a comment", "back\\slash"])
def test_properties_round_trip(value):
    env = {"key with space": value, "plain": "v"}
    assert from_properties(to_properties(env)) == env


def category_of(status: str, trace: str) -> str | None:
    """What Allure does: the first category whose status and regexes match the result."""
    for category in CATEGORIES:
        wanted = status in category["matchedStatuses"] and not category.get("flaky")
        if wanted and re.fullmatch(category.get("traceRegex", "(?s).*"), trace):
            return category["name"]
    return None


@pytest.mark.parametrize(
    ("exc", "when", "category"),
    [
        (AssertionError("a == b"), "call", "Product failures"),
        (ValueError("bad data"), "call", "Test errors"),
        (TimeoutError("waited"), "call", "Test errors"),
        (WebDriverException("Unable to execute request for an existing session"), "call", "Infrastructure"),
        (SessionNotCreatedException("could not start"), "setup", "Infrastructure"),
        (WrongBrowser("ran in firefox, labelled chrome"), "setup", "Wrong browser"),
    ],
)
def test_categories_follow_farms_classification(exc, when, category):
    failure = classify(exc, when)
    # an ordinary trace that happens to mention Marionette does not make it infrastructure
    trace = f"Traceback...\nfirefox: Marionette said something\n---- farm ----\n{marker(failure.kind)}"
    assert category_of(failure.status, trace) == category


def test_categories_cover_product_test_errors_and_flaky():
    names = [c["name"] for c in CATEGORIES]
    assert names == ["Flaky tests", "Infrastructure", "Wrong browser", "Product failures", "Test errors", "Not run"]
    assert CATEGORIES[0]["flaky"] is True


def test_not_run_cells_become_unknown_results_with_their_reason_and_browser():
    cells = [
        {
            "nodeid": "suite/test_a.py::TestX::test_y[firefox]",
            "test_id": "t",
            "browser": "firefox",
            "reason": "not run: no firefox slot left",
        },
        {"nodeid": "test_b.py::test_z[chrome]", "test_id": "u", "browser": "chrome", "reason": "not run: the run stopped (interrupted)"},
    ]
    results = not_run_results(cells, 1700000000000)
    assert [r["status"] for r in results] == ["unknown", "unknown"]
    first = results[0]
    assert first["name"] == "test_y[firefox]" and first["fullName"] == cells[0]["nodeid"]
    assert first["statusDetails"]["message"] == "not run: no firefox slot left"
    labels = {label["name"]: label["value"] for label in first["labels"]}
    expected = {"browser": "firefox", "parentSuite": "firefox", "suite": "test_a", "tag": "not-run"}
    assert labels == {**expected, "farm-cell": cells[0]["nodeid"], "farm-test": "t"}  # a row of the matrix page too
    assert len({r["uuid"] for r in results}) == 2 and not_run_results(cells, 1700000000000) == results
    assert CATEGORIES[-1] == {"name": "Not run", "matchedStatuses": ["unknown"]}


def test_results_of_cells_that_opened_no_browser_are_relabelled():
    from farm.core.report_files import CELL_LABEL, relabel_no_browser

    def result(cell: str, browser: str) -> dict:
        labels = [{"name": "browser", "value": browser}, {"name": "parentSuite", "value": browser}, {"name": CELL_LABEL, "value": cell}]
        return {"labels": labels}

    results = [result("helper[chrome]", "chrome"), result("page[chrome]", "chrome")]
    assert relabel_no_browser(results, {"helper[chrome]"}) == [results[0]]
    assert [(label["name"], label["value"]) for label in results[0]["labels"][:2]] == [("browser", "none"), ("parentSuite", "no browser")]
    assert results[1]["labels"][0]["value"] == "chrome"


def test_the_matrix_page_puts_each_tests_browsers_side_by_side_with_links():
    from farm.core.matrix_page import matrix_cells, matrix_page

    def case(uid: str, test: str, browser: str, status: str, stop: int, ms: int = 1500, label: bool = True) -> dict:
        labels = [{"name": "browser", "value": browser}, {"name": "farm-cell", "value": f"{test}[{browser}]"}]
        labels += [{"name": "farm-test", "value": test}] if label else []
        return {"uid": uid, "status": status, "time": {"stop": stop, "duration": ms}, "labels": labels}

    cases = [
        case("a1", "t.py::test_cart", "chrome", "passed", 10),
        case("a2", "t.py::test_cart", "firefox", "failed", 10),
        case("a3", "t.py::test_cart", "firefox", "broken", 5),  # an earlier attempt: the rerun's result counts
        case("b1", "t.py::test_<title>", "chrome", "passed", 10, label=False),  # an old result: the row from its cell
    ]
    matrix = matrix_cells(cases)
    assert {t: {b: c["uid"] for b, c in row.items()} for t, row in matrix.items()} == {
        "t.py::test_cart": {"chrome": "a1", "firefox": "a2"},
        "t.py::test_<title>": {"chrome": "b1"},
    }
    page = matrix_page(cases)
    assert '<a href="index.html#testresult/a2">failed 1.5s</a>' in page and 'id="count-passed">2 passed' in page
    assert "t.py::test_&lt;title&gt;" in page and '<td class="none">-</td>' in page  # escaped; a missing cell shows
    assert "http" not in page  # nothing from the network


def test_allure3_gets_browsers_as_environments_and_tests_without_the_browser_in_their_name():
    from farm.core.report_files import allure3_config, as_one_test_per_browser

    config = allure3_config(["chrome", "firefox"], "/r/out", "/r/history.jsonl", single_file=True)
    assert '"chrome": { matcher: byBrowser("chrome") },' in config and '"firefox": { matcher: byBrowser("firefox") },' in config
    assert 'historyPath: "/r/history.jsonl"' in config and "singleFile: true" in config and 'output: "/r/out"' in config
    labels = [{"name": "browser", "value": "firefox"}, {"name": "parentSuite", "value": "firefox"}, {"name": "suite", "value": "test_a"}]
    for name, plain in (("test_x[firefox]", "test_x"), ("test_x[1-firefox]", "test_x[1]"), ("test_x[firefox-big]", "test_x[big]")):
        result = as_one_test_per_browser({"name": name, "labels": [dict(label) for label in labels]})
        assert result["name"] == plain
        assert [label["name"] for label in result["labels"]] == ["browser", "suite"]  # the browser stays a label, out of the tree


def test_the_quality_gate_names_each_browser_under_the_threshold():
    from farm.core.report_files import below_gate, pass_rates

    shard1 = {"cells": [{"browser": "chrome", "status": "passed"}, {"browser": "firefox", "status": "failed"}]}
    shard2 = {
        "cells": [{"browser": "chrome", "status": "skipped"}, {"browser": "firefox", "status": "passed"}],
        "not_run_cells": [{"browser": "chrome"}],
    }
    rates = pass_rates([shard1, shard2])
    assert rates == {"chrome": (1, 2), "firefox": (1, 2)}  # skipped cells are not judged; a cell not run is not a pass
    assert below_gate(rates, 50) == []
    assert below_gate(rates, 75) == ["chrome: 50.0% of 2 cells passed", "firefox: 50.0% of 2 cells passed"]
