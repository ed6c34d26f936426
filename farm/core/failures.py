"""What kind of failure a cell had, from the exception's type and the phase it was raised in.

One rule for the summary, the terminal and the Allure categories, so they agree on every cell:

* status follows allure-pytest exactly: `failed` for AssertionError and pytest's `Failed`
  (`pytest.fail`, a `pytest.raises` that did not raise), `broken` for any other exception;
* kind says whose fault it is: `product` (a failed check), `test` (the test or its fixtures broke),
  `infrastructure` (the Grid, a node or a browser failed the cell), `identity` (the cell's session
  was not the browser its label names).

Types are matched by name along the exception's MRO, so this module imports neither selenium nor
urllib3 (a suite may pin an old selenium; this stays pure). Words are read only from the message of
a generic WebDriverException, which is the Grid's own error text for a lost session, never from a
stack trace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# allure-pytest grades these as failed, every other exception as broken.
FAILED_TYPES = ("AssertionError", "Failed", "DocTestFailure")
# The Grid, its connection or the browser could not serve the cell, in whatever phase.
INFRASTRUCTURE_TYPES = (
    "SessionNotCreatedException",
    "InvalidSessionIdException",
    "NoSlotLeft",
    "CellTimeout",
    "MaxRetryError",
    "NewConnectionError",
    "ProtocolError",
    "RemoteDisconnected",
)
IDENTITY_TYPES = ("WrongBrowser",)
# What the Grid answers (in a plain WebDriverException) when the session's node or browser is gone.
SESSION_LOST_MESSAGES = (
    "unable to execute request for an existing session",
    "timeout when executing request",
    "invalid session id",
    "no such session",
    "browser has closed",
    "chrome not reachable",
    "tab crashed",
    "failed to decode response from marionette",
)
# The marker farm adds to a failed report's text; Allure's categories match it (traceRegex).
MARKER = "farm failure class: {kind}"


@dataclass(frozen=True)
class Failure:
    kind: str
    status: str
    message: str
    when: str


def type_names(exc: BaseException) -> list[str]:
    return [cls.__name__ for cls in type(exc).__mro__]


def is_session_lost(exc: BaseException) -> bool:
    """The browser or its node is gone: nothing more should be asked of that session."""
    if "InvalidSessionIdException" in type_names(exc):
        return True
    if type(exc).__name__ != "WebDriverException":  # the Grid's generic "unknown error", nothing more specific
        return False
    message = str(getattr(exc, "msg", None) or exc).lower()
    return any(marker in message for marker in SESSION_LOST_MESSAGES)


def is_infrastructure(exc: BaseException) -> bool:
    names = type_names(exc)
    return any(name in names for name in INFRASTRUCTURE_TYPES) or is_session_lost(exc)


def classify(exc: BaseException, when: str) -> Failure:
    """The failure of one phase of a cell."""
    names = type_names(exc)
    status = "failed" if any(name in names for name in FAILED_TYPES) else "broken"
    if any(name in names for name in IDENTITY_TYPES):
        kind = "identity"
    elif is_infrastructure(exc):
        kind = "infrastructure"
    elif status == "failed":
        kind = "product"
    else:
        kind = "test"
    if kind in ("identity", "infrastructure"):
        status = "broken"  # never a verdict on the product; allure agrees (these are not AssertionErrors)
    return Failure(kind, status, f"{type(exc).__name__}: {exc}"[:500], when)


def marker(kind: str) -> str:
    return MARKER.format(kind=kind)


def category_regex(kind: str) -> str:
    """Allure's traceRegex for one kind (the trace holds farm's marker section)."""
    return r"(?s).*" + re.escape(marker(kind)) + r".*"


# pytest-rerunfailures' --only-rerun (it matches "Type: message" along the exception chain): a cell
# whose session, node or Grid connection was lost runs once more, on a slot that still exists. Not
# a hang (CellTimeout: it would only hang again), not a cell refused for want of a slot (NoSlotLeft).
RERUN_PATTERN = "(?i)" + "|".join(
    [re.escape(name) for name in INFRASTRUCTURE_TYPES if name not in ("CellTimeout", "NoSlotLeft")]
    + [re.escape(message) for message in SESSION_LOST_MESSAGES]
)
