"""User mistakes and clean stops: one hierarchy, one message each, one exit status.

Every error a user can cause (a config field, a checkpoint, a data file, a
command-line argument) derives from ``VjepaError``. Its message says what to
change; the command-line tools print it as one ``error: ...`` line and exit
with ``exit_status`` (``cli_exit``), so no caller matches message text and no
user mistake ends in a traceback. Each class also derives from the builtin a
caller would have caught before (``ValueError``, ``FileNotFoundError``), so
``except ValueError`` keeps working.

================  ===========  ===============================================
class             exit status  raised for
================  ===========  ===============================================
ConfigError       2            config fields, experiment arguments, CLI flags
CheckpointError   2            a checkpoint that cannot give what was asked
DataError         2            index files, datasets, videos that cannot be read
RunStopped        1            a run that stopped cleanly (non-finite loss,
                               too many unreadable videos)
================  ===========  ===============================================
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar('T')


class VjepaError(Exception):
    """Base of every user-facing error; ``str(e)`` says what to change."""

    exit_status = 2


class ConfigError(VjepaError, ValueError):
    """A config field, experiment argument or command-line flag that cannot work."""


class CheckpointError(VjepaError, ValueError):
    """A checkpoint that is missing, unreadable or does not match what was asked."""


class DataError(VjepaError, ValueError):
    """Input data (index files, datasets, videos) that cannot be used as given."""


class RunStopped(VjepaError, RuntimeError):
    """A run that stopped on purpose, with its reason and what was kept."""

    exit_status = 1


def config_problems(problems: list[str], heading: str = 'Invalid config') -> None:
    """Raises one ``ConfigError`` listing every problem (one per line); no-op when empty."""
    if problems:
        raise ConfigError(f'{heading}:\n  - ' + '\n  - '.join(problems))


def cli_exit(fn: Callable[[], T], *, prefix: str = 'error') -> T:
    """Runs ``fn``; a ``VjepaError`` becomes one ``error: ...`` line on stderr and its exit status."""
    try:
        return fn()
    except VjepaError as e:
        print(f'{prefix}: {e}', file=sys.stderr)
        sys.exit(e.exit_status)
