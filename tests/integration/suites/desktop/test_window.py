"""Window states on a headed browser: maximize, full screen and minimize, as on a desktop."""

PAGE = "data:text/html,<title>window</title><p>window</p>"


def screen(driver):
    return driver.execute_script("return [screen.width, screen.height]")


def test_the_session_starts_maximized(browser):
    browser.get(PAGE)
    size = browser.get_window_size()
    assert [size["width"], size["height"]] == screen(browser)


def test_full_screen_fills_the_screen(browser):
    browser.get(PAGE)
    browser.set_window_rect(x=10, y=10, width=800, height=600)
    browser.fullscreen_window()
    rect = browser.get_window_rect()
    assert [rect["x"], rect["y"], rect["width"], rect["height"]] == [0, 0, *screen(browser)]
    browser.maximize_window()


def test_minimize_hides_the_page_and_maximize_brings_it_back(browser):
    browser.get(PAGE)
    browser.minimize_window()
    assert browser.execute_script("return document.visibilityState") == "hidden"
    browser.maximize_window()
    assert browser.execute_script("return document.visibilityState") == "visible"
    size = browser.get_window_size()
    assert [size["width"], size["height"]] == screen(browser)
