"""A docs suite that builds or keeps HTML on disk and opens it as file:// (farm's own driver)."""

from pathlib import Path

from selenium.webdriver.common.by import By

PAGES = Path(__file__).parent / "pages"


def test_a_page_of_the_suite_with_its_stylesheet_and_links(driver):
    driver.get(PAGES.joinpath("index.html").as_uri())
    assert driver.title == "Docs home"
    assert driver.find_element(By.ID, "heading").value_of_css_property("color") in ("rgba(0, 128, 0, 1)", "rgb(0, 128, 0)")
    assert driver.current_url == PAGES.joinpath("index.html").as_uri()
    driver.find_element(By.ID, "next").click()
    assert driver.find_element(By.ID, "where").text == "second"
    assert driver.current_url == PAGES.joinpath("second.html").as_uri() + "?from=home#top"


def test_a_page_written_to_tmp_path(driver, tmp_path):
    page = tmp_path / "built" / "report.html"
    page.parent.mkdir()
    page.write_text("<title>built</title><p id=p>readthedocs-sphinx-search</p>")
    driver.get(page.as_uri())
    assert driver.find_element(By.ID, "p").text == "readthedocs-sphinx-search"


def test_a_page_outside_the_suite_fails_clearly(driver):
    driver.get("file:///etc/os-release")
