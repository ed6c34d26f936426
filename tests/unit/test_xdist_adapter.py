"""farm.plugin.controller.xdist_adapter against the installed pytest-xdist: a real run (two
processes, no browser) in which the adapter starts one more worker. It fails when xdist renames or
reshapes the private parts the adapter relies on; pyproject.toml bounds xdist to releases it passed on."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from farm.plugin.controller import xdist_adapter

CONFTEST = """
import json, os
from farm.plugin.controller import xdist_adapter

seen = {"ready": [], "started": None, "down_before_end": None}

def pytest_testnodeready(node):
    seen["ready"].append(node.gateway.id)
    if seen["started"] is None:
        seen["down_before_end"] = xdist_adapter.shutting_down(node.config)
        seen["started"] = xdist_adapter.start_worker(node.config, node)

def pytest_sessionfinish(session):
    if not hasattr(session.config, "workerinput"):
        seen["down_at_end"] = xdist_adapter.shutting_down(session.config)
        with open(os.environ["SEEN"], "w") as f:
            json.dump(seen, f)
"""


def test_the_adapter_starts_a_worker_on_this_xdist(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_a.py").write_text("".join(f"def test_{i}():\n    pass\n" for i in range(6)))
    env = {**os.environ, "SEEN": str(tmp_path / "seen.json")}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "1", str(tmp_path)]
    out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert "6 passed" in out.stdout, out.stdout + out.stderr
    seen = json.loads(Path(env["SEEN"]).read_text())
    assert seen["started"] is True and sorted(seen["ready"]) == ["gw0", "gw1"]
    assert seen["down_before_end"] is False and seen["down_at_end"] is True


@pytest.mark.parametrize(("owner", "attribute"), xdist_adapter.PRIVATE_PARTS)
def test_every_private_part_is_still_in_the_source(owner, attribute):
    """Named where a reader of a failing run looks first: which part is gone."""
    module = {"DSession": "xdist.dsession", "NodeManager": "xdist.workermanage", "WorkerController": "xdist.workermanage"}
    if owner == "execnet.XSpec":
        import execnet

        assert hasattr(execnet.XSpec("popen"), attribute)
        return
    import inspect

    source = inspect.getsource(getattr(importlib.import_module(module[owner]), owner))
    assert f"self.{attribute}" in source or f"def {attribute}(" in source
