"""The selenium and pytest versions farm mode supports, checked before a run starts.

A suite's own pins decide which selenium and pytest its environment holds, and pip can be talked past
farm's declared ranges (`--no-deps`, PYTHONPATH, a later `pip install selenium==3.141.0`). Outside the
range farm mode fails in ways that look like product failures, so it stops at once with one line that
names the installed version, the range and the command that fixes it. The ranges are read from farm's
own installed metadata, so the pyproject stays the one place they are written.
"""

from __future__ import annotations

import sys
from importlib import metadata

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from farm.core.errors import UsageError

DISTRIBUTION = "selenium-grid-farm"
GUARDED = ("selenium", "pytest")  # what a suite pins; farm's other dependencies are farm's own business


def declared_ranges(distribution: str = DISTRIBUTION) -> dict[str, str]:
    """Each guarded package's specifier as farm declares it ({} when farm runs from a source tree
    that was never installed: there is no declaration to hold it to)."""
    try:
        requirements = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError:
        return {}
    ranges = {}
    for line in requirements:
        requirement = Requirement(line)
        if requirement.name in GUARDED and requirement.marker is None:
            # lower bound first, as people write it (SpecifierSet's own str sorts "<" first)
            ranges[requirement.name] = ",".join(sorted(map(str, requirement.specifier), key=lambda spec: not spec.startswith(">")))
    return ranges


def outside(name: str, installed: str, specifier: str, python: str = sys.executable) -> str | None:
    """The one-line complaint when `installed` is outside `specifier`, else None."""
    try:
        inside = Version(installed) in SpecifierSet(specifier, prereleases=True)
    except InvalidVersion:
        return None  # a local build with a version pip cannot read: give it the benefit of the doubt
    if inside:
        return None
    return (
        f"farm mode needs {name}{specifier} but {name} {installed} is installed; "
        f"run `{python} -m pip install '{name}{specifier}'` (or widen your suite's pin)"
    )


def check_supported() -> None:
    """Raise UsageError when the environment's selenium or pytest is outside farm's declared range."""
    for name, specifier in declared_ranges().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise UsageError(
                f"farm mode needs {name}{specifier}, which is not installed; run `{sys.executable} -m pip install '{name}{specifier}'`"
            ) from None
        problem = outside(name, installed, specifier)
        if problem:
            raise UsageError(problem)
