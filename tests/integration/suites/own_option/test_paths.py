import os


def test_the_suites_code_path_matches_the_browser(ui, console):
    ui.get("data:text/html,<title>paths</title><script>console.error('seen')</script>")
    messages = console()
    assert ui.title == "paths"
    assert (ui.capabilities["browserName"], any("seen" in m for m in messages)) in {("chrome", True), ("firefox", False)}


def test_its_own_option_names_the_cell(ui, pytestconfig):
    assert pytestconfig.getoption("browser") == ui.capabilities["browserName"]


def test_its_variable_names_the_cell(ui):
    assert os.environ["UI_BROWSER"] == {"chrome": "chromium", "firefox": "firefox"}[ui.capabilities["browserName"]]
