"""The repository's own text files: nothing half-merged lands."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT = {".py", ".md", ".yaml", ".yml", ".cfg", ".toml", ".txt", ".json", ".sh", ""}
MARKER = re.compile(r"^(<{7} |={7}$|>{7} )", re.MULTILINE)
SKIP = {".git", ".venv", "__pycache__", "build", "dist"}


def _text_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*"):
        if any(part in SKIP or part.endswith(".egg-info") or part.endswith("-out") for part in path.relative_to(ROOT).parts):
            continue
        if path.is_file() and (path.suffix in TEXT or path.name in {"Makefile", "run"}) and path.stat().st_size < 2_000_000:
            files.append(path)
    return files


def test_no_merge_conflict_markers():
    files = _text_files()
    assert any(p.name == "README.md" for p in files) and any(p.suffix == ".py" for p in files)
    bad = []
    for path in files:
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for match in MARKER.finditer(text):
            bad.append(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}")
    assert not bad, "merge conflict markers left in: " + ", ".join(bad)
