"""WebDriver options per browser, and opening a Grid session with retries on infrastructure errors.

Every browser runs headless, at a fixed window size, with background networking, first-run pages
and update checks off: a farm's browsers talk to the application under test and nothing else.
"""

from __future__ import annotations

from selenium import webdriver
from selenium.common.exceptions import SessionNotCreatedException
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


def is_infrastructure_error(exc: BaseException) -> bool:
    """Errors of the Grid or the browser, not of the test: worth a new session, never a rerun of a test."""
    if isinstance(exc, SessionNotCreatedException | ConnectionError | Urllib3Error):
        return True
    message = str(exc).lower()
    return any(
        marker in message
        for marker in (
            "session not created",
            "connection refused",
            "invalid session id",
            "browser has closed",
            "chrome not reachable",
            "tab crashed",
            "failed to decode response from marionette",
        )
    )


def open_session(grid_url: str, browser: str, attempts: int = 3, timeout: int = 120) -> webdriver.Remote:
    """A Remote session on the Grid; retried only when the infrastructure failed to create it."""
    for attempt in _Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=0.5, max=5),
        retry=retry_if_exception(is_infrastructure_error),
        reraise=True,
    ):
        with attempt:
            return webdriver.Remote(
                command_executor=grid_url,
                options=browser_options(browser),
                client_config=ClientConfig(remote_server_addr=grid_url, timeout=timeout),
            )
    raise AssertionError("unreachable")  # pragma: no cover
