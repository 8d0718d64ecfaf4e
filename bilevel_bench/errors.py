"""Errors that the CLI turns into one clear line instead of a traceback."""

from __future__ import annotations


class BenchError(Exception):
    """Base class of every error the package raises on purpose."""


class InputError(BenchError):
    """Bad user input: a config, an instance file, a CLI argument.

    The message always names where the input came from (``source``: a file or ``<cli>``), which key is
    wrong, and what is wrong with its value, so a user can fix it without reading code.
    """

    def __init__(self, source: str, key: str, message: str) -> None:
        self.source = str(source)
        self.key = key
        self.message = message
        super().__init__(f"{self.source}: {key}: {message}")


class RunTimeout(BenchError):
    """A heuristic run went past its wall-clock limit."""
