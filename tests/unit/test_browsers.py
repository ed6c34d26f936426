"""What every session request gets, and how a local driver's options become a Grid session's."""

from __future__ import annotations

from selenium import webdriver

from farm.infra.browsers import (
    CLASSIC_PROMPTS,
    FIREFOX_PREFS,
    KEEP_PROMPTS,
    OFFLINE_CHROMIUM_ARGS,
    LocalhostRoute,
    clean_capabilities,
    harden_capabilities,
    prompt_handler,
    reachable_sockets,
    translate_options,
)
from farm.run.loopback_proxy import is_loopback_target

ROUTE = LocalhostRoute("farm-host:41000", ("farm-host", "172.18.0.1"))


def test_keys_the_grid_refuses_are_removed_flat_and_w3c():
    flat, dropped = clean_capabilities(
        {"browserName": "firefox", "marionette": True, "moz:firefoxOptions": {}, "acceptInsecureCerts": True}
    )
    assert flat == {"browserName": "firefox", "moz:firefoxOptions": {}, "acceptInsecureCerts": True} and dropped == ["marionette"]
    w3c = {"capabilities": {"alwaysMatch": {"browserName": "firefox", "marionette": True}, "firstMatch": [{"javascriptEnabled": True}]}}
    cleaned, dropped = clean_capabilities(w3c)
    assert cleaned["capabilities"] == {"alwaysMatch": {"browserName": "firefox"}, "firstMatch": [{}]}
    assert sorted(dropped) == ["javascriptEnabled", "marionette"]
    assert w3c["capabilities"]["alwaysMatch"]["marionette"] is True  # the caller's dict is untouched


def test_every_chromium_session_is_offline_proxied_and_uses_the_nodes_binary():
    caps = {"browserName": "chrome", "goog:chromeOptions": {"args": ["--window-size=800,600"], "binary": "/opt/google/chrome"}}
    hardened = harden_capabilities(caps, ROUTE)["goog:chromeOptions"]
    assert "binary" not in hardened
    assert hardened["args"][0] == "--window-size=800,600"
    assert set(OFFLINE_CHROMIUM_ARGS) <= set(hardened["args"])
    assert "--proxy-server=http://farm-host:41000" in hardened["args"]
    assert "--proxy-bypass-list=<-loopback>;farm-host;172.18.0.1" in hardened["args"]


def test_every_firefox_session_is_offline_and_proxied_but_keeps_its_own_prefs():
    caps = {"browserName": "firefox", "moz:firefoxOptions": {"prefs": {"app.update.auto": True}}}
    prefs = harden_capabilities(caps, ROUTE)["moz:firefoxOptions"]["prefs"]
    assert prefs["app.update.auto"] is True  # the suite's own value wins
    assert prefs["network.proxy.http"] == "farm-host" and prefs["network.proxy.http_port"] == 41000
    assert prefs["network.proxy.allow_hijacking_localhost"] is True
    assert prefs["network.proxy.no_proxies_on"] == "farm-host, 172.18.0.1"
    assert all(prefs[k] == v for k, v in FIREFOX_PREFS.items() if k != "app.update.auto")


def test_a_suites_own_proxy_is_left_alone():
    chrome = {"browserName": "chrome", "goog:chromeOptions": {"args": ["--proxy-server=http://corp:3128"]}}
    assert not any("farm-host" in a for a in harden_capabilities(chrome, ROUTE)["goog:chromeOptions"]["args"])
    firefox = {"browserName": "firefox", "proxy": {"proxyType": "manual"}}
    assert "network.proxy.http" not in harden_capabilities(firefox, ROUTE)["moz:firefoxOptions"]["prefs"]


def test_no_route_no_proxy():
    args = harden_capabilities({"browserName": "chrome"})["goog:chromeOptions"]["args"]
    assert not any(a.startswith("--proxy") for a in args)


def laptop_chrome() -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/google-chrome"
    for arg in ("--headless=new", "--window-size=800,600", "--user-data-dir=/home/dev/profile", "--lang=de"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": "de"})
    options.set_capability("acceptInsecureCerts", True)
    return options


def test_chrome_options_on_a_chrome_cell_carry_over_but_for_local_paths():
    options, dropped = translate_options(laptop_chrome(), "chrome", "chrome")
    assert isinstance(options, webdriver.ChromeOptions) and not options.binary_location
    assert options.arguments == ["--lang=de", "--headless=new", "--window-size=800,600"]
    assert options.experimental_options["prefs"] == {"intl.accept_languages": "de"}
    assert options.to_capabilities()["acceptInsecureCerts"] is True
    assert dropped == ["--user-data-dir=/home/dev/profile", "binary_location=/usr/bin/google-chrome"]


def test_chrome_options_on_a_firefox_cell_keep_their_meaning():
    options, dropped = translate_options(laptop_chrome(), "chrome", "firefox")
    assert isinstance(options, webdriver.FirefoxOptions)
    assert options.arguments == ["-headless", "--width=800", "--height=600"]
    assert options.to_capabilities()["acceptInsecureCerts"] is True  # a W3C capability means the same anywhere
    assert "--lang=de" in dropped and "experimental option prefs" in dropped and "--user-data-dir=/home/dev/profile" in dropped


def test_firefox_options_on_a_chrome_cell():
    source = webdriver.FirefoxOptions()
    for arg in ("-headless", "--width=1024", "--height=700"):
        source.add_argument(arg)
    source.set_preference("dom.webnotifications.enabled", False)
    options, dropped = translate_options(source, "firefox", "chrome")
    assert options.arguments == ["--headless=new", "--window-size=1024,700"]
    assert dropped == ["preference dom.webnotifications.enabled"]


def test_a_headed_suite_stays_headed():
    options, _ = translate_options(webdriver.ChromeOptions(), "chrome", "firefox")
    assert options.arguments == []


def test_loopback_targets():
    for host in ("localhost", "LOCALHOST", "127.0.0.1", "::1", "[::1]", "app.localhost", "localhost."):
        assert is_loopback_target(host), host
    for host in ("172.18.0.1", "farm-host", "example.com", "localhost.example.com", "10.0.0.1", ""):
        assert not is_loopback_target(host), host


def test_bidi_and_cdp_urls_move_to_the_grid_address_the_runner_uses():
    caps = {
        "webSocketUrl": "ws://172.18.0.2:4444/session/abc/se/bidi",
        "se:cdp": "ws://172.18.0.2:4444/session/abc/se/cdp",
        "browserName": "chrome",
    }
    assert reachable_sockets(caps, "http://127.0.0.1:45123") == {
        "webSocketUrl": "ws://127.0.0.1:45123/session/abc/se/bidi",
        "se:cdp": "ws://127.0.0.1:45123/session/abc/se/cdp",
    }
    assert reachable_sockets({"webSocketUrl": True}, "http://127.0.0.1:4444") == {}  # asked for, not granted


def test_firefox_sessions_ask_for_bidi_unless_the_suite_said_no():
    assert harden_capabilities({"browserName": "firefox"}, bidi=True)["webSocketUrl"] is True
    assert harden_capabilities({"browserName": "firefox", "webSocketUrl": False}, bidi=True)["webSocketUrl"] is False
    w3c = {"capabilities": {"alwaysMatch": {"browserName": "firefox"}, "firstMatch": [{"webSocketUrl": False}]}}
    assert "webSocketUrl" not in harden_capabilities(w3c, bidi=True)["capabilities"]["alwaysMatch"]
    assert "webSocketUrl" not in harden_capabilities({"browserName": "firefox"})
    # Chromium's console comes through its CDP socket: BiDi would start chromedriver's mapper (0.44 s)
    assert "webSocketUrl" not in harden_capabilities({"browserName": "chrome"}, bidi=True)


def test_prompts_stay_open_where_farm_adds_the_socket_and_the_suites_handler_is_known():
    """With farm's socket Firefox would handle a prompt as it opens: farm asks for "ignore" and
    remembers what the suite asked for (WebDriver's default when nothing)."""
    plain = harden_capabilities({"browserName": "firefox"}, bidi=True)
    assert plain["unhandledPromptBehavior"] == KEEP_PROMPTS and prompt_handler({"browserName": "firefox"}) == CLASSIC_PROMPTS
    asked = {"browserName": "firefox", "unhandledPromptBehavior": "accept"}
    assert prompt_handler(asked) == "accept" and harden_capabilities(asked, bidi=True)["unhandledPromptBehavior"] == KEEP_PROMPTS
    w3c = {"capabilities": {"alwaysMatch": {"browserName": "firefox"}, "firstMatch": [{"unhandledPromptBehavior": "dismiss"}]}}
    hardened = harden_capabilities(w3c, bidi=True)["capabilities"]
    assert "unhandledPromptBehavior" not in hardened["alwaysMatch"] and hardened["firstMatch"][0]["unhandledPromptBehavior"] == KEEP_PROMPTS
    assert prompt_handler({"unhandledPromptBehavior": {"default": "accept and notify", "alert": "ignore"}}) == "accept and notify"
    # the suite's own socket, Chrome, or no console: the request is the suite's
    own_socket = {"browserName": "firefox", "webSocketUrl": True}
    assert "unhandledPromptBehavior" not in harden_capabilities(own_socket, bidi=True)
    assert "unhandledPromptBehavior" not in harden_capabilities({"browserName": "chrome"}, bidi=True)
    assert "unhandledPromptBehavior" not in harden_capabilities({"browserName": "firefox"})


def test_a_recorded_session_is_headed():
    caps = {
        "browserName": "firefox",
        "moz:firefoxOptions": {"args": ["-headless", "--width=800"], "env": {"MOZ_HEADLESS": "1", "LANG": "C"}},
    }
    firefox = harden_capabilities(caps, headed=True)["moz:firefoxOptions"]
    assert firefox["args"] == ["--width=800"] and firefox["env"] == {"LANG": "C"}
    chrome = harden_capabilities({"browserName": "chrome", "goog:chromeOptions": {"args": ["--headless=new", "--lang=de"]}}, headed=True)
    assert "--headless=new" not in chrome["goog:chromeOptions"]["args"] and "--lang=de" in chrome["goog:chromeOptions"]["args"]
    assert "-headless" in harden_capabilities(caps)["moz:firefoxOptions"]["args"]  # not recorded: as the suite asked
