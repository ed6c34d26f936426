"""README's main command (`scripts/demo`) on a fresh machine, timed step by step.

A fresh machine of this project's kind is emulated as closely as one machine allows (as root):
- a Debian 12 root made by `mmdebstrap --variant=minbase`, entered with chroot, sharing this host's
  network and its package-manager settings (where the registries are), nothing of farm's;
- with the toolchain a machine of this kind comes with (python3 + venv, a Java runtime, Node and
  npm), installed before the clock starts; `--minimal` leaves them to set-up instead;
- a Docker engine of its own, started for the run with an empty data root (no images, no build
  cache), whose socket is the root's /run/docker.sock; `--host-engine` shares this host's engine
  and its images instead (set-up then finds them built).
The committed tree (`git archive HEAD`) is copied in and `scripts/demo` runs there with an empty
HOME, so nothing is downloaded from a cache. Every output line is timestamped; the split comes
from the lines set-up, `farm up` and `farm test` print:

    packages   Debian packages (docker.io, mmdebstrap; with --minimal the toolchain too)
    venv       the Python environment with farm (runs beside the packages and the engine)
    npm        allure-commandline (beside the packages)
    images     `farm images build`: the base root, the browser layers, the thin images
    farm up    to every slot registered
    cells      `farm test --demo` from start to the summary (collection, workers, 30 cells)
    report     the Allure report

Usage: `python3 benchmarks/fresh_machine.py [--minimal] [--host-engine] [--keep-root]`. The prepared
toolchain root is cached in /var/tmp (it is not part of what is timed); everything else is removed
afterwards, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TOOLCHAIN = ("python3", "python3-venv", "openjdk-17-jre-headless", "npm", "git", "ca-certificates")
HOST_SETTINGS = ("/etc/apt/apt.conf.d", "/etc/pip.conf", "/etc/npmrc", "/etc/resolv.conf", "/usr/local/share/ca-certificates")
BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# what each step's end looks like in scripts/demo's output (the first match counts)
MARKS = {
    "packages": r"^setup: Debian packages installed",
    "venv": r"^setup: Python packages ready",
    "npm": r"^setup: npm tools ready",
    "images": r"^setup: images ready",
    "farm up": r"^grid ready at",
    "cells": r"^makespan ",
    "report": r"^report: ",
}
BESIDE = ("venv", "npm")


def say(message: str) -> None:
    print(f"fresh-machine: {message}", flush=True)


def run(cmd: list[str], **kwargs: object) -> None:
    subprocess.run(cmd, check=True, **kwargs)  # type: ignore[call-overload]


def toolchain_root(minimal: bool) -> Path:
    """A minbase root tarball (with the machine kind's toolchain unless minimal), made once."""
    key = hashlib.sha256(" ".join(() if minimal else TOOLCHAIN).encode()).hexdigest()[:10]
    tarball = Path(f"/var/tmp/farm-fresh-root-{key}.tar")
    if not tarball.exists():
        say(f"preparing {tarball.name} (once; not timed)")
        include = [] if minimal else ["--include=" + ",".join(TOOLCHAIN)]
        partial = tarball.with_suffix(".partial")
        run(["mmdebstrap", "--quiet", "--format=tar", "--variant=minbase", *include, "bookworm", str(partial)])
        partial.replace(tarball)
    return tarball


@contextlib.contextmanager
def mounted(root: Path, engine_socket: str) -> Iterator[None]:
    mounts: list[Path] = []
    try:
        for fs in ("proc", "sys", "dev", "dev/pts"):
            (root / fs).mkdir(parents=True, exist_ok=True)
            run(["mount", "--bind", f"/{fs}", str(root / fs)])
            mounts.append(root / fs)
        sock = root / "run" / "docker.sock"
        sock.parent.mkdir(parents=True, exist_ok=True)
        sock.touch()
        run(["mount", "--bind", engine_socket, str(sock)])
        mounts.append(sock)
        yield
    finally:
        for path in reversed(mounts):
            subprocess.run(["umount", "-l", str(path)], check=False)


@contextlib.contextmanager
def fresh_engine(work: Path) -> Iterator[tuple[str, float]]:
    """A second dockerd with an empty data root; its own socket, pid and exec root, no docker0."""
    data, sock = work / "engine", work / "engine.sock"
    data.mkdir()
    started = time.monotonic()
    log = open(work / "dockerd.log", "w")  # noqa: SIM115 (open for the engine's lifetime)
    proc = subprocess.Popen(
        [
            "dockerd",
            f"--data-root={data / 'data'}",
            f"--exec-root={data / 'exec'}",
            f"--pidfile={data / 'dockerd.pid'}",
            f"--host=unix://{sock}",
            "--iptables=false",
            "--bridge=none",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(["docker", "-H", f"unix://{sock}", "info"], capture_output=True).returncode != 0:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"fresh-machine: the fresh engine did not start; see {work / 'dockerd.log'}")
            time.sleep(0.3)
        yield str(sock), time.monotonic() - started
    finally:
        # the farm's containers go with the engine: stop it, then its data root is deleted with the work folder
        subprocess.run(["docker", "-H", f"unix://{sock}", "rm", "-f", *containers(sock)], capture_output=True)
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        subprocess.run(["umount", "-R", "-l", str(data)], capture_output=True)


def containers(sock: Path) -> list[str]:
    out = subprocess.run(["docker", "-H", f"unix://{sock}", "ps", "-aq"], capture_output=True, text=True).stdout
    return out.split()


def prepare(root: Path, tarball: Path) -> None:
    root.mkdir()
    run(["tar", "-xf", str(tarball), "-C", str(root)])
    for item in HOST_SETTINGS:
        if os.path.exists(item):
            dest = root / item.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            run(["cp", "-a", item, str(dest.parent) + "/"])
    home = Path.home()
    (root / "root" / ".config").mkdir(parents=True, exist_ok=True)
    if (home / ".config" / "pip").is_dir():
        run(["cp", "-a", str(home / ".config" / "pip"), str(root / "root" / ".config") + "/"])
    if (home / ".npmrc").is_file():
        shutil.copy(home / ".npmrc", root / "root" / ".npmrc")
    (root / "farm").mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "HEAD"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(root / "farm")], input=archive, check=True)
    # no service starts inside the root (docker.io's package would try): the engine is started outside
    policy = root / "usr" / "sbin" / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)


def timed_demo(root: Path) -> tuple[dict[str, float], float, int]:
    env = {
        "HOME": "/root",
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        **{k: BUNDLE for k in ("PIP_CERT", "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")},
    }
    started = time.monotonic()
    seen: dict[str, float] = {}
    proc = subprocess.Popen(
        ["chroot", str(root), "/bin/bash", "-c", "cd /farm && scripts/demo 2>&1"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        at = time.monotonic() - started
        print(f"{at:6.1f}s  {line.rstrip()}", flush=True)
        for step, pattern in MARKS.items():
            if step not in seen and re.search(pattern, line.strip()):
                # a step run beside others is printed when awaited: its end is set-up's own clock
                own = re.search(r"\((\d+)s\)$", line.strip()) if step in BESIDE else None
                seen[step] = float(own.group(1)) if own else at
    return seen, time.monotonic() - started, proc.wait()


def split(seen: dict[str, float], total: float) -> list[tuple[str, float, str]]:
    """Each step's own seconds: the serial chain (packages, images, farm up, cells, report) adds up
    to the total; venv and npm ran beside it and are shown with their own length."""
    rows: list[tuple[str, float, str]] = []
    previous = 0.0
    for step in ("packages", "images", "farm up", "cells", "report"):
        if step in seen:
            start = max(previous, seen.get("venv", 0.0)) if step == "images" else previous
            if step == "images" and seen.get("venv", 0.0) > previous:
                rows.append(("venv (after the packages)", seen["venv"] - previous, "waited for"))
            rows.append((step, seen[step] - start, ""))
            previous = seen[step]
    for step in ("venv", "npm"):
        if step in seen:
            rows.append((step, seen[step], "beside the packages, from the start"))
    rows.append(("in all", total, "target < 180 s"))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minimal", action="store_true", help="no toolchain in the root: set-up installs python3, Java, npm")
    parser.add_argument("--host-engine", action="store_true", help="share this host's engine and its images")
    parser.add_argument("--keep-root", action="store_true", help="leave the root in /var/tmp for a look")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("fresh-machine: run as root (mmdebstrap, chroot, mounts, a second dockerd)", file=sys.stderr)
        return 2
    tarball = toolchain_root(args.minimal)
    work = Path(tempfile.mkdtemp(prefix="farm-fresh-", dir="/var/tmp"))
    root = work / "root"
    code = 1
    try:
        prepare(root, tarball)
        engine = contextlib.nullcontext(("/var/run/docker.sock", 0.0)) if args.host_engine else fresh_engine(work)
        with engine as (socket, engine_seconds), mounted(root, socket):
            if (root / "usr" / "sbin" / "update-ca-certificates").exists():  # the host's CAs join the bundle, as on the real machine
                run(["chroot", str(root), "update-ca-certificates"], stdout=subprocess.DEVNULL)
            try:
                seen, total, code = timed_demo(root)
            finally:
                if (root / "farm" / ".venv" / "bin" / "farm").exists():
                    subprocess.run(["chroot", str(root), "/bin/bash", "-c", "cd /farm && .venv/bin/farm down"], capture_output=True)
        reports = sorted((root / "farm" / "reports").glob("run-*/report/index.html"))
        kind = "minimal Debian 12" if args.minimal else "Debian 12 with python3, Java 17 and npm"
        engine_kind = "this host's engine and images" if args.host_engine else "an empty engine"
        print(f"\nREADME's main command (scripts/demo) on {kind}, {engine_kind}; exit {code}")
        if not args.host_engine:
            print(f"  {'engine start':<28} {engine_seconds:6.1f} s  (dockerd with an empty data root, before the clock)")
        for step, seconds, remark in split(seen, total):
            print(f"  {step:<28} {seconds:6.1f} s  {remark}")
        print(f"  report written: {bool(reports)}")
        return code if reports else 1
    finally:
        if args.keep_root:
            say(f"root left at {root}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
