"""Selenium versions: installing farm never breaks plain pytest, and farm mode works at both ends of
the selenium range farm declares (the highest is the one every other test runs with)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest
from packaging.version import Version

from tests.conftest import module_farm_dir, serving

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SUITES = Path(__file__).parent / "suites"
OLDEST_PINNED = "4.0.0"  # pytest-selenium 4.1.0 still accepts selenium>=4.0.0


def declared_lowest() -> str:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = next(d for d in dependencies if d.startswith("selenium"))
    return re.search(r">=\s*([0-9.]+)", spec).group(1)  # type: ignore[union-attr]


def pip(python: Path, *args: str) -> None:
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args], check=True, capture_output=True)


def test_plain_pytest_works_with_an_old_selenium_and_farm_installed(tmp_path):
    """A suite's venv pins selenium 4.0.0 (as old as pytest-selenium allows); farm's plugin loads there
    and stays out of the way."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    pip(python, f"selenium=={OLDEST_PINNED}", "pytest>=8")
    pip(python, "--no-deps", str(ROOT))
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_plain.py").write_text("from selenium import webdriver\n\ndef test_plain():\n    assert webdriver.Remote\n")
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("FARM_", "PYTEST_"))}
    run = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite)], capture_output=True, text=True, env=clean_env
    )
    assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout + run.stderr
    version = subprocess.run([str(python), "-c", "import selenium; print(selenium.__version__)"], capture_output=True, text=True)
    assert version.stdout.strip() == OLDEST_PINNED
    help_text = subprocess.run([str(python), "-m", "pytest", "--help"], capture_output=True, text=True, env=clean_env).stdout
    assert "--farm-browsers" in help_text  # the plugin is installed and loaded, just inert


farm_dir = module_farm_dir("farm-it-selenium")


def test_farm_mode_at_the_lowest_declared_selenium(farm_dir, tmp_path):
    lowest = declared_lowest()
    target = tmp_path / "selenium"
    pip(Path(sys.executable), "--no-deps", "--target", str(target), f"selenium=={lowest}")
    env = {**os.environ, "PYTHONPATH": str(target)}
    results = farm_dir / "reports" / "lowest"
    command = [
        sys.executable,
        "-m",
        "farm",
        "test",
        str(SUITES / "foreign_session"),
        *serving(SUITES / "foreign_session"),
        "--browsers",
        "chrome,firefox",
    ]
    command += ["--results-dir", str(results), "--no-report", "--", "-m", "not slow"]
    run = subprocess.run(command, cwd=farm_dir, env=env, capture_output=True, text=True)
    assert run.returncode == 1, run.stdout + run.stderr  # one test fails on purpose
    summary = json.loads((results / "summary.json").read_text())
    statuses = {(c["test_id"].split("::")[-1], c["browser"]): c["status"] for c in summary["cells"]}
    assert statuses[("test_cart_is_empty_fails_on_purpose", "firefox")] == "failed"
    assert sum(1 for s in statuses.values() if s == "passed") == 6
    for cell in summary["cells"]:
        assert {s["browser"] for s in cell["sessions"]} == {cell["browser"]}
    # the run's pytest processes inherit this environment, and it imports that selenium
    seen = subprocess.run([sys.executable, "-c", "import selenium; print(selenium.__version__)"], env=env, capture_output=True, text=True)
    assert Version(seen.stdout.strip()) == Version(lowest)
