"""`file://` pages in Grid browsers: the runner's files, served read-only on the runner's localhost.

A suite that writes HTML and opens it as `file:///...` expects the browser to read the runner's
disk. The farm's browsers run in containers: Firefox shows "file not found", and Chrome loads a blank
page and raises nothing, so the test then fails as if the product were wrong. Farm serves the
suite's files to the browsers instead, on a read-only HTTP server on the runner's loopback, which the
browsers reach through farm's localhost route (farm.run.loopback_proxy): `get("file:///p/x.html")`
opens `http://localhost:PORT/p/x.html`, relative links resolve the same way, and `current_url`
reads back as `file:///p/x.html`.

Only files under the suite's root (pytest's rootdir) and pytest's own temporary folder (where
`tmp_path` pages live) are served; any other `file://` URL is refused at the `get` with an error that
says why. Writing by hand: http.server's handler does the serving; farm adds the roots check and the
URL mapping, which no library does for WebDriver.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
from selenium.common.exceptions import InvalidArgumentException


class FilePageRefused(InvalidArgumentException):
    """A file:// URL farm cannot show the Grid's browsers."""


def suite_folders(config: pytest.Config) -> list[Path]:
    """The suite's root (pytest's rootdir) and pytest's temporary folders (`tmp_path` and friends)."""
    basetemp = config.option.basetemp or Path(tempfile.gettempdir()) / f"pytest-of-{getpass.getuser()}"
    return [Path(config.rootpath), Path(basetemp)]


NO_ROUTE = (
    "farm: {url}: the Grid's browsers cannot read the runner's files, and this grid has no route to the runner's "
    "localhost to serve them through (farm's own farm has one); serve the page over HTTP"
)


class _ReadOnly(SimpleHTTPRequestHandler):
    """GET and HEAD of files under the roots; nothing listed, nothing written, nothing logged."""

    roots: tuple[Path, ...] = ()

    def translate_path(self, path: str) -> str:
        target = Path(unquote(urlsplit(path).path)).resolve()
        return str(target) if any(target.is_relative_to(root) for root in self.roots) else "/nonexistent-outside-the-roots"

    def list_directory(self, path: Any) -> None:
        self.send_error(404)
        return None

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FilePages:
    """The worker's file server, started at the first file:// page."""

    def __init__(self, roots: list[Path]) -> None:
        self.roots = tuple(dict.fromkeys(root.resolve() for root in roots))
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def origin(self) -> str:
        if self._server is None:
            with self._lock:
                if self._server is None:
                    handler = type("ReadOnly", (_ReadOnly,), {"roots": self.roots})
                    self._server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory="/"))
                    self._server.daemon_threads = True
                    threading.Thread(target=self._server.serve_forever, name="farm-file-pages", daemon=True).start()
        return f"http://localhost:{self._server.server_address[1]}"

    def to_http(self, url: str) -> str:
        """The http URL a Grid browser opens for `url` (a file:// URL); FilePageRefused outside the roots."""
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise FilePageRefused(f"farm: {url} names another machine; the Grid's browsers can only be shown the runner's files")
        path = Path(unquote(parts.path)).resolve()
        if not any(path.is_relative_to(root) for root in self.roots):
            roots = " or ".join(str(root) for root in self.roots)
            raise FilePageRefused(
                f"farm: {url} is outside the suite's folders ({roots}); the Grid's browsers cannot read it, "
                "so farm serves file:// pages only from there: write the page under one of them"
            )
        query = f"?{parts.query}" if parts.query else ""
        fragment = f"#{parts.fragment}" if parts.fragment else ""
        return f"{self.origin}{quote(str(path))}{query}{fragment}"

    def to_file(self, url: str) -> str:
        """A URL the browser reports, as the test would see it without farm (file:// for served pages)."""
        if self._server is None or not url.startswith(self.origin + "/"):
            return url
        return "file://" + url[len(self.origin) :]

    def close(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.shutdown()
                self._server.server_close()
            self._server = None
