"""Where tracker families come from: the built-in ones, then any installed package's.

A family (OSTrack, LightTrack, ...) is one package under ``compresstracker/families`` that
registers all its hooks in one call (:func:`compresstracker.families.register_family`). The
rooms' registries call :func:`load_families` before each lookup, so a family is imported the
first time anything asks for one, never at import time of a lower room. Adding a built-in family
is one line in :data:`BUILTIN_FAMILIES`; another package adds one through the entry-point group
:data:`ENTRY_POINT_GROUP` (``ctrack.families = myfamily = mypackage.family``) with no ctrack edit.
"""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points

__all__ = ["BUILTIN_FAMILIES", "ENTRY_POINT_GROUP", "load_families"]

BUILTIN_FAMILIES = (
    "compresstracker.families.ostrack",
    "compresstracker.families.lighttrack",
    "compresstracker.families.mixformerv2",
)
ENTRY_POINT_GROUP = "ctrack.families"

_loaded = False


def load_families() -> None:
    """Import every family module once (built-in first, then entry points), so they register."""
    global _loaded
    if _loaded:
        return
    _loaded = True  # set first: a family's own registration calls must not load the families again
    for module in BUILTIN_FAMILIES:
        importlib.import_module(module)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        entry.load()
