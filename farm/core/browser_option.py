"""A suite's own way of naming the browser, set by farm for every cell.

Suites pick their code paths from their own pytest option or environment variable (dash's
`--webdriver Firefox`, a `--browser` of the suite's conftest, `SELENIUM_BROWSER`), not only from the
session they get. Farm sets that option per worker (and per cell without xdist), spelled the way the
suite expects, so a firefox cell never runs the suite's Chrome branch.

Written as `TARGET[=BROWSER:VALUE,...]`: TARGET is a pytest option (`--browser`) or an environment
variable (`$UI_BROWSER`); a browser with no VALUE gets farm's own name (chrome, firefox, edge).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from farm.core.catalogue import BROWSERS
from farm.core.errors import ConfigError

TARGET = re.compile(r"^(--[A-Za-z0-9][A-Za-z0-9_-]*|\$[A-Za-z_][A-Za-z0-9_]*)$")


@dataclass(frozen=True)
class BrowserOption:
    target: str  # "--browser" or "$UI_BROWSER"
    spelling: dict[str, str] = field(default_factory=dict)

    @property
    def variable(self) -> str | None:
        """The environment variable's name, or None for a pytest option."""
        return self.target[1:] if self.target.startswith("$") else None

    @property
    def dest(self) -> str:
        """Where pytest keeps a `--long-name` option: config.option.long_name."""
        return self.target.lstrip("-").replace("-", "_")

    def value(self, browser: str) -> str:
        return self.spelling.get(browser, browser)

    def known_in(self, current: object) -> bool:
        """Is `current` (the suite's value of this option) one of this spelling's values?"""
        return isinstance(current, str) and current in self.spelling.values()


# Plugins whose option farm knows with no configuration: dash's pytest plugin (dash[testing]) picks
# its WebDriver class from `--webdriver Chrome|Firefox`.
KNOWN_OPTIONS = (BrowserOption("--webdriver", {"chrome": "Chrome", "firefox": "Firefox", "edge": "Edge"}),)


def parse_browser_option(spec: str) -> BrowserOption:
    target, _, spelled = spec.strip().partition("=")
    if not TARGET.match(target):
        raise ConfigError(
            f"browser_option: {spec!r} must name a pytest option (--browser) or an environment variable ($UI_BROWSER), "
            "optionally followed by =chrome:VALUE,firefox:VALUE"
        )
    spelling: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in spelled.split(","))):
        browser, sep, value = pair.partition(":")
        if not sep or browser not in BROWSERS or not value:
            raise ConfigError(f"browser_option: {pair!r} in {spec!r} must be BROWSER:VALUE with BROWSER one of {', '.join(BROWSERS)}")
        spelling[browser] = value
    return BrowserOption(target, spelling)
