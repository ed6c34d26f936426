"""`farm report` on real runs: merged CI jobs, shards, history, bad input, and the page in Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from farm.cli.main import main
from farm.core.catalogue import GRID_VERSION
from farm.infra.appserver import serve
from farm.infra.browsers import OFFLINE_CHROMIUM_ARGS
from tests.conftest import default_signals, module_farm, serving

pytestmark = pytest.mark.integration
NAME = "farm-it-report"
MIXED = str(Path(__file__).parent / "suites" / "mixed")
QUICK = "test_passes or fails_an or test_errors"  # 3 tests: passed, failed (with screenshot), broken
ARTIFACTS = Path(__file__).resolve().parents[2] / "reports" / "test-artifacts"


@pytest.fixture(scope="module")
def farm_dir(tmp_path_factory):
    for directory, _port in module_farm(tmp_path_factory, NAME):
        yield directory


def farm(directory: Path, *args: str) -> int:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(directory)
        return main(list(args))


def report_data(report: Path) -> tuple[dict, list[dict]]:
    summary = json.loads((report / "widgets" / "summary.json").read_text())
    cases = [json.loads(p.read_text()) for p in (report / "data" / "test-cases").glob("*.json")]
    return summary, cases


def browser_of(case: dict) -> str:
    return next(label["value"] for label in case["labels"] if label["name"] == "browser")


@pytest.fixture(scope="module")
def job_results(farm_dir):
    """Two CI jobs, one per browser, each with its own results folder (as a browser matrix makes)."""
    jobs = {}
    for browser in ("chrome", "firefox"):
        jobs[browser] = farm_dir / "jobs" / f"job-{browser}"
        assert (
            farm(
                farm_dir,
                "test",
                MIXED,
                *serving(MIXED),
                "-k",
                QUICK,
                "--browsers",
                browser,
                "--results-dir",
                str(jobs[browser]),
                "--no-report",
            )
            == 1
        )
    return jobs


def test_merged_report_of_per_browser_jobs_has_every_cell_once_and_no_retries(farm_dir, job_results):
    output = farm_dir / "merged"
    assert farm(farm_dir, "report", str(job_results["chrome"]), str(job_results["firefox"]), "--output", str(output)) == 0
    summary, cases = report_data(output)
    assert summary["statistic"]["total"] == 6
    assert sorted((c["name"].split("[")[0], browser_of(c)) for c in cases) == sorted(
        (t, b) for t in ("test_passes", "test_fails_an_assertion", "test_errors") for b in ("chrome", "firefox")
    )
    assert all(not c.get("extra", {}).get("retries") and c.get("retry") is not True for c in cases)
    environment = {e["name"]: e["values"] for e in json.loads((output / "widgets" / "environment.json").read_text())}
    assert "executor [job-chrome]" in environment and "executor [job-firefox]" in environment
    # values every job agrees on appear once; values that differ (here the app's URL) once per job
    assert environment["grid.version"] == [GRID_VERSION] and environment["chrome.version"][0].startswith("1")
    assert "base.url [job-chrome]" in environment and "base.url [job-firefox]" in environment


def test_shards_merge_into_exactly_the_matrix(farm_dir):
    folders = []
    for index in (1, 2):
        folder = farm_dir / "shards" / f"shard-{index}"
        farm(farm_dir, "test", MIXED, *serving(MIXED), "-k", QUICK, "--shard", f"{index}/2", "--results-dir", str(folder), "--no-report")
        folders.append(folder)
    ran = [json.loads((f / "summary.json").read_text())["cells"] for f in folders]
    assert ran[0] and ran[1] and not {c["nodeid"] for c in ran[0]} & {c["nodeid"] for c in ran[1]}
    output = farm_dir / "shards-report"
    assert farm(farm_dir, "report", *map(str, folders), "--output", str(output)) == 0
    summary, cases = report_data(output)
    assert summary["statistic"]["total"] == 6 == len(ran[0]) + len(ran[1]) == len(cases)


def test_history_grows_run_after_run(farm_dir, job_results):
    history = farm_dir / "ci-cache" / "history"
    output = farm_dir / "trend"
    lengths = []
    for _ in range(2):
        assert farm(farm_dir, "report", str(job_results["chrome"]), "--output", str(output)) == 0
        lengths.append(len(json.loads((output / "history" / "history-trend.json").read_text())))
    assert lengths[1] == lengths[0] + 1  # each report carries the previous one's trend
    shutil.copytree(output / "history", history)  # e.g. restored from a CI cache
    other = farm_dir / "from-cache"
    assert farm(farm_dir, "report", str(job_results["chrome"]), "--output", str(other), "--history", str(history)) == 0
    assert len(json.loads((other / "history" / "history-trend.json").read_text())) == lengths[1] + 1


def test_bad_input_is_one_line_and_keeps_the_previous_report(farm_dir, job_results, capsys, tmp_path, monkeypatch):
    output = farm_dir / "keep"
    assert farm(farm_dir, "report", str(job_results["chrome"]), "--output", str(output)) == 0
    before = (output / "index.html").stat().st_mtime_ns
    foreign = tmp_path / "junit-only"
    foreign.mkdir()
    (foreign / "junit.xml").write_text("<testsuite/>")
    empty = tmp_path / "empty"
    empty.mkdir()
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    cases = [
        ((str(tmp_path / "missing"),), 2, "does not exist"),
        ((str(empty),), 2, "is empty"),
        ((str(foreign),), 2, "holds no Allure results"),
        ((str(job_results["chrome"]), "--output", str(a_file / "report")), 2, "is not writable"),
    ]
    for args, code, message in cases:
        capsys.readouterr()
        assert farm(farm_dir, "report", *args, *(() if "--output" in args else ("--output", str(output)))) == code
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("farm: error: ")]
        assert len(errors) == 1 and message in errors[0], errors
    # no generator in the cache, and nothing to install one with (farm installs it with npm; it runs on Java)
    monkeypatch.setenv("FARM_CACHE", str(tmp_path / "no-cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.delenv("FARM_ALLURE", raising=False)
    assert farm(farm_dir, "report", str(job_results["chrome"]), "--output", str(output)) == 3
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("farm: error: ")]
    assert len(errors) == 1 and "needs npm and java" in errors[0] and "apt-get install npm default-jre-headless" in errors[0], errors
    assert (output / "index.html").stat().st_mtime_ns == before


@pytest.fixture
def host_chromium():
    """Debian's chromium and chromedriver on the host (installed by scripts/setup)."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", *OFFLINE_CHROMIUM_ARGS, "--window-size=1400,1000", *(("--no-sandbox",) if os.geteuid() == 0 else ())):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    yield driver
    driver.quit()


def test_report_in_a_real_browser_shows_totals_per_browser_and_the_failure_screenshot(farm_dir, host_chromium):
    run = farm_dir / "e2e"
    assert farm(farm_dir, "test", MIXED, *serving(MIXED), "-k", QUICK, "--results-dir", str(run)) == 1
    report = run / "report"
    assert (report / "index.html").exists()
    driver = host_chromium
    wait = WebDriverWait(driver, 20)
    with serve(report, "127.0.0.1") as port:
        driver.get(f"http://127.0.0.1:{port}/index.html#suites")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".tree__content > .node")) == 2)
        totals = {}
        for node in driver.find_elements(By.CSS_SELECTOR, ".tree__content > .node"):
            name = node.find_element(By.CSS_SELECTOR, ".node__name").text
            totals[name] = {
                s.get_attribute("class").split("_status_")[-1]: int(s.text)
                for s in node.find_elements(By.CSS_SELECTOR, ".node__stats .label")
            }
        assert totals == {"chrome": {"failed": 1, "broken": 1, "passed": 1}, "firefox": {"failed": 1, "broken": 1, "passed": 1}}
        driver.find_element(By.XPATH, "//div[@class='node__name' and text()='firefox']").click()
        wait.until(lambda d: d.find_elements(By.XPATH, "//div[contains(@class,'node__name') and text()='test_mixed']"))
        driver.find_element(By.XPATH, "//div[contains(@class,'node__name') and text()='test_mixed']").click()
        wait.until(lambda d: d.find_elements(By.XPATH, "//*[contains(text(),'test_fails_an_assertion')]"))
        driver.find_element(By.XPATH, "//*[contains(text(),'test_fails_an_assertion')]").click()
        attachment = wait.until(lambda d: d.find_elements(By.XPATH, "//*[contains(@class,'attachment-row') and .//*[text()='screenshot']]"))
        attachment[0].click()
        image = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".attachment__media, img[src*='attachments']"))
        wait.until(lambda d: d.execute_script("return arguments[0].naturalWidth", image[0]) > 100)
        driver.get(f"http://127.0.0.1:{port}/index.html")
        wait.until(lambda d: "test cases" in d.find_element(By.TAG_NAME, "body").text)
        time.sleep(1)  # the overview's charts animate in: let them settle before the screenshot
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "report-overview.png"))
    assert (ARTIFACTS / "report-overview.png").read_bytes()[:4] == b"\x89PNG"


def test_hostile_names_are_sanitised_in_files_and_escaped_in_the_report(farm_dir, host_chromium):
    from selenium.common.exceptions import NoAlertPresentException

    hostile = Path(__file__).parent / "suites" / "hostile"
    run = farm_dir / "hostile-run"
    code = farm(farm_dir, "test", str(hostile), "--browsers", "chrome", "--app-dir", str(Path(MIXED) / "app"), "--results-dir", str(run))
    assert code == 1
    summary = json.loads((run / "summary.json").read_text())
    assert len(summary["cells"]) == 4 and all(c["status"] == "failed" for c in summary["cells"])
    shots = list((run / "screenshots").iterdir())
    assert len(shots) == 4 and all(p.is_file() and re.fullmatch(r"[A-Za-z0-9._-]+\.png", p.name) for p in shots)
    assert not (farm_dir / "outside").exists() and not (run.parent / "outside").exists()
    with serve(run / "report", "127.0.0.1") as port:
        driver = host_chromium
        driver.get(f"http://127.0.0.1:{port}/index.html#suites")
        wait = WebDriverWait(driver, 20)
        for name in ("chrome", "test_hostile"):
            wait.until(lambda d, n=name: d.find_elements(By.XPATH, f"//div[contains(@class,'node__name') and text()='{n}']"))[0].click()
        wait.until(lambda d: "<img src=x" in d.find_element(By.TAG_NAME, "body").text)
        text = driver.find_element(By.TAG_NAME, "body").text
        assert "<img src=x onerror=alert(1)>" in text  # shown as text, not turned into an element
        assert not driver.find_elements(By.CSS_SELECTOR, "img[src='x']")
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # noqa: B018


@pytest.fixture(scope="module")
def firefox_fails(farm_dir) -> Path:
    """A run (with its report) where one test fails on firefox only."""
    run = farm_dir / "firefox-fails"
    assert farm(farm_dir, "test", str(Path(__file__).parent / "suites" / "one_browser_fails"), "--results-dir", str(run)) == 1
    return run


def test_the_matrix_page_shows_every_cell_and_links_to_its_result(firefox_fails, host_chromium):
    """farm's glance view beside the report, on a run where one test fails on firefox only: cells per
    status as in summary.json, the test's two browsers side by side, and the firefox failure one click
    from its Allure result and its screenshot."""
    run = firefox_fails
    summary = json.loads((run / "summary.json").read_text())
    assert summary["counts"] == {"passed": 3, "failed": 1, "broken": 0, "skipped": 0}
    for page in ("index.html", "matrix.html"):  # offline, and telling no one: no script, font or style from elsewhere
        assert not re.findall(r'(?:src|href)="(?:https?:)?//', (run / "report" / page).read_text()), page
    driver = host_chromium
    wait = WebDriverWait(driver, 20)
    with serve(run / "report", "127.0.0.1") as port:
        driver.get(f"http://127.0.0.1:{port}/matrix.html")
        cells = driver.find_elements(By.CSS_SELECTOR, "#matrix tbody td")
        shown = {status: sum(1 for c in cells if c.get_attribute("class") == status) for status in summary["counts"]}
        assert shown == summary["counts"] and len(cells) == summary["total"]
        assert [th.text for th in driver.find_elements(By.CSS_SELECTOR, "#matrix thead th")] == ["test", "chrome", "firefox"]
        row = driver.find_element(By.XPATH, "//tr[th[contains(text(),'test_total')]]")
        assert [td.get_attribute("class") for td in row.find_elements(By.TAG_NAME, "td")] == ["passed", "failed"]
        row.find_elements(By.TAG_NAME, "td")[1].find_element(By.TAG_NAME, "a").click()  # firefox's
        wait.until(lambda d: "test_total[firefox]" in d.find_element(By.TAG_NAME, "body").text)
        attachment = wait.until(lambda d: d.find_elements(By.XPATH, "//*[contains(@class,'attachment-row') and .//*[text()='screenshot']]"))
        attachment[0].click()
        image = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".attachment__media, img[src*='attachments']"))
        wait.until(lambda d: d.execute_script("return arguments[0].naturalWidth", image[0]) > 100)


def test_allure3_shows_each_browser_as_an_environment_and_gates_the_ci_stage(farm_dir, firefox_fails, host_chromium, capsys):
    """`--generator allure3` (Node alone): one test per browser pair, its name without the browser, each
    browser an environment one click apart, the firefox screenshot there; `--fail-under` fails the
    stage, naming the browser under the threshold."""
    run, report = firefox_fails, farm_dir / "allure3-report"
    capsys.readouterr()
    assert farm(farm_dir, "report", str(run), "--generator", "allure3", "--output", str(report), "--fail-under", "75") == 1
    err = capsys.readouterr().err
    assert "farm: quality gate: under 75% passed: firefox: 50.0% of 2 cells passed" in err, err
    assert farm(farm_dir, "report", str(run), "--generator", "allure3", "--output", str(report), "--fail-under", "50") == 0
    groups = [json.loads(p.read_text()) for p in (report / "data" / "test-env-groups").glob("*.json")]
    assert sorted((g["name"], sorted(g["testResultsByEnv"])) for g in groups) == [
        ("test_title", ["chrome", "firefox"]),
        ("test_total", ["chrome", "firefox"]),
    ]
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', (report / "index.html").read_text())  # offline: analytics taken out
    driver = host_chromium
    wait = WebDriverWait(driver, 20)
    with serve(report, "127.0.0.1") as port:
        driver.get(f"http://127.0.0.1:{port}/index.html")
        leaf = wait.until(
            lambda d: [
                e
                for e in d.find_elements(By.CSS_SELECTOR, "[data-testid='tree-leaf']")
                if e.find_element(By.CSS_SELECTOR, "[data-testid='tree-leaf-title']").text == "test_total"
                and e.find_elements(By.CSS_SELECTOR, "[data-testid='tree-leaf-status-failed']")
            ]
        )
        leaf[0].click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid='test-result-tab-environments']"))
        assert driver.find_element(By.CSS_SELECTOR, "[data-testid='test-result-tab-environments']").text.split() == ["Environments", "2"]
        driver.find_element(By.CSS_SELECTOR, "[data-testid='test-result-tab-environments']").click()
        items = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid='test-result-env-item']"))
        assert sorted(item.text.split()[0] for item in items) == ["chrome", "firefox"]
        driver.find_element(By.CSS_SELECTOR, "[data-testid='test-result-tab-overview']").click()
        screenshot = wait.until(
            lambda d: [
                e for e in d.find_elements(By.CSS_SELECTOR, "[data-testid='test-result-attachment-header']") if "screenshot" in e.text
            ]
        )
        screenshot[0].click()
        image = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "img[src^='blob:']"))
        wait.until(lambda d: d.execute_script("return arguments[0].naturalWidth", image[0]) > 100)


def test_report_open_serves_the_report_on_loopback_and_prints_its_url(farm_dir, firefox_fails, tmp_path):
    """`farm report --open`: the URL printed serves the report and its matrix page from 127.0.0.1
    until Ctrl-C, which ends it with status 0."""
    command = [sys.executable, "-m", "farm", "report", str(firefox_fails), "--output", str(tmp_path / "served"), "--open"]
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}  # no desktop browser to start
    proc = subprocess.Popen(
        command, cwd=farm_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_signals
    )
    try:
        line = ""
        while "serving the report at" not in line:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
        url = re.search(r"(http://127\.0\.0\.1:\d+/)", line).group(1)
        assert "<title>Allure Report</title>" in requests.get(url, timeout=10).text
        assert 'id="matrix"' in requests.get(url + "matrix.html", timeout=10).text
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
