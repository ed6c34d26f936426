"""farm as a user gets it: built as a wheel, installed into a fresh venv with an empty HOME, and used
from an empty project folder of the user's own (its pyproject.toml, its testpaths, tests that use
farm's `driver`). Nothing may need farm's checkout: not scripts/, not a folder beside the package.

The machine's own package-manager settings (pip's and npm's, which say where the registries are)
are copied into the empty HOME; nothing of farm's is.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from farm.run.report import ALLURE_VERSION
from tests.conftest import farm_venv, free_port, leftovers, user_environment

pytestmark = pytest.mark.integration
REPOSITORY = Path(__file__).resolve().parents[2]
NAME = "farm-it-installed"
TESTS = """
def test_title(driver):
    driver.get("data:text/html,<title>one</title><p>one")
    assert driver.title == "one"


def test_text(driver):
    driver.get("data:text/html,<p id=p>two</p>")
    assert driver.find_element("id", "p").text == "two"
"""


def run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(command)} exited {proc.returncode}:\n{output}"
    return output


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A venv with farm installed from its wheel, and the environment of a user with an empty HOME."""
    root = tmp_path_factory.mktemp("installed")
    env = user_environment(root / "home")
    bin_dir = farm_venv(root, env)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return bin_dir / "farm", env


def test_a_users_project_runs_on_farm_installed_from_its_wheel(installed, tmp_path):
    farm, env = installed
    project = tmp_path / "shop"
    (project / "ui_tests").mkdir(parents=True)
    (project / "ui_tests" / "test_pages.py").write_text(TESTS)
    (project / "scratch").mkdir()
    (project / "scratch" / "test_not_in_testpaths.py").write_text("def test_never_collected():\n    raise AssertionError\n")
    (project / "pyproject.toml").write_text(
        '[project]\nname = "shop"\nversion = "1"\n\n[tool.pytest.ini_options]\ntestpaths = ["ui_tests"]\n\n'
        f'[tool.farm]\nname = "{NAME}"\nhub_port = {free_port()}\nimage_set = "local"\noffline = true\n'
    )
    outputs: list[str] = []
    try:
        outputs.append(run([str(farm), "images", "build"], project, env))
        outputs.append(run([str(farm), "up", "--browsers", "chrome,firefox"], project, env))
        outputs.append(run([str(farm), "test", "--browsers", "chrome,firefox"], project, env))
        outputs.append(run([str(farm), "report"], project, env))
    finally:
        subprocess.run([str(farm), "down"], cwd=project, env=env, capture_output=True, timeout=300)
    assert leftovers(NAME) == []
    for output in outputs:
        assert "Traceback" not in output and "scripts/" not in output, output
    (run_folder,) = (project / "reports").glob("run-*")
    summary = json.loads((run_folder / "summary.json").read_text())
    cells = {(c["nodeid"].split("::")[-1], c["status"]) for c in summary["cells"]}
    assert cells == {(f"{t}[{b}]", "passed") for t in ("test_title", "test_text") for b in ("chrome", "firefox")}
    report = project / "reports" / "report"
    cases = [json.loads(p.read_text()) for p in (report / "data" / "test-cases").glob("*.json")]
    assert (report / "index.html").is_file() and sorted(c["name"] for c in cases) == sorted(c[0] for c in cells)
    assert (Path(env["HOME"]) / ".cache" / "farm" / f"allure-{ALLURE_VERSION}").is_dir()  # farm installed its report generator
