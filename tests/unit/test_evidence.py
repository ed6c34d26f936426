"""Console entries as Chrome and Firefox send them over BiDi, and what a recording is keyed on."""

from __future__ import annotations

import pytest

from farm.core.config import load_config
from farm.core.errors import ConfigError
from farm.core.results import CellState
from farm.plugin.worker.console import as_text, counts, entry_from, entry_from_cdp
from farm.plugin.worker.recording import profile_marker

# log.entryAdded params as the farm's Chrome 156 and Firefox 153 sent them (trimmed)
CHROME_CONSOLE = {
    "args": [{"type": "string", "value": "boom"}, {"type": "number", "value": 42}],
    "level": "error",
    "method": "error",
    "source": {"context": "E5B2"},
    "stackTrace": {"callFrames": [{"columnNumber": 9, "functionName": "", "lineNumber": 11, "url": "http://farm-host:8000/index.html"}]},
    "text": "boom 42",
    "timestamp": 1795862959490,
    "type": "console",
}
FIREFOX_UNCAUGHT = {
    "type": "javascript",
    "level": "error",
    "source": {"realm": "5b06", "context": "58b7"},
    "text": "Error: kaboom",
    "timestamp": 1795862959495,
    "stackTrace": {"callFrames": [{"columnNumber": 57, "functionName": "", "lineNumber": 0, "url": ""}]},
}


def test_console_calls_and_uncaught_errors_are_told_apart():
    console, uncaught = entry_from(CHROME_CONSOLE, 10.0), entry_from(FIREFOX_UNCAUGHT, 11.0)
    assert (console.kind, console.level, console.text, console.where) == (
        "console",
        "error",
        "boom 42",
        "http://farm-host:8000/index.html:12",
    )
    assert console.console_error and not console.uncaught
    assert uncaught.uncaught and not uncaught.console_error and uncaught.where == ""
    info = entry_from({"type": "console", "level": "info", "args": [{"type": "string", "value": "hi"}, {"type": "undefined"}]}, 12.0)
    assert info.text == "hi undefined" and not info.console_error
    assert counts([console, uncaught, info]) == {"js_errors": 1, "console_errors": 1}


# Runtime events as Chrome 156 sends them on its CDP socket (trimmed)
CDP_CONSOLE = {
    "type": "error",
    "args": [
        {"type": "string", "value": "boom"},
        {"type": "number", "value": 42, "description": "42"},
        {"type": "object", "description": "Object"},
    ],
    "executionContextId": 1,
    "timestamp": 1795863054383.1,
    "stackTrace": {"callFrames": [{"functionName": "", "url": "http://farm-host:8000/index.html", "lineNumber": 9, "columnNumber": 10}]},
}
CDP_EXCEPTION = {
    "timestamp": 1795863054405.2,
    "exceptionDetails": {
        "exceptionId": 1,
        "text": "Uncaught",
        "lineNumber": 10,
        "columnNumber": 33,
        "url": "http://farm-host:8000/index.html",
        "exception": {
            "type": "object",
            "subtype": "error",
            "className": "Error",
            "description": "Error: kaboom\n    at http://farm-host:8000/index.html:11:33",
        },
    },
}


def test_chromes_cdp_events_read_as_the_same_entries_as_bidi():
    console = entry_from_cdp("Runtime.consoleAPICalled", CDP_CONSOLE, 1.0)
    assert console is not None and console.console_error
    assert (console.text, console.method, console.where) == ("boom 42 Object", "error", "http://farm-host:8000/index.html:10")
    uncaught = entry_from_cdp("Runtime.exceptionThrown", CDP_EXCEPTION, 2.0)
    assert uncaught is not None and uncaught.uncaught
    assert (uncaught.text, uncaught.where) == ("Error: kaboom", "http://farm-host:8000/index.html:11")
    warning = entry_from_cdp("Runtime.consoleAPICalled", {"type": "warning", "args": [{"type": "string", "value": "w"}]}, 3.0)
    assert warning is not None and (warning.level, warning.method, warning.console_error) == ("warn", "warn", False)
    assert entry_from_cdp("Runtime.executionContextCreated", {}, 4.0) is None
    assert counts([console, uncaught, warning]) == {"js_errors": 1, "console_errors": 1}


def test_console_text_names_each_entry():
    text = as_text([entry_from(CHROME_CONSOLE, 0.0), entry_from(FIREFOX_UNCAUGHT, 1.0)])
    lines = text.splitlines()
    assert "console.error: boom 42  (http://farm-host:8000/index.html:12)" in lines[0]
    assert lines[1].endswith("uncaught: Error: kaboom")


def test_recordings_find_the_session_by_its_profile_folder():
    assert (
        profile_marker({"chrome": {"userDataDir": "/tmp/org.chromium.Chromium.scoped_dir.Oap"}})
        == "/tmp/org.chromium.Chromium.scoped_dir.Oap"
    )
    assert profile_marker({"moz:profile": "/tmp/rust_mozprofileHdYa67"}) == "/tmp/rust_mozprofileHdYa67"
    assert profile_marker({"msedge": {"userDataDir": "/tmp/edge"}}) == "/tmp/edge"
    assert profile_marker({"browserName": "chrome"}) == ""


def test_video_mode_is_checked(tmp_path):
    assert load_config(tmp_path, environ={}).video == "off"
    assert load_config(tmp_path, environ={"FARM_VIDEO": "failed"}).video == "failed"
    with pytest.raises(ConfigError, match="video: 'sometimes' must be one of off, failed, all"):
        load_config(tmp_path, environ={}, video="sometimes")


def test_a_cells_console_counts_and_videos_come_from_its_last_attempt():
    state = CellState()
    failed_attempt = {
        "farm": {"start": 1.0, "js_errors": 2, "console_errors": 1, "videos": ["v/a.webm"]},
        "farm_failure": {"kind": "product"},
    }
    assert not state.add("call", "rerun", 1.0, failed_attempt)
    assert not state.add("teardown", "passed", 0.1, failed_attempt)
    assert state.add("teardown", "passed", 0.1, {"farm": {"start": 3.0, "js_errors": 0, "console_errors": 0}})
    result = state.result("t[chrome]")
    assert (result.js_errors, result.console_errors, result.videos, result.attempts) == (0, 0, [], 2)
