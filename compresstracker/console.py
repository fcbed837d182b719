"""The one rich console of ctrack: human output goes to stderr, so stdout stays clean for --json and pipes.

Below every room, so library code (training progress bars) and the CLI print through the same one.
"""
from rich.console import Console

console = Console(stderr=True)
