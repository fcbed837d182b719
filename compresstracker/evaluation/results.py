"""Tracker result files: finding them in a results folder and reading them exactly.

A results folder belongs to one tracker (its name is the folder name) and holds
``<seq>.txt`` (pytracking / OSTrack / pysot / ctrack layout) or ``<seq>/<seq>_001.txt`` (GOT-10k
toolkit layout; the VOT toolkit's unsupervised layout too, whose frame 0 is the lone
initialisation code ``1``: read as a 0,0,0,0 box, since every protocol ctrack scores replaces or
skips frame 0), one ``x y w h`` line per frame including frame 0, separated by tabs, commas or
whitespace, as ints or floats; or the toolkit's binary ``<seq>/<seq>_001.bin``. Timing files are
``<seq>_time.txt`` beside them (VOT: ``<seq>_001_time.value``).
"""
from __future__ import annotations

import io
import re
import struct
import warnings
from pathlib import Path

import numpy as np

from compresstracker.data.annotations import parse_table
from compresstracker.errors import ResultsError

TIME_SUFFIX = "_time"
GOT10K_RUN_SUFFIX = "_001"
VOT_INIT_CODE = 1  # the VOT toolkit writes frame 0 of an unsupervised run as this lone code, not a box
VOT_BINARY = ".bin"  # the VOT toolkit's default results format (VOT_RESULTS_BINARY=1)
_VOT_FIRST_LINE = re.compile(rb"\A[ \t]*" + str(VOT_INIT_CODE).encode() + rb"[ \t]*\r?\n")


def tracker_name(results_dir: str | Path) -> str:
    """Display name of a tracker: the name of its results folder."""
    return Path(results_dir).resolve().name


def existing_results_dir(results_dir: str | Path) -> Path:
    """The results folder as a Path; a ResultsError when it does not exist."""
    path = Path(results_dir)
    if not path.is_dir():
        raise ResultsError(f"results folder {path} does not exist (expected <tracker>/<seq>.txt files)")
    return path


def result_path(results_dir: str | Path, sequence: str) -> Path | None:
    """The box file of ``sequence`` in either layout, or None when there is none."""
    results_dir = Path(results_dir)
    for candidate in (
        results_dir / f"{sequence}.txt",
        results_dir / sequence / f"{sequence}{GOT10K_RUN_SUFFIX}.txt",
        results_dir / sequence / f"{sequence}{GOT10K_RUN_SUFFIX}{VOT_BINARY}",
    ):
        if candidate.is_file():
            return candidate
    return None


def time_path(results_dir: str | Path, sequence: str) -> Path | None:
    """The per-frame timing file of ``sequence`` in either layout, or None."""
    results_dir = Path(results_dir)
    for candidate in (
        results_dir / f"{sequence}{TIME_SUFFIX}.txt",
        results_dir / sequence / f"{sequence}{TIME_SUFFIX}.txt",
        results_dir / sequence / f"{sequence}{GOT10K_RUN_SUFFIX}{TIME_SUFFIX}.value",
    ):
        if candidate.is_file():
            return candidate
    return None


def list_result_sequences(results_dir: str | Path) -> list[str]:
    """Names of the sequences that have a box file in ``results_dir``, sorted."""
    results_dir = existing_results_dir(results_dir)
    names = set()
    for entry in results_dir.iterdir():
        if entry.is_file() and entry.suffix == ".txt" and not entry.stem.endswith(TIME_SUFFIX):
            names.add(entry.stem)
        elif entry.is_dir() and any((entry / f"{entry.name}{GOT10K_RUN_SUFFIX}{suffix}").is_file() for suffix in (".txt", VOT_BINARY)):
            names.add(entry.name)
    return sorted(names)


def _split_fields(line: str) -> list[str]:
    """Fields of one line: comma-separated when it has a comma, whitespace-separated otherwise."""
    if "," in line:
        return [field.strip() for field in line.split(",")]
    return line.split()


def _content_lines(path: Path, text: str) -> list[str]:
    """The lines of ``text``; trailing blank lines are dropped, a blank line inside is an error."""
    lines = text.rstrip().splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise ResultsError(f"{path}:{number}: empty line inside the results file")
    if not lines:
        raise ResultsError(f"{path}: the results file is empty")
    return lines


def _read_bytes(path: Path, boxes: bool = True) -> bytes:
    """The file's bytes; in a box file, a VOT initialisation line (frame 0) becomes a 0,0,0,0 box."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ResultsError(f"cannot read results file {path}: {exc.strerror or exc}") from None
    return _VOT_FIRST_LINE.sub(b"0,0,0,0\n", raw, count=1) if boxes else raw


def _decode(path: Path, raw: bytes) -> str:
    """``raw`` as UTF-8 text; a ResultsError naming the line of the first byte that is not."""
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ResultsError(f"{path}:{line}: not text (byte 0x{raw[exc.start]:02x} is not UTF-8)") from None


def read_vot_binary(path: str | Path) -> np.ndarray:
    """Boxes of a VOT toolkit binary trajectory (``<seq>_001.bin``): rectangles as they are, polygons as
    their bounding box, frame 0's initialisation code as a 0,0,0,0 box; other codes or masks are an error."""
    path = Path(path)
    data = _read_bytes(path, boxes=False)
    try:
        version, count = struct.unpack_from("<hI", data, 0)
        if version != 1:
            raise ResultsError(f"{path}: VOT binary trajectory version {version}, not 1")
        offset, boxes = struct.calcsize("<hI"), []
        for frame in range(count):
            (kind,) = struct.unpack_from("<B", data, offset)
            offset += 1
            if kind == 0:  # a special code
                (code,) = struct.unpack_from("<I", data, offset)
                offset += 4
                if frame != 0:
                    raise ResultsError(f"{path}: frame {frame} holds VOT code {code}, not a box (a supervised run's reset?)")
                boxes.append([0.0, 0.0, 0.0, 0.0])
            elif kind == 1:
                boxes.append(list(struct.unpack_from("<ffff", data, offset)))
                offset += 16
            elif kind == 2:
                (size,) = struct.unpack_from("<H", data, offset)
                points = np.array(struct.unpack_from(f"<{2 * size}f", data, offset + 2), dtype=np.float64).reshape(-1, 2)
                offset += 2 + 8 * size
                low, high = points.min(axis=0), points.max(axis=0)
                boxes.append([low[0], low[1], *(high - low)])
            else:
                raise ResultsError(f"{path}: frame {frame} is a VOT region of type {kind} (a point or mask), not a box")
    except struct.error:
        raise ResultsError(f"{path}: a truncated VOT binary trajectory") from None
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def read_result_tokens(path: str | Path, columns: int = 4) -> list[list[str]]:
    """The fields of every line as written (for packing 'values as given'), each checked to be a number."""
    path = Path(path)
    if path.suffix == VOT_BINARY and columns == 4:
        return [[repr(float(v)) for v in row] for row in read_vot_binary(path)]
    rows = []
    for number, line in enumerate(_content_lines(path, _decode(path, _read_bytes(path, boxes=columns == 4))), start=1):
        fields = _split_fields(line)
        if len(fields) != columns:
            raise ResultsError(
                f"{path}:{number}: expected {columns} numbers, found {len(fields)} in {line.strip()!r}"
            )
        for field in fields:
            try:
                float(field)
            except ValueError:
                raise ResultsError(f"{path}:{number}: {field!r} is not a number in {line.strip()!r}") from None
        rows.append(fields)
    return rows


def _fast_boxes(raw: bytes) -> np.ndarray | None:
    """The boxes of a well-formed file parsed in C, or None (the careful reader below decides then).

    Well-formed: 4 numbers on every line, no blank line before the last; comma files with exactly
    3 commas on every line (the rule of the reader below: commas when the file has any).
    """
    return parse_table(raw, 4, blank_inside=False, delimiter=b"," if b"," in raw else None)


def read_result_file(path: str | Path) -> np.ndarray:
    """Boxes of one result file as float64 (N, 4) x y w h; ResultsError naming file and line if malformed."""
    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"results file {path} does not exist")
    if path.suffix == VOT_BINARY:
        return read_vot_binary(path)
    raw = _read_bytes(path)
    boxes = _fast_boxes(raw)
    if boxes is None:
        boxes = _careful_boxes(path, raw)
    bad = np.flatnonzero(~np.isfinite(boxes).all(axis=1))
    if bad.size:  # nan and inf alike: a tracker that lost its numbers, not a failed frame
        row = int(bad[0])  # blank lines inside a results file are refused, so row i is line i + 1
        shown = " ".join(f"{v:g}" for v in boxes[row])
        raise ResultsError(f"{path}:{row + 1}: non-finite value in predicted box ({shown}; {bad.size} row(s))")
    return boxes


def _careful_boxes(path: Path, raw: bytes) -> np.ndarray:
    """The boxes of a file the fast reader refused; a ResultsError naming the first bad line."""
    text = _decode(path, raw)
    lines = _content_lines(path, text)
    delimiter = "," if "," in text else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            boxes = np.loadtxt(io.StringIO(text), delimiter=delimiter, comments=None, ndmin=2, dtype=np.float64)
    except ValueError:
        boxes = None
    if boxes is None or boxes.shape != (len(lines), 4):
        # The fast reader refused or disagrees: the line-by-line reader names the bad line.
        boxes = np.array(read_result_tokens(path), dtype=np.float64).reshape(-1, 4)
    return boxes

