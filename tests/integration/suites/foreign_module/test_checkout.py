from selenium.webdriver.common.by import By


def test_checkout_starts_empty(driver, base_url):
    driver.get(base_url)
    assert driver.find_element(By.ID, "cart").text == "empty"


def test_checkout_errors_on_purpose(driver, base_url):
    driver.get(base_url)
    driver.find_element(By.ID, "no-such-button")
