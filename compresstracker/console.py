"""The rich consoles of ctrack, below every room so library code (progress) and the CLI share them.

Tables and human summaries go to stdout (``ctrack models list | grep vitb``, ``ctrack score ... >
scores.txt``); progress, notes and warnings go to stderr. ``--json`` replaces the stdout table.
Both follow sys.stdout / sys.stderr as they are when printing (tests swap them).
"""
from rich.console import Console

console = Console()
err_console = Console(stderr=True)
