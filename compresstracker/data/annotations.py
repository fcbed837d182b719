"""Annotation files of tracking benchmarks: boxes, per-frame labels, frame lists, visibility.

Every reader parses through these helpers so that one rule holds everywhere: a separator may be
a comma, a tab, a semicolon or whitespace, and a malformed file is a DatasetError naming the
file and the line.
"""
from __future__ import annotations

import io
import os
import re
import warnings
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from compresstracker.data.sequence import Frames, Sequence
from compresstracker.errors import CTrackWarning, DatasetError

_TO_SPACE = bytes.maketrans(b",\t;", b"   ")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return data.removeprefix(b"\xef\xbb\xbf")


def _explain_bad_table(path: Path, text: bytes, columns: int | None) -> DatasetError:
    """Slow path, run only on a bad file: find the first offending line."""
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = line.translate(_TO_SPACE).split()
        if not tokens:
            continue
        shown = line.decode("utf-8", "replace").strip()
        for token in tokens:
            try:
                float(token)
            except ValueError:
                return DatasetError(f"{path}:{number}: {token.decode('utf-8', 'replace')!r} is not a number: {shown!r}")
        if columns is not None and len(tokens) != columns:
            what = " (x,y,w,h)" if columns == 4 else ""
            return DatasetError(f"{path}:{number}: expected {columns} numbers{what}, found {len(tokens)}: {shown!r}")
    return DatasetError(f"{path}: malformed table")


def parse_numbers(text: bytes) -> np.ndarray | None:
    """Whitespace-separated numbers (any layout) -> (N,) float64, or None if a token is not one."""
    try:
        return np.array(text.split(), dtype=np.float64)
    except ValueError:
        return None


_BLANK_LINE_BEFORE = re.compile(rb"\n[ \t\r\v\f]*\n")


def parse_table(text: bytes, columns: int, blank_inside: bool = True, delimiter: bytes | None = None) -> np.ndarray | None:
    """Fast path for a table of numbers: (rows, columns) float64, or None when the text is not
    exactly ``columns`` numbers on every non-blank line (then a slow reader names the fault).

    Fields are split on whitespace, or on ``delimiter`` (each field one number, spaces around it
    allowed). NumPy's C reader parses 700k lines in a fraction of a second. ``blank_inside=False``:
    a blank line before the last non-blank one also sends the text to the slow reader.
    """
    if not text.strip():
        return None
    if not blank_inside and _BLANK_LINE_BEFORE.search(b"\n" + text.rstrip()):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "input contained no data" and the like: not a table
            table = np.loadtxt(io.BytesIO(text), dtype=np.float64, ndmin=2, comments=None,
                               delimiter=None if delimiter is None else delimiter.decode())
    except (ValueError, UserWarning):
        return None
    return table if table.shape[1] == columns else None


def read_table(path: str | os.PathLike, columns: int) -> np.ndarray:
    """Numbers in a text table -> (rows, columns) float64; separators: comma, tab, ';' or spaces."""
    path = Path(path)
    raw = _read_bytes(path)
    text = raw.translate(_TO_SPACE)
    if not text.strip():
        raise DatasetError(f"{path}: empty file, expected one row of {columns} numbers per frame")
    table = parse_table(text, columns)
    if table is not None:
        return table
    try:
        table = np.loadtxt(io.BytesIO(text), dtype=np.float64, ndmin=2, comments=None)
    except ValueError:
        raise _explain_bad_table(path, raw, columns) from None
    if table.shape[1] != columns:
        raise _explain_bad_table(path, raw, columns)
    return table


def read_boxes(path: str | os.PathLike, allow_nan: bool = False) -> np.ndarray:
    """Ground-truth boxes x,y,w,h -> (N, 4) float64. NaN rows are an error unless ``allow_nan``."""
    path = Path(path)
    boxes = read_table(path, columns=4)
    if not allow_nan:
        bad = np.flatnonzero(np.isnan(boxes).any(axis=1))
        if bad.size:
            raise DatasetError(
                f"{path}:{_line_of_row(path, int(bad[0]))}: NaN in ground truth "
                f"({bad.size} row(s)); only UAV123 ground truth may hold NaN rows"
            )
    infinite = np.flatnonzero(np.isinf(boxes).any(axis=1))
    if infinite.size:
        raise DatasetError(f"{path}:{_line_of_row(path, int(infinite[0]))}: infinite value in ground truth ({infinite.size} row(s))")
    negative = int(((boxes[:, 2] < 0) | (boxes[:, 3] < 0)).sum())
    if negative:  # scored as frames the target is absent from, as the protocols do, but said
        first = int(np.flatnonzero((boxes[:, 2] < 0) | (boxes[:, 3] < 0))[0])
        warnings.warn(CTrackWarning(f"{path}: {negative} ground-truth row(s) with a negative width or height "
                                    f"(first at line {_line_of_row(path, first)}), scored as frames without the target"),
                      stacklevel=2)
    return boxes


def _line_of_row(path: Path, row: int) -> int:
    """1-based line number of the ``row``-th non-blank line (blank lines are skipped by the parser)."""
    seen = -1
    for number, line in enumerate(_read_bytes(path).split(b"\n"), start=1):
        if line.strip():
            seen += 1
            if seen == row:
                return number
    return row + 1


def read_flags(path: str | os.PathLike, length: int | None = None) -> np.ndarray:
    """Per-frame integer labels (one comma line, or one value per line) -> (N,) int64."""
    path = Path(path)
    raw = _read_bytes(path)
    text = raw.translate(_TO_SPACE)
    values = parse_numbers(text) if text.strip() else np.zeros(0)
    if values is None:
        raise _explain_bad_table(path, raw, None)
    if values.size == 0:
        raise DatasetError(f"{path}: empty file, expected one label per frame")
    if np.isnan(values).any() or not np.all(values == np.round(values)):
        raise DatasetError(f"{path}: labels must be integers")
    if length is not None and values.size != length:
        raise DatasetError(f"{path}: {values.size} labels but the ground truth has {length} rows")
    return values.astype(np.int64)


def read_text(path: str | os.PathLike) -> str:
    """A small text file (language description), stripped."""
    return _read_bytes(Path(path)).decode("utf-8", "replace").strip()


def read_ini(path: str | os.PathLike) -> dict[str, str]:
    """``key: value`` lines of an ini-like file (GOT-10k meta_info.ini); section headers ignored."""
    info: dict[str, str] = {}
    for line in read_text(path).splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.lstrip().startswith(("[", "#", ";")):
            info[key.strip()] = value.strip()
    return info


def read_names(path: str | os.PathLike) -> list[str]:
    """Sequence names, one per line; blank lines and '#' comments skipped."""
    path = Path(path)
    lines = _read_bytes(path).decode("utf-8", "replace").splitlines()
    names = [line.split("#", 1)[0].strip() for line in lines]
    return [name for name in names if name]


def natural_key(name: str) -> list[object]:
    """Sort key that orders 'f2.jpg' before 'f10.jpg'."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def numeric_key(name: str) -> int:
    """Sort key for frame files named by a bare frame number ('12.jpg')."""
    return int(name.split(".", 1)[0])


def list_images(
    folder: Path, key: Callable[[str], Any] | None = natural_key, suffixes: Iterable[str] = IMAGE_SUFFIXES
) -> list[str]:
    """Image files directly in ``folder``, sorted by ``key`` (None: plain name order)."""
    suffixes = tuple(suffixes)
    try:
        names = [entry.name for entry in os.scandir(folder) if entry.name.lower().endswith(suffixes)]
    except FileNotFoundError:
        raise DatasetError(f"{folder}: frame folder not found") from None
    try:
        names.sort(key=key)
    except ValueError as exc:
        raise DatasetError(f"{folder}: frame file names do not follow the expected numbering ({exc})") from None
    return [os.path.join(folder, name) for name in names]


def check_frames(frames: list[str], where: Path) -> None:
    """Fail early with a clear message when frames are absent (checks the first and the last)."""
    if not frames:
        raise DatasetError(f"{where}: no frames found")
    for frame in (frames[0], frames[-1]):
        if not os.path.exists(frame):
            raise DatasetError(f"{where}: frame {frame} is missing")


def lazy_frames(build: Callable[[], list[str]], where: Path, count: int | None = None) -> Frames:
    """Frames listed by ``build`` on first use, checked then (see :func:`check_frames`); picklable
    for tracker worker processes when ``build`` is."""
    return Frames(partial(_checked, build, where), count)


def _checked(build: Callable[[], list[str]], where: Path) -> list[str]:
    frames = build()
    check_frames(frames, where)
    return frames


def frame_range(folder: Path, first: int, last: int, digits: int, ext: str) -> list[str]:
    """Paths ``folder/<n zero-padded to digits>.<ext>`` for n = first..last."""
    return [os.path.join(folder, f"{n:0{digits}d}.{ext}") for n in range(first, last + 1)]


def box_valid(boxes: np.ndarray) -> np.ndarray:
    """w > 0 and h > 0 and no NaN, per row."""
    return (boxes[:, 2] > 0) & (boxes[:, 3] > 0) & ~np.isnan(boxes).any(axis=1)


def got10k_visibility(boxes: np.ndarray, absent: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """GOT-10k training visibility: not absent, cover > 0 and a box with positive size."""
    return ~absent.astype(bool) & (cover > 0) & box_valid(boxes)


def training_visibility(sequence: Sequence) -> np.ndarray:
    """Per-frame bool: may this frame serve as a training sample?

    The labels a dataset carries decide: GOT-10k absence/cover, LaSOT target_visible
    (no full occlusion, not out of view); every frame also needs w > 0, h > 0 and no NaN.
    """
    boxes = sequence.ground_truth
    if sequence.absent is not None and sequence.cover is not None:
        return got10k_visibility(boxes, sequence.absent, sequence.cover)
    visible = box_valid(boxes)
    if sequence.target_visible is not None:
        visible &= sequence.target_visible.astype(bool)
    return visible
