"""A live-server suite for pytest-selenium: every worker starts the app on 127.0.0.1 at a free port,
and the app only answers `Host: localhost:PORT` (as Django's and Jupyter's do)."""

import asyncio
import os
import threading

import pytest
from aiohttp import web

PAGE = """<!doctype html><html><head><title>Live shop</title></head><body>
<h1 id="title">Live shop</h1><p id="fetched">loading</p><p id="ws">connecting</p>
<script>
fetch('/api/items').then(r => r.json()).then(d => { document.getElementById('fetched').textContent = d.items + ' items'; });
const socket = new WebSocket('ws://' + location.host + '/ws');
socket.onopen = () => socket.send('hello');
socket.onmessage = (e) => { document.getElementById('ws').textContent = e.data; };
</script></body></html>"""


def make_app(port_box: dict) -> web.Application:
    @web.middleware
    async def local_host_only(request, handler):
        if request.host != f"localhost:{port_box['port']}":
            return web.Response(status=403, text=f"Blocking request with non-local 'Host' {request.host}")
        return await handler(request)

    async def page(request):
        return web.Response(text=PAGE, content_type="text/html")

    async def items(request):
        return web.json_response({"items": 3})

    async def login(request):
        response = web.HTTPFound("/account")
        response.set_cookie("session", "abc123", path="/")
        raise response

    async def account(request):
        who = request.cookies.get("session", "nobody")
        return web.Response(text=f"<html><body><p id='who'>{who}</p></body></html>", content_type="text/html")

    async def echo(request):
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        async for message in socket:
            await socket.send_str(f"echo: {message.data}")
        return socket

    app = web.Application(middlewares=[local_host_only])
    app.add_routes([web.get("/", page), web.get("/api/items", items), web.get("/login", login), web.get("/account", account)])
    app.add_routes([web.get("/ws", echo)])
    return app


@pytest.fixture(scope="session")
def live_server():
    """The app on 127.0.0.1 at a port of this worker's own, for the whole session."""
    box: dict = {}
    started = threading.Event()
    loop = asyncio.new_event_loop()

    async def start() -> web.AppRunner:
        runner = web.AppRunner(make_app(box))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        box["port"] = runner.addresses[0][1]
        return runner

    def serve() -> None:
        asyncio.set_event_loop(loop)
        box["runner"] = loop.run_until_complete(start())
        started.set()
        loop.run_forever()

    threading.Thread(target=serve, daemon=True).start()
    started.wait(10)
    if os.environ.get("APP_PORTS_FILE"):
        with open(os.environ["APP_PORTS_FILE"], "a") as log:
            log.write(f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')} {box['port']}\n")
    yield f"http://localhost:{box['port']}/"
    loop.call_soon_threadsafe(loop.stop)


@pytest.fixture(scope="session")
def base_url(live_server):
    return live_server


@pytest.fixture
def chrome_options(chrome_options):
    chrome_options.binary_location = "/usr/bin/chromium"  # Debian's Chromium on the laptop
    chrome_options.add_argument("--headless=new")
    chrome_options.add_argument("--window-size=900,700")
    if os.geteuid() == 0:
        chrome_options.add_argument("--no-sandbox")
    return chrome_options


@pytest.fixture
def firefox_options(firefox_options):
    firefox_options.add_argument("-headless")
    firefox_options.add_argument("--width=900")
    firefox_options.add_argument("--height=700")
    return firefox_options


@pytest.fixture
def capabilities(capabilities):
    capabilities["acceptInsecureCerts"] = True
    return capabilities
