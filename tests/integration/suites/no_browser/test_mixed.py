"""A suite's helpers tested beside its browser tests: two tests never open a browser."""

import logging


def parse_version(text):
    return tuple(int(part) for part in text.split("."))


def test_version_parsing():
    assert parse_version("4.51.0") > parse_version("4.9.10")


def test_log_helper(caplog):
    logging.getLogger("shop").warning("cart empty")
    assert "cart empty" in caplog.text


def test_the_home_page(driver):
    driver.get("data:text/html,<title>home</title>")
    assert driver.title == "home"
