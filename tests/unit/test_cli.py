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
