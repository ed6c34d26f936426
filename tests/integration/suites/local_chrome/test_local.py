"""Written for a developer's laptop: every test starts its own local Chrome."""

from selenium import webdriver
from selenium.webdriver.common.by import By


def new_chrome():
    options = webdriver.ChromeOptions()
    options.add_argument("--headless=new")
    options.add_argument("--window-size=800,600")
    options.add_argument("--user-data-dir=/home/dev/.config/chrome-test")  # a path on the laptop
    options.add_experimental_option("prefs", {"intl.accept_languages": "en"})
    return webdriver.Chrome(options=options)


def test_local_chrome_page(base_url):
    browser = new_chrome()
    try:
        browser.get(base_url)
        assert browser.find_element(By.ID, "title").text == "Shop"
        assert browser.get_window_size()["width"] == 800
    finally:
        browser.quit()


def test_local_chrome_fails_on_purpose(base_url):
    browser = new_chrome()
    try:
        browser.get(base_url)
        assert browser.title == "Not the shop"
    finally:
        browser.quit()
