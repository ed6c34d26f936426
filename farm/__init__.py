"""farm: run pytest + Selenium suites on every browser through a Selenium Grid on Docker."""

__version__ = "0.1.0"
