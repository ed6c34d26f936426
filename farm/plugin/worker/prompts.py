"""User prompts as a session without a BiDi socket handles them, in the Firefox sessions farm gives one.

Farm reads a Firefox page's console over WebDriver BiDi, so it asks every Firefox session for
`webSocketUrl`. With that socket Firefox applies the session's user prompt handler the moment a prompt
opens: a `confirm()` opened by a click is dismissed before `switch_to.alert` can read it, and the
page goes on as if the user said no (measured on Firefox 153: classic, the alert is there; with the
socket, `NoAlertPresentException` and the page says "dismissed"). So farm asks for the handler
"ignore" (the prompt stays open, as in a classic session) and, when a command meets the open prompt,
does what the handler the suite asked for (WebDriver's default "dismiss and notify" unless it named
one) does in a classic session: dismiss or accept it, then raise or carry on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from selenium.common.exceptions import UnexpectedAlertPresentException, WebDriverException
from selenium.webdriver.remote.command import Command

ANSWERS = {"dismiss": Command.W3C_DISMISS_ALERT, "accept": Command.W3C_ACCEPT_ALERT}


def meet_prompt(handler: str, error: UnexpectedAlertPresentException, send: Callable[[str], Any], again: Callable[[], Any]) -> Any:
    """A command met an open prompt (`error`): answer it as `handler` says, then raise (the
    "... and notify" handlers) or send the command again (plain "dismiss" and "accept")."""
    action, _, notify = handler.partition(" and ")
    if action not in ANSWERS:
        raise error  # "ignore": the prompt stays, the command fails, as the suite asked
    with contextlib.suppress(WebDriverException):  # the page may have closed it meanwhile
        send(ANSWERS[action])
    if notify:
        raise error
    return again()
