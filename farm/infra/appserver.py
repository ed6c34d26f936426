"""Serves a suite's `app/` folder over HTTP for the length of a run, where the browsers can reach it.

The standard library's threading HTTP server is enough for static pages; it binds to one address
only (the farm network's gateway), never to all interfaces.
"""

from __future__ import annotations

import functools
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
    # serve_forever notices a shutdown between polls: 0.5 s by default, at the end of every run
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="farm-app", daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
