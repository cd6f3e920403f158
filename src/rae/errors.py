"""User-facing errors: each becomes one line on stderr and an exit code, never a traceback."""

from __future__ import annotations

__all__ = ["EXIT_INVALID", "EXIT_OK", "EXIT_USAGE", "RaeError", "UsageError"]

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


class RaeError(Exception):
    """Invalid input (rules, capture, config): printed as one line, exit code 1."""

    exit_code = EXIT_INVALID


class UsageError(RaeError):
    """Bad command-line usage: exit code 2."""

    exit_code = EXIT_USAGE
