"""Videos of sessions on the farm's own nodes (`farm test --video off|failed|all`).

Every session on a farm node has an X display of its own (docker/node/session-driver.sh), and the
node records that display with ffmpeg (docker/node/farm-record.sh), started and stopped through the
node's engine (`docker exec`), like Selenoid's per-session recording: two sessions on one node never
share a video. The runner cuts a session's recording at the end of each cell, so a session kept
across cells gives each cell its own file, and fetches a file only where the mode keeps it; the
others are deleted on the node.

Only the farm's own nodes record: with `--grid-url` there is no engine to ask, and an official
image has no farm-record (docker-selenium records with its video sidecar instead).
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from farm.core.errors import FarmError

if TYPE_CHECKING:
    from farm.infra.engine import Engine

RECORD = "/opt/bin/farm-record"


def profile_marker(capabilities: dict[str, Any]) -> str:
    """The session's profile folder, which only its browser's command line holds: Chrome's and Edge's
    user data dir, Firefox's profile. farm-record finds the session's display through it."""
    for key in ("chrome", "msedge"):
        folder = (capabilities.get(key) or {}).get("userDataDir")
        if folder:
            return str(folder)
    return str(capabilities.get("moz:profile") or "")


@dataclass
class Recording:
    container: str
    name: str
    session: str
    started: float
    stopped: float | None = None
    file: str = ""  # on the node, once stopped
    error: str = ""


class Recorder:
    """Starts, cuts and collects recordings on the nodes of one engine."""

    def __init__(self, engine: Engine, nodes: dict[str, str]) -> None:
        self.engine = engine
        self.nodes = nodes  # node URI as the Grid reports it -> container id
        self._serial = itertools.count(1)

    @classmethod
    def connect(cls, docker_host: str | None, nodes: dict[str, str]) -> Recorder:
        # Imported here: every pytest worker loads this module, and the Docker SDK took a tenth of
        # a worker's start-up, which only a run with videos needs.
        from farm.infra.engine import Engine

        return cls(Engine.connect(docker_host or None, timeout=30), nodes)

    def start(self, session: str, node: str, capabilities: dict[str, Any]) -> Recording:
        """Record the session's display; a recording that could not start carries the reason."""
        name = re.sub(r"[^A-Za-z0-9._-]", "", f"{session[:16]}-{next(self._serial)}")
        recording = Recording(self.nodes.get(node, ""), name, session, time.time())
        marker = profile_marker(capabilities)
        if not recording.container:
            recording.error = f"node {node or '?'} is not one of this farm's containers"
        elif not marker:
            recording.error = "the session's capabilities name no profile folder"
        else:
            self._run(recording, "start", {"FARM_MARKER": marker})
        if recording.error:
            recording.stopped = recording.started
        return recording

    def stop(self, recording: Recording) -> None:
        """End the recording (ffmpeg writes its index); the file stays on the node until kept or discarded."""
        if recording.stopped is not None:
            return
        recording.stopped = time.time()
        recording.file = self._run(recording, "stop")

    def keep(self, recording: Recording, dest: Path) -> Path | None:
        """Fetch a stopped recording's file into `dest`, then delete it on the node."""
        self.stop(recording)
        if not recording.file:
            return None
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            return self.engine.copy_out(recording.container, recording.file, dest)
        except FarmError as exc:
            recording.error = str(exc)
            return None
        finally:
            self.discard(recording)

    def discard(self, recording: Recording) -> None:
        if recording.container:
            self._run(recording, "discard")

    def _run(self, recording: Recording, action: str, environment: dict[str, str] | None = None) -> str:
        try:
            code, output = self.engine.exec(recording.container, [RECORD, action, recording.name], environment)
        except FarmError as exc:  # the node is gone (a lost node), or the engine is
            recording.error = recording.error or str(exc)
            return ""
        if code in (126, 127):
            recording.error = recording.error or "this node's image cannot record (farm's own node images can)"
        elif code != 0:
            recording.error = recording.error or (output.splitlines() or [f"farm-record {action} exited {code}"])[-1]
        return output.splitlines()[-1] if code == 0 and output else ""

    def close(self) -> None:
        self.engine.close()
