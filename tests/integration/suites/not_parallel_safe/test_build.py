import pytest


@pytest.mark.parametrize("page", ["intro", "usage", "api"])
def test_page_builds(driver, rebuild, page):
    built = rebuild("site")
    driver.get(f"data:text/html,<title>{page}</title>")
    assert built.read_text() == "<title>site</title>" and driver.title == page
