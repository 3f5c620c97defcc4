"""Errors raised by the library. The CLI turns them into one line on stderr and an exit code.

Exit codes (documented in the README):

* 0 - success
* 1 - a quality gate failed (``stance eval``)
* 2 - usage, configuration or input error (bad argument, bad input file, bad model directory)
* 3 - output error (the output cannot be written)
* 4 - ``stance label`` finished, but some input was empty or not UTF-8 (each file named in a
  warning; the output is complete; ``--skip-bad`` accepts such input and exits 0)
* 130 - interrupted (Ctrl-C)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_USAGE = 2
EXIT_OUTPUT = 3
EXIT_INPUT_WARNINGS = 4  # `stance label` finished, but some input was empty or not UTF-8 (see the warnings)
EXIT_INTERRUPTED = 130


class StanceError(Exception):
    """Base class of every error the library raises on purpose."""

    exit_code = EXIT_USAGE


class InputError(StanceError):
    """Bad input data; the message names the file and, where known, the line or column."""


class ConfigError(StanceError):
    """A configuration value is missing, unknown or invalid; the message quotes it."""


class ModelError(StanceError):
    """A model directory is missing, incomplete or incompatible."""


class OutputError(StanceError):
    """The output cannot be written, or would overwrite something without permission."""

    exit_code = EXIT_OUTPUT


class UsageError(StanceError):
    """A command was called in a way that cannot work (for example, an output that exists)."""
