"""The one stand-in for an xdist worker (`WorkerController`) that the scheduler's tests hand it:
it records what it was sent, as pytest-xdist's own `MockNode` does (testing/test_dsession.py)."""

from __future__ import annotations


class FakeNode:
    def __init__(self, name: str = "gw0", browser: str | None = None) -> None:
        self.name = name
        self.sent: list[int] = []
        self.shut = False
        # the browser the plugin gave it (xdist's workerinput, as set in pytest_configure_node)
        self.workerinput = {"farm_browser": browser} if browser else {}

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.extend(indices)

    def shutdown(self) -> None:
        self.shut = True

    def __repr__(self) -> str:
        return self.name
