"""Failure classes come from the exception's type and phase, never from words in a trace (pure logic)."""

from __future__ import annotations

import re

import pytest
from selenium.common.exceptions import (
    InvalidSessionIdException,
    NoSuchElementException,
    SessionNotCreatedException,
    TimeoutException,
    WebDriverException,
)
from urllib3.exceptions import MaxRetryError

from farm.core.failures import RERUN_PATTERN, category_regex, classify, is_session_lost, marker
from farm.plugin.worker.cells import CellTimeout
from farm.plugin.worker.sessions import WrongBrowser


def raised(check) -> BaseException:
    try:
        check()
    except BaseException as exc:
        return exc
    raise AssertionError("nothing raised")


def did_not_raise() -> None:
    with pytest.raises(TimeoutException):
        pass


@pytest.mark.parametrize(
    ("exc", "when", "kind", "status"),
    [
        (AssertionError("title differs"), "call", "product", "failed"),
        (raised(did_not_raise), "call", "product", "failed"),  # a failed pytest.raises: a test failure
        (raised(lambda: pytest.fail("nope")), "call", "product", "failed"),
        (TimeoutException("waited 10 s for #result"), "call", "test", "broken"),  # a wait in the body: not infrastructure
        (NoSuchElementException("no #x"), "call", "test", "broken"),
        (KeyError("FARM_BROWSER"), "setup", "test", "broken"),
        (SessionNotCreatedException("could not start"), "setup", "infrastructure", "broken"),
        (InvalidSessionIdException("gone"), "call", "infrastructure", "broken"),
        (WebDriverException("Unable to execute request for an existing session: timeout"), "call", "infrastructure", "broken"),
        (MaxRetryError(None, "/session", "refused"), "call", "infrastructure", "broken"),
        (CellTimeout("Timeout (>8s)"), "call", "infrastructure", "broken"),
        (WrongBrowser("ran in firefox, labelled chrome"), "setup", "identity", "broken"),
    ],
)
def test_class_and_status_by_type_and_phase(exc, when, kind, status):
    failure = classify(exc, when)
    assert (failure.kind, failure.status, failure.when) == (kind, status, when)
    assert failure.message.startswith(type(exc).__name__)


def test_words_in_a_message_of_another_type_do_not_make_infrastructure():
    # an ordinary Firefox failure mentions Marionette in its text; it is still the test's
    exc = NoSuchElementException("Unable to locate element; Marionette said: invalid session id")
    assert classify(exc, "call").kind == "test" and not is_session_lost(exc)
    assert classify(AssertionError("session not created"), "call").kind == "product"


def test_category_regex_matches_the_marker_only():
    trace = "Traceback ...\nselenium...: Marionette\n---- farm ----\n" + marker("test")
    assert re.match(category_regex("test"), trace)
    assert not re.match(category_regex("infrastructure"), trace)


def test_rerun_pattern_reruns_lost_sessions_not_hangs_or_missing_slots():
    assert re.search(RERUN_PATTERN, "InvalidSessionIdException: Message: invalid session id")
    assert re.search(RERUN_PATTERN, "WebDriverException: Message: Unable to execute request for an existing session")
    assert not re.search(RERUN_PATTERN, "CellTimeout: Timeout (>8s): the cell hung")
    assert not re.search(RERUN_PATTERN, "NoSlotLeft: Message: no chrome slot left on the grid")
    assert not re.search(RERUN_PATTERN, "AssertionError: assert 1 == 2")
