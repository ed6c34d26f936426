"""One exception tree for the farm, so the CLI can map every failure to one line and one exit code.

Docker and HTTP errors are translated at the boundary (engine, grid client); nothing above those
modules ever sees a docker-py or requests exception.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit statuses shared by every command (pytest's where they overlap)."""

    OK = 0
    TESTS_FAILED = 1
    USAGE = 2
    INFRASTRUCTURE = 3
    NO_TESTS = 5
    INTERRUPTED = 130
    TERMINATED = 143


class FarmError(Exception):
    """Base of every error the farm reports to a user; the message is one line that says what to do."""

    exit_code: ExitCode = ExitCode.INFRASTRUCTURE


class UsageError(FarmError):
    """Bad input from the user: flags, config files, names."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """A config file or option that cannot be used; the message names the key or the file."""


class EngineError(FarmError):
    """The Docker engine is unreachable or refused an operation."""


class ImageError(FarmError):
    """An image the farm needs is missing and cannot be pulled or built."""


class PortInUseError(FarmError):
    """The port the hub should publish on is already taken by something that is not this farm."""


class GridError(FarmError):
    """The Grid is unreachable, not ready, or lacks capacity for a browser."""


class NodeStartupError(GridError):
    """A node never registered with the hub; carries the tail of its log."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


class NoTestsError(FarmError):
    """Collection found nothing to run (pytest's exit 5)."""

    exit_code = ExitCode.NO_TESTS


class Stopped(FarmError):
    """`farm test` was stopped (Ctrl-C, SIGTERM, the grid lost) before any cell ran: nothing to keep."""

    def __init__(self, message: str, exit_code: ExitCode) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ReportError(UsageError):
    """The results or output folder given to `farm report` cannot be used."""


class ReportToolError(FarmError):
    """The Allure generator is missing or failed."""
