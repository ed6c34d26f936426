"""A command that meets an open prompt, in a session whose prompts farm keeps open: what the
suite's handler does in a classic session (WebDriver's user prompt handlers)."""

from __future__ import annotations

import pytest
from selenium.common.exceptions import NoAlertPresentException, UnexpectedAlertPresentException
from selenium.webdriver.remote.command import Command

from farm.plugin.worker.prompts import meet_prompt


class Session:
    def __init__(self, fails_to_answer: bool = False) -> None:
        self.sent: list[str] = []
        self.fails_to_answer = fails_to_answer

    def send(self, command: str) -> dict:
        self.sent.append(command)
        if self.fails_to_answer:
            raise NoAlertPresentException("the page closed it meanwhile")
        return {}

    def again(self) -> dict:
        self.sent.append("again")
        return {"value": "the command's answer"}


@pytest.mark.parametrize(
    "handler, answer", [("dismiss and notify", Command.W3C_DISMISS_ALERT), ("accept and notify", Command.W3C_ACCEPT_ALERT)]
)
def test_notify_handlers_answer_then_raise(handler, answer):
    session, error = Session(), UnexpectedAlertPresentException("open prompt", alert_text="Delete it?")
    with pytest.raises(UnexpectedAlertPresentException) as raised:
        meet_prompt(handler, error, session.send, session.again)
    assert raised.value is error and session.sent == [answer]


@pytest.mark.parametrize("handler, answer", [("dismiss", Command.W3C_DISMISS_ALERT), ("accept", Command.W3C_ACCEPT_ALERT)])
def test_silent_handlers_answer_then_send_the_command_again(handler, answer):
    session = Session()
    assert meet_prompt(handler, UnexpectedAlertPresentException("open"), session.send, session.again) == {"value": "the command's answer"}
    assert session.sent == [answer, "again"]


def test_ignore_leaves_the_prompt_and_raises():
    session = Session()
    with pytest.raises(UnexpectedAlertPresentException):
        meet_prompt("ignore", UnexpectedAlertPresentException("open"), session.send, session.again)
    assert session.sent == []


def test_a_prompt_gone_meanwhile_still_gives_the_handlers_outcome():
    session = Session(fails_to_answer=True)
    assert meet_prompt("accept", UnexpectedAlertPresentException("open"), session.send, session.again)["value"]
    with pytest.raises(UnexpectedAlertPresentException):
        meet_prompt("dismiss and notify", UnexpectedAlertPresentException("open"), session.send, session.again)
