"""The `farm` command's own contract: errors are one line, with a non-zero exit code."""

from __future__ import annotations

from pathlib import Path

from farm.cli import main as cli


def test_an_unexpected_error_is_one_line_naming_a_log_with_the_traceback(tmp_path, monkeypatch, capsys):
    def broken(*_args: object) -> None:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setenv("FARM_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli.farms, "status", broken)
    assert cli.main(["status"]) == 3
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("farm: error: unexpected RuntimeError: boom; the traceback is in ")
    log = err.strip().rsplit(" ", 1)[1]
    assert log.startswith(str(tmp_path / "cache" / "logs"))
    text = Path(log).read_text(encoding="utf-8")
    assert text.startswith("farm status") and "Traceback (most recent call last)" in text and "second line" in text


def test_the_matrix_table_prints_parametrize_ids_as_text():
    """rich reads `[with_prompt-accept]` as markup: four different cells once printed as one name."""
    from rich.console import Console

    from farm.cli.views import matrix_table
    from farm.core.results import CellResult
    from farm.run.runner import RunOutcome

    ids = ["t.py::test_alert[with_prompt-accept]", "t.py::test_alert[with_prompt-dismiss]", "t.py::test_alert[bold]"]
    results = [CellResult(f"{i}-chrome", i, "chrome", "passed", 1.0, 0.0, 1.0) for i in ids]
    outcome = RunOutcome(Path("/runs/[x]"), {"cells": []}, results, 0)
    console = Console(width=200, record=True)
    console.print(matrix_table(outcome))
    text = console.export_text()
    assert all(i in text for i in ids) and "/runs/[x]" in text
