"""Serves a suite's `app/` folder over HTTP for the length of a run, where the browsers can reach it.

The standard library's threading HTTP server is enough for static pages; it binds to one address
only (the farm network's gateway), never to all interfaces.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(directory: Path, host: str) -> Iterator[int]:
    """Serve `directory` on `host` at a free port; yields the port."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="farm-app", daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


@contextmanager
def relay(listen_host: str, target_port: int) -> Iterator[int]:
    """Forward TCP from `listen_host` (the farm network's gateway) to 127.0.0.1:target_port.

    Lets `--base-url http://localhost:PORT/` work from browsers inside containers, whose own
    localhost is not the host's. A few lines of standard library: nothing on PyPI does just this.
    """
    server = socket.create_server((listen_host, 0))
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", target_port), timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=accept, name="farm-relay", daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        server.close()
