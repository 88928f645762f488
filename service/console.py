"""Shared CLI plumbing: one console, VeilError printed as a message with a non-zero exit.

Data is never markup: both consoles print strings as they are (no `[...]` markup, no
`:emoji:` codes, no highlighting), so a company named `[/]` or `:x:` prints as its name.
Our own styling goes through `styled` (rich Text objects), never through markup parsing.
An error's message has any resident ID in it masked (it may quote a reference or the
candidates it could mean).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

from config.errors import VeilError
from loaders.identifiers import masked_resident_ids

console = Console(markup=False, emoji=False, highlight=False)
err_console = Console(stderr=True, soft_wrap=True, markup=False, emoji=False, highlight=False)


def styled(*parts: str | tuple[str, str]) -> Text:
    """A line of plain strings and (string, style) pairs, e.g.
    `styled(("error:", "bold red"), " ", message)`: every string is literal text."""
    return Text.assemble(*parts)


def run_guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so a VeilError becomes a clear message and exit code 1, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except VeilError as err:
            # The message carries user data and library text: literal, never markup.
            err_console.print(styled(("error:", "bold red"), " ", masked_resident_ids(str(err))))
            raise typer.Exit(1) from None

    return wrapper


def print_json(data: Any) -> None:
    """Machine-readable output for --json: plain JSON on stdout, nothing else."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
