"""A checkout whose total is wrong on one browser only (the report's reader compares the two)."""

from selenium.webdriver.common.by import By

TOTAL = "navigator.userAgent.includes('Firefox') ? '9.90' : '10.00'"  # the bug: a rounding only one browser does
PAGE = f"data:text/html,<title>Checkout</title><p id=total></p><script>document.getElementById('total').textContent = {TOTAL}</script>"


def test_total(driver):
    driver.get(PAGE)
    assert driver.find_element(By.ID, "total").text == "10.00"


def test_title(driver):
    driver.get(PAGE)
    assert driver.title == "Checkout"
