import pytest


@pytest.mark.xdist_group("docs-build")
@pytest.mark.parametrize("page", ["intro", "usage", "api"])
def test_grouped_page_builds(driver, rebuild, page):
    built = rebuild("grouped")
    driver.get(f"data:text/html,<title>{page}</title>")
    assert built.read_text() == "<title>grouped</title>" and driver.title == page


def test_an_ungrouped_neighbour(driver):
    driver.get("data:text/html,<title>free</title>")
    assert driver.title == "free"
