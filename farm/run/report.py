"""One Allure report for one or more result folders (a run, or every job of a CI browser matrix).

Generation is Allure's own (allure-commandline, pinned; farm installs it from npm into its cache
on first use); farm only stages the inputs: the results of every folder, one merged environment
and executor, the categories that split product failures from infrastructure, and the previous
report's trend data so trends grow run after run. The new report replaces the old one only once it is complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from farm import __version__
from farm.core.errors import ReportError, ReportToolError
from farm.core.matrix_page import matrix_page
from farm.core.progress import Progress
from farm.core.report_files import (
    CATEGORIES,
    allure3_config,
    as_one_test_per_browser,
    below_gate,
    environment_for_run,
    executor_from_env,
    executors_as_environment,
    flag_flaky,
    from_properties,
    merge_environments,
    not_run_results,
    pass_rates,
    relabel_no_browser,
    to_properties,
)
from farm.core.runfolder import ReportsFolder, RunFolder
from farm.infra.images import cache_dir

ALLURE_VERSION = "2.46.1"
ALLURE3_VERSION = "3.18.0"
FIXED_FILES = ("environment.properties", "executor.json", "categories.json")
MATRIX_PAGE = "matrix.html"
# Allure 3 writes Google Analytics into index.html whatever ALLURE_NO_ANALYTICS says: farm takes it out.
ANALYTICS = re.compile(
    r"<script async src=\"https://www\.googletagmanager\.com/[^\"]*\"></script>\s*<script>[^<]*gtag\([^<]*</script>", re.S
)


@dataclass(frozen=True)
class Generator:
    """An Allure report generator farm can install into its cache from npm."""

    name: str  # allure2 | allure3
    package: str  # what npm installs
    folder: str  # its folder in farm's cache
    needs: dict[str, str]  # tool -> the Debian package that brings it
    variable: str  # an environment variable naming one's own command line instead


GENERATORS = {
    "allure2": Generator(
        "allure2",
        f"allure-commandline@{ALLURE_VERSION}",
        f"allure-{ALLURE_VERSION}",
        {"npm": "npm", "java": "default-jre-headless"},
        "FARM_ALLURE",
    ),
    "allure3": Generator("allure3", f"allure@{ALLURE3_VERSION}", f"allure3-{ALLURE3_VERSION}", {"npm": "npm"}, "FARM_ALLURE3"),
}


def cached_generator(kind: str = "allure2") -> Path:
    return cache_dir() / GENERATORS[kind].folder / "node_modules" / ".bin" / "allure"


def find_generator(progress: Progress = lambda _m: None, kind: str = "allure2") -> str:
    """The Allure command line: its variable (FARM_ALLURE, FARM_ALLURE3), farm's cached one, or (Allure 2)
    `allure` on PATH; failing those, farm installs it into its cache (once, from npm). Allure 2 runs
    on Java, Allure 3 on Node alone."""
    generator = GENERATORS[kind]
    found = (
        os.environ.get(generator.variable, ""),
        str(cached_generator(kind)),
        (shutil.which("allure") or "") if kind == "allure2" else "",
    )
    for candidate in found:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    missing = {tool: package for tool, package in generator.needs.items() if shutil.which(tool) is None}
    if missing:
        raise ReportToolError(
            f"the Allure report needs {' and '.join(missing)}, which farm cannot find; install them "
            f"(Debian, as root: `apt-get install {' '.join(missing.values())}`), or set {generator.variable} to an Allure command line"
            + ("; without Java, `--generator allure3` needs only npm" if "java" in missing and "npm" not in missing else "")
        )
    return install_generator(progress, kind)


def install_generator(progress: Progress, kind: str = "allure2") -> str:
    """The generator's npm package into farm's cache, in a temporary folder first so an
    interrupted install leaves nothing that looks installed."""
    package = GENERATORS[kind].package
    target = cached_generator(kind).parents[2]
    target.parent.mkdir(parents=True, exist_ok=True)
    progress(f"installing {package} into {target} (once)")
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        command = ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(staging), package]
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ReportToolError(f"npm could not install {package} (exit {proc.returncode}): {last[0]}")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(cached_generator(kind))


def allure_results_in(folder: Path) -> Path:
    """Accept a run folder (with allure-results/ inside) or an allure-results folder itself."""
    if not folder.exists():
        raise ReportError(f"results folder {folder} does not exist")
    inner = RunFolder(folder).allure_results
    results = inner if inner.is_dir() else folder
    if not results.is_dir() or not any(results.iterdir()):
        raise ReportError(f"results folder {folder} is empty; run `farm test` first")
    if not any(results.glob("*-result.json")):
        raise ReportError(f"{folder} holds no Allure results (*-result.json); give a farm run folder or an allure-results folder")
    return results


def latest_run(reports_dir: Path) -> Path:
    runs = ReportsFolder(reports_dir).runs()
    if not runs:
        raise ReportError(f"no runs under {reports_dir}; run `farm test` first or name a results folder")
    return runs[-1].path


def write_run_files(results: Path, summary: Mapping[str, Any], grid: Mapping[str, Any], base_url: str) -> None:
    """A run's own environment, executor and categories, written next to its results."""
    results.mkdir(parents=True, exist_ok=True)
    (results / "environment.properties").write_text(
        to_properties(environment_for_run(summary, grid, __version__, base_url)), encoding="utf-8"
    )
    (results / "executor.json").write_text(json.dumps(executor_from_env(os.environ, socket.gethostname())), encoding="utf-8")
    (results / "categories.json").write_text(json.dumps(CATEGORIES, indent=1), encoding="utf-8")
    for result in not_run_results(summary.get("not_run_cells", []), int(time.time() * 1000)):
        (results / f"{result['uuid']}-result.json").write_text(json.dumps(result), encoding="utf-8")
    flaky, no_browser = set(summary.get("flaky") or []), set(summary.get("no_browser") or [])
    if flaky or no_browser:  # one pass over the result files for both
        rewrite_results(results, lambda loaded: [*flag_flaky(loaded, flaky), *relabel_no_browser(loaded, no_browser)])


def rewrite_results(results: Path, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    """Apply `change` to the run's Allure results and write back, in place, those it returns."""
    loaded = {}
    for path in results.glob("*-result.json"):
        with contextlib.suppress(OSError, ValueError):
            loaded[path] = json.loads(path.read_text(encoding="utf-8"))
    changed = {id(result) for result in change(list(loaded.values()))}
    for path, result in loaded.items():
        if id(result) in changed:
            path.write_text(json.dumps(result), encoding="utf-8")


def _job_name(results: Path, taken: set[str]) -> str:
    base = results.parent.name if results == RunFolder(results.parent).allure_results else results.name
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


def stage(folders: list[Path], staging: Path, trend: Path | None) -> None:
    """Copy every job's results into one folder with merged environment and executor files."""
    staging.mkdir(parents=True)
    environments: list[tuple[str, dict[str, str]]] = []
    executors: list[tuple[str, dict[str, Any]]] = []
    taken: set[str] = set()
    for results in folders:
        job = _job_name(results, taken)
        for item in results.iterdir():
            if item.is_file() and item.name not in FIXED_FILES:
                shutil.copy2(item, staging / item.name)  # result and attachment names are uuids: no clashes
        env_file, executor_file = results / "environment.properties", results / "executor.json"
        environments.append((job, from_properties(env_file.read_text(encoding="utf-8")) if env_file.exists() else {}))
        if executor_file.exists():
            with contextlib.suppress(ValueError):
                executors.append((job, json.loads(executor_file.read_text(encoding="utf-8"))))
    env = merge_environments(environments) if len(environments) > 1 else dict(environments[0][1])
    if len(executors) > 1:
        env.update(executors_as_environment(executors))
    (staging / "environment.properties").write_text(to_properties(env), encoding="utf-8")
    if executors:
        executor = dict(executors[0][1])
        if len(executors) > 1:
            executor["buildName"] = f"{executor.get('buildName', '')} (+{len(executors) - 1} more jobs)".strip()
        (staging / "executor.json").write_text(json.dumps(executor), encoding="utf-8")
    (staging / "categories.json").write_text(json.dumps(CATEGORIES, indent=1), encoding="utf-8")
    if trend is not None and trend.is_dir():
        shutil.copytree(trend, staging / "history")  # Allure reads its trend data from results/history


def generate(
    folders: list[Path],
    output: Path,
    trend: Path | None,
    single_file: bool = False,
    progress: Progress = lambda _m: None,
    kind: str = "allure2",
) -> Path:
    """Stage, run Allure, then swap the new report in; on any failure the old report stays.
    `trend`: Allure 2's history folder, or Allure 3's history file (which Allure 3 extends)."""
    results = [allure_results_in(folder) for folder in folders]
    generator = find_generator(progress, kind)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=".farm-report-", dir=output.parent))
    except OSError as exc:
        raise ReportError(f"output folder {output} is not writable ({exc.strerror}); choose another with --output") from exc
    try:
        stage(results, workdir / "results", trend if kind == "allure2" else None)
        progress(f"generating the Allure report from {len(results)} result folder(s)")
        if kind == "allure3":
            command = allure3_command(generator, workdir, trend, single_file)
        else:
            command = [generator, "generate", str(workdir / "results"), "-o", str(workdir / "report"), "--clean"]
            if single_file:
                command.append("--single-file")
        # Allure 2 adds Google Analytics (a script from the internet) to index.html unless told not to:
        # the report must open offline and tell no one it was opened.
        proc = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "ALLURE_NO_ANALYTICS": "true"})
        if proc.returncode != 0 or not (workdir / "report" / "index.html").exists():
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ReportToolError(f"Allure could not generate the report (exit {proc.returncode}): {last[0]}")
        if kind == "allure3":
            index = workdir / "report" / "index.html"
            index.write_text(ANALYTICS.sub("", index.read_text(encoding="utf-8")), encoding="utf-8")
        elif not single_file:  # a single-file report keeps its data inside index.html; Allure 3 has its environments
            write_matrix_page(workdir / "report")
        _swap_in(workdir / "report", output)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return output


def allure3_command(generator: str, workdir: Path, history: Path | None, single_file: bool) -> list[str]:
    """Allure 3 on the staged results: each browser an environment, one test per browser's results."""
    results, browsers = workdir / "results", set()

    def as_environments(loaded: list[dict[str, Any]]) -> list[dict[str, Any]]:
        changed = [as_one_test_per_browser(result) for result in loaded]
        browsers.update(label["value"] for result in changed for label in result.get("labels", []) if label.get("name") == "browser")
        return changed

    rewrite_results(results, as_environments)
    config = workdir / "allurerc.mjs"
    history = history or workdir / "history.jsonl"
    history.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(allure3_config(sorted(browsers), str(workdir / "report"), str(history), single_file), encoding="utf-8")
    return [generator, "generate", str(results), "--config", str(config)]


def write_matrix_page(report: Path) -> None:
    """farm's glance view beside the Allure report: test by browser, linked to each result."""
    cases = []
    for path in (report / "data" / "test-cases").glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            cases.append(json.loads(path.read_text(encoding="utf-8")))
    (report / MATRIX_PAGE).write_text(matrix_page(cases), encoding="utf-8")


def _swap_in(new: Path, output: Path) -> None:
    old = output.with_name(output.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    try:
        if output.exists():
            output.rename(old)
        new.rename(output)
    except OSError as exc:
        if old.exists() and not output.exists():
            old.rename(output)
        raise ReportError(f"output folder {output} is not writable ({exc.strerror}); the previous report is unchanged") from exc
    shutil.rmtree(old, ignore_errors=True)


def keep_trend(report: Path, trend: Path) -> None:
    """Save the report's trend data (Allure's `history` folder) for the next report to carry on."""
    source = report / "history"
    if not source.is_dir():
        return
    tmp = trend.with_name(trend.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    shutil.rmtree(trend, ignore_errors=True)
    tmp.rename(trend)


def build(
    folders: list[Path],
    output: Path,
    reports_dir: Path,
    trend: Path | None = None,
    single_file: bool = False,
    progress: Progress = lambda _m: None,
    kind: str = "allure2",
) -> Path:
    """`farm report`: generate from `folders` carrying Allure's trend from `trend` (default: the last
    report's). Allure 3 keeps its history in one file, `history.jsonl` in `trend`, which it extends."""
    if kind == "allure3":
        generate(folders, output, trend / "history.jsonl" if trend else ReportsFolder(reports_dir).trend3, single_file, progress, kind)
        return output
    kept = ReportsFolder(reports_dir).trend
    generate(folders, output, trend or kept, single_file, progress)
    keep_trend(output, kept)
    return output


def quality_gate(folders: list[Path], minimum: float) -> list[str]:
    """The browsers under `minimum` percent passed over the folders' summaries (not-run cells count
    as not passed), said one by one; [] when every browser clears it."""
    summaries = []
    for folder in folders:
        with contextlib.suppress(OSError, ValueError):
            summaries.append(json.loads(RunFolder(folder).summary.read_text(encoding="utf-8")))
    return below_gate(pass_rates(summaries), minimum)


def serve_until_interrupted(report: Path, announce: Callable[[str], None]) -> None:
    """`--open`: serve the report on 127.0.0.1 (Allure's pages need HTTP) until Ctrl-C."""
    import time
    import webbrowser

    from farm.infra.appserver import serve

    with serve(report, "127.0.0.1") as port:
        url = f"http://127.0.0.1:{port}/"
        announce(f"serving the report at {url} (Ctrl-C to stop)")
        if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
            webbrowser.open(url)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
