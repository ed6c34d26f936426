"""A suite that speaks WebDriver BiDi through its own driver."""

from urllib.parse import urlsplit

from selenium import webdriver


def test_bidi_user_context_through_the_hub(browser_name):
    options = webdriver.FirefoxOptions() if browser_name == "firefox" else webdriver.ChromeOptions()
    options.add_argument("-headless" if browser_name == "firefox" else "--headless=new")
    options.enable_bidi = True
    driver = webdriver.Firefox(options=options) if browser_name == "firefox" else webdriver.Chrome(options=options)
    try:
        socket_url = urlsplit(driver.capabilities["webSocketUrl"])
        print(f"bidi at {socket_url.netloc}")
        context = driver.browser.create_user_context()
        assert context in driver.browser.get_user_contexts()
        driver.browser.remove_user_context(context)
    finally:
        driver.quit()
