"""What every command shares: the UserError boundary and terminal detection."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from ..errors import UserError

P = ParamSpec("P")
R = TypeVar("R")


def report_user_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Print a UserError as one line on stderr and exit with its status; let bugs surface."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except UserError as error:
            typer.echo(f"error: {error.message}", err=True)
            raise typer.Exit(error.exit_code) from None

    return wrapper


def has_terminal() -> bool:
    """True when a person can answer prompts (stdin and stdout are a terminal)."""
    return sys.stdin.isatty() and sys.stdout.isatty()
