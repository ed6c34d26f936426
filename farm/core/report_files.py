"""The files Allure reads besides test results: environment, executor, categories (pure logic).

Allure keeps one environment.properties and one executor.json per results folder; merging the
folders of several CI jobs by copying would let the last one win. Here they are merged explicitly:
values shared by every job once, values that differ once per job, and every job's executor kept.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from farm.core.failures import category_regex

CATEGORIES: list[dict[str, Any]] = [
    # A failure of a (test, browser) that flips between runs is flaky first (farm.core.flakiness), not a
    # plain regression. The class farm gave each failure (farm.core.failures: by exception type and phase)
    # is written into the result's trace as a marker; the categories match that marker, never words
    # of a stack trace, so they agree with summary.json and the terminal on every cell.
    {"name": "Flaky tests", "matchedStatuses": ["failed", "broken"], "flaky": True},
    {"name": "Infrastructure", "matchedStatuses": ["broken"], "traceRegex": category_regex("infrastructure")},
    {"name": "Wrong browser", "matchedStatuses": ["broken"], "traceRegex": category_regex("identity")},
    {"name": "Product failures", "matchedStatuses": ["failed"], "traceRegex": category_regex("product")},
    {"name": "Test errors", "matchedStatuses": ["broken"], "traceRegex": category_regex("test")},
    {"name": "Not run", "matchedStatuses": ["unknown"]},
]


CELL_LABEL = "farm-cell"  # every result of a cell carries its node id here (farm's plugin adds it)
TEST_LABEL = "farm-test"  # and its test id, the same on every browser (the matrix page's rows)


def flag_flaky(results: list[dict[str, Any]], flaky: set[str]) -> list[dict[str, Any]]:
    """The final attempt of each flaky cell with Allure's flaky flag set; returns those results."""
    latest: dict[str, dict[str, Any]] = {}
    for result in results:
        cell = next((label["value"] for label in result.get("labels", []) if label.get("name") == CELL_LABEL), None)
        if cell in flaky and result.get("stop", 0) >= latest.get(cell, {}).get("stop", -1):
            latest[cell] = result
    for result in latest.values():
        result["statusDetails"] = {**(result.get("statusDetails") or {}), "flaky": True}
    return list(latest.values())


NO_BROWSER = "no browser"


def relabel_no_browser(results: list[dict[str, Any]], cells: set[str]) -> list[dict[str, Any]]:
    """Results of cells that opened no browser, labelled so: browser `none` and parent suite
    "no browser" instead of the browser of the worker that happened to run them. Returns those."""
    changed = []
    for result in results:
        labels = result.get("labels", [])
        if next((label["value"] for label in labels if label.get("name") == CELL_LABEL), None) not in cells:
            continue
        for label in labels:
            if label.get("name") == "browser":
                label["value"] = "none"
            elif label.get("name") == "parentSuite":
                label["value"] = NO_BROWSER
        changed.append(result)
    return changed


def not_run_results(not_run: Sequence[Mapping[str, str]], now_ms: int) -> list[dict[str, Any]]:
    """Allure results (status unknown, with the reason) for the summary's `not_run_cells`, so the
    report accounts for the whole matrix, not only for what finished."""
    results = []
    for cell in not_run:
        nodeid, reason, browser = cell["nodeid"], cell["reason"], cell.get("browser", "")
        path, _, name = nodeid.rpartition("::")
        module = path.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
        results.append(
            {
                "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"farm-not-run/{now_ms}/{nodeid}")),
                "historyId": hashlib.md5(nodeid.encode()).hexdigest(),
                "name": name or nodeid,
                "fullName": nodeid,
                "status": "unknown",
                "statusDetails": {"message": reason},
                "stage": "finished",
                "start": now_ms,
                "stop": now_ms,
                "labels": [
                    {"name": "browser", "value": browser},
                    {"name": "parentSuite", "value": browser},
                    {"name": "suite", "value": module},
                    {"name": "tag", "value": "not-run"},
                    {"name": CELL_LABEL, "value": nodeid},
                    *([{"name": TEST_LABEL, "value": cell["test_id"]}] if cell.get("test_id") else []),
                ],
            }
        )
    return results


def executor_from_env(env: Mapping[str, str], hostname: str) -> dict[str, Any]:
    """Allure's executor.json: the CI that ran this job (GitHub Actions, GitLab CI, Jenkins) or the host."""
    if env.get("GITHUB_ACTIONS") == "true":
        server, repo, run_id = (
            env.get("GITHUB_SERVER_URL", "https://github.com"),
            env.get("GITHUB_REPOSITORY", ""),
            env.get("GITHUB_RUN_ID", ""),
        )
        url = f"{server}/{repo}/actions/runs/{run_id}" if repo and run_id else ""
        job = env.get("GITHUB_JOB", "")
        return {
            "name": "GitHub Actions",
            "type": "github",
            "buildName": f"{env.get('GITHUB_WORKFLOW', 'workflow')} #{env.get('GITHUB_RUN_NUMBER', '?')} {job}".strip(),
            "buildOrder": _int(env.get("GITHUB_RUN_NUMBER")),
            "buildUrl": url,
            "reportName": job,
        }
    if env.get("GITLAB_CI") == "true":
        return {
            "name": "GitLab CI",
            "type": "gitlab",
            "buildName": f"pipeline #{env.get('CI_PIPELINE_ID', '?')} {env.get('CI_JOB_NAME', '')}".strip(),
            "buildOrder": _int(env.get("CI_PIPELINE_IID")),
            "buildUrl": env.get("CI_JOB_URL", env.get("CI_PIPELINE_URL", "")),
            "reportName": env.get("CI_JOB_NAME", ""),
        }
    if env.get("JENKINS_URL"):
        return {
            "name": "Jenkins",
            "type": "jenkins",
            "buildName": f"{env.get('JOB_NAME', 'job')} #{env.get('BUILD_NUMBER', '?')}",
            "buildOrder": _int(env.get("BUILD_NUMBER")),
            "buildUrl": env.get("BUILD_URL", ""),
        }
    return {"name": hostname, "type": "local", "buildName": f"farm on {hostname}"}


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def environment_for_run(summary: Mapping[str, Any], grid: Mapping[str, Any], farm_version: str, base_url: str) -> dict[str, str]:
    """Key/values shown on the report's overview: Grid, each browser's real version, capacity."""
    env = {
        "farm": farm_version,
        "grid.url": str(grid.get("grid_url", "")),
        "grid.version": str(grid.get("version", "")),
        "base.url": base_url or "-",
    }
    versions: dict[str, set[str]] = {}
    for cell in summary.get("cells", []):
        if cell.get("browser_version"):
            versions.setdefault(cell["browser"], set()).add(cell["browser_version"])
    for browser, capacity in sorted(grid.get("browsers", {}).items()):
        env[f"{browser}.version"] = ", ".join(sorted(versions.get(browser, set()))) or str(capacity.get("version", ""))
        env[f"{browser}.nodes"] = str(capacity.get("nodes", ""))
        env[f"{browser}.slots"] = str(capacity.get("slots", ""))
    return env


def merge_environments(jobs: Sequence[tuple[str, Mapping[str, str]]]) -> dict[str, str]:
    """One environment for several jobs: common values once, differing ones per job as `key [job]`."""
    keys = sorted({key for _, env in jobs for key in env})
    merged: dict[str, str] = {}
    for key in keys:
        values = {job: env[key] for job, env in jobs if key in env}
        if len(set(values.values())) == 1 and len(values) == len(jobs):
            merged[key] = next(iter(values.values()))
        else:
            merged.update({f"{key} [{job}]": value for job, value in values.items()})
    return merged


def executors_as_environment(jobs: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, str]:
    """Allure shows one executor; the others are kept as environment entries so none is lost."""
    return {f"executor [{job}]": " ".join(str(e.get(k) or "") for k in ("name", "buildName", "buildUrl")).strip() for job, e in jobs}


_PROPERTY_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "=": "\\=", ":": "\\:", "#": "\\#", "!": "\\!"}


def to_properties(env: Mapping[str, str]) -> str:
    """Java properties text (what Allure parses), escaped so odd keys and values survive."""

    def escape(text: str, key: bool) -> str:
        text = "".join(_PROPERTY_ESCAPES.get(ch, ch) for ch in text)
        return text.replace(" ", "\\ ") if key else text

    return "".join(f"{escape(k, True)}={escape(v, False)}\n" for k, v in env.items())


def from_properties(text: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith(("#", "!")):
            continue
        match = re.match(r"((?:\\.|[^=:\\])*)\s*[=:]\s*(.*)", line)
        if match:
            unescape = lambda s: re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), s)  # noqa: E731
            env[unescape(match.group(1)).strip()] = unescape(match.group(2))
    return env


# Allure 3 (npm `allure`, Node only) reads a config module; each browser is one of its environments.
ALLURE3_CONFIG = """// written by farm: each browser is an Allure 3 environment
const byBrowser = (browser) => ({{ labels }}) => labels.some((label) => label.name === "browser" && label.value === browser);

export default {{
  name: {name},
  output: {output},
  historyPath: {history},
  plugins: {{ awesome: {{ options: {{ singleFile: {single_file} }} }} }},
  environments: {{
{environments}
  }},
}};
"""


def allure3_config(browsers: Sequence[str], output: str, history: str, single_file: bool = False, name: str = "farm") -> str:
    """The allurerc.mjs of a report whose environments are `browsers` (matched by the browser label)."""
    environments = "\n".join(f"    {json.dumps(b)}: {{ matcher: byBrowser({json.dumps(b)}) }}," for b in browsers)
    values = {"name": json.dumps(name), "output": json.dumps(output), "history": json.dumps(history)}
    return ALLURE3_CONFIG.format(**values, single_file=json.dumps(single_file), environments=environments)


def as_one_test_per_browser(result: dict[str, Any]) -> dict[str, Any]:
    """A result as Allure 3's environments want it: the browser out of the test's name (it is the
    environment, and still a label and a parameter) and out of the tree (no browser parent suite)."""
    labels = result.get("labels", [])
    browser = next((label["value"] for label in labels if label.get("name") == "browser"), "")
    if browser:
        name = str(result.get("name", ""))
        result["name"] = name.replace(f"[{browser}]", "").replace(f"-{browser}]", "]").replace(f"[{browser}-", "[")
        result["labels"] = [
            label for label in labels if not (label.get("name") == "parentSuite" and label.get("value") in (browser, NO_BROWSER))
        ]
    return result


def pass_rates(summaries: Iterable[Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """browser -> (passed, judged) over summaries' cells; skipped cells are not judged."""
    rates: dict[str, tuple[int, int]] = {}
    for summary in summaries:
        for cell in summary.get("cells", []):
            if cell.get("status") == "skipped":
                continue
            passed, judged = rates.get(str(cell.get("browser", "")), (0, 0))
            rates[str(cell.get("browser", ""))] = (passed + (cell.get("status") == "passed"), judged + 1)
        for cell in summary.get("not_run_cells", []):
            passed, judged = rates.get(str(cell.get("browser", "")), (0, 0))
            rates[str(cell.get("browser", ""))] = (passed, judged + 1)
    return rates


def below_gate(rates: Mapping[str, tuple[int, int]], minimum: float) -> list[str]:
    """The browsers whose pass rate (percent) is under `minimum`, said as `firefox: 50.0% of 4 cells`."""
    return [
        f"{browser}: {100 * passed / judged:.1f}% of {judged} cells passed"
        for browser, (passed, judged) in sorted(rates.items())
        if judged and 100 * passed / judged < minimum
    ]
