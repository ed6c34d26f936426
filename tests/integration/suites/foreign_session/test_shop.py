import pytest
from selenium.webdriver.common.by import By


@pytest.mark.smoke
def test_title(driver, base_url):
    driver.get(base_url)
    assert driver.title == "Shop"


def test_buy(driver, base_url):
    driver.get(base_url)
    driver.find_element(By.ID, "buy").click()
    assert driver.find_element(By.ID, "cart").text == "1 item"


def test_headed_window(driver, browser_name):
    # headed: Chrome's user agent says HeadlessChrome only when headless
    assert "Headless" not in driver.execute_script("return navigator.userAgent")
    assert driver.get_window_size()["width"] == 1024


def test_cart_is_empty_fails_on_purpose(driver, base_url):
    driver.get(base_url)
    assert driver.find_element(By.ID, "cart").text == "full"


@pytest.mark.slow
def test_slow_deselected_after_double_dash(driver):
    raise AssertionError("deselected with -m 'not slow'")
