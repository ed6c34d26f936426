from selenium.webdriver.common.by import By


def test_catalog_title(driver, base_url):
    driver.get(base_url)
    assert driver.find_element(By.ID, "title").text == "Shop"


def test_catalog_buy(driver, base_url):
    driver.get(base_url)
    driver.find_element(By.ID, "buy").click()
    assert driver.find_element(By.ID, "cart").text == "1 item"
