"""Client for any Selenium Grid 4 (the farm's own, or one given by --grid-url, e.g. from Helm).

Only this module speaks HTTP to the Grid; it returns plain dataclasses and raises GridError.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import requests
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from farm.core.capacity import Capacity, NodeOffer, from_nodes
from farm.core.catalogue import farm_name_of
from farm.core.errors import GridError


@dataclass
class BrowserCapacity:
    """One browser's share of the Grid: what `farm status` shows and what the schedule sizes to."""

    nodes: int = 0
    slots: int = 0
    busy: int = 0
    version: str = ""


@dataclass
class GridNode:
    id: str
    uri: str
    availability: str
    browsers: dict[str, BrowserCapacity]
    max_sessions: int = 0  # sessions at once over all its browsers (0: not reported)


@dataclass
class GridStatus:
    url: str
    ready: bool
    version: str
    queue: int
    nodes: list[GridNode] = field(default_factory=list)

    def capacity(self) -> dict[str, BrowserCapacity]:
        """Per farm browser name, over the nodes that are UP."""
        total: dict[str, BrowserCapacity] = {}
        for node in self.nodes:
            if node.availability != "UP":
                continue
            for name, cap in node.browsers.items():
                acc = total.setdefault(name, BrowserCapacity())
                acc.nodes += 1
                acc.slots += cap.slots
                acc.busy += cap.busy
                acc.version = acc.version or cap.version
        return total

    def slots(self) -> dict[str, int]:
        return {name: cap.slots for name, cap in self.capacity().items()}

    def capacity_model(self) -> Capacity:
        """Slots per browser and the pools they share, over the nodes that are UP."""
        return from_nodes(
            NodeOffer({name: cap.slots for name, cap in node.browsers.items()}, node.max_sessions)
            for node in self.nodes
            if node.availability == "UP"
        )

    def to_json(self) -> dict[str, Any]:
        """The documented, stable `farm status --json` shape."""
        return {
            "grid_url": self.url,
            "ready": self.ready,
            "version": self.version,
            "browsers": {name: asdict(cap) for name, cap in sorted(self.capacity().items())},
            "pools": self.capacity_model().to_json()["pools"],
            "queue": self.queue,
        }


def parse_node(raw: dict[str, Any]) -> GridNode:
    browsers: dict[str, BrowserCapacity] = {}
    for slot in raw.get("slots", []):
        stereotype = slot.get("stereotype", {})
        name = farm_name_of(str(stereotype.get("browserName", "")))
        cap = browsers.setdefault(name, BrowserCapacity(nodes=1))
        cap.slots += 1
        cap.busy += 1 if slot.get("session") else 0
        cap.version = cap.version or str(stereotype.get("browserVersion", ""))
    return GridNode(
        str(raw.get("id", "")), str(raw.get("uri", "")), str(raw.get("availability", "")), browsers, int(raw.get("maxSessions") or 0)
    )


class GridClient:
    """Reads a Grid's state; `wait_for` polls until the expected slots are registered."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        self.http.trust_env = False  # a grid on loopback must never go through a proxy

    def _get_json(self, path: str) -> dict[str, Any]:
        try:
            response = self.http.get(self.url + path, timeout=self.timeout)
            response.raise_for_status()
            return response.json()
        except (requests.RequestException, ValueError) as exc:
            raise GridError(
                f"grid at {self.url} is unreachable ({type(exc).__name__}); start it with `farm up` or pass --grid-url"
            ) from exc

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self.http.post(self.url + "/graphql", json={"query": query, "variables": variables or {}}, timeout=self.timeout)
            response.raise_for_status()
            return response.json().get("data") or {}
        except (requests.RequestException, ValueError) as exc:
            raise GridError(f"grid at {self.url} did not answer GraphQL ({type(exc).__name__})") from exc

    def status(self) -> GridStatus:
        return self._with_grid_info(self._nodes_status())

    def _nodes_status(self) -> GridStatus:
        """The nodes from /status alone, the nodes' version standing in for the Grid's (a cold hub
        answered each GraphQL query in 0.1-0.3 s while its nodes were starting)."""
        value = self._get_json("/status").get("value", {})
        nodes = [parse_node(raw) for raw in value.get("nodes", [])]
        node_version = str(next((n.get("version", "") for n in value.get("nodes", [])), "")).split(" ")[0]
        return GridStatus(self.url, bool(value.get("ready")), node_version, 0, nodes)

    def _with_grid_info(self, status: GridStatus) -> GridStatus:
        """`status` with the Grid's own version (the nodes' when GraphQL does not answer) and queue."""
        grid = self._grid_info()
        version = str(grid.get("version") or status.version).split(" ")[0]
        return replace(status, version=version, queue=int(grid.get("sessionQueueSize") or 0))

    def capacity_now(self) -> Capacity | None:
        """The capacity of UP nodes, from /status alone (cheap enough to poll); None on no answer."""
        try:
            return self._nodes_status().capacity_model()
        except GridError:
            return None

    def _grid_info(self) -> dict[str, Any]:
        try:
            return self.graphql("{ grid { version sessionQueueSize } }").get("grid") or {}
        except GridError:
            return {}

    def queue_size(self) -> int | None:
        """Session requests waiting in the Grid's queue now; None when it does not answer."""
        try:
            response = self.http.get(f"{self.url}/se/grid/newsessionqueue/queue", timeout=self.timeout)
            response.raise_for_status()
            return len(response.json().get("value") or [])
        except (requests.RequestException, ValueError, TypeError, AttributeError):
            return None

    def session_node(self, session_id: str) -> str:
        """The URI of the node serving a session ('' when the Grid does not say)."""
        data = self.graphql("query($id: String!) { session(id: $id) { nodeUri } }", {"id": session_id})
        return str((data.get("session") or {}).get("nodeUri") or "")

    def delete_session(self, session_id: str, timeout: float | None = None) -> bool:
        """End a session (best effort: it may be gone already, with its node); True if the Grid answered.

        Give a live browser the `timeout` it needs to close: a client that gives up during a delete
        leaves the session's slot busy on its node until another delete."""
        try:
            self.http.delete(f"{self.url}/session/{session_id}", timeout=timeout or self.timeout)
        except requests.RequestException:
            return False
        return True

    def stop_at_node(self, session_id: str, secret: str, timeout: float | None = None) -> bool:
        """End a session on its node, past the Grid's router: the node's own stop releases the slot
        even when the session's driver cannot be reached any more. A node whose delete was cut off
        half-way (its caller killed) answers every later delete through the hub with a 500 and keeps
        the slot busy until its session timeout; this is the way out. Needs the registration secret
        and a node this machine can reach (the farm's own); True if the node accepted."""
        node = self.session_node(session_id)
        if not node:
            return False
        try:
            response = self.http.delete(
                f"{node}/se/grid/node/session/{session_id}", headers={"X-REGISTRATION-SECRET": secret}, timeout=timeout or self.timeout
            )
        except requests.RequestException:
            return False
        return response.ok

    def session_ids(self) -> list[str]:
        """The ids of every session the Grid holds now ([] when it does not answer)."""
        try:
            value = self._get_json("/status").get("value", {})
        except GridError:
            return []
        return [
            str(slot["session"].get("sessionId", ""))
            for node in value.get("nodes", [])
            for slot in node.get("slots", [])
            if isinstance(slot.get("session"), dict)
        ]

    def remove_node(self, node_id: str, secret: str) -> None:
        """Forget a node now (it was removed on purpose) rather than after the hub's health check."""
        try:
            self.http.delete(
                f"{self.url}/se/grid/distributor/node/{node_id}", headers={"X-REGISTRATION-SECRET": secret}, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise GridError(f"grid at {self.url} did not accept removing node {node_id}") from exc

    def wait_for(
        self,
        expected: dict[str, int],
        timeout: float,
        on_progress: Callable[[GridStatus | None], None] | None = None,
        interval: float = 0.25,
        counted: Callable[[GridStatus], GridStatus] | None = None,
    ) -> GridStatus:
        """Poll until each browser has at least `expected[browser]` slots; GridError on timeout.
        Every quarter second: a node that registered is used at most that much later, and `farm up`
        waits for a few seconds in all (benchmarks/farm_up.py), so the polls stay a few dozen. The
        polls read /status only; the Grid's version and queue are added to the answer that found
        every slot (GraphQL, once). `counted` narrows each answer to the nodes that may count (a
        swarm leaves out nodes whose task it stopped)."""
        last: list[GridStatus | None] = [None]

        def attempt() -> GridStatus:
            try:
                status = self._nodes_status()
            except GridError:
                last[0] = None
                if on_progress:
                    on_progress(None)
                raise
            if counted:
                status = counted(status)
            last[0] = status
            if on_progress:
                on_progress(status)
            slots = status.slots()
            missing = {b: n for b, n in expected.items() if slots.get(b, 0) < n}
            if missing:
                raise _NotYet(missing)
            return self._with_grid_info(status)

        try:
            for retry in Retrying(
                stop=stop_after_delay(timeout),
                wait=wait_fixed(interval),
                retry=retry_if_exception_type((GridError, _NotYet)),
                reraise=False,
            ):
                with retry:
                    return attempt()
        except RetryError as exc:
            cause = exc.last_attempt.exception()
            if isinstance(cause, _NotYet):
                raise GridError(f"grid at {self.url} lacks slots after {timeout:.0f}s: {cause.describe(last[0])}") from None
            raise GridError(f"grid at {self.url} did not answer within {timeout:.0f}s") from None
        raise AssertionError("unreachable")  # pragma: no cover


class _NotYet(Exception):
    def __init__(self, missing: dict[str, int]) -> None:
        super().__init__(str(missing))
        self.missing = missing

    def describe(self, status: GridStatus | None) -> str:
        have = status.slots() if status else {}
        return ", ".join(f"{b} has {have.get(b, 0)} of {n}" for b, n in self.missing.items())
