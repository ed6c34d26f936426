"""What `farm test` was asked for, and the pytest arguments that follow from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from farm.core.config import FarmConfig
from farm.core.errors import UsageError
from farm.core.failures import RERUN_PATTERN
from farm.core.runfolder import ReportsFolder, RunFolder


@dataclass
class TestOptions:
    paths: list[str] = field(default_factory=list)  # none: pytest's own rules (testpaths, else the current folder)
    keyword: str | None = None
    markexpr: str | None = None
    grid_url: str | None = None
    results_dir: str | None = None
    reruns: int = 0
    timeout: float | None = None
    shard: tuple[int, int] | None = None
    base_url: str | None = None
    app_dir: str | None = None
    workers: int | None = None  # at most this many cells at once, all browsers together (1: one at a time)
    browser_option: str | None = None  # the suite's own browser option; None: the config's `browser_option`
    pytest_args: list[str] = field(default_factory=list)  # after `--`: to pytest unchanged
    failed_first: bool = False  # cells that failed in the previous run go first
    video: str | None = None  # off | failed | all; None: the config's `video`
    isolation: str | None = None  # session | context; None: the config's `isolation`
    fail_on_console_error: bool = False  # a cell whose page threw uncaught errors fails

    # `farm test` flags that map onto these fields one to one
    FLAGS: ClassVar[tuple[str, ...]] = (
        "keyword",
        "markexpr",
        "grid_url",
        "results_dir",
        "reruns",
        "timeout",
        "base_url",
        "app_dir",
        "browser_option",
        "workers",
        "failed_first",
        "video",
        "fail_on_console_error",
        "isolation",
    )


def new_results_dir(config: FarmConfig, requested: str | None) -> Path:
    if requested:
        path = Path(requested)
        if path.exists() and any(path.iterdir()):
            raise UsageError(f"results folder {path} is not empty; pass a new or empty --results-dir")
    else:
        path = ReportsFolder(Path(config.reports_dir)).new_run(f"{datetime.now():%Y%m%d-%H%M%S}").path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create results folder {path}: {exc.strerror}") from exc
    return path


def farm_options(options: TestOptions, browsers: tuple[str, ...], grid_url: str, base_url: str) -> list[str]:
    """What farm adds to the user's pytest arguments, for collection and run alike."""
    args = ["--farm-browsers", ",".join(browsers), "--farm-grid-url", grid_url, "--farm-base-url", base_url]
    if options.fail_on_console_error:
        args.append("--farm-fail-on-console-error")
    if options.browser_option:
        args.append(f"--farm-browser-option={options.browser_option}")  # one word: its value starts with --
    if options.isolation and options.isolation != "session":
        args += ["--farm-isolation", options.isolation]
    if options.keyword:
        args += ["-k", options.keyword]
    if options.markexpr:
        args += ["-m", options.markexpr]
    return args


def result_options(options: TestOptions, run: RunFolder) -> list[str]:
    """Where results go, and the per-test timeout and reruns."""
    extra = ["--alluredir", str(run.allure_results), "--junitxml", str(run.junit)]
    if options.timeout:
        # pytest-timeout arms its timer once per protocol, and rerunfailures runs the attempts
        # inside it: time each call instead, or a rerun would have no timeout at all.
        extra += ["--timeout", str(options.timeout), "-o", "timeout_func_only=true"]
    if options.reruns:
        extra += ["--reruns", str(options.reruns)]
    else:
        # A cell whose node or browser was lost runs once more, on a slot that is still there.
        extra += ["--reruns", "1", "--only-rerun", RERUN_PATTERN]
    return extra
