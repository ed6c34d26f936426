"""The plugin beside pytest-selenium: its safety skips tests against sensitive URLs; farm's own app
server and this machine's localhost are not sensitive unless the suite says so itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TEST = "def test_checkout():\n    assert True\n"


def run(tmp_path: Path, *args: str, ini: str = "") -> str:
    (tmp_path / "test_shop.py").write_text(TEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n" + ini)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FARM_", "PYTEST_", "SENSITIVE_URL"))}
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-p", "no:xdist", str(tmp_path), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path).stdout


@pytest.mark.parametrize("url", ["http://farm-host:41234/", "http://localhost:8000/"])
def test_farms_own_app_is_not_sensitive(tmp_path, url):
    out = run(tmp_path, "--farm-browsers", "chrome", "--farm-base-url", url)
    assert "1 passed" in out, out


def test_a_suites_own_sensitive_url_is_kept(tmp_path):
    out = run(tmp_path, "--farm-browsers", "chrome", "--farm-base-url", "http://farm-host:41234/", ini="sensitive_url = farm-host\n")
    assert "1 skipped" in out and "sensitive" in out, out


def test_without_farm_pytest_selenium_decides_alone(tmp_path):
    out = run(tmp_path, "--base-url", "http://farm-host:41234/")
    assert "1 skipped" in out, out  # its default: every URL is sensitive
