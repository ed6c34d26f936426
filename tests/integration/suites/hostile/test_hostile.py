"""Test ids that try to be HTML, paths or odd text; run by the farm's own integration tests."""

import pytest

NAMES = ["<img src=x onerror=alert(1)>", "../../outside/escape", "quote\"s' and \\back", "ünïcödé ☃ title"]


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_hostile_name(driver, base_url, name):
    driver.get(base_url)
    driver.execute_script("document.title = arguments[0]", name)
    assert driver.title == "never this"
