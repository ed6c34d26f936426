"""The dispatcher's idle sentinel, known to both sides of the plugin.

An xdist worker only starts an item once it has been sent the next one, so the controller sends
every cell followed by this no-op item: the worker starts the cell at once, and the next cell is
chosen when a slot actually frees (farm.plugin.controller.dispatch).
"""

from __future__ import annotations

from typing import Any

import pytest

IDLE_NAME = "farm-idle-slot"


def is_idle_nodeid(nodeid: str) -> bool:
    return nodeid.endswith("::" + IDLE_NAME)


class IdleItem(pytest.Item):
    """Appended after the planned cells; a worker's protocol hook skips it without running it."""

    def runtest(self) -> None:  # pragma: no cover - never run, the protocol is short-circuited
        pass

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, IDLE_NAME
