"""The browsers' `localhost` is the runner's: a forwarding proxy for loopback targets only.

Suites start their application on the runner's localhost (a `live_server`, a Dash app, a notebook
server), on any port, at any time, from any worker. The farm's browsers run in containers, whose
own localhost is the container. Every farm session is pointed at this proxy for loopback URLs
(Chrome: `--proxy-server` with `<-loopback>` taken off its bypass list; Firefox:
`network.proxy.allow_hijacking_localhost`), so a browser opening `http://localhost:PORT/` reaches
PORT on the runner with the URL, Host header, cookies, redirects, fetch/XHR and WebSockets (a
CONNECT tunnel) exactly as the app expects, and as a secure context, since the origin is localhost.

Not an open proxy: it listens only on the farm network's gateway (where the farm's containers reach
the runner), and forwards only to the runner's loopback; any other target is refused with 403 and
a reason before anything connects to it. proxy.py does the proxying; farm adds only the rule.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

import proxy
from proxy.common.utils import text_
from proxy.http.exception import HttpRequestRejected
from proxy.http.parser import HttpParser
from proxy.http.proxy import HttpProxyBasePlugin

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def is_loopback_target(host: str) -> bool:
    """A name or address that means the runner itself (`*.localhost` is loopback by RFC 6761)."""
    host = host.strip().lower().rstrip(".")
    return host in LOOPBACK_HOSTS or host.endswith(".localhost")


def refusal(host: str) -> str:
    return (
        f"farm: this proxy only reaches the test runner's localhost; {host or 'that target'} is not loopback. "
        "Open the application as http://localhost:PORT/, or serve it where the browsers reach it (FARM_APP_HOST).\n"
    )


class LoopbackOnly(HttpProxyBasePlugin):  # type: ignore[misc]
    """Refuse any target that is not the runner's loopback, before connecting upstream."""

    def before_upstream_connection(self, request: HttpParser) -> HttpParser | None:
        host = text_(request.host or b"")
        if not is_loopback_target(host):
            raise HttpRequestRejected(status_code=403, reason=b"Forbidden", body=refusal(host).encode())
        return request


EXIT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


@contextlib.contextmanager
def loopback_proxy(listen_host: str) -> Iterator[int]:
    """Run the proxy on `listen_host` (the farm network's gateway) at a free port; yields the port.

    proxy.py, set up from the main thread, replaces SIGINT and SIGTERM handlers with `sys.exit(0)`,
    which would turn a Ctrl-C of `farm test` into a silent success: the caller's handlers are put back.
    """
    flags = ["--hostname", listen_host, "--port", "0", "--num-acceptors", "1", "--threaded", "--log-level", "ERROR"]
    on_main_thread = threading.current_thread() is threading.main_thread()
    saved = {signum: signal.getsignal(signum) for signum in EXIT_SIGNALS} if on_main_thread else {}
    others = set(multiprocessing.active_children())
    try:
        with proxy.Proxy(flags, plugins=[LoopbackOnly]) as running:
            _restore(saved)
            acceptors = set(multiprocessing.active_children()) - others
            try:
                yield int(running.flags.port)
            finally:
                _interrupt(acceptors)
    finally:
        _restore(saved)


def _interrupt(acceptors: set[multiprocessing.process.BaseProcess]) -> None:
    """Wake proxy.py's acceptor processes for its shutdown. An acceptor checks for the shutdown
    between waits of 1 s on its socket, so every run ended 0.7 s later on average; interrupted, it
    leaves its loop the way proxy.py handles a Ctrl-C, closing its sockets."""
    for acceptor in acceptors:
        if acceptor.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(acceptor.pid, signal.SIGINT)


def _restore(handlers: dict[signal.Signals, Any]) -> None:
    for signum, handler in handlers.items():
        signal.signal(signum, handler)
