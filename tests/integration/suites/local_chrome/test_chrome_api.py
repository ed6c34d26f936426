"""Written against Chrome's own API, with a branch for other browsers as such suites have."""

from selenium import webdriver
from test_local import new_chrome

LOGGING = "data:text/html,<title>log</title><script>console.error('from the page')</script>"


def test_chromes_own_api_or_the_other_browsers_branch():
    browser = new_chrome()
    try:
        browser.get(LOGGING)
        if isinstance(browser, webdriver.Chrome):
            assert hasattr(browser, "execute_cdp_cmd")
            assert any("from the page" in entry["message"] for entry in browser.get_log("browser"))
            assert "Chrome/" in browser.execute_cdp_cmd("Browser.getVersion", {})["product"]
            browser.set_network_conditions(offline=False, latency=5, download_throughput=512000, upload_throughput=512000)
            assert browser.get_network_conditions()["latency"] == 5
        else:
            assert isinstance(browser, webdriver.Firefox) and not hasattr(browser, "get_log")
            assert "Firefox/" in browser.execute_script("return navigator.userAgent")
        assert browser.title == "log"
    finally:
        browser.quit()
