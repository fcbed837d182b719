"""Result packs: server submissions and the layouts other toolkits read, from one results folder.

Server zips (values as the tracker wrote them, no rounding):
  got10k       ``<seq>/<seq>_001.txt`` (comma-separated x,y,w,h per frame) + ``<seq>/<seq>_time.txt``.
  trackingnet  ``<seq>.txt`` (comma-separated x,y,w,h).
Toolkit layouts (a folder, or a zip when ``out`` ends in .zip):
  pytracking   ``<seq>.txt``, tab-separated ints (pytracking and OSTrack truncate with astype(int)
               and score those) + ``<seq>_time.txt``: the pytracking / OSTrack analysis code reads it.
  pysot        ``<seq>.txt``, comma-separated values as given: pysot's OPE toolkit reads it.
  vot          ``<seq>/<seq>_001.txt``, the VOT toolkit's unsupervised experiment layout (first
               line ``1``, the initialisation code, then comma-separated x,y,w,h) + ``<seq>_001_time.value``:
               put it at ``<workspace>/results/<tracker>/<experiment>/`` for ``vot analysis``.
"""
from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence as SequenceOf

from compresstracker.data.sequence import Sequence
from compresstracker.errors import ResultsError
from compresstracker.evaluation.results import (
    GOT10K_RUN_SUFFIX,
    TIME_SUFFIX,
    VOT_INIT_CODE,
    existing_results_dir,
    list_result_sequences,
    read_result_tokens,
    result_path,
    time_path,
)
from compresstracker.fileio import atomic_path, atomic_write_text

Rows = list[list[str]]


def _lines(rows: Rows, separator: str = ",") -> str:
    return "".join(separator.join(row) + "\n" for row in rows)


def _truncated(rows: Rows) -> Rows:
    """Values as pytracking saves them: ``astype(int)`` truncates toward zero."""
    return [[str(math.trunc(float(v))) for v in row] for row in rows]


@dataclass(frozen=True)
class PackLayout:
    """Where one sequence's boxes (and times, where the layout keeps them) go, and how they are written."""

    name: str
    server: bool  # a server submission: always a zip
    needs_time: bool  # every sequence must have a timing file
    keeps_time: bool  # timing files are packed where there are some
    members: Callable[[str, Rows, Optional[Rows]], dict[str, str]]


def _got10k(name: str, rows: Rows, times: Optional[Rows]) -> dict[str, str]:
    return {f"{name}/{name}{GOT10K_RUN_SUFFIX}.txt": _lines(rows), f"{name}/{name}{TIME_SUFFIX}.txt": _lines(times or [])}


def _pytracking(name: str, rows: Rows, times: Optional[Rows]) -> dict[str, str]:
    members = {f"{name}.txt": _lines(_truncated(rows), "\t")}
    if times is not None:
        members[f"{name}{TIME_SUFFIX}.txt"] = _lines(times)
    return members


def _vot(name: str, rows: Rows, times: Optional[Rows]) -> dict[str, str]:
    members = {f"{name}/{name}{GOT10K_RUN_SUFFIX}.txt": f"{VOT_INIT_CODE}\n" + _lines(rows[1:])}
    if times is not None:
        members[f"{name}/{name}{GOT10K_RUN_SUFFIX}{TIME_SUFFIX}.value"] = _lines(times)
    return members


PACK_LAYOUTS: dict[str, PackLayout] = {
    layout.name: layout
    for layout in (
        PackLayout("got10k", True, True, True, _got10k),
        PackLayout("trackingnet", True, False, False, lambda name, rows, times: {f"{name}.txt": _lines(rows)}),
        PackLayout("pytracking", False, False, True, _pytracking),
        PackLayout("pysot", False, False, False, lambda name, rows, times: {f"{name}.txt": _lines(rows)}),
        PackLayout("vot", False, False, True, _vot),
    )
}
PACK_FORMATS = tuple(PACK_LAYOUTS)
_LISTED_NAMES = 5


def _missing_error(what: str, results_dir: Path, missing: list[str]) -> ResultsError:
    shown = ", ".join(missing[:_LISTED_NAMES])
    more = f" and {len(missing) - _LISTED_NAMES} more" if len(missing) > _LISTED_NAMES else ""
    return ResultsError(f"{len(missing)} sequence(s) have no {what} in {results_dir}: {shown}{more}")


def pack_results(
    fmt: str,
    results_dir: str | Path,
    out: str | Path,
    sequences: SequenceOf[Sequence] | None = None,
) -> dict:
    """Write ``out`` in layout ``fmt`` (:data:`PACK_LAYOUTS`) from one tracker's results folder; a summary dict.

    With ``sequences`` (the dataset's test split) every one must have results, with one box per
    frame; without, every sequence found in the folder is packed.
    """
    if fmt not in PACK_LAYOUTS:
        raise ResultsError(f"unknown pack format {fmt!r}; choose one of {', '.join(PACK_FORMATS)}")
    layout = PACK_LAYOUTS[fmt]
    results_dir = existing_results_dir(results_dir)
    found = list_result_sequences(results_dir)
    names = [seq.name for seq in sequences] if sequences is not None else found
    if not names:
        raise ResultsError(f"no result files (<seq>.txt) in {results_dir}")
    missing = [name for name in names if result_path(results_dir, name) is None]
    if missing:
        raise _missing_error("result file", results_dir, missing)
    if layout.needs_time:
        missing_time = [name for name in names if time_path(results_dir, name) is None]
        if missing_time:
            raise _missing_error(f"timing file (<seq>{TIME_SUFFIX}.txt)", results_dir, missing_time)
    frames = {seq.name: len(seq.frames) for seq in sequences or () if seq.frames}
    entries: dict[str, str] = {}
    for name in names:
        path = result_path(results_dir, name)
        rows = read_result_tokens(path)
        if name in frames and len(rows) != frames[name]:
            raise ResultsError(f"{path}: {len(rows)} boxes for the {frames[name]} frames of {name}")
        times_file = time_path(results_dir, name) if layout.keeps_time else None
        times = read_result_tokens(times_file, columns=1) if times_file is not None else None
        if times is not None and len(times) != len(rows):
            raise ResultsError(f"{times_file}: {len(times)} times for {len(rows)} boxes")
        entries.update(layout.members(name, rows, times))
    out = Path(out)
    if layout.server or out.suffix.lower() == ".zip":
        with atomic_path(out) as tmp:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for member, text in entries.items():
                    archive.writestr(member, text)
    else:
        if out.exists() and not out.is_dir():
            raise ResultsError(f"{out} is a file; the {fmt} layout is a folder (or give a .zip name)")
        for member, text in entries.items():
            (out / member).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(out / member, text)
    return {
        "format": fmt,
        "results": str(results_dir),
        "out": str(out),
        "sequences": len(names),
        "not_packed": sorted(set(found) - set(names)),
    }
