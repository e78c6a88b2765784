"""The exit status of a tool's ``main``: its return value, or the code ``errors.cli_exit`` exits with."""

from __future__ import annotations

from collections.abc import Callable, Sequence


def exit_status(main: Callable[[Sequence[str]], int], argv: Sequence[str]) -> int:
    try:
        return main(list(argv))
    except SystemExit as e:  # cli_exit: a user mistake, one 'error: ...' line already printed
        return e.code
