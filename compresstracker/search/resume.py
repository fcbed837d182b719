"""Resuming a search with other settings is refused in one line that names the difference.

Kept as one small function so it can give way to a shared run-resume check without touching
the search loop.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from compresstracker.errors import ConfigError


def check_same_settings(saved: dict[str, Any], given: dict[str, Any], what: str, where: Path | str) -> None:
    """Raise ConfigError naming every setting of ``given`` that differs from the ``saved`` run."""
    changed = [
        f"{key.replace('_', '-')} {given.get(key)!r} but the {what} has {saved.get(key)!r}"
        for key in sorted(set(saved) | set(given))
        if saved.get(key) != given.get(key)
    ]
    if changed:
        raise ConfigError(f"cannot resume the {what} in {where}: " + "; ".join(changed) + " (use another --out for new settings)")
