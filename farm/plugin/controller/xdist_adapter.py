"""Every use of pytest-xdist's private parts, in one place.

xdist has no public call to start one more worker during a run, nor to ask whether the run is
shutting down. Farm does both the way xdist itself replaces a crashed worker (its `DSession` and
`NodeManager`). The parts used are listed in `PRIVATE_PARTS`; `tests/unit/test_xdist_adapter.py`
fails when the installed xdist no longer has them, and `pyproject.toml` bounds xdist to the
releases that test has passed on.
"""

from __future__ import annotations

from typing import Any

import execnet
import pytest

# (object, attribute) pairs this module reads or calls that xdist does not document
PRIVATE_PARTS = (
    ("DSession", "_active_nodes"),
    ("DSession", "shuttingdown"),
    ("DSession", "nodemanager"),
    ("DSession", "queue"),
    ("NodeManager", "group"),
    ("NodeManager", "setup_node"),
    ("WorkerController", "gateway"),
    ("execnet.XSpec", "_spec"),  # execnet's, reached through a worker's gateway
)


def _dsession(config: pytest.Config) -> Any:
    return config.pluginmanager.getplugin("dsession")


def shutting_down(config: pytest.Config) -> bool:
    """Is xdist's controller winding the run down (Ctrl-C, -x, --maxfail, or all work done)?"""
    return bool(getattr(_dsession(config), "shuttingdown", False))


def start_worker(config: pytest.Config, template: Any) -> bool:
    """Start one more worker from a copy of `template`'s spec; it joins the run's event queue and
    is configured through `pytest_configure_node` like any other. False when this xdist has no
    such parts, the run is shutting down, or the worker cannot start (the run stays as it was)."""
    dsession = _dsession(config)
    manager = getattr(dsession, "nodemanager", None)
    if manager is None or not hasattr(dsession, "_active_nodes") or getattr(dsession, "shuttingdown", True):
        return False
    try:
        spec = execnet.XSpec(template.gateway.spec._spec)
        manager.group.allocate_id(spec)
        node = manager.setup_node(spec, dsession.queue.put)
    except Exception:
        return False
    dsession._active_nodes.add(node)
    return True
