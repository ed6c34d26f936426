"""The matrix at a glance: one page, a row per test and a column per browser, each cell's status and
duration linking to its result in the Allure report (pure logic: Allure's generated test cases in,
HTML out).

Allure 2 shows one suite per browser, so seeing how one test did on each browser means opening it
once per browser. This page is farm's own, written beside the report's index.html: self-contained
(no fonts or scripts from anywhere), counts per status at the top, and a link per cell to
`index.html#testresult/<uid>`.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

from farm.core.report_files import CELL_LABEL, TEST_LABEL

STATUSES = ("passed", "failed", "broken", "skipped", "unknown")
COLOURS = {"passed": "#97cc64", "failed": "#fd5a3e", "broken": "#ffd050", "skipped": "#aaaaaa", "unknown": "#d35ebe"}


def _labels(case: Mapping[str, Any]) -> dict[str, str]:
    return {str(label.get("name")): str(label.get("value")) for label in case.get("labels", [])}


def test_of(case: Mapping[str, Any]) -> str:
    """The row a result belongs to: farm's test label, else its node id without the browser part."""
    labels = _labels(case)
    if TEST_LABEL in labels:
        return labels[TEST_LABEL]
    cell, browser = labels.get(CELL_LABEL, str(case.get("fullName", case.get("name", "")))), labels.get("browser", "")
    return cell.replace(f"[{browser}]", "").replace(f"-{browser}]", "]") if browser else cell


def matrix_cells(cases: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Mapping[str, Any]]]:
    """test -> browser -> its latest result (a rerun's final attempt)."""
    matrix: dict[str, dict[str, Mapping[str, Any]]] = {}
    for case in cases:
        browser = _labels(case).get("browser", "")
        row = matrix.setdefault(test_of(case), {})
        stop = float((case.get("time") or {}).get("stop") or 0)
        if browser not in row or stop >= float((row[browser].get("time") or {}).get("stop") or 0):
            row[browser] = case
    return matrix


def matrix_page(cases: Iterable[Mapping[str, Any]], title: str = "farm: the matrix") -> str:
    matrix = matrix_cells(cases)
    browsers = sorted({b for row in matrix.values() for b in row})
    counts = {s: sum(1 for row in matrix.values() for c in row.values() if c.get("status") == s) for s in STATUSES}
    head = "".join(f"<th>{html.escape(b)}</th>" for b in browsers)
    rows = []
    for test in sorted(matrix):
        cells = []
        for browser in browsers:
            case = matrix[test].get(browser)
            if case is None:
                cells.append('<td class="none">-</td>')
                continue
            status = str(case.get("status", "unknown"))
            seconds = float((case.get("time") or {}).get("duration") or 0) / 1000
            link = f"index.html#testresult/{html.escape(str(case.get('uid', '')))}"
            cells.append(f'<td class="{html.escape(status)}"><a href="{link}">{html.escape(status)} {seconds:.1f}s</a></td>')
        rows.append(f'<tr><th class="test">{html.escape(test)}</th>{"".join(cells)}</tr>')
    summary = " ".join(f'<span class="count {s}" id="count-{s}">{counts[s]} {s}</span>' for s in STATUSES if counts[s])
    style = " ".join(f"td.{s}, span.{s} {{ background: {c}; }}" for s, c in COLOURS.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }} table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; }} th.test {{ font-weight: normal; font-family: monospace; }}
td a {{ color: #000; text-decoration: none; display: block; }} span.count {{ padding: 0.2em 0.5em; margin-right: 0.5em; }}
{style}
</style></head>
<body><h1>{html.escape(title)}</h1>
<p><a href="index.html">the Allure report</a> &middot; {len(matrix)} tests &times; {len(browsers)} browsers</p>
<p id="counts">{summary}</p>
<table id="matrix"><thead><tr><th>test</th>{head}</tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table></body></html>
"""
