"""WebDriver options per browser, what every session request gets, and opening a Grid session.

Every farm browser talks to the application under test and nothing else: background networking,
first-run pages and update checks are off, in farm's own options and (added at session start) in
any session a suite builds itself. Farm's own `driver` runs headless at a fixed size; a suite's
driver keeps its own choice (the nodes have an X server).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from selenium import webdriver
from selenium.common.exceptions import SessionNotCreatedException
from selenium.webdriver.common.options import ArgOptions
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from farm.core.catalogue import BROWSERS
from farm.core.failures import is_infrastructure

try:  # selenium >= 4.26; older releases take the executor URL alone
    from selenium.webdriver.remote.client_config import ClientConfig
except ImportError:  # pragma: no cover - exercised by the oldest-selenium CI venv
    ClientConfig = None  # type: ignore[assignment,misc]

WINDOW = (1280, 800)
NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens, so a connection is refused at once
OFFLINE_CHROMIUM_ARGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-sync",
    "--disable-features=Translate,OptimizationHints,MediaRouter,InterestFeedContentSuggestions,NetworkTimeServiceQuerying",
    "--dns-prefetch-disable",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-pings",
    "--metrics-recording-only",
    # Two requests no switch above turns off (Chromium 156, seen in a net log of a farm session): the
    # account list of the sign-in service (accounts.google.com/ListAccounts, three per session) and
    # an on-demand update check for the on-device model manifest (update.googleapis.com). Chromium's
    # own test switches point those services elsewhere; a closed port on the node's loopback ends
    # them there. Pages that open accounts.google.com are not affected.
    f"--gaia-url={NOWHERE}",
    f"--component-updater=url-source={NOWHERE}",
)
FIREFOX_PREFS: dict[str, object] = {
    "app.update.auto": False,
    "app.update.enabled": False,
    "browser.newtabpage.enabled": False,
    "browser.region.update.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.search.update": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "datareporting.healthreport.uploadEnabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "extensions.getAddons.cache.enabled": False,
    "extensions.update.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.http.speculative-parallel-limit": 0,
    "network.prefetch-next": False,
    "network.trr.mode": 5,
    "toolkit.telemetry.enabled": False,
    # Exit once XPCOM shuts down, as Playwright's Firefox does: the profile is thrown away with the
    # session, and otherwise every quit waits for an outside name lookup that an offline node's
    # resolver cannot answer (5 s; 1 s with `offline`). benchmarks/firefox_quit.py measures it.
    "toolkit.shutdown.fastShutdownStage": 3,
}
VENDOR_KEYS = {"chrome": "goog:chromeOptions", "edge": "ms:edgeOptions", "firefox": "moz:firefoxOptions"}
# W3C capabilities; anything else without a vendor prefix ("x:") is refused by the Grid.
W3C_KEYS = frozenset(
    {
        "browserName",
        "browserVersion",
        "platformName",
        "acceptInsecureCerts",
        "pageLoadStrategy",
        "proxy",
        "setWindowRect",
        "timeouts",
        "strictFileInteractability",
        "unhandledPromptBehavior",
        "webSocketUrl",
        "userAgent",
    }
)
# Standard capabilities a local driver's options carry over to any browser.
PORTABLE_KEYS = (
    "acceptInsecureCerts",
    "pageLoadStrategy",
    "unhandledPromptBehavior",
    "timeouts",
    "strictFileInteractability",
    "webSocketUrl",
)
# WebDriver's default user prompt handler, and the one farm asks for when it adds a BiDi socket to a
# Firefox session: with the socket, Firefox handles a prompt the moment it opens (a click's
# `confirm()` is closed before `switch_to.alert` can read it); "ignore" leaves it open, as a session
# without the socket would, and farm applies the suite's own handler when a command meets the prompt.
CLASSIC_PROMPTS = "dismiss and notify"
KEEP_PROMPTS = "ignore"
# Session capabilities holding a socket URL on the hub: the Grid writes its container address there.
SOCKET_KEYS = ("webSocketUrl", "se:cdp", "se:bidi")
LOCAL_ONLY_ARGS = ("--user-data-dir", "--remote-debugging-port", "--remote-debugging-pipe", "--profile-directory", "-profile", "--profile")
HEADLESS_ARGS = ("--headless", "-headless")


def family(browser: str) -> str:
    """chrome and edge are both Chromium: their options mean the same."""
    return "firefox" if browser == "firefox" else "chromium"


def new_options(browser: str) -> ArgOptions:
    if browser == "firefox":
        return webdriver.FirefoxOptions()
    return webdriver.EdgeOptions() if browser == "edge" else webdriver.ChromeOptions()


def headless_args(browser: str) -> tuple[str, ...]:
    return ("-headless",) if browser == "firefox" else ("--headless=new",)


def size_args(browser: str, width: int, height: int) -> tuple[str, ...]:
    return (f"--width={width}", f"--height={height}") if browser == "firefox" else (f"--window-size={width},{height}",)


def browser_options(browser: str) -> ArgOptions:
    """Farm's own options for a browser: headless, fixed size, offline."""
    options = new_options(browser)
    for arg in (*headless_args(browser), *size_args(browser, *WINDOW)):
        options.add_argument(arg)
    if browser == "firefox":
        for key, value in FIREFOX_PREFS.items():
            options.set_preference(key, value)  # type: ignore[attr-defined]
    else:
        for arg in OFFLINE_CHROMIUM_ARGS:
            options.add_argument(arg)
    assert options.capabilities["browserName"] == BROWSERS[browser].grid_name
    return options


# ------------------------------------------------------------------------------------------------
# Every session request, whoever builds it


def _each_match(capabilities: dict[str, Any]) -> list[dict[str, Any]]:
    """The flat capability dicts of a request, flat or W3C (`{"capabilities": {alwaysMatch, firstMatch}}`)."""
    inner = capabilities.get("capabilities")
    if isinstance(inner, dict) and ("alwaysMatch" in inner or "firstMatch" in inner):
        return [inner.setdefault("alwaysMatch", {}), *inner.get("firstMatch", [])]
    return [capabilities]


def clean_capabilities(capabilities: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Drop keys the Grid refuses (not W3C, no vendor prefix: an old client's `marionette`)."""
    cleaned = copy.deepcopy(capabilities)
    dropped: list[str] = []
    for match in _each_match(cleaned):
        for key in [k for k in match if k not in W3C_KEYS and ":" not in k]:
            del match[key]
            dropped.append(key)
    return cleaned, dropped


@dataclass(frozen=True)
class LocalhostRoute:
    """Where the browsers' loopback URLs go (farm.run.loopback_proxy), and the hosts they reach directly."""

    proxy: str  # host:port of the loopback proxy, as the browsers reach it
    direct: tuple[str, ...]  # the farm's own app server: farm-host and the gateway address

    def chromium_args(self) -> list[str]:
        # `<-loopback>` takes localhost off Chrome's implicit bypass list, so it goes to the proxy too
        return [f"--proxy-server=http://{self.proxy}", "--proxy-bypass-list=" + ";".join(("<-loopback>", *self.direct))]

    def firefox_prefs(self) -> dict[str, object]:
        host, _, port = self.proxy.rpartition(":")
        return {
            "network.proxy.type": 1,
            "network.proxy.http": host,
            "network.proxy.http_port": int(port),
            "network.proxy.ssl": host,
            "network.proxy.ssl_port": int(port),
            "network.proxy.no_proxies_on": ", ".join(self.direct),
            "network.proxy.allow_hijacking_localhost": True,
        }


def harden_capabilities(
    capabilities: dict[str, Any], route: LocalhostRoute | None = None, *, bidi: bool = False, headed: bool = False
) -> dict[str, Any]:
    """Background networking off, the node's own browser binary, and (with a route) localhost to the
    runner, in any session request. A suite's own proxy settings are left alone.

    `bidi` asks a Firefox session for a BiDi socket (farm reads the page's console through it; a
    Chromium session's CDP socket serves that at no cost) unless the request says otherwise;
    `headed` takes headless flags out, so the session's display can be recorded.
    """
    hardened = copy.deepcopy(capabilities)
    matches = _each_match(hardened)
    firefox = any(m.get("browserName") == "firefox" or "moz:firefoxOptions" in m for m in matches)
    if bidi and firefox and not any("webSocketUrl" in m for m in matches):
        matches[0]["webSocketUrl"] = True
        asking = [m for m in matches if "unhandledPromptBehavior" in m] or matches[:1]
        for match in asking:
            match["unhandledPromptBehavior"] = KEEP_PROMPTS
    for match in matches:
        if headed:
            _show_window(match)
        for browser, key in VENDOR_KEYS.items():
            vendor = match.get(key)
            if vendor is None and str(match.get("browserName", "")).lower() != BROWSERS[browser].grid_name.lower():
                continue
            vendor = match.setdefault(key, {})
            vendor.pop("binary", None)  # a path on the suite's machine; the node has its own browser
            own_proxy = "proxy" in match
            if browser == "firefox":
                prefs = vendor.setdefault("prefs", {})
                own_proxy = own_proxy or "network.proxy.type" in prefs
                extra = {**FIREFOX_PREFS, **(route.firefox_prefs() if route and not own_proxy else {})}
                for pref, value in extra.items():
                    prefs.setdefault(pref, value)
            else:
                args = vendor.setdefault("args", [])
                own_proxy = own_proxy or any(str(a).startswith("--proxy-") for a in args)
                extra_args = [*OFFLINE_CHROMIUM_ARGS, *(route.chromium_args() if route and not own_proxy else [])]
                args.extend(arg for arg in extra_args if arg not in args)
    return hardened


def prompt_handler(capabilities: dict[str, Any]) -> str:
    """The user prompt handler a session request asks for (WebDriver's default when it names none;
    the map form's "default" entry)."""
    asked = next((m["unhandledPromptBehavior"] for m in _each_match(capabilities) if "unhandledPromptBehavior" in m), CLASSIC_PROMPTS)
    if isinstance(asked, dict):
        asked = asked.get("default", CLASSIC_PROMPTS)
    return str(asked)


def _show_window(match: dict[str, Any]) -> None:
    """A recorded session draws on its display: no headless flag, no MOZ_HEADLESS."""
    for key in VENDOR_KEYS.values():
        vendor = match.get(key)
        if not isinstance(vendor, dict):
            continue
        if isinstance(vendor.get("args"), list):
            vendor["args"] = [a for a in vendor["args"] if not str(a).startswith(HEADLESS_ARGS)]
        if isinstance(vendor.get("env"), dict):
            vendor["env"].pop("MOZ_HEADLESS", None)


def reachable_sockets(capabilities: dict[str, Any], grid_url: str) -> dict[str, str]:
    """The session's BiDi and CDP URLs on the address the runner reaches the Grid at.

    The hub answers with its own container address (ws://172.x.y.z:4444/session/ID/se/bidi), which
    the runner cannot open; the same path on the Grid URL farm uses does work.
    """
    grid = urlsplit(grid_url)
    scheme = "wss" if grid.scheme == "https" else "ws"
    rewritten = {}
    for key in SOCKET_KEYS:
        value = capabilities.get(key)
        if isinstance(value, str) and urlsplit(value).path.startswith(("/session/", f"{grid.path.rstrip('/')}/session/")):
            rewritten[key] = urlunsplit(urlsplit(value)._replace(scheme=scheme, netloc=grid.netloc))
    return rewritten


# ------------------------------------------------------------------------------------------------
# A suite's local driver becomes a Grid session


def _window_size(args: list[str]) -> tuple[int, int] | None:
    values = dict(arg.lstrip("-").split("=", 1) for arg in args if "=" in arg)
    with_size = values.get("window-size", "")
    if "," in with_size:
        width, height = with_size.split(",", 1)
        if width.strip().isdigit() and height.strip().isdigit():
            return int(width), int(height)
    if values.get("width", "").isdigit() and values.get("height", "").isdigit():
        return int(values["width"]), int(values["height"])
    return None


def _is_size(arg: str) -> bool:
    return arg.lstrip("-").split("=", 1)[0] in ("window-size", "width", "height")


def translate_options(source: ArgOptions | None, source_browser: str, target: str) -> tuple[ArgOptions, list[str]]:
    """Options for `target` carrying over what `source` (a local driver's options) means.

    Headless, window size and the portable W3C capabilities carry over to any browser; arguments,
    preferences and experimental options only within one family (Chromium, Firefox). Paths of the
    suite's machine (binary, profile, user data dir) never do. Returns the options and what was dropped.
    """
    options = new_options(target)
    if source is None:
        return options, []
    dropped: list[str] = []
    args = [str(a) for a in getattr(source, "arguments", [])]
    headless = getattr(source, "headless", False) is True or any(a.split("=")[0] in HEADLESS_ARGS for a in args)
    same = family(source_browser) == family(target)
    for arg in args:
        if arg.split("=")[0] in HEADLESS_ARGS or _is_size(arg):
            continue
        if same and not arg.split("=")[0].startswith(LOCAL_ONLY_ARGS):
            options.add_argument(arg)
        else:
            dropped.append(arg)
    for arg in headless_args(target) if headless else ():
        options.add_argument(arg)
    size = _window_size(args)
    for arg in size_args(target, *size) if size else ():
        options.add_argument(arg)
    # What selenium itself puts in every options object is not the suite's intent: leave it out.
    defaults = new_options(source_browser)
    capabilities = {k: v for k, v in (getattr(source, "capabilities", {}) or {}).items() if defaults.capabilities.get(k, object()) != v}
    # the cell decides the browser; its version and platform are whatever the farm's nodes run
    own = {"browserName", "browserVersion", "platformName", *VENDOR_KEYS.values()}
    carried = [k for k in capabilities if k not in own and (same or k in PORTABLE_KEYS)]
    for key in carried:
        options.set_capability(key, capabilities[key])
    dropped += [f"capability {k}" for k in capabilities if k not in carried and k not in ("browserName", *VENDOR_KEYS.values())]
    if getattr(source, "binary_location", ""):
        dropped.append(f"binary_location={source.binary_location}")  # type: ignore[attr-defined]
    dropped += _carry_vendor_options(source, options, same, defaults)
    return options, dropped


def _carry_vendor_options(source: ArgOptions, options: ArgOptions, same: bool, defaults: ArgOptions) -> list[str]:
    dropped: list[str] = []
    experimental = {k: v for k, v in (getattr(source, "experimental_options", None) or {}).items() if k != "debuggerAddress"}
    default_prefs = dict(getattr(defaults, "preferences", None) or {})
    preferences = {k: v for k, v in (getattr(source, "preferences", None) or {}).items() if default_prefs.get(k, object()) != v}
    extensions = list(getattr(source, "extensions", None) or [])
    if same:
        for key, value in experimental.items():
            options.add_experimental_option(key, value)  # type: ignore[attr-defined]
        for key, value in preferences.items():
            options.set_preference(key, value)  # type: ignore[attr-defined]
        for extension in extensions:
            options.add_encoded_extension(extension)  # type: ignore[attr-defined]
        return dropped
    dropped += [f"experimental option {k}" for k in experimental]
    dropped += [f"preference {k}" for k in preferences]
    dropped += ["extensions"] if extensions else []
    return dropped


# ------------------------------------------------------------------------------------------------
# Opening a session


def remote_driver(grid_url: str, options: ArgOptions, timeout: int = 120) -> webdriver.Remote:
    """A Remote session on the Grid, with a request timeout where this selenium supports one."""
    if ClientConfig is None:
        return webdriver.Remote(command_executor=grid_url, options=options)
    return webdriver.Remote(
        command_executor=grid_url, options=options, client_config=ClientConfig(remote_server_addr=grid_url, timeout=timeout)
    )


class NoSlotLeft(SessionNotCreatedException):
    """The Grid has no UP slot for this browser any more: a rerun would wait in its queue forever."""


def is_refused(exc: BaseException) -> bool:
    """The hub refused the session: no UP node offers the browser (asking again cannot help)."""
    return "no nodes support the capabilities" in str(exc).lower()


def open_session(grid_url: str, browser: str, attempts: int = 3, timeout: int = 120, bidi: bool = False) -> webdriver.Remote:
    """Farm's own session on the Grid (with a BiDi socket if asked); retried only when the
    infrastructure failed to create it."""
    options = browser_options(browser)
    if bidi:
        options.set_capability("webSocketUrl", True)
    for attempt in Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=0.5, max=5),
        retry=retry_if_exception(lambda exc: is_infrastructure(exc) and not is_refused(exc)),
        reraise=True,
    ):
        with attempt:
            return remote_driver(grid_url, options, timeout)
    raise AssertionError("unreachable")  # pragma: no cover
