"""Server submission packs for benchmarks whose test annotations are withheld.

GOT-10k test: ``<seq>/<seq>_001.txt`` (comma-separated x,y,w,h, one line per frame) and
``<seq>/<seq>_time.txt`` (seconds per frame) for every sequence, zipped.
TrackingNet test: ``<seq>.txt`` (comma-separated x,y,w,h) for every sequence, zipped.
Box values are written as the tracker wrote them (no rounding, no reformatting).
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Sequence as SequenceOf

from compresstracker.data.sequence import Sequence
from compresstracker.errors import ResultsError
from compresstracker.evaluation.results import (
    GOT10K_RUN_SUFFIX,
    TIME_SUFFIX,
    existing_results_dir,
    list_result_sequences,
    read_result_tokens,
    result_path,
    time_path,
)
from compresstracker.fileio import atomic_path

PACK_FORMATS = ("got10k", "trackingnet")
_LISTED_NAMES = 5


def _lines(rows: list[list[str]]) -> str:
    return "".join(",".join(row) + "\n" for row in rows)


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
    """Write the server zip ``out`` from one tracker's results folder; returns a summary dict.

    With ``sequences`` (the dataset's test split) every one must have results, with one box per
    frame; without, every sequence found in the folder is packed.
    """
    if fmt not in PACK_FORMATS:
        raise ResultsError(f"unknown pack format {fmt!r}; choose one of {', '.join(PACK_FORMATS)}")
    results_dir = existing_results_dir(results_dir)
    found = list_result_sequences(results_dir)
    names = [seq.name for seq in sequences] if sequences is not None else found
    if not names:
        raise ResultsError(f"no result files (<seq>.txt) in {results_dir}")
    missing = [name for name in names if result_path(results_dir, name) is None]
    if missing:
        raise _missing_error("result file", results_dir, missing)
    if fmt == "got10k":
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
        if fmt == "got10k":
            times_file = time_path(results_dir, name)
            times = read_result_tokens(times_file, columns=1)
            if len(times) != len(rows):
                raise ResultsError(f"{times_file}: {len(times)} times for {len(rows)} boxes")
            entries[f"{name}/{name}{GOT10K_RUN_SUFFIX}.txt"] = _lines(rows)
            entries[f"{name}/{name}{TIME_SUFFIX}.txt"] = _lines(times)
        else:
            entries[f"{name}.txt"] = _lines(rows)
    out = Path(out)
    with atomic_path(out) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for member, text in entries.items():
                archive.writestr(member, text)
    return {
        "format": fmt,
        "results": str(results_dir),
        "out": str(out),
        "sequences": len(names),
        "not_packed": sorted(set(found) - set(names)),
    }
