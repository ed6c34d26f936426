"""The selenium and pytest ranges farm declares, tested at both ends, and the one-line stop below them.

A suite's own pins decide what its environment holds (dash[testing] pins selenium<=4.2.0, notebook[test]
selenium==4.1.5, some suites pytest<8.1), so farm declares the widest ranges that farm mode really
works with. The bottom is tested here in a fresh venv where pip resolves farm's wheel together with
the lowest selenium and pytest it declares (with their own dependencies: selenium 4.0 brings urllib3 1.26).
The top is what every other test runs with: the project's venv holds the newest selenium the range
allows and the newest pytest, which `test_the_project_runs_at_the_top_of_both_ranges` holds it to.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tests.conftest import REPOSITORY, assert_statuses, farm_venv, module_farm_dir, serving, user_environment

pytestmark = pytest.mark.integration
SUITES = Path(__file__).parent / "suites"
Completed = subprocess.CompletedProcess[str]
BELOW_RANGE = "3.141.0"  # the last selenium 3, which old suites still pin


def declared(name: str) -> str:
    """The range as pyproject.toml writes it, e.g. ">=4.0,<4.52"."""
    for dependency in tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]["dependencies"]:
        found, specifier = re.match(r"([A-Za-z0-9_.-]+)(.*)", dependency).groups()  # type: ignore[union-attr]
        if found == name:
            return specifier.strip()
    raise AssertionError(f"{name} is not a dependency")


def bound(name: str, operator: str) -> Version:
    return next(Version(s.version) for s in SpecifierSet(declared(name)) if s.operator == operator)


farm_dir = module_farm_dir("farm-it-selenium")


@pytest.fixture(scope="module")
def bottom(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """farm's wheel in a fresh venv with the lowest declared selenium and pytest."""
    root = tmp_path_factory.mktemp("bottom")
    env = user_environment(root / "home")
    bin_dir = farm_venv(root, env, f"selenium=={bound('selenium', '>=')}", f"pytest=={bound('pytest', '>=')}")
    return bin_dir, env


def versions(bin_dir: Path, env: dict[str, str]) -> dict[str, Version]:
    code = "import importlib.metadata as m, json; print(json.dumps({n: m.version(n) for n in ('selenium', 'pytest')}))"
    seen = subprocess.run([str(bin_dir / "python"), "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    return {name: Version(version) for name, version in json.loads(seen).items()}


def farm_test(
    bin_dir: Path, env: dict[str, str], cwd: Path, results: Path, farm_args: list[str], pytest_args: list[str]
) -> subprocess.CompletedProcess[str]:
    command = [str(bin_dir / "farm"), "test", *farm_args, "--browsers", "chrome,firefox", "--results-dir", str(results), "--no-report"]
    return subprocess.run([*command, "--", *pytest_args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_farm_mode_at_the_bottom_of_both_ranges(bottom, farm_dir, tmp_path):
    """A suite's own drivers (with --reruns), farm's driver with console capture, and farm's driver
    with kept sessions and a fresh context per cell, at selenium 4.0.0 and pytest 7.2: every cell
    has its expected status in its own browser."""
    bin_dir, env = bottom
    assert versions(bin_dir, env) == {"selenium": bound("selenium", ">="), "pytest": bound("pytest", ">=")}

    own = SUITES / "foreign_session"
    run = farm_test(bin_dir, env, farm_dir, tmp_path / "own", [str(own), *serving(own), "--reruns", "1"], ["-m", "not slow"])
    assert run.returncode == 1, run.stdout + run.stderr  # one test fails on purpose, on both browsers, after its rerun
    own_cells = json.loads((tmp_path / "own" / "summary.json").read_text())
    expected = {
        "test_title": "passed",
        "test_buy": "passed",
        "test_headed_window": "passed",
        "test_cart_is_empty_fails_on_purpose": "failed",
    }
    assert_statuses(own_cells, expected)
    assert {c["attempts"] for c in own_cells["cells"] if c["status"] == "failed"} == {2}  # pytest-rerunfailures, as pip resolved it

    early = SUITES / "page_errors_early"
    run = farm_test(bin_dir, env, farm_dir, tmp_path / "console", [str(early), "--app-dir", str(SUITES / "page_errors" / "app")], [])
    assert run.returncode == 0, run.stdout + run.stderr
    console = json.loads((tmp_path / "console" / "summary.json").read_text())
    assert sorted((c["browser"], c["status"], c["js_errors"], c["console_errors"]) for c in console["cells"]) == [
        ("chrome", "passed", 1, 1),
        ("firefox", "passed", 1, 1),
    ]
    run = farm_test(bin_dir, env, farm_dir, tmp_path / "context", ["--demo", "--isolation", "context"], ["-k", "test_sign_up"])
    assert run.returncode == 0, run.stdout + run.stderr
    context = json.loads((tmp_path / "context" / "summary.json").read_text())
    assert len(context["cells"]) == 6 and {(c["status"], c["isolation"]) for c in context["cells"]} == {("passed", "context")}
    for cell in own_cells["cells"] + console["cells"] + context["cells"]:
        assert cell["sessions"] and {s["browser"] for s in cell["sessions"]} == {cell["browser"]}, cell


def test_below_the_range_farm_mode_stops_with_one_line(bottom, farm_dir, tmp_path):
    """selenium 3 talked past pip (PYTHONPATH): `farm test` and `pytest --farm-browsers` stop before any
    browser starts, with one line naming the version, the range and the command that fixes it."""
    bin_dir, env = bottom
    old = tmp_path / "selenium3"
    subprocess.run(
        [
            str(bin_dir / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
            "--target",
            str(old),
            f"selenium=={BELOW_RANGE}",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    env = {**env, "PYTHONPATH": str(old)}
    assert versions(bin_dir, env)["selenium"] == Version(BELOW_RANGE)
    one_line = f"farm mode needs selenium{declared('selenium')} but selenium {BELOW_RANGE} is installed; run `{bin_dir / 'python'}"
    run = farm_test(bin_dir, env, farm_dir, tmp_path / "results", ["--demo"], [])
    assert run.returncode == 2, run.stdout + run.stderr
    error = run.stderr.strip()
    assert error.count("\n") == 0 and error.startswith(f"farm: error: {one_line}"), error
    assert f"-m pip install 'selenium{declared('selenium')}'`" in error, error
    assert not (tmp_path / "results").exists()

    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_one.py").write_text("def test_one(driver):\n    pass\n")
    pytest_command = [str(bin_dir / "python"), "-m", "pytest", "-p", "no:cacheprovider", str(suite)]
    run = subprocess.run([*pytest_command, "--farm-browsers", "chrome"], env=env, capture_output=True, text=True)
    assert run.returncode == 4 and f"ERROR: {one_line}" in run.stderr, run.stdout + run.stderr  # pytest's usage error
    # plain pytest stays untouched by the installed plugin: no farm mode, no check
    (suite / "test_one.py").write_text("def test_one():\n    import selenium\n    assert selenium.__version__ == '3.141.0'\n")
    run = subprocess.run(pytest_command, env=env, capture_output=True, text=True)
    assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout + run.stderr


def test_the_project_runs_at_the_top_of_both_ranges():
    """Every other test runs farm mode with this venv's selenium and pytest: the newest selenium the
    range allows (its upper bound is exclusive: the minor release just below it) and pytest 9."""
    selenium, pytest_version = Version(metadata.version("selenium")), Version(metadata.version("pytest"))
    assert selenium in SpecifierSet(declared("selenium")) and pytest_version in SpecifierSet(declared("pytest"))
    upper = bound("selenium", "<")
    assert (selenium.major, selenium.minor + 1) == (upper.major, upper.minor)
    assert pytest_version.major >= 9
