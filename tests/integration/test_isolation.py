"""`farm test --isolation context` on real browsers: one kept session per worker, a fresh user
context per cell, and isolation proven per browser; where it cannot be proven, fresh sessions."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from farm.cli.main import main
from farm.core.config import load_config
from farm.infra.browsers import open_session
from farm.infra.farms import FarmLink
from farm.plugin.worker.browser_socket import Pending
from farm.plugin.worker.isolation import Contexts, KeptBrowser, leaks, probe_site, uses_cdp
from tests.conftest import BROWSERS, module_farm_dir, serving

pytestmark = pytest.mark.integration
NAME = "farm-it-isolation"
SUITE = str(Path(__file__).parent / "suites" / "isolation")

farm_dir = module_farm_dir(NAME)


def farm_test(farm_dir: Path, run: str, *args: str) -> tuple[int, dict, Path]:
    results = farm_dir / "reports" / run
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(farm_dir)
        code = main(["test", SUITE, *serving(SUITE), "--browsers", ",".join(BROWSERS), "--results-dir", str(results), "--no-report", *args])
    return code, json.loads((results / "summary.json").read_text()), results


def test_state_of_a_cell_is_invisible_to_the_next_cell_in_the_same_browser(farm_dir):
    """Every test fails if it sees an earlier cell's cookie, storage, IndexedDB or window; with 4
    cells per browser on 2 workers, some session serves at least two of them. Kept sessions are
    `farm test`'s default: no flag asks for them."""
    code, summary, _results = farm_test(farm_dir, "contexts")
    assert code == 0
    assert len(summary["cells"]) == 8 and {c["status"] for c in summary["cells"]} == {"passed"}
    for browser in BROWSERS:
        cells = [c for c in summary["cells"] if c["browser"] == browser]
        assert {c["isolation"] for c in cells} == {"context"}
        shared = Counter(s["id"] for c in cells for s in c["sessions"])
        assert max(shared.values()) >= 2, f"{browser}: no session served two cells, nothing was proven"
        assert all(len(c["sessions"]) == 1 for c in cells)


def test_a_fresh_session_per_cell_when_asked(farm_dir):
    code, summary, _results = farm_test(farm_dir, "sessions", "--isolation", "session")
    assert code == 0
    assert {c["isolation"] for c in summary["cells"]} == {"session"}
    assert len({s["id"] for c in summary["cells"] for s in c["sessions"]}) == 8


def test_unproven_isolation_falls_back_to_fresh_sessions_and_says_so(farm_dir):
    """A grid given by URL: farm has no address the browsers reach this runner at, so it cannot run
    its probe; the cells get fresh sessions and the log says why."""
    port = int(next(line for line in (farm_dir / "farm.toml").read_text().splitlines() if line.startswith("hub_port")).split("=")[1])
    _code, summary, results = farm_test(farm_dir, "unproven", "--isolation", "context", "--grid-url", f"http://127.0.0.1:{port}")
    assert len(summary["cells"]) == 8
    assert {c["isolation"] for c in summary["cells"]} == {"session"}
    assert "isolation cannot be proven without an address the browsers reach this runner at" in (results / "pytest.log").read_text()


class OneContext(Contexts):
    """Contexts that isolate nothing: each 'new' context is a new tab in the first one, and removing
    a context closes the tabs farm made in it (one holds the probe's alert) but keeps its profile."""

    def __init__(self, contexts: Contexts) -> None:
        self.socket, self.inner, self.shared, self.tabs = contexts.socket, contexts, "", []

    def create(self) -> tuple[str, str]:
        self.shared = self.shared or self.inner.new_context()
        self.tabs.append(self.inner.new_tab(self.shared))
        return self.shared, self.tabs[-1]

    def remove(self, context: str) -> Pending:
        if context != self.shared:  # the browser's own context, from before
            return self.inner.remove(context)
        for tab in self.tabs[:-1]:
            self.inner.close_tab(tab)
        del self.tabs[:-1]
        kept = Pending()
        kept.answered.set()
        return kept

    def close_tab(self, tab: str) -> None:
        self.inner.close_tab(tab)


@pytest.mark.parametrize("browser", BROWSERS)
def test_the_probe_sees_state_that_outlives_a_cell(farm_dir, browser):
    """The probe can fail: with contexts that share one profile, it reports the cookie, storage,
    IndexedDB, cached response and window the first cell left (sessionStorage is per tab, so not
    that)."""
    config = load_config(farm_dir)
    with FarmLink(config) as farm, probe_site(farm.gateway()) as url:
        assert url is not None
        kept = KeptBrowser(open_session(config.grid_url, browser, bidi=not uses_cdp(browser)), config.grid_url)
        try:
            assert leaks(kept, url) == []  # the browser's own contexts isolate
            kept.contexts = OneContext(kept.contexts)
            kept.end_cell()
            seen = leaks(kept, url)
            assert {"cookie", "localStorage", "IndexedDB", "HTTP cache"} <= set(seen) and "sessionStorage" not in seen
            assert any(item.endswith("window(s) left open") for item in seen), seen
        finally:
            kept.close()
