"""Failure evidence on real browsers: videos of failed cells, the page's console on both browsers,
and the video playing in the report, opened in a real Chromium."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from farm.cli.main import main
from farm.core.config import load_config
from farm.infra.appserver import serve
from farm.infra.browsers import open_session, reachable_sockets
from farm.plugin.worker.console import listen
from tests.conftest import BROWSERS, assert_statuses, module_farm_dir, serving
from tests.integration.test_report import host_chromium  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration
NAME = "farm-it-evidence"
SUITES = Path(__file__).parent / "suites"
PAGE_ERRORS = str(SUITES / "page_errors")

farm_dir = module_farm_dir(NAME)


def farm_test(farm_dir: Path, run: str, *args: str, pytest_args: tuple[str, ...] = ()) -> tuple[int, dict, Path]:
    results = farm_dir / "reports" / run
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(farm_dir)
        app = [] if "--app-dir" in args else serving(args[0])
        code = main(["test", *args, *app, "--browsers", ",".join(BROWSERS), "--results-dir", str(results), *pytest_args])
    return code, json.loads((results / "summary.json").read_text()), results


def video_seconds(path: str) -> float:
    """ffprobe's reading of a video file: it must be a whole, playable WebM."""
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name", "-of", "json", path],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(probe.stdout)
    assert [s["codec_name"] for s in info["streams"]] == ["vp8"]
    return float(info["format"]["duration"])


def allure_results(results: Path) -> dict[str, dict]:
    """Allure's result per cell name (`test_x[chrome]`), the final attempt of each."""
    found = {}
    for path in sorted((results / "allure-results").glob("*-result.json"), key=lambda p: json.loads(p.read_text())["stop"]):
        result = json.loads(path.read_text())
        found[result["name"]] = result
    return found


def attachments(result: dict, name: str) -> list[dict]:
    return [a for a in result.get("attachments", []) if a["name"] == name]


@pytest.fixture(scope="module")
def failed_video_run(farm_dir):
    return farm_test(farm_dir, "video-failed", PAGE_ERRORS, "--video", "failed")


def test_failed_cells_have_a_video_and_the_console_and_passing_cells_no_video(failed_video_run):
    code, summary, results = failed_video_run
    assert code == 1
    assert_statuses(
        summary, {"test_checkout_fails": "failed", "test_catalog_passes": "passed", "test_banner_throws_but_asserts_pass": "passed"}
    )
    allure = allure_results(results)
    for cell in summary["cells"]:
        name = f"{cell['test_id'].split('::')[-1]}[{cell['browser']}]"
        if cell["status"] == "failed":
            assert len(cell["videos"]) == 1, cell
            assert video_seconds(cell["videos"][0]) > 0.5
            (video,) = attachments(allure[name], "video")
            assert video["type"] == "video/webm"
            (console,) = attachments(allure[name], "console")
            text = (results / "allure-results" / console["source"]).read_text()
            assert "console.error: farm-console-marker 7" in text and "uncaught: Error: farm-uncaught-marker" in text
            assert (cell["js_errors"], cell["console_errors"]) == (1, 1)
        else:
            assert cell["videos"] == [] and not attachments(allure[name], "video"), cell
            assert not attachments(allure[name], "console")  # the console goes with failed and broken cells
    banner = [c for c in summary["cells"] if "banner" in c["test_id"]]
    assert [(c["js_errors"], c["console_errors"]) for c in banner] == [(1, 0), (1, 0)]  # counted on every cell
    assert len(list((results / "videos").iterdir())) == 2  # nothing kept for passing cells


def test_the_reports_video_plays_in_a_real_browser(failed_video_run, host_chromium):  # noqa: F811
    _code, _summary, results = failed_video_run
    driver = host_chromium
    wait = WebDriverWait(driver, 20)
    with serve(results / "report", "127.0.0.1") as port:
        driver.get(f"http://127.0.0.1:{port}/index.html#suites")
        for name in ("firefox", "test_page", "test_checkout_fails"):
            wait.until(lambda d, n=name: d.find_elements(By.XPATH, f"//div[contains(@class,'node__name') and contains(text(),'{n}')]"))[
                0
            ].click()
        row = wait.until(lambda d: d.find_elements(By.XPATH, "//*[contains(@class,'attachment-row') and .//*[text()='video']]"))
        row[0].click()
        video = wait.until(lambda d: d.find_elements(By.TAG_NAME, "video"))[0]
        wait.until(lambda d: d.execute_script("return arguments[0].readyState", video) >= 2)
        assert driver.execute_script("return arguments[0].duration", video) > 0.5


def test_uncaught_page_errors_fail_a_passing_cell_on_request(farm_dir):
    code, summary, _results = farm_test(farm_dir, "console-fails", PAGE_ERRORS, "-k", "banner", "--fail-on-console-error", "--no-report")
    assert code == 1
    assert_statuses(summary, {"test_banner_throws_but_asserts_pass": "failed"})
    for cell in summary["cells"]:
        assert cell["failure_kind"] == "product" and "1 uncaught page error(s): Error: farm-uncaught-only" in cell["message"], cell
        assert cell["videos"] == []  # --video is off unless asked


def test_the_first_page_of_a_session_is_heard_though_the_test_leaves_it_at_once(farm_dir):
    """The listener attaches while a session's first command runs; the second waits for it, so the
    first page's console and uncaught error are in the cell on both browsers."""
    early = str(SUITES / "page_errors_early")
    code, summary, _results = farm_test(farm_dir, "early", early, "--app-dir", f"{PAGE_ERRORS}/app", "--no-report")
    assert code == 0
    assert_statuses(summary, {"test_a_first_page_left_at_once": "passed"})
    assert [(c["js_errors"], c["console_errors"]) for c in summary["cells"]] == [(1, 1), (1, 1)]


@pytest.mark.parametrize("browser", BROWSERS)
def test_a_listener_that_attaches_late_is_handed_what_the_page_logged(farm_dir, browser):
    """What farm's late attachment rests on: both browsers replay the open document's console to a
    listener that arrives after it logged (V8 on Runtime.enable, Firefox on session.subscribe)."""
    grid = load_config(farm_dir).grid_url
    driver = open_session(grid, browser, bidi=browser == "firefox")
    try:
        driver.get("data:text/html,<script>console.error('logged-before')</script><script>throw new Error('thrown-before')</script>")
        time.sleep(0.5)
        listener = listen({**driver.caps, **reachable_sockets(driver.caps, grid)})
        assert listener is not None
        listener.flush()
        assert [(e.kind, e.text) for e in listener.entries] == [("console", "logged-before"), ("javascript", "Error: thrown-before")]
        listener.close()
    finally:
        driver.quit()


def test_a_session_kept_across_cells_gives_each_cell_its_own_video(farm_dir):
    """A session-scoped, headed driver of the suite's own: its recording is cut at every cell's end."""
    code, summary, _results = farm_test(
        farm_dir, "video-all", str(SUITES / "foreign_session"), "--video", "all", "--no-report", pytest_args=("--", "-m", "not slow")
    )
    assert code == 1
    videos = [v for cell in summary["cells"] for v in cell["videos"]]
    assert all(len(cell["videos"]) == 1 for cell in summary["cells"]), summary["cells"]
    assert len(set(videos)) == len(summary["cells"])
    assert all(video_seconds(v) > 0.1 for v in videos)


def test_video_needs_the_farms_own_nodes(farm_dir, capsys):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(farm_dir)
        code = main(["test", PAGE_ERRORS, *serving(PAGE_ERRORS), "--video", "failed", "--grid-url", "http://127.0.0.1:9", "--no-report"])
    assert code != 0
    assert "--video failed records on the farm's own nodes" in capsys.readouterr().err
