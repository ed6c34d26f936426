"""Farm configuration: one dataclass, filled from built-in defaults, then a config file, then flags.

The file is `farm.toml` (top-level keys) or the `[tool.farm]` table of `pyproject.toml` in the
working directory. Unknown keys and wrong types are rejected with the key named, because a typo
that silently falls back to a default is the worst kind of config bug in CI.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from farm.core.browser_option import parse_browser_option
from farm.core.catalogue import BROWSERS, SHARED_BROWSERS, SHARED_KEY, parse_browsers
from farm.core.errors import ConfigError, UsageError

SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
# Docker image references: registry/path:tag@digest, no shell metacharacters, no spaces.
SAFE_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$")
IMAGE_SETS = ("auto", "official", "local")
# farm test --video: off, keep the video of failed and broken cells only, or of every cell
VIDEO_MODES = ("off", "failed", "all")
# farm test --isolation: how farm's own driver isolates cells
ISOLATION_MODES = ("session", "context")
REPORT_GENERATORS = ("allure2", "allure3")  # farm report --generator
# farm up --capacity: nodes of one browser each, or nodes serving chrome and firefox from one pool
CAPACITY_MODELS = ("browser", "shared")
# farm up --mode: containers on one engine, or services on the swarm whose manager is docker_host
MODES = ("engine", "swarm")
# --registry: host[:port][/path] that every swarm host pulls the farm's images from
SAFE_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[a-z0-9._/-]+)?$")


def parse_counts(text: str, what: str = "--nodes") -> dict[str, int]:
    """Parse `chrome=2,firefox=1` into counts; used for --nodes."""
    counts: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or not name.strip() or not value.strip().isdigit():
            raise UsageError(f"malformed {what} entry {part!r}: expected BROWSER=COUNT, e.g. chrome=2,firefox=1")
        (browser,) = parse_browsers(name)
        counts[browser] = int(value)
    return counts


def parse_images(text: str) -> dict[str, str]:
    """Parse `edge=registry/node-edge:4.48.0,hub=...` image overrides; refuses shell metacharacters."""
    images: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, ref = part.partition("=")
        key = key.strip().lower()
        if not sep or (key != "hub" and key not in BROWSERS):
            raise UsageError(f"malformed --image entry {part!r}: expected hub=IMAGE or BROWSER=IMAGE")
        images[key] = check_image_ref(ref.strip(), f"--image {key}")
    return images


def check_image_ref(ref: str, where: str) -> str:
    if not SAFE_IMAGE.match(ref):
        raise UsageError(f"{where}: {ref!r} is not a valid image reference (letters, digits and ._/:@- only)")
    return ref


@dataclass
class FarmConfig:
    """Everything `farm up/down/status/test` needs to know; flags override file values."""

    name: str = "farm"
    browsers: tuple[str, ...] = ("chrome", "firefox")
    nodes: dict[str, int] = field(default_factory=dict)
    max_sessions: int = 0  # per node; 0: from the engine machine's cores and memory (farm.core.capacity.machine_sessions)
    hub_host: str = "127.0.0.1"
    hub_port: int = 4444
    image_set: str = "auto"
    images: dict[str, str] = field(default_factory=dict)
    session_timeout: int = 300
    startup_timeout: float = 180.0
    offline: bool = False
    docker_host: str | None = None
    reports_dir: str = "reports"
    video: str = "off"  # off | failed | all: which cells keep a video of their sessions (`farm test --video`)
    isolation: str = "context"  # farm's own driver: a kept session and a fresh user context per cell, or a fresh session ("session")
    capacity: str = "browser"  # "shared": every node serves chrome and firefox from one pool of max_sessions
    mode: str = "engine"  # "swarm": services on the swarm whose manager is docker_host (`farm up --mode`)
    registry: str = ""  # swarm: the registry every host pulls the farm's images from
    app_dir: str = ""  # `farm test`: a folder of static files served to the browsers as the base URL
    browser_option: str = ""  # `farm test`: the suite's own browser option, set per cell (farm.core.browser_option)
    report_generator: str = "allure2"  # allure2 (Java) | allure3 (Node alone; browsers as environments)

    def node_groups(self) -> dict[str, int]:
        """The nodes `farm up` keeps, per group: a browser's own nodes, or the shared ones (as many
        as the browsers' counts together, so switching models keeps the number of browsers)."""
        if self.capacity == "shared":
            return {SHARED_KEY: sum(self.node_count(b) for b in self.browsers)}
        return {b: self.node_count(b) for b in self.browsers}

    def node_count(self, browser: str) -> int:
        return self.nodes.get(browser, 1)

    def farm_browsers(self) -> tuple[str, ...]:
        """What `farm up` starts: the selected browsers and any that `nodes` gives a count. `farm
        test` runs only `browsers` (--browsers): a node count never adds cells to a run."""
        return tuple(dict.fromkeys((*self.browsers, *(b for b, n in self.nodes.items() if n))))

    @property
    def grid_url(self) -> str:
        """On a swarm the hub is published on the manager, which docker_host names."""
        if self.mode == "swarm":
            url = urlparse(self.docker_host or os.environ.get("DOCKER_HOST", ""))
            host = url.hostname if url.scheme in ("tcp", "http", "https") and url.hostname else "127.0.0.1"
        else:
            host = "127.0.0.1" if self.hub_host in ("0.0.0.0", "") else self.hub_host
        return f"http://{host}:{self.hub_port}"

    def validate(self) -> FarmConfig:
        if not SAFE_NAME.match(self.name):
            raise ConfigError(f"name: {self.name!r} must be lowercase letters, digits, '.', '_' or '-'")
        self.browsers = parse_browsers(self.browsers)
        for browser, count in self.nodes.items():
            parse_browsers(browser)
            if not isinstance(count, int) or isinstance(count, bool) or count < 0 or count > 32:
                raise ConfigError(f"nodes.{browser}: {count!r} must be a whole number from 0 to 32")
        if not 0 <= self.max_sessions <= 16:
            raise ConfigError(f"max_sessions: {self.max_sessions} must be from 1 to 16 (0: from the machine's cores and memory)")
        if not 1 <= self.hub_port <= 65535:
            raise ConfigError(f"hub_port: {self.hub_port} is not a TCP port")
        if self.image_set not in IMAGE_SETS:
            raise ConfigError(f"image_set: {self.image_set!r} must be one of {', '.join(IMAGE_SETS)}")
        if self.isolation not in ISOLATION_MODES:
            raise ConfigError(f"isolation: {self.isolation!r} must be one of {', '.join(ISOLATION_MODES)}")
        if self.capacity not in CAPACITY_MODELS:
            raise ConfigError(f"capacity: {self.capacity!r} must be one of {', '.join(CAPACITY_MODELS)}")
        if self.capacity == "shared" and not set(self.browsers) <= set(SHARED_BROWSERS):
            raise ConfigError(
                f"capacity = shared: shared nodes serve {', '.join(SHARED_BROWSERS)}; run other browsers with capacity = browser"
            )
        if self.mode not in MODES:
            raise ConfigError(f"mode: {self.mode!r} must be one of {', '.join(MODES)}")
        if self.registry and not SAFE_REGISTRY.match(self.registry):
            raise ConfigError(f"registry: {self.registry!r} must be HOST[:PORT][/PATH], e.g. 10.0.0.1:5000")
        if self.video not in VIDEO_MODES:
            raise ConfigError(f"video: {self.video!r} must be one of {', '.join(VIDEO_MODES)}")
        if self.browser_option:
            parse_browser_option(self.browser_option)
        if self.report_generator not in REPORT_GENERATORS:
            raise ConfigError(f"report_generator: {self.report_generator!r} must be one of {', '.join(REPORT_GENERATORS)}")
        for key, ref in self.images.items():
            if key != "hub" and key not in BROWSERS:
                raise ConfigError(f"images.{key}: not a browser or 'hub'")
            check_image_ref(ref, f"images.{key}")
        return self


def _expected_type(f: dataclasses.Field[Any]) -> tuple[type, ...]:
    return {
        "str": (str,),
        "int": (int,),
        "float": (int, float),
        "bool": (bool,),
        "tuple[str, ...]": (list, str),
        "dict[str, int]": (dict,),
        "dict[str, str]": (dict,),
        "str | None": (str,),
    }[str(f.type)]


def _from_table(table: dict[str, Any], source: str) -> dict[str, Any]:
    fields = {f.name: f for f in dataclasses.fields(FarmConfig)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        attr = key.replace("-", "_")
        if attr not in fields:
            raise ConfigError(f"{source}: unknown key {key!r} (known: {', '.join(sorted(fields))})")
        types = _expected_type(fields[attr])
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ConfigError(f"{source}: key {key!r} has the wrong type ({type(value).__name__})")
        values[attr] = tuple(value) if attr == "browsers" and isinstance(value, list) else value
    return values


def find_config_file(cwd: Path) -> tuple[Path, dict[str, Any]] | None:
    """The farm.toml or pyproject [tool.farm] table of the working directory, if any."""
    for path, pick in ((cwd / "farm.toml", lambda d: d), (cwd / "pyproject.toml", lambda d: d.get("tool", {}).get("farm"))):
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}); fix or remove the file") from exc
        table = pick(data)
        if table is not None:
            return path, table
    return None


BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _env_value(key: str, kind: str, raw: str) -> Any:
    """A FARM_<KEY> variable's text as the key's type; tables are written as the matching flag takes them."""
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "bool":
        return BOOLEANS[raw.strip().lower()]
    if kind == "tuple[str, ...]":
        return parse_browsers(raw)
    if kind == "dict[str, int]":
        return parse_counts(raw, f"FARM_{key.upper()}")
    if kind == "dict[str, str]":
        return parse_images(raw)
    return raw


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """FARM_<KEY> for every key (FARM_NAME, FARM_HUB_PORT, FARM_ISOLATION, FARM_NODES=chrome=2, ...):
    lets parallel CI jobs on one host each run their own farm, and a CI stage set any key."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(FarmConfig):
        raw = environ.get(f"FARM_{f.name.upper()}")
        if raw is None:
            continue
        try:
            values[f.name] = _env_value(f.name, str(f.type), raw)
        except (ValueError, KeyError, UsageError) as exc:
            raise ConfigError(f"FARM_{f.name.upper()}={raw!r} is not a valid {f.type}: set it as the config key takes it") from exc
    return values


def load_config(
    cwd: Path | None = None, environ: Mapping[str, str] | None = None, started: Mapping[str, Any] | None = None, **overrides: Any
) -> FarmConfig:
    """Defaults, then the config file, then FARM_* variables, then where the farm was started
    (`started`: what `farm up` recorded, farm.infra.started), then non-None overrides (the CLI flags)."""
    values: dict[str, Any] = {}
    found = find_config_file(cwd or Path.cwd())
    if found:
        path, table = found
        values.update(_from_table(table, str(path.name)))
    values.update(_from_env(os.environ if environ is None else environ))
    values.update(started or {})
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        config = FarmConfig(**values)
    except TypeError as exc:
        raise ConfigError(f"bad configuration: {exc}") from exc
    return config.validate()
