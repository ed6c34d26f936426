"""A test that flips between runs (the run number comes from the farm's own integration test)."""

import os


def test_flips(browser_name):
    assert os.environ["FLIPS_RUN"] != "2", "the second run fails"


def test_steady(browser_name):
    assert browser_name in ("chrome", "firefox")
