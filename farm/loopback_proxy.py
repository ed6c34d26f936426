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
from collections.abc import Iterator

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


@contextlib.contextmanager
def loopback_proxy(listen_host: str) -> Iterator[int]:
    """Run the proxy on `listen_host` (the farm network's gateway) at a free port; yields the port."""
    flags = ["--hostname", listen_host, "--port", "0", "--num-acceptors", "1", "--threaded", "--log-level", "ERROR"]
    with proxy.Proxy(flags, plugins=[LoopbackOnly]) as running:
        yield int(running.flags.port)
