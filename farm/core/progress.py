"""What long work reports its progress through: one short message at a time.

The callers (image builds, node registration, the matrix) only say what they are doing; the `farm`
command decides how it is shown (farm.cli.terminal), so nothing below the CLI depends on a terminal.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str], None]
