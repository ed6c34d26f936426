"""What the CLI shows: tables and lines built from the library's results, and nothing else.

Kept apart from farm.cli.main so the commands only parse, call and print.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from farm.core.capacity import CurvePoint, best_concurrency
from farm.infra.engine_farm import NodeHealth
from farm.infra.farms import FarmStatus
from farm.infra.grid import GridStatus

if TYPE_CHECKING:  # the run's modules load with `farm test` only (farm.cli.main)
    from farm.run.runner import RunOutcome

STATUS_COLOURS = {"passed": "green", "failed": "red", "broken": "yellow", "skipped": "dim"}
# The failure class, as in summary.json and the Allure categories (product failures are plain "failed").
KIND_NAMES = {"test": "test error", "infrastructure": "infrastructure", "identity": "wrong browser"}


def capacity_table(status: GridStatus) -> Table:
    table = Table(title=f"Grid {status.version or '?'} at {status.url}", title_justify="left")
    for column in ("browser", "version", "nodes", "slots", "busy"):
        table.add_column(column, justify="left" if column in ("browser", "version") else "right")
    for name, cap in sorted(status.capacity().items()):
        table.add_row(name, cap.version or "?", str(cap.nodes), str(cap.slots), str(cap.busy))
    shared = [pool for pool in status.capacity_model().pools if pool.shared]
    if shared:
        table.caption = "; ".join(f"{', '.join(sorted(p.browsers))} share {p.sessions} session(s) at once" for p in shared)
    return table


def curve_lines(browser: str, points: list[CurvePoint]) -> Iterator[Table | str]:
    """`farm calibrate`'s curve: work done per concurrency, and the count to use."""
    best = best_concurrency(points)
    table = Table(title=f"{browser}: cells per minute against sessions at once", title_justify="left")
    for column in ("sessions", "cells", "cells/min", "mean cell", "vs 1 session"):
        table.add_column(column, justify="right")
    base = points[0].per_minute or 1.0
    for p in points:
        table.add_row(str(p.sessions), str(p.cells), f"{p.per_minute:.1f}", f"{p.mean_cell:.2f}s", f"x{p.per_minute / base:.2f}")
    yield table
    yield f"best: {best} session(s) at once (the fewest within 5% of the most work); set it with `farm up --max-sessions {best}`"


def nodes_table(nodes: list[NodeHealth]) -> Table:
    """One row per node; a swarm farm's also say which host runs it."""
    on_hosts = any(node.host for node in nodes)
    table = Table(title="Nodes", title_justify="left")
    for column in ("node", "browser", "container", "grid", *(("host",) if on_hosts else ())):
        table.add_column(column)
    for node in nodes:
        colour = "red" if node.lost else "green"
        row = [node.name, node.browser, f"[{colour}]{node.container}[/]", f"[{colour}]{node.grid}[/]"]
        table.add_row(*row, *((node.host,) if on_hosts else ()))
    return table


def status_lines(status: FarmStatus) -> Iterator[Table | str]:
    """`farm status` for people (the grid answered)."""
    assert status.grid is not None
    yield capacity_table(status.grid)
    yield f"ready: {'yes' if status.grid.ready else 'no'}, queued session requests: {status.grid.queue}"
    lost = status.lost()
    if status.nodes and (lost or any(node.host for node in status.nodes)):
        yield nodes_table(status.nodes)
    if status.nodes and lost:
        yield f"lost nodes: {', '.join(lost)}; `farm up` replaces them"


def matrix_table(outcome: RunOutcome) -> Table:
    """Test x browser with status (and the failure class of broken cells) and duration."""
    browsers = sorted({r.browser for r in outcome.results})
    table = Table(title=escape(f"Results in {outcome.results_dir}"), title_justify="left")
    table.add_column("test")
    for browser in browsers:
        table.add_column(browser)
    by_test: dict[str, dict[str, Any]] = {}
    for result in outcome.results:
        by_test.setdefault(result.test_id, {})[result.browser] = result
    flaky = {c["nodeid"]: c.get("pass_rate") for c in outcome.summary["cells"] if c.get("flaky")}
    beside = {c["nodeid"]: c["beside"] for c in outcome.summary["cells"] if c.get("beside")}
    no_browser = set(outcome.summary.get("no_browser", []))
    for test_id in sorted(by_test):
        cells = []
        for browser in browsers:
            r = by_test[test_id].get(browser)
            kind = f" ({KIND_NAMES[r.failure_kind]})" if r and r.status == "broken" and r.failure_kind in KIND_NAMES else ""
            kind += f" [magenta]flaky, {flaky[r.nodeid]:.0%} passed[/]" if r and r.nodeid in flaky else ""
            kind += f" [magenta](beside {beside[r.nodeid]} others)[/]" if r and r.nodeid in beside else ""
            kind += " [dim](no browser)[/]" if r and r.nodeid in no_browser else ""
            once = any(other.nodeid in no_browser for other in by_test[test_id].values())
            cells.append(f"[{STATUS_COLOURS[r.status]}]{r.status}[/]{kind} {r.duration:.1f}s" if r else ("[dim]once[/]" if once else "-"))
        table.add_row(Text(test_id), *cells)  # text, not markup: parametrize ids look like [tags]
    return table


def incident_lines(summary: dict[str, Any], limit: int = 20) -> Iterator[str]:
    """Cells re-run after an infrastructure failure, and every cell that did not run, with why."""
    retried = [c for c in summary["cells"] if any(why.startswith("infrastructure") for why in c.get("retries", []))]
    if retried:
        yield f"{len(retried)} cell(s) re-run after an infrastructure failure (node or browser lost):"
        for cell in retried[:limit]:
            yield f"  {cell['nodeid']}: {cell['status']} on the re-run; first attempt: {cell['retries'][0]}"
    not_run = summary.get("not_run_cells", [])
    if not_run:
        yield f"{len(not_run)} cell(s) did not run:"
        for cell in not_run[:limit]:
            yield f"  {cell['nodeid']}: {cell['reason']}"
        if len(not_run) > limit:
            yield f"  ... and {len(not_run) - limit} more (see summary.json)"


def run_lines(outcome: RunOutcome) -> Iterator[Table | str]:
    """`farm test`'s result: the matrix, counts, incidents, makespan and where the summary is."""
    summary = outcome.summary
    yield matrix_table(outcome)
    yield ", ".join(f"{n} {s}" for s, n in summary["counts"].items()) + f" of {summary['total']} cells"
    yield from incident_lines(summary)
    if any(c.get("beside") for c in summary["cells"]):
        yield "flaky cells failed while other cells ran beside them: if they share files or accounts, try `farm test --workers 1`"
    makespan = summary["makespan"]
    predicted = f"predicted {makespan['predicted']:.1f}s" + (" from estimates, nothing measured yet" if makespan.get("estimated") else "")
    if makespan.get("revised"):
        revised = makespan["revised"]
        predicted += f"; {revised['makespan']:.1f}s once the first {revised['cells']} cells were measured"
    yield (
        f"makespan {makespan['actual']:.1f}s ({predicted}, lower bound {makespan['lower_bound']:.1f}s); "
        f"session queue wait {summary.get('queue_wait', 0.0):.1f}s"
    )
    yield f"summary: {outcome.summary_path}"
