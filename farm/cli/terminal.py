"""How the `farm` command shows progress of long work (image builds, node registration, the matrix).

On a terminal, a rich status line that rewrites itself; in CI logs (no TTY), one plain line per
distinct message at most once a second, so a log shows what happened without a flood.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from rich.console import Console

from farm.core.progress import Progress

stderr = Console(stderr=True, highlight=False)
# Off a terminal (CI logs, pipes) rich would wrap tables at 80 columns; test ids are longer.
stdout = Console(highlight=False, width=None if Console().is_terminal else 200)


@contextlib.contextmanager
def reporting(title: str, console: Console = stderr, min_interval: float = 5.0) -> Iterator[Progress]:
    if console.is_terminal:
        with console.status(title) as status:
            yield lambda message: status.update(f"{title}: {message}")
        return
    last = {"text": "", "at": 0.0}

    def plain(message: str) -> None:
        now = time.monotonic()
        if message != last["text"] and now - last["at"] >= min_interval:
            console.print(f"{title}: {message}", markup=False, soft_wrap=True)
            last.update(text=message, at=now)

    yield plain
