"""WebDriver options per browser, and opening a Grid session with retries on infrastructure errors.

Every browser runs headless, at a fixed window size, with background networking, first-run pages
and update checks off: a farm's browsers talk to the application under test and nothing else.
"""

from __future__ import annotations

import re

from selenium import webdriver
from selenium.common.exceptions import SessionNotCreatedException, WebDriverException
from selenium.webdriver.common.options import ArgOptions
from selenium.webdriver.remote.client_config import ClientConfig
from tenacity import Retrying as _Retrying
from tenacity import retry_if_exception, stop_after_attempt, wait_exponential
from urllib3.exceptions import HTTPError as Urllib3Error

from farm.config import BROWSERS

WINDOW = (1280, 800)
CHROMIUM_ARGS = (
    "--headless=new",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-sync",
    "--disable-features=Translate,OptimizationHints,MediaRouter,InterestFeedContentSuggestions",
    "--dns-prefetch-disable",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-pings",
    "--metrics-recording-only",
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
}


def browser_options(browser: str) -> ArgOptions:
    """Options for one farm browser name (chrome, firefox, edge)."""
    if browser == "firefox":
        options: ArgOptions = webdriver.FirefoxOptions()
        for arg in ("-headless", f"--width={WINDOW[0]}", f"--height={WINDOW[1]}"):
            options.add_argument(arg)
        for key, value in FIREFOX_PREFS.items():
            options.set_preference(key, value)  # type: ignore[attr-defined]
        return options
    options = webdriver.EdgeOptions() if browser == "edge" else webdriver.ChromeOptions()
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    assert options.capabilities["browserName"] == BROWSERS[browser].grid_name
    return options


# The session's node or browser is gone (the node was killed, the browser crashed): the Grid
# answers these after its own request timeout, so nothing more should be asked of that session.
SESSION_LOST_MARKERS = (
    "unable to execute request for an existing session",
    "timeout when executing request",
    "invalid session id",
    "no such session",
    "browser has closed",
    "chrome not reachable",
    "tab crashed",
    "failed to decode response from marionette",
)
RETRYABLE_MARKERS = ("session not created", "connection refused", *SESSION_LOST_MARKERS)
INFRASTRUCTURE_MARKERS = (*RETRYABLE_MARKERS, "no slot left")
# pytest-rerunfailures' --only-rerun: a cell whose session or node was lost runs once more, on a
# slot that still exists. Not a hang (pytest-timeout: it would only hang again), and not a cell
# refused for want of a slot (there is none to run it on).
RERUN_PATTERN = "(?i)" + "|".join(
    [re.escape(m) for m in RETRYABLE_MARKERS] + ["SessionNotCreatedException", "MaxRetryError", "NewConnectionError"]
)


class NoSlotLeft(WebDriverException):
    """The Grid has no UP slot for this browser any more: a rerun would wait in its queue forever."""


def is_infrastructure_error(exc: BaseException) -> bool:
    """Errors of the Grid or the browser, not of the test: worth a new session, never a rerun of a test."""
    if isinstance(exc, SessionNotCreatedException | ConnectionError | Urllib3Error | NoSlotLeft):
        return True
    message = str(exc).lower()
    return any(marker in message for marker in INFRASTRUCTURE_MARKERS)


def is_refused(exc: BaseException) -> bool:
    """The hub refused the session: no UP node offers the browser (asking again cannot help)."""
    return "no nodes support the capabilities" in str(exc).lower()


def is_session_lost(exc: BaseException) -> bool:
    """The browser or its node is gone: no screenshot, no quit, they would only time out again."""
    message = str(exc).lower()
    return any(marker in message for marker in SESSION_LOST_MARKERS)


def open_session(grid_url: str, browser: str, attempts: int = 3, timeout: int = 120) -> webdriver.Remote:
    """A Remote session on the Grid; retried only when the infrastructure failed to create it."""
    for attempt in _Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=0.5, max=5),
        retry=retry_if_exception(lambda exc: is_infrastructure_error(exc) and not is_refused(exc)),
        reraise=True,
    ):
        with attempt:
            return webdriver.Remote(
                command_executor=grid_url,
                options=browser_options(browser),
                client_config=ClientConfig(remote_server_addr=grid_url, timeout=timeout),
            )
    raise AssertionError("unreachable")  # pragma: no cover
