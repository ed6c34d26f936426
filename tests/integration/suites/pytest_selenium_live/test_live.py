from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait


def wait_for_text(selenium, element_id, text):
    WebDriverWait(selenium, 10).until(EC.text_to_be_present_in_element((By.ID, element_id), text))


def test_fetch_reaches_the_app(selenium, base_url):
    selenium.get(base_url)
    wait_for_text(selenium, "fetched", "3 items")


def test_redirect_sets_a_cookie(selenium, base_url):
    selenium.get(base_url + "login")
    assert selenium.current_url == base_url + "account"
    assert selenium.find_element(By.ID, "who").text == "abc123"
    assert selenium.get_cookie("session")["value"] == "abc123"


def test_websocket_echoes(selenium, base_url):
    selenium.get(base_url)
    wait_for_text(selenium, "ws", "echo: hello")


def test_localhost_is_a_secure_context(selenium, base_url):
    selenium.get(base_url)
    assert selenium.execute_script("return window.isSecureContext") is True


def test_options_fixtures_are_honoured(selenium, base_url):
    selenium.get(base_url)
    assert selenium.get_window_size()["width"] == 900
    assert selenium.capabilities["acceptInsecureCerts"] is True


def test_title_fails_on_purpose(selenium, base_url):
    selenium.get(base_url)
    assert selenium.title == "Not the live shop"
