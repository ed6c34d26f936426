"""Work that makes a browser paint, written the way many public suites are: each test opens its own
local browser (`webdriver.Chrome()` / `webdriver.Firefox()`), headed or headless by a parameter,
so one `farm test` run puts the same cells in both modes on the same grid at the same time.

The page is built from a data: URL, so nothing is served; each test does what costs a headed
browser more than a headless one if anything does: layout of a long table, scrolling, animation
frames, typing with repaints, and screenshots.
"""

from __future__ import annotations

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

PAGE = (
    "data:text/html,<!doctype html><title>render</title>"
    "<style>td{padding:4px;border:1px solid %23ccc} .spin{animation:s 1s linear infinite} "
    "@keyframes s{to{transform:rotate(360deg)}}</style>"
    "<div class=spin style='width:80px;height:80px;background:%23c33'></div>"
    "<canvas id=c width=800 height=400></canvas><textarea id=t rows=8 cols=80></textarea><table id=tbl></table>"
)


@pytest.fixture(params=["headed", "headless"])
def browser(request, browser_name):
    """The test's own local browser, as a public suite makes it."""
    headless = request.param == "headless"
    if browser_name == "firefox":
        options = webdriver.FirefoxOptions()
        if headless:
            options.add_argument("-headless")
        driver = webdriver.Firefox(options=options)
    else:
        options = webdriver.ChromeOptions()
        if headless:
            options.add_argument("--headless=new")
        options.add_argument("--window-size=1366,768")
        driver = webdriver.Chrome(options=options)
    driver.get(PAGE)
    yield driver
    driver.quit()


def test_long_table_layout_and_scroll(browser):
    browser.execute_script(
        "const t = document.getElementById('tbl');"
        "for (let i = 0; i < 3000; i++) { const r = t.insertRow(); for (let j = 0; j < 6; j++) r.insertCell().textContent = i * j; }"
    )
    for step in range(40):
        browser.execute_script("window.scrollTo(0, arguments[0]); return document.body.getBoundingClientRect().top;", step * 2000)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#tbl tr")) == 3000


def test_animation_frames(browser):
    frames = browser.execute_async_script(
        "const done = arguments[0], c = document.getElementById('c').getContext('2d'); let n = 0;"
        "const start = performance.now();"
        "function draw(now) { n++; c.clearRect(0, 0, 800, 400);"
        "  for (let i = 0; i < 200; i++) {"
        "    c.fillStyle = `hsl(${(i + n) % 360},70%,50%)`; c.fillRect((i * 37 + n) % 800, (i * 53) % 400, 20, 20); }"
        "  if (now - start < 3000) requestAnimationFrame(draw); else done(n); }"
        "requestAnimationFrame(draw);"
    )
    assert frames > 0


def test_typing_with_repaints(browser):
    area = browser.find_element(By.ID, "t")
    text = "The quick brown fox jumps over the lazy dog. " * 6
    area.send_keys(text)
    assert browser.execute_script("return document.getElementById('t').value.length") == len(text)


def test_screenshots(browser):
    browser.execute_script("document.body.style.background = 'linear-gradient(90deg, red, blue)'")
    shots = [browser.get_screenshot_as_png() for _ in range(8)]
    assert all(shot.startswith(b"\x89PNG") for shot in shots)
