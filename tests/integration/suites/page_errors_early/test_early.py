"""A session's first page logs and is left at once: farm's console listener attaches while the
session's first command runs, so this is what it could miss if the next command did not wait."""


def test_a_first_page_left_at_once(driver, base_url):
    driver.execute_script("console.error('farm-early-console'); setTimeout(() => { throw new Error('farm-early-throw'); }, 0)")
    driver.get(f"{base_url}index.html")
    assert driver.title == "Evidence shop"
