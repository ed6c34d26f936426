"""The browser catalogue: the one place that knows each browser's farm name, its W3C name and
aliases, where its node image comes from, and whether the farm can build that image offline.

Pure data and parsing (no Docker, network or selenium), used by the config, the Grid client, the
images, the session watch and the CLI alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from farm.core.errors import UsageError

GRID_VERSION = "4.48.0"
LOCAL_REPOSITORY = "farm-local"
HUB_OFFICIAL_IMAGE = f"selenium/hub:{GRID_VERSION}"
HUB_LOCAL_IMAGE = f"{LOCAL_REPOSITORY}/hub:{GRID_VERSION}"
# capacity = "shared": nodes serving these browsers from one pool of sessions (built offline only;
# docker-selenium publishes no node image with both)
SHARED_KEY = "shared"
SHARED_BROWSERS = ("chrome", "firefox")
SHARED_NODE_IMAGE = f"{LOCAL_REPOSITORY}/node-{SHARED_KEY}:{GRID_VERSION}"
# Names on the farm network: the hub, and this machine (the farm network's gateway) as the browsers see it.
HUB_ALIAS = "selenium-hub"
APP_HOST_ALIAS = "farm-host"


@dataclass(frozen=True)
class BrowserSpec:
    """What the farm knows of one browser."""

    name: str
    grid_name: str  # the W3C browserName the Grid matches
    official_image: str
    buildable: bool  # the farm can build its node image offline from Debian packages
    aliases: tuple[str, ...] = ()  # other browserName values the Grid may report

    @property
    def local_image(self) -> str:
        return f"{LOCAL_REPOSITORY}/node-{self.name}:{GRID_VERSION}"


BROWSERS: dict[str, BrowserSpec] = {
    spec.name: spec
    for spec in (
        BrowserSpec("chrome", "chrome", f"selenium/node-chrome:{GRID_VERSION}", buildable=True, aliases=("chromium",)),
        BrowserSpec("firefox", "firefox", f"selenium/node-firefox:{GRID_VERSION}", buildable=True),
        BrowserSpec("edge", "MicrosoftEdge", f"selenium/node-edge:{GRID_VERSION}", buildable=False, aliases=("msedge",)),
    )
}
_BY_GRID_NAME = {name.lower(): spec.name for spec in BROWSERS.values() for name in (spec.grid_name, *spec.aliases)}


def farm_name_of(grid_name: str) -> str:
    """The farm's name for a browserName the Grid reports (`MicrosoftEdge` -> `edge`)."""
    return _BY_GRID_NAME.get(grid_name.lower(), grid_name.lower())


def buildable(browsers: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(b for b in browsers if BROWSERS[b].buildable)


def parse_browsers(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Parse `chrome,firefox` (case-insensitive, order kept, duplicates dropped)."""
    items = text.split(",") if isinstance(text, str) else list(text)
    names: list[str] = []
    for raw in items:
        name = raw.strip().lower()
        if not name:
            continue
        if name not in BROWSERS:
            known = ", ".join(BROWSERS)
            raise UsageError(f"unknown browser {raw.strip()!r}: choose from {known}")
        if name not in names:
            names.append(name)
    if not names:
        raise UsageError("no browser selected: pass --browsers chrome,firefox (known: " + ", ".join(BROWSERS) + ")")
    return tuple(names)
