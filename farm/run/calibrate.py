"""`farm calibrate`: the throughput of a grid against concurrency, to choose `max_sessions`.

A cell here is what a suite's cell costs the machine: a fresh session, a page with some script
work, quit. For each concurrency from 1 to `up_to`, that many threads open cells back to back for
`seconds`; the cells finished per minute make the curve, and the best count is the fewest
sessions within 5 % of the most work (farm.core.capacity.best_concurrency). The page is a data: URL,
so nothing but the Grid is contacted.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import quote

from farm.core.capacity import CurvePoint
from farm.core.errors import GridError
from farm.core.progress import Progress
from farm.infra.browsers import open_session
from farm.infra.grid import GridClient

# Layout and script work of a modest application page, about 0.2 s on one core.
PAGE = "data:text/html," + quote(
    "<title>calibrate</title><ul id=l></ul><script>"
    "let s=0;for(let i=0;i<3e6;i++){s+=Math.sqrt(i)}"
    "const l=document.getElementById('l');for(let i=0;i<2000;i++){const e=document.createElement('li');e.textContent=i+s;l.appendChild(e)}"
    "document.title='ready'</script>"
)


def one_cell(grid_url: str, browser: str) -> float:
    started = time.monotonic()
    driver = open_session(grid_url, browser)
    try:
        driver.get(PAGE)
        if driver.title != "ready":
            raise GridError(f"calibration page did not run in {browser} (title {driver.title!r})")
    finally:
        driver.quit()
    return time.monotonic() - started


def measure(grid_url: str, browser: str, sessions: int, seconds: float) -> CurvePoint:
    """`sessions` threads, each opening cells back to back until `seconds` have passed; the
    cells they started finish, and the time counts until the last one did."""
    deadline = time.monotonic() + seconds
    durations: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        while time.monotonic() < deadline and not errors:
            try:
                took = one_cell(grid_url, browser)
            except Exception as exc:  # reported once all threads stopped
                with lock:
                    errors.append(exc)
                return
            with lock:
                durations.append(took)

    started = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise GridError(f"calibration with {sessions} {browser} session(s) failed: {type(errors[0]).__name__}: {errors[0]}")
    elapsed = time.monotonic() - started
    return CurvePoint(sessions, len(durations), elapsed, sum(durations) / len(durations) if durations else 0.0)


def curve(grid_url: str, browser: str, up_to: int, seconds: float, progress: Progress) -> list[CurvePoint]:
    """The throughput curve from 1 to `up_to` sessions; the grid must offer that many slots."""
    have = GridClient(grid_url).status().capacity_model()
    if have.slots.get(browser, 0) < up_to or have.pool_of(browser).sessions < up_to:
        raise GridError(
            f"the grid at {grid_url} runs {min(have.slots.get(browser, 0), have.pool_of(browser).sessions)} {browser} session(s) at once; "
            f"to measure up to {up_to}, start it with `farm up --browsers {browser} --max-sessions {up_to}`"
        )
    one_cell(grid_url, browser)  # warm the node (first start reads the browser from disk)
    points = []
    for sessions in range(1, up_to + 1):
        progress(f"measuring {sessions} {browser} session(s) at once for {seconds:.0f}s")
        points.append(measure(grid_url, browser, sessions, seconds))
    return points
