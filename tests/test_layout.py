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
    ("api",),  # Tracker: a network from deploy and its family's loop, for Python callers
    ("bench",),
    ("evaluation",),
    ("integrations",),  # other toolkits' tracker interfaces (GOT-10k, VOT/TraX) over the api
    ("training",),
    ("compression", "search"),
    ("families",),  # one plug-in package per tracker family: it extends every room below
    ("demo",),
    ("cli", "recipes"),
]
RANK = {room: rank for rank, rooms in enumerate(ORDER) for room in rooms}
# The one upward import: the package's module __getattr__ hands out ``compresstracker.Tracker`` on first use.
LAZY_EXPORTS = {("(package)", "compresstracker.api")}
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
            if (room, module) in LAZY_EXPORTS:
                continue
            if RANK[target] > RANK[room] or (RANK[target] == RANK[room] and target != room):
                wrong.append(f"{path.relative_to(ROOT.parent)} ({room}) imports {module} ({target})")
    assert wrong == []


def test_the_lazy_export_is_imported_only_on_attribute_access():
    tree = ast.parse((ROOT / "__init__.py").read_text())
    top_level = {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert "compresstracker.api" not in top_level
    getattr_body = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "__getattr__")
    assert any(isinstance(n, ast.ImportFrom) and n.module == "compresstracker.api" for n in ast.walk(getattr_body))


def _module_files() -> dict[str, Path]:
    """Every module of the package and of cli/ (installed as compresstracker.cli) by dotted name."""
    named = [(ROOT, "compresstracker", ROOT.rglob("*.py")), (CLI, "compresstracker.cli", CLI.rglob("*.py"))]
    modules = {}
    for base, prefix, paths in named:
        for path in paths:
            parts = path.relative_to(base).with_suffix("").parts
            modules[".".join((prefix, *(parts[:-1] if parts[-1] == "__init__" else parts)))] = path
    return modules


def _module_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (``from package import submodule`` names the submodule)."""
    modules = _module_files()
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.update(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                               for a in node.names)
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycles_finder_sees_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_inside_a_room():
    """Modules of one room import each other one way (function-level imports count too)."""
    graph = _module_graph()
    inside = {name: {t for t in targets if _room(t) == _room(name)} for name, targets in graph.items()}
    assert _cycles(inside) == []


# cli modules every command may import; main imports the commands. Nothing else crosses between cli modules.
CLI_SHARED = {"compresstracker.cli", "compresstracker.cli.common"}


def test_cli_commands_do_not_import_each_other():
    wrong = [
        f"{name} imports {target}"
        for name, targets in _module_graph().items()
        if name.startswith("compresstracker.cli.") and name != "compresstracker.cli.main"
        for target in targets
        if _room(target) == "cli" and target not in CLI_SHARED
    ]
    assert wrong == []
