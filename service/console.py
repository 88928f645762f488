"""Shared CLI plumbing: one console, VeilError printed as a message with a non-zero exit."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from config.errors import VeilError

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


def run_guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so a VeilError becomes a clear message and exit code 1, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except VeilError as err:
            # The message carries user data and library text: never read it as markup.
            message = escape(str(err))
            err_console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
            raise typer.Exit(1) from None

    return wrapper


def print_json(data: Any) -> None:
    """Machine-readable output for --json: plain JSON on stdout, nothing else."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
