"""A docs suite that deletes and rebuilds one shared build folder in every test (not parallel-safe)."""

import os
import shutil
import time
import uuid
from pathlib import Path

import pytest


@pytest.fixture
def rebuild():
    def build(name: str) -> Path:
        folder = Path(os.environ["SHARED_BUILD"]) / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        mine = uuid.uuid4().hex
        (folder / "owner").write_text(mine)
        time.sleep(1.0)  # the build takes a while; another test's rebuild meanwhile breaks this one
        assert (folder / "owner").read_text() == mine, "another test rebuilt the folder meanwhile"
        (folder / "index.html").write_text(f"<title>{name}</title>")
        return folder / "index.html"

    return build
