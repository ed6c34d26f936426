"""Suites written before farm, in other people's styles, run unchanged on chrome and firefox, and every
cell's result is true to its label: the session it used is the browser the label names."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from farm.cli.main import main
from tests.conftest import BROWSERS, assert_statuses, is_png, module_farm_dir, serving, statuses

pytestmark = pytest.mark.integration
NAME = "farm-it-foreign"
SUITES = Path(__file__).parent / "suites"


farm_dir = module_farm_dir(NAME)


def run_suite(farm_dir: Path, name: str, suite: str, *pytest_args: str, farm_args: tuple[str, ...] = ()) -> tuple[int, dict]:
    results = farm_dir / "reports" / name
    passthrough = ["--", *pytest_args] if pytest_args else []
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(farm_dir)
        common = ["--browsers", ",".join(BROWSERS), "--results-dir", str(results), "--no-report"]
        code = main(["test", suite, *serving(suite), *farm_args, *common, *passthrough])
    return code, json.loads((results / "summary.json").read_text())


def assert_truthful(summary: dict) -> None:
    """Every cell that used a browser used its own label's browser, and failures carry a screenshot."""
    for cell in summary["cells"]:
        assert cell["sessions"], f"{cell['nodeid']} used no session"
        assert {s["browser"] for s in cell["sessions"]} == {cell["browser"]}, cell
        assert cell["node"].startswith("http://") and cell["browser_version"], cell
        if cell["status"] in ("failed", "broken"):
            assert is_png(cell["screenshot"]), cell["nodeid"]
    assert summary["queue_wait"] < 1.0
    assert summary["not_run"] == []


@pytest.fixture(scope="module")
def session_suite(farm_dir):
    """Session-scoped headed driver chosen by its own required --browser-name option (set in addopts),
    a second required option of its own, and a marker expression passed after `--`."""
    return run_suite(farm_dir, "session", str(SUITES / "foreign_session"), "-m", "not slow")


def test_session_scoped_headed_suite_runs_unchanged(session_suite):
    code, summary = session_suite
    assert code == 1
    assert_statuses(
        summary,
        {
            "test_title": "passed",
            "test_buy": "passed",
            "test_headed_window": "passed",
            "test_cart_is_empty_fails_on_purpose": "failed",
        },
    )
    assert_truthful(summary)


def test_one_browser_per_worker_keeps_one_session_per_worker(session_suite):
    _, summary = session_suite
    by_worker: dict[str, set[str]] = {}
    for cell in summary["cells"]:
        by_worker.setdefault(cell["worker"], set()).add(cell["browser"])
        assert cell["failure_kind"] in ("", "product")
    assert all(len(browsers) == 1 for browsers in by_worker.values()), by_worker
    # session-scoped: every cell of a worker used the same session
    for worker in by_worker:
        ids = {s["id"] for c in summary["cells"] if c["worker"] == worker for s in c["sessions"]}
        assert len(ids) == 1, (worker, ids)


def test_module_scoped_suite_reading_its_own_variable(farm_dir, monkeypatch):
    monkeypatch.setenv("BROWSER", "firefox")  # the suite's own variable: farm must win over it
    code, summary = run_suite(farm_dir, "module", str(SUITES / "foreign_module"))
    assert code == 1
    assert_statuses(
        summary,
        {
            "test_catalog_title": "passed",
            "test_catalog_buy": "passed",
            "test_checkout_starts_empty": "passed",
            "test_checkout_errors_on_purpose": "broken",
        },
    )
    broken = [c for c in summary["cells"] if c["status"] == "broken"]
    assert {c["failure_kind"] for c in broken} == {"test"}  # NoSuchElementException: the test's, not the grid's
    assert_truthful(summary)


def test_local_webdriver_chrome_becomes_each_cells_browser(farm_dir):
    code, summary = run_suite(farm_dir, "local", str(SUITES / "local_chrome"))
    expected = {"test_local_chrome_page": "passed", "test_local_chrome_fails_on_purpose": "failed"}
    expected["test_chromes_own_api_or_the_other_browsers_branch"] = "passed"  # get_log and CDP on chrome, isinstance on both
    assert code == 1
    assert_statuses(summary, expected)
    assert_truthful(summary)
    log = (farm_dir / "reports" / "local" / "pytest.log").read_text()
    # what did not carry over is said: the laptop's profile path, and Chrome's prefs on Firefox
    assert "--user-data-dir=/home/dev/.config/chrome-test" in log and "experimental option prefs" in log


def test_a_session_of_the_wrong_browser_is_broken_never_passed(farm_dir):
    """A suite that builds a Remote Chrome session whatever the cell: its firefox cells are broken with
    the reason, not passed under a label they never ran on."""
    code, summary = run_suite(farm_dir, "wrong", str(SUITES / "wrong_browser"))
    assert code == 1
    assert statuses(summary) == {("test_always_chrome", "chrome"): "passed", ("test_always_chrome", "firefox"): "broken"}
    (firefox,) = [c for c in summary["cells"] if c["browser"] == "firefox"]
    assert firefox["failure_kind"] == "identity" and "ran in chrome, labelled firefox" in firefox["message"]
    assert firefox["screenshot"] == ""  # the wrong session was quit at once; nothing of it is evidence


def test_a_bad_pytest_argument_exits_2_with_pytests_message(farm_dir, capsys):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(farm_dir)
        capsys.readouterr()
        code = main(["test", str(SUITES / "foreign_session"), "--browsers", "chrome", "--", "--no-such-pytest-option"])
    err = capsys.readouterr().err
    assert code == 2 and "unrecognized arguments: --no-such-pytest-option" in err
    assert [p for p in (farm_dir / "reports").iterdir() if p.name.startswith("run-")] == []


def test_bidi_through_the_hub_on_every_browser(farm_dir):
    """The Grid's webSocketUrl names the hub's container address; farm hands the suite one on the
    Grid URL it uses, and BiDi commands work through it."""
    code, summary = run_suite(farm_dir, "bidi", str(SUITES / "bidi"))
    assert code == 0, summary
    assert statuses(summary) == {("test_bidi_user_context_through_the_hub", b): "passed" for b in BROWSERS}
    assert_truthful(summary)


def test_a_test_that_passes_fails_passes_is_marked_flaky_without_changing_exit_statuses(farm_dir, monkeypatch):
    codes, summaries = [], []
    for run in ("1", "2", "3"):
        monkeypatch.setenv("FLIPS_RUN", run)
        extra = ["--failed-first"] if run == "3" else []
        results = farm_dir / "reports" / f"flips-{run}"
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(farm_dir)
            codes.append(
                main(["test", str(SUITES / "flips"), "--browsers", "chrome", "--results-dir", str(results), "--no-report", *extra])
            )
        summaries.append(json.loads((results / "summary.json").read_text()))
    assert codes == [0, 1, 0]  # flaky marks never change the exit status
    last = {c["test_id"].split("::")[-1]: c for c in summaries[-1]["cells"]}
    assert last["test_flips"]["flaky"] and last["test_flips"]["pass_rate"] == pytest.approx(0.667)
    assert not last["test_steady"]["flaky"] and last["test_steady"]["pass_rate"] == 1.0
    assert summaries[-1]["flaky"] == [last["test_flips"]["nodeid"]] and summaries[1]["flaky"] == [last["test_flips"]["nodeid"]]
    # in Allure: the flaky flag on the final attempt of that cell
    allure = [json.loads(p.read_text()) for p in (farm_dir / "reports" / "flips-3" / "allure-results").glob("*-result.json")]
    flags = {r["name"]: (r.get("statusDetails") or {}).get("flaky", False) for r in allure}
    assert flags == {"test_flips[chrome]": True, "test_steady[chrome]": False}
    # --failed-first: the cell that failed in run 2 was planned first in run 3
    plan = json.loads((farm_dir / "reports" / "flips-3" / "plan.json").read_text())
    assert {n.split("::")[-1]: c["first"] for n, c in plan["cells"].items()} == {"test_flips[chrome]": True, "test_steady[chrome]": False}


def test_prompts_opened_by_clicks_behave_as_in_plain_selenium(farm_dir):
    """confirm(), alert() and prompt() from clicks, read with switch_to.alert, with farm's console
    capture on (a BiDi socket on Firefox, which used to close the prompt at once), and an unanswered
    prompt dismissed and reported as WebDriver's default handler does; both a local `webdriver.Chrome()`
    of the suite's own and farm's `driver`."""
    code, summary = run_suite(farm_dir, "prompts", str(SUITES / "prompts"))
    assert code == 0, summary["counts"]
    names = ["test_alert", "test_prompt_takes_text", "test_an_unanswered_prompt_is_dismissed_and_reported"]
    names += ["test_confirm[accept-accepted]", "test_confirm[dismiss-dismissed]", "test_farms_own_driver_reads_a_confirm"]
    assert_statuses(summary, dict.fromkeys(names, "passed"))
    assert_truthful(summary)
    # the console was heard: the page logs one error per load (the test's own, none on a prompt)
    assert {(c["browser"], c["console_errors"]) for c in summary["cells"]} == {("chrome", 1), ("firefox", 1)}


def test_a_headed_maximized_session_fills_the_screen_on_both_browsers(farm_dir):
    """A session-scoped headed local Chrome that maximizes (the nodes' displays have a window manager,
    as docker-selenium's do): maximize, full screen and minimize behave as on a desktop."""
    code, summary = run_suite(farm_dir, "desktop", str(SUITES / "desktop"))
    assert code == 0, summary["counts"]
    names = ["test_the_session_starts_maximized", "test_full_screen_fills_the_screen"]
    assert_statuses(summary, dict.fromkeys([*names, "test_minimize_hides_the_page_and_maximize_brings_it_back"], "passed"))
    assert_truthful(summary)


def test_the_suites_own_browser_options_follow_each_cell(farm_dir):
    """dash's `--webdriver Chrome|Firefox` with no configuration, the suite's own `--browser` named by
    `--browser-option`, and (a second run) an environment variable spelled the suite's way."""
    suite = str(SUITES / "own_option")
    results = farm_dir / "reports" / "own-option"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(farm_dir)
        common = ["--browsers", ",".join(BROWSERS), "--no-report"]
        code = main(
            ["test", suite, "--browser-option=--browser", *common, "--results-dir", str(results / "option"), "--", "-k", "not variable"]
        )
        assert code == 0
        variable = ["--browser-option", "$UI_BROWSER=chrome:chromium", "--results-dir", str(results / "variable")]
        assert main(["test", suite, *variable, *common, "--", "-k", "variable"]) == 0
    option, env = (json.loads((results / run / "summary.json").read_text()) for run in ("option", "variable"))
    assert_statuses(option, {"test_the_suites_code_path_matches_the_browser": "passed", "test_its_own_option_names_the_cell": "passed"})
    assert_statuses(env, {"test_its_variable_names_the_cell": "passed"})
    assert_truthful(option)
    assert_truthful(env)


def test_a_browser_option_the_suite_does_not_have_is_refused_in_one_line(farm_dir, capsys):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(farm_dir)
        results = farm_dir / "reports" / "no-such-option"
        code = main(["test", str(SUITES / "own_option"), "--browser-option=--browser-name", "--results-dir", str(results), "--no-report"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "browser_option --browser-name: the suite defines no such pytest option" in err, err
    assert not results.exists()


def test_file_pages_under_the_suite_open_in_every_browser_and_others_fail_clearly(farm_dir):
    """file:// pages of the suite (with a stylesheet and a relative link) and of tmp_path open on both
    browsers and read back as file://; one outside the suite's folders is broken with the reason,
    never a blank page filed as a product failure."""
    code, summary = run_suite(farm_dir, "files", str(SUITES / "file_pages"))
    assert code == 1
    expected = {"test_a_page_of_the_suite_with_its_stylesheet_and_links": "passed", "test_a_page_written_to_tmp_path": "passed"}
    assert_statuses(summary, {**expected, "test_a_page_outside_the_suite_fails_clearly": "broken"})
    assert_truthful(summary)
    for cell in summary["cells"]:
        if cell["status"] == "broken":
            assert cell["failure_kind"] == "test" and "file:///etc/os-release is outside the suite's folders" in cell["message"]


def no_two_overlap(cells: list[dict]) -> bool:
    spans = sorted((c["start"], c["stop"]) for c in cells)
    return all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(spans))


def test_a_suite_that_must_not_overlap_passes_with_workers_1(farm_dir, tmp_path, monkeypatch):
    """Every test deletes and rebuilds one shared folder (without --workers its cells broke each other
    when tried): one cell at a time across both browsers."""
    monkeypatch.setenv("SHARED_BUILD", str(tmp_path / "shared"))
    code, summary = run_suite(farm_dir, "one-at-a-time", str(SUITES / "not_parallel_safe" / "test_build.py"), farm_args=("--workers", "1"))
    assert code == 0, summary["counts"]
    assert_statuses(summary, {f"test_page_builds[{page}]": "passed" for page in ("intro", "usage", "api")})
    assert_truthful(summary)
    assert no_two_overlap(summary["cells"]) and summary["capacity"].get("cells") == 1


def test_cells_of_an_xdist_group_never_run_at_the_same_time(farm_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SHARED_BUILD", str(tmp_path / "shared"))
    code, summary = run_suite(farm_dir, "grouped", str(SUITES / "not_parallel_safe" / "test_grouped.py"))
    assert code == 0, summary["counts"]
    expected = {f"test_grouped_page_builds[{page}]": "passed" for page in ("intro", "usage", "api")}
    assert_statuses(summary, {**expected, "test_an_ungrouped_neighbour": "passed"})
    assert_truthful(summary)
    assert no_two_overlap([c for c in summary["cells"] if "::test_grouped_page_builds" in c["test_id"]])


def test_tests_that_open_no_browser_are_labelled_so_and_then_run_once(farm_dir):
    """First run: every cell runs, and the two helper tests' cells say they opened no browser (summary,
    Allure labels). Next run, from what the first learned: each of them is one cell."""
    suite = str(SUITES / "no_browser")
    helpers = {"test_version_parsing", "test_log_helper"}
    code, first = run_suite(farm_dir, "no-browser-1", suite)
    assert code == 0 and first["total"] == 6
    assert {c["nodeid"].split("::")[-1].split("[")[0] for c in first["cells"] if c["nodeid"] in first["no_browser"]} == helpers
    assert len(first["no_browser"]) == 4
    results = farm_dir / "reports" / "no-browser-1" / "allure-results"
    labels = [{label["name"]: label["value"] for label in json.loads(p.read_text())["labels"]} for p in results.glob("*-result.json")]
    helper_labels = [(lab["browser"], lab["parentSuite"]) for lab in labels if any(h in lab.get("farm-cell", "") for h in helpers)]
    assert helper_labels and set(helper_labels) == {("none", "no browser")}
    code, second = run_suite(farm_dir, "no-browser-2", suite)
    assert code == 0 and second["total"] == 4, [c["nodeid"] for c in second["cells"]]
    once = [c for c in second["cells"] if c["nodeid"].split("::")[-1].split("[")[0] in helpers]
    assert len(once) == 2 and all(not c["sessions"] and c["status"] == "passed" for c in once)
    expected = {("test_the_home_page", "chrome"): "passed", ("test_the_home_page", "firefox"): "passed"}
    assert statuses(second) == {**expected, ("test_version_parsing", "chrome"): "passed", ("test_log_helper", "chrome"): "passed"}
    for cell in first["cells"] + second["cells"]:  # the browser cells ran in their own browser
        if "test_the_home_page" in cell["nodeid"]:
            assert cell["sessions"] and {session["browser"] for session in cell["sessions"]} == {cell["browser"]}, cell
