"""Static pages and navigation: the short end of the demo's durations."""

from selenium.webdriver.common.by import By


def test_home_title(driver, base_url):
    driver.get(base_url)
    assert driver.title == "Farm Demo Shop"


def test_navigation_links(driver, base_url):
    driver.get(base_url)
    links = {a.get_attribute("id") for a in driver.find_elements(By.CSS_SELECTOR, "nav a")}
    assert links == {"nav-form", "nav-delayed", "nav-progress", "nav-list"}


def test_navigate_to_sign_up(driver, base_url, wait):
    driver.get(base_url)
    driver.find_element(By.ID, "nav-form").click()
    wait.until(lambda d: d.title == "Sign up")
    assert driver.find_element(By.ID, "signup").is_displayed()
