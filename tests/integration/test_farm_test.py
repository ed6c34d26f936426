"""`farm test` on a real grid: statuses per browser, Allure results, screenshots, summary, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from farm.cli.main import main
from farm.core.runfolder import RUN_PREFIX
from farm.infra.engine import Engine
from tests.conftest import free_port, is_png, module_farm_dir, serving

pytestmark = pytest.mark.integration
NAME = "farm-it-test"
MIXED = Path(__file__).parent / "suites" / "mixed"
EXPECTED = {
    "test_passes": "passed",
    "test_fails_an_assertion": "failed",
    "test_errors": "broken",
    "test_skipped": "skipped",
    "test_hangs": "broken",
    "test_flaky_passes_on_rerun": "passed",
}


farm_dir = module_farm_dir(NAME)


@pytest.fixture(scope="module")
def mixed_run(farm_dir):
    """One run of the mixed suite; later tests read what it wrote."""
    results = farm_dir / "reports" / "mixed"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(farm_dir)
        code = main(
            [
                "test",
                str(MIXED),
                *serving(MIXED),
                "--browsers",
                "chrome,firefox",
                "--results-dir",
                str(results),
                "--timeout",
                "8",
                "--reruns",
                "1",
            ]
        )
    return code, results


def test_exit_status_is_1_when_cells_fail(mixed_run):
    assert mixed_run[0] == 1


def test_summary_has_the_right_status_per_cell_and_browser(mixed_run):
    summary = json.loads((mixed_run[1] / "summary.json").read_text())
    statuses = {(c["test_id"].split("::")[-1], c["browser"]): c["status"] for c in summary["cells"]}
    assert statuses == {(test, browser): status for test, status in EXPECTED.items() for browser in ("chrome", "firefox")}
    assert summary["total"] == 12 and summary["not_run"] == []
    by_id = {(c["test_id"].split("::")[-1], c["browser"]): c for c in summary["cells"]}
    assert by_id[("test_hangs", "chrome")]["failure_kind"] == "infrastructure" and "Timeout" in by_id[("test_hangs", "chrome")]["message"]
    assert by_id[("test_fails_an_assertion", "firefox")]["failure_kind"] == "product"
    assert by_id[("test_flaky_passes_on_rerun", "chrome")]["attempts"] == 2
    for cell in summary["cells"]:
        assert cell["stop"] >= cell["start"] > 0 and cell["worker"].startswith("gw")
        if cell["status"] != "skipped":
            assert cell["node"].startswith("http://") and cell["browser_version"]
    makespan = summary["makespan"]
    assert makespan["actual"] >= makespan["lower_bound"] > 0 and makespan["predicted"] > 0


def test_every_failed_or_broken_cell_has_a_png_screenshot(mixed_run):
    summary = json.loads((mixed_run[1] / "summary.json").read_text())
    for cell in summary["cells"]:
        if cell["status"] in ("failed", "broken"):
            assert is_png(cell["screenshot"]), cell["nodeid"]
        else:
            assert cell["screenshot"] == ""


def allure_results(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in (results / "allure-results").glob("*-result.json")]


def test_allure_results_keep_browsers_apart_and_attach_failure_evidence(mixed_run):
    results = allure_results(mixed_run[1])
    final = {}
    for result in results:
        browser = next(label["value"] for label in result["labels"] if label["name"] == "browser")
        assert {"name": "browser_name", "value": repr(browser)} in result["parameters"]
        final.setdefault((result["name"].split("[")[0], browser), []).append(result)
    assert set(final) == {(test, browser) for test in EXPECTED for browser in ("chrome", "firefox")}
    # Same test on two browsers: different history ids, so Allure never shows one as a retry of the other.
    assert len({r["historyId"] for r in results}) == 12
    flaky = final[("test_flaky_passes_on_rerun", "chrome")]
    assert sorted(r["status"] for r in flaky) == ["failed", "passed"]  # every attempt kept
    for (test, _), attempts in final.items():
        last = max(attempts, key=lambda r: r["stop"])
        # Allure agrees with the summary on every cell, a hang included (farm's timer raises CellTimeout)
        assert last["status"] == EXPECTED[test]
        if EXPECTED[test] in ("failed", "broken"):
            names = {a["name"]: a for a in last.get("attachments", [])}
            assert names["screenshot"]["type"] == "image/png"
            assert (mixed_run[1] / "allure-results" / names["screenshot"]["source"]).read_bytes()[:4] == b"\x89PNG"
            assert "page source" in names


def test_junit_xml_and_durations_are_written(mixed_run, farm_dir):
    assert "<testsuite" in (mixed_run[1] / "junit.xml").read_text()
    durations = json.loads((farm_dir / "reports" / "durations.json").read_text())
    learned = {(e["test"].split("::")[-1], e["browser"]) for e in durations["durations"]}
    assert ("test_passes", "firefox") in learned and ("test_hangs", "chrome") not in learned


def test_a_run_connects_to_the_docker_engine_once(farm_dir, capsys):
    """The gateway (app and loopback proxy), the nodes that record (--video) and the registration
    secret (stuck sessions) all come over one connection: it once took three."""
    connections: list[object] = []
    real_connect = Engine.connect.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Engine], *args: object, **kwargs: object) -> Engine:
        connections.append(args)
        return real_connect(cls, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Engine, "connect", classmethod(counting))
        code, err = run(farm_dir, capsys, str(MIXED), *serving(MIXED), "-k", "test_passes", "--video", "failed", "--no-report")
    assert code == 0, err
    assert len(connections) == 1


def run(farm_dir, capsys, *args: str) -> tuple[int, str]:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(farm_dir)
        capsys.readouterr()
        code = main(["test", *args])
    return code, capsys.readouterr().err


def test_missing_path_is_a_usage_error(farm_dir, capsys):
    code, err = run(farm_dir, capsys, str(MIXED / "nope.py"))
    assert code == 2 and "does not exist" in err


def test_no_tests_collected_exits_5(farm_dir, capsys):
    code, err = run(farm_dir, capsys, str(MIXED), "-k", "no_test_matches_this")
    assert code == 5 and "no tests collected" in err


def test_unknown_browser_is_a_usage_error(farm_dir, capsys):
    code, err = run(farm_dir, capsys, str(MIXED), "--browsers", "lynx")
    assert code == 2 and "unknown browser 'lynx'" in err


def test_unreachable_grid_exits_3(farm_dir, capsys):
    code, err = run(farm_dir, capsys, str(MIXED), "--grid-url", f"http://127.0.0.1:{free_port()}")
    assert code == 3 and "unreachable" in err


def test_browser_without_slots_fails_at_once(farm_dir, capsys):
    code, err = run(farm_dir, capsys, str(MIXED), "--browsers", "chrome,edge")
    assert code == 3 and "no slots for edge" in err


def test_failed_starts_leave_no_results_folder(farm_dir, capsys):
    """Each way a run can fail before any cell ran, tried here (not left to the tests above)."""
    before = sorted((farm_dir / "reports").glob(f"{RUN_PREFIX}*"))
    failures = [
        (str(MIXED / "nope.py"),),  # usage: a missing path
        (str(MIXED), "--browsers", "chrome,edge"),  # infrastructure: no slots
        (str(MIXED), "-k", "no_test_matches_this"),  # pytest ran and collected nothing
        (str(MIXED), "--grid-url", f"http://127.0.0.1:{free_port()}"),  # no grid
    ]
    codes = [run(farm_dir, capsys, *args)[0] for args in failures]
    assert codes == [2, 3, 5, 3]
    assert sorted((farm_dir / "reports").glob(f"{RUN_PREFIX}*")) == before


def test_localhost_base_url_works_from_the_containers(farm_dir, capsys):
    """An app listening on the host's 127.0.0.1 only is reached by the browsers (the loopback proxy)."""
    from farm.infra.appserver import serve

    with serve(MIXED / "app", "127.0.0.1") as port:
        code, err = run(
            farm_dir,
            capsys,
            str(MIXED),
            "-k",
            "test_passes",
            "--base-url",
            f"http://localhost:{port}/",
            "--no-report",
            "--results-dir",
            str(farm_dir / "localhost-run"),
        )
    assert code == 0, err
