"""Where each started farm lives: its engine and its hub's address, kept by `farm up` in farm's
cache, so `farm test`, `farm status` and `farm down` of the same farm name find it without the
flags being repeated (`farm up --port 4460`, `--docker-host`). `farm down` forgets it.

Flags given to a later command still win; `farm up` itself decides from the config and its flags.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from farm.core.config import FarmConfig
from farm.core.runfolder import write_json_atomic
from farm.infra.images import cache_dir

KEYS = ("docker_host", "hub_host", "hub_port", "mode")


def _path(name: str) -> Path:
    return cache_dir() / "farms" / f"{name}.json"


def remember(config: FarmConfig) -> None:
    write_json_atomic(_path(config.name), {key: getattr(config, key) for key in KEYS})


def recall(name: str) -> dict[str, Any]:
    """What `farm up` recorded for farm `name`; {} when nothing (or nothing readable) was."""
    with contextlib.suppress(OSError, ValueError):
        record = json.loads(_path(name).read_text(encoding="utf-8"))
        return {key: record[key] for key in KEYS if key in record and record[key] is not None}
    return {}


def forget(name: str) -> None:
    _path(name).unlink(missing_ok=True)
