"""Data flows one way between the package's rooms: a lower room never imports a higher one."""
from __future__ import annotations

import ast
from pathlib import Path

import compresstracker

# Lowest first. Rooms on one line may not import each other.
ORDER = [
    ("errors",),
    ("fileio", "console", "devices", "threads", "plugins"),
    ("progress",),
    ("models",),
    ("checkpoints",),
    ("(package)",),  # compresstracker/__init__: the version, and load_model from checkpoints
    ("tracking",),
    ("data",),
    ("deploy",),
    ("bench",),
    ("evaluation",),
    ("training",),
    ("compression", "search"),
    ("families",),  # one plug-in package per tracker family: it extends every room below
    ("demo",),
    ("cli", "recipes"),
]
RANK = {room: rank for rank, rooms in enumerate(ORDER) for room in rooms}
ROOT = Path(compresstracker.__file__).parent
CLI = ROOT.parent / "cli"


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(package)"


def _imports(path: Path) -> set[str]:
    """Every compresstracker module imported anywhere in ``path`` (function-level imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m == "compresstracker" or m.startswith("compresstracker.")}


def test_every_room_is_placed_in_the_order():
    rooms = {p.stem if p.is_file() else p.name for p in ROOT.iterdir() if (p.suffix == ".py" or (p / "__init__.py").exists())}
    rooms.discard("__init__")
    assert rooms - set(RANK) == set(), "a new room: place it in ORDER of tests/test_layout.py"


def test_no_room_imports_a_higher_one():
    wrong = []
    files = [(p, _room("compresstracker." + ".".join(p.relative_to(ROOT).with_suffix("").parts))) for p in ROOT.rglob("*.py")]
    files += [(p, "cli") for p in CLI.rglob("*.py")]
    for path, room in files:
        if room == "__init__":
            room = "(package)"
        for module in _imports(path):
            target = _room(module)
            if RANK[target] > RANK[room] or (RANK[target] == RANK[room] and target != room):
                wrong.append(f"{path.relative_to(ROOT.parent)} ({room}) imports {module} ({target})")
    assert wrong == []
