"""What a run leaves on the Grid is ended: sessions its workers opened and never quit."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from farm.core.runfolder import read_lines
from farm.infra.farms import FarmLink
from farm.infra.grid import GridClient

# How long a leftover session's delete may take: geckodriver waits up to its 60 s shutdown timeout
# for Firefox to close, and a delete given up half-way leaves the slot busy.
QUIT_TIMEOUT = 90.0


def farm_secret(farm: FarmLink) -> str:
    """The farm's registration secret, or '' when its engine cannot say (the run still ends)."""
    with contextlib.suppress(Exception):
        return farm.registration_secret()
    return ""


def quit_leftover_sessions(client: GridClient, ledger: Path, secret: Callable[[], str] = lambda: "") -> list[str]:
    """Delete Grid sessions the run opened but never quit (a killed worker cannot quit its own), and
    those the Grid still holds although their worker began to quit them (it was stopped half-way:
    the node keeps a session whose delete was cut off). The deletes run side by side. One the Grid
    still holds after its delete is stopped on its node with the farm's `secret` (if there is one):
    a node whose own delete was cut off refuses every later one (GridClient.stop_at_node)."""
    open_sessions: dict[str, bool] = {}
    for entry in read_lines(ledger):
        if "session" in entry:
            open_sessions[str(entry["session"])] = entry.get("event") == "open"
    held = set(client.session_ids()) if open_sessions else set()
    leftovers = [sid for sid, is_open in open_sessions.items() if is_open or sid in held]
    if leftovers:
        with ThreadPoolExecutor(max_workers=min(len(leftovers), 16)) as pool:
            list(pool.map(lambda sid: client.delete_session(sid, timeout=QUIT_TIMEOUT), leftovers))
        stuck = sorted(set(leftovers) & set(client.session_ids()))
        key = secret() if stuck else ""
        if key:
            for sid in stuck:
                client.stop_at_node(sid, key)
    return leftovers
