"""The farm's reserved label namespace, stamped on everything it creates in one place.

Labels are how `farm down` finds containers and networks left by a crashed run: nothing the farm
creates is tracked anywhere else, so the engine itself is the source of truth.
"""

from __future__ import annotations

from farm import __version__

PREFIX = "io.github.farm"
MANAGED = f"{PREFIX}.managed"
NAME = f"{PREFIX}.name"
ROLE = f"{PREFIX}.role"
BROWSER = f"{PREFIX}.browser"
FARM_VERSION = f"{PREFIX}.farm-version"  # containers and networks: the farm release that created them
GRID_VERSION = f"{PREFIX}.grid-version"  # images: the Selenium Grid release inside
SLOTS = f"{PREFIX}.slots"
CONTENT = f"{PREFIX}.content"


def create_labels(farm_name: str, role: str, **extra: str) -> dict[str, str]:
    """Labels for a new container, network or image of farm `farm_name`."""
    labels = {
        MANAGED: "true",
        NAME: farm_name,
        ROLE: role,
        FARM_VERSION: __version__,
    }
    labels.update({f"{PREFIX}.{key}": value for key, value in extra.items()})
    return labels


def selector(farm_name: str | None = None, **extra: str) -> list[str]:
    """docker-py `filters={"label": ...}` value matching farm objects (all farms when name is None)."""
    terms = [f"{MANAGED}=true"]
    if farm_name is not None:
        terms.append(f"{NAME}={farm_name}")
    terms.extend(f"{PREFIX}.{key}={value}" for key, value in extra.items())
    return terms
