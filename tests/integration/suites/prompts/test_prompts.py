"""Prompts opened by clicks, read and answered the way plain Selenium does on every browser."""

import pytest
from selenium.common.exceptions import UnexpectedAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait


def open_prompt(driver, button):
    driver.find_element(By.ID, button).click()
    return WebDriverWait(driver, 5).until(EC.alert_is_present())


def result(driver):
    return driver.find_element(By.ID, "result").text


@pytest.mark.parametrize("answer, expected", [("accept", "accepted"), ("dismiss", "dismissed")])
def test_confirm(page, answer, expected):
    prompt = open_prompt(page, "confirm")
    assert prompt.text == "Delete it?"
    getattr(prompt, answer)()
    assert result(page) == expected


def test_alert(page):
    prompt = open_prompt(page, "alert")
    assert prompt.text == "Saved"
    prompt.accept()
    assert result(page) == "alerted"


def test_prompt_takes_text(page):
    prompt = open_prompt(page, "prompt")
    prompt.send_keys("Ada")
    prompt.accept()
    assert result(page) == "Hello Ada"


def test_an_unanswered_prompt_is_dismissed_and_reported(page):
    """WebDriver's default handler ("dismiss and notify"): the next command fails and the prompt is gone."""
    assert page.capabilities["unhandledPromptBehavior"] == "dismiss and notify"
    page.find_element(By.ID, "confirm").click()
    with pytest.raises(UnexpectedAlertPresentException):
        result(page)
    assert result(page) == "dismissed"


def test_farms_own_driver_reads_a_confirm(driver, base_url):
    driver.get(base_url)
    prompt = open_prompt(driver, "confirm")
    assert prompt.text == "Delete it?"
    prompt.accept()
    assert result(driver) == "accepted"
