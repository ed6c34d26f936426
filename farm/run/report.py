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
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from farm import __version__
from farm.core.errors import ReportError, ReportToolError
from farm.core.matrix_page import matrix_page
from farm.core.progress import Progress
from farm.core.report_files import (
    CATEGORIES,
    environment_for_run,
    executor_from_env,
    executors_as_environment,
    flag_flaky,
    from_properties,
    merge_environments,
    not_run_results,
    relabel_no_browser,
    to_properties,
)
from farm.core.runfolder import ReportsFolder, RunFolder
from farm.infra.images import cache_dir

ALLURE_VERSION = "2.46.1"
GENERATOR_NEEDS = {"npm": "npm", "java": "default-jre-headless"}  # tool -> the Debian package that brings it
FIXED_FILES = ("environment.properties", "executor.json", "categories.json")


MATRIX_PAGE = "matrix.html"


def cached_generator() -> Path:
    return cache_dir() / f"allure-{ALLURE_VERSION}" / "node_modules" / ".bin" / "allure"


def find_generator(progress: Progress = lambda _m: None) -> str:
    """The Allure command line: FARM_ALLURE, farm's cached one, or `allure` on PATH; failing those,
    farm installs allure-commandline into its cache (once, from npm). Allure 2 runs on Java."""
    for candidate in (os.environ.get("FARM_ALLURE", ""), str(cached_generator()), shutil.which("allure") or ""):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    missing = {tool: package for tool, package in GENERATOR_NEEDS.items() if shutil.which(tool) is None}
    if missing:
        raise ReportToolError(
            f"the Allure report needs {' and '.join(missing)}, which farm cannot find; install them "
            f"(Debian, as root: `apt-get install {' '.join(missing.values())}`), or set FARM_ALLURE to an Allure command line"
        )
    return install_generator(progress)


def install_generator(progress: Progress) -> str:
    """allure-commandline@ALLURE_VERSION into farm's cache, in a temporary folder first so an
    interrupted install leaves nothing that looks installed."""
    target = cached_generator().parents[2]
    progress(f"installing allure-commandline@{ALLURE_VERSION} into {target} (once)")
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        package = f"allure-commandline@{ALLURE_VERSION}"
        command = ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(staging), package]
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ReportToolError(f"npm could not install allure-commandline@{ALLURE_VERSION} (exit {proc.returncode}): {last[0]}")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(cached_generator())


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
    if summary.get("flaky"):
        rewrite_results(results, lambda loaded: flag_flaky(loaded, set(summary["flaky"])))
    if summary.get("no_browser"):
        rewrite_results(results, lambda loaded: relabel_no_browser(loaded, set(summary["no_browser"])))


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
    folders: list[Path], output: Path, trend: Path | None, single_file: bool = False, progress: Progress = lambda _m: None
) -> Path:
    """Stage, run Allure, then swap the new report in; on any failure the old report stays."""
    results = [allure_results_in(folder) for folder in folders]
    generator = find_generator(progress)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=".farm-report-", dir=output.parent))
    except OSError as exc:
        raise ReportError(f"output folder {output} is not writable ({exc.strerror}); choose another with --output") from exc
    try:
        stage(results, workdir / "results", trend)
        progress(f"generating the Allure report from {len(results)} result folder(s)")
        command = [generator, "generate", str(workdir / "results"), "-o", str(workdir / "report"), "--clean"]
        if single_file:
            command.append("--single-file")
        # Allure 2 adds Google Analytics (a script from the internet) to index.html unless told not to:
        # the report must open offline and tell no one it was opened.
        proc = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "ALLURE_NO_ANALYTICS": "true"})
        if proc.returncode != 0 or not (workdir / "report" / "index.html").exists():
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ReportToolError(f"Allure could not generate the report (exit {proc.returncode}): {last[0]}")
        if not single_file:  # a single-file report keeps its data inside index.html
            write_matrix_page(workdir / "report")
        _swap_in(workdir / "report", output)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return output


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
) -> Path:
    """`farm report`: generate from `folders` carrying Allure's trend from `trend` (default: the last report's)."""
    kept = ReportsFolder(reports_dir).trend
    generate(folders, output, trend or kept, single_file, progress)
    keep_trend(output, kept)
    return output


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
