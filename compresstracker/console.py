"""The rich consoles of ctrack, below every room so library code (progress) and the CLI share them.

Tables and human summaries go to stdout (``ctrack models list | grep vitb``, ``ctrack score ... >
scores.txt``); progress, notes and warnings go to stderr. ``--json`` replaces the stdout table.
Both follow sys.stdout / sys.stderr as they are when printing (tests swap them).
"""
from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


def make_table(title: str | None, *columns: str | tuple[str, dict], **kwargs) -> Table:
    """A table whose column names stay readable at 80 columns when stdout is not a terminal.

    A column is never narrower than its longest header word (headers wrap between words, never
    inside one, and are never cut to "para…"); cells fold instead. ``columns`` are names or
    (name, add_column options).
    """
    kwargs.setdefault("box", box.SIMPLE_HEAD)
    kwargs.setdefault("pad_edge", False)
    table = Table(title=title, **kwargs)
    for column in columns:
        name, options = column if isinstance(column, tuple) else (column, {})
        options = dict(options)
        options.setdefault("min_width", max((len(word) for word in name.split()), default=0))
        options.setdefault("overflow", "fold")
        table.add_column(name, **options)
    return table
