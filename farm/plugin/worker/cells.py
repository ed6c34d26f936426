"""An xdist worker in farm mode (or a plain pytest run with --farm-browsers): the cells it runs.

* Every WebDriver session is watched (farm.plugin.worker.sessions): a session of another browser
  fails its cell as `identity`; the Grid's browser, version and node are recorded per cell; local
  browsers become Grid sessions; a failed or broken cell gets a screenshot and page source from
  whatever session it used.
* Failures are classified by type and phase (farm.core.failures), and the class is written into
  the report's text, where Allure's categories find it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import allure
import pytest
from selenium import webdriver

from farm.core.failures import classify, is_session_lost, marker
from farm.core.runfolder import append_line
from farm.plugin.idle import IdleItem
from farm.plugin.matrix import cell_of
from farm.plugin.worker.console import as_text, counts
from farm.plugin.worker.file_pages import FilePages, suite_folders
from farm.plugin.worker.recording import Recorder, Recording
from farm.plugin.worker.sessions import SessionWatch

if TYPE_CHECKING:
    from farm.plugin.matrix import MatrixPlugin

CELL_KEY = pytest.StashKey[dict[str, Any]]()
LOST_KEY = pytest.StashKey[bool]()


class CellTimeout(Exception):
    """The cell ran over `--timeout` (raised by farm's pytest-timeout timer): a hang, not a verdict."""


class PageErrors(AssertionError):
    """(--fail-on-console-error) the page raised uncaught JavaScript errors: the product is wrong."""


def artifact_name(nodeid: str) -> str:
    """A file name for a node id: no path separators or odd characters, unique by a short hash."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid)[-80:].strip("._") or "cell"
    return f"{readable}-{hashlib.sha256(nodeid.encode()).hexdigest()[:8]}"


class WorkerPlugin:
    """The hooks of the process that runs cells: their browser, sessions, evidence and timeouts."""

    def __init__(self, matrix: MatrixPlugin) -> None:
        config = self.config = matrix.config
        self.matrix = matrix
        self.grid_url = matrix.grid_url
        self.run = matrix.run
        self.worker_id = matrix.worker_id
        self.video = str(config.getoption("farm_video"))
        self.fail_on_page_errors = bool(config.getoption("farm_fail_on_console_error"))
        self.recorder = self._recorder(config)
        self.watch = SessionWatch(
            self.grid_url, lambda: matrix.current_browser, self._note_session, self._keep_evidence, matrix.route, self.recorder
        )
        self.watch.files = FilePages(suite_folders(config)) if matrix.route else None
        self.kept_evidence: tuple[bytes, str] | None = None  # from a session quit while the cell was failing
        self.watch.install()
        if not matrix.pytest_selenium:
            from farm.plugin.worker.driver import FarmDriver  # it imports this module's keys

            config.pluginmanager.register(FarmDriver(self), "farm-driver")

    def _recorder(self, config: pytest.Config) -> Recorder | None:
        raw = config.getoption("farm_recorder")
        if self.video == "off" or not raw:
            return None
        where = json.loads(raw)
        return Recorder.connect(where.get("docker_host"), dict(where.get("nodes") or {}))

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.watch.uninstall()
        if self.watch.files is not None:
            self.watch.files.close()
        if self.recorder is not None:
            self.recorder.close()

    def _note_session(self, event: str, record: dict[str, Any]) -> None:
        """The run's ledger: if this worker is killed, `farm test` ends the sessions it left open."""
        if self.run is not None:
            append_line(self.run.sessions, {**record, "event": event, "worker": self.worker_id})

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
        if isinstance(item, IdleItem):
            return True
        cell = cell_of(item)
        worker_browser = self.matrix.worker_browser
        if worker_browser and cell.browser != worker_browser:
            raise RuntimeError(f"farm: {item.nodeid} was sent to a {worker_browser} worker")  # a dispatcher bug
        self.matrix.current_browser = cell.browser
        if not worker_browser:
            os.environ["FARM_BROWSER"] = cell.browser
            self.matrix.tell_suite(cell.browser)
        item.stash[CELL_KEY] = {"test_id": cell.test_id, "browser": cell.browser, "worker": self.worker_id}
        return None

    # timeouts --------------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True, optionalhook=True)  # pytest-timeout's
    def pytest_timeout_set_timer(self, item: pytest.Item, settings: Any) -> bool | None:
        """pytest-timeout's signal timer, raising CellTimeout: a hang is graded by its type, not its words."""
        if settings.method != "signal" or threading.current_thread() is not threading.main_thread():
            return None  # pytest-timeout's own (thread) timer

        def expire(signum: int, frame: object) -> None:
            raise CellTimeout(f"Timeout (>{settings.timeout:g}s): the cell hung and was stopped")

        def cancel() -> None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, signal.SIG_DFL)

        item.cancel_timeout = cancel  # type: ignore[attr-defined]  # pytest-timeout's cancel hook calls it
        signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, settings.timeout)
        return True

    # reports ---------------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
        """Innermost wrapper: the class marker is in the report before allure-pytest reads its text."""
        report: pytest.TestReport = yield
        info = item.stash.setdefault(CELL_KEY, {})
        if call.when == "setup":
            info["start"] = call.start
            self.kept_evidence = None
            for key in ("screenshot", "videos", "failed_now"):
                info.pop(key, None)  # a rerun starts clean; earlier attempts keep theirs in Allure
            item.stash[LOST_KEY] = False
        if report.failed:
            info["failed_now"] = True
        if report.failed and call.excinfo is not None:
            failure = classify(call.excinfo.value, call.when)
            report.user_properties.append(("farm_failure", asdict(failure)))
            if hasattr(report.longrepr, "addsection"):
                report.longrepr.addsection("farm", marker(failure.kind))  # type: ignore[union-attr]
            if is_session_lost(call.excinfo.value):
                item.stash[LOST_KEY] = True
            else:
                self._capture(item, info)
        if call.when == "teardown":
            info["stop"] = call.stop
            used = self.watch.used_between(info.get("start", call.start), call.stop)
            info["sessions"] = [s.summary() for s in used]
            if used:
                info["browser_version"], info["node"] = used[0].version, used[0].node
            info["held"] = len(self.watch.open_sessions())
            info["opened"], self.watch.open_seconds = self.watch.open_seconds, []  # what a new session costs
            problems = self._page_evidence(item, info, info.get("start", call.start), call.stop, bool(info.pop("failed_now", False)))
            if problems:
                report.sections.append(("farm", "WARNING: " + "\nWARNING: ".join(problems)))
            report.user_properties.append(("farm", dict(info)))
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        """--fail-on-console-error: a test body that passed fails if its page threw uncaught errors."""
        result = yield
        if self.fail_on_page_errors:
            start = item.stash.get(CELL_KEY, {}).get("start", 0.0)
            uncaught = [e for e in self.watch.console_between(start, time.time()) if e.uncaught]
            if uncaught:
                raise PageErrors(f"{len(uncaught)} uncaught page error(s): " + "; ".join(e.text for e in uncaught[:3]))
        return result

    def _page_evidence(self, item: pytest.Item, info: dict[str, Any], start: float, stop: float, failed: bool) -> list[str]:
        """The end of an attempt: console counts for every cell, the console text for a failing one,
        and its share of the recordings, kept or deleted by --video. Returns why evidence is missing."""
        entries = self.watch.console_between(start, stop)
        info.update(counts(entries))
        problems, self.watch.problems = self.watch.problems, []
        if failed and entries:
            allure.attach(as_text(entries), name="console", attachment_type=allure.attachment_type.TEXT)
        recordings = self.watch.cut_recordings(start, stop)
        keep = self.video == "all" or (self.video == "failed" and failed)
        for recording in recordings:
            self._keep_video(item, info, recording) if keep else self.recorder.discard(recording)  # type: ignore[union-attr]
            if recording.error:
                problems.append(f"no video for session {recording.session}: {recording.error}")
        return problems if failed or keep else []

    def _keep_video(self, item: pytest.Item, info: dict[str, Any], recording: Recording) -> None:
        if self.run is None or self.recorder is None:
            return
        videos = info.setdefault("videos", [])
        suffix = f"-{len(videos) + 1}" if videos else ""
        path = self.recorder.keep(recording, self.run.videos / f"{artifact_name(item.nodeid)}{suffix}.webm")
        if path is not None:
            allure.attach.file(str(path), name="video", attachment_type=allure.attachment_type.WEBM)
            videos.append(str(path))

    def _keep_evidence(self, session: webdriver.Remote) -> None:
        """A session is quit while an exception propagates: keep what it shows for the cell's report."""
        self.kept_evidence = (session.get_screenshot_as_png(), session.page_source)

    def _capture(self, item: pytest.Item, info: dict[str, Any]) -> None:
        """Screenshot and page source into Allure from the session the cell used (or, if the test quit
        it on its way out, what it showed then); never raises."""
        session = self.watch.live_driver(info.get("start", 0.0))
        kept, self.kept_evidence = self.kept_evidence, None
        if session is None and kept is None:
            return
        try:
            png = session.get_screenshot_as_png() if session is not None else kept[0]  # type: ignore[index]
            allure.attach(png, name="screenshot", attachment_type=allure.attachment_type.PNG)
            if self.run is not None:
                self.run.screenshots.mkdir(parents=True, exist_ok=True)
                path = self.run.screenshots / f"{artifact_name(item.nodeid)}.png"
                path.write_bytes(png)
                info["screenshot"] = str(path)
        except Exception as exc:
            item.add_report_section("call", "farm", f"WARNING: no screenshot: {type(exc).__name__}: {exc}")
        try:
            source = session.page_source if session is not None else kept[1]  # type: ignore[index]
            allure.attach(source, name="page source", attachment_type=allure.attachment_type.HTML)
        except Exception as exc:
            item.add_report_section("call", "farm", f"WARNING: no page source: {type(exc).__name__}: {exc}")
