"""Benchmark readers, one per on-disk layout (see specs/benchmarks.md), registered by name.

Each reader lists a split's sequences and builds ``Sequence`` records the way the published
evaluation code (pytracking, as vendored in OSTrack) does: same names, frame paths and ground
truth rows. Official split lists and per-sequence metadata come from the package data in
``compresstracker/data/splits``.
"""
from __future__ import annotations

import json
import os
import re
import warnings
from functools import lru_cache, partial
from importlib.resources import files
from itertools import islice
from pathlib import Path
from typing import Any, Iterable

from compresstracker.data.annotations import (
    check_frames,
    frame_range,
    lazy_frames,
    list_images,
    numeric_key,
    read_boxes,
    read_flags,
    read_ini,
    read_names,
    read_text,
)
from compresstracker.data.registry import ALL, DATASETS, DatasetReader, SequenceEntry, missing_entry, register
from compresstracker.data.sequence import Sequence
from compresstracker.errors import CTrackWarning, DatasetError

GROUNDTRUTH = "groundtruth.txt"
SYNTHETIC_MANIFEST = "synthetic.json"  # written by compresstracker.data.synthetic at the output root


# ---------------------------------------------------------------- package data and folder scans
def _splits_dir():
    return files("compresstracker.data") / "splits"


@lru_cache(maxsize=None)
def split_names(filename: str) -> tuple[str, ...]:
    """Sequence names of a shipped split list (one per line)."""
    text = (_splits_dir() / filename).read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


@lru_cache(maxsize=None)
def split_records(filename: str) -> tuple[dict[str, Any], ...]:
    """Per-sequence records of a shipped JSON list (UAV123, NfS, OTB100)."""
    return tuple(json.loads((_splits_dir() / filename).read_text(encoding="utf-8")))


@lru_cache(maxsize=None)
def _trackingnet_classes() -> dict[str, str]:
    pairs = (line.split("\t", 1) for line in split_names("trackingnet_classmap.txt"))
    return {vid: cls.strip() for vid, cls in pairs}


def _subdirs(folder: Path, limit: int | None = None) -> list[Path]:
    """Non-hidden sub-folders, sorted by name; at most ``limit`` of them (unsorted scan order then)."""
    try:
        with os.scandir(folder) as scan:
            found = (Path(e.path) for e in scan if e.is_dir() and not e.name.startswith("."))
            return list(islice(found, limit)) if limit is not None else sorted(found)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _has_groundtruth(folder: Path) -> bool:
    return (folder / GROUNDTRUTH).is_file()


def _with_groundtruth(folders: Iterable[Path], root: Path) -> list[Path]:
    """The ``folders`` that hold ground truth; the others are named in one warning (a scan of every
    sequence on disk skips them, and a silently smaller benchmark would score as a complete one)."""
    folders = list(folders)
    kept = [f for f in folders if _has_groundtruth(f)]
    skipped = [str(f.relative_to(root)) for f in folders if not _has_groundtruth(f)]
    if skipped:
        shown = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
        warnings.warn(CTrackWarning(f"{len(skipped)} folder(s) under {root} skipped: no {GROUNDTRUTH} in {shown}"), stacklevel=3)
    return kept


def _optional(path: Path, read, *args):
    return read(path, *args) if path.is_file() else None


# ---------------------------------------------------------------- LaSOT, LaSOT_ext
class LasotReader(DatasetReader):
    """``<root>/<class>/<class>-<n>/``: img/%08d.jpg, groundtruth.txt, full_occlusion.txt, out_of_view.txt."""

    default_split = "test"
    layout = "<root>/<class>/<class>-<n>/ with groundtruth.txt, full_occlusion.txt, out_of_view.txt and img/00000001.jpg"

    def __init__(self, name: str, description: str, protocol: str, split_files: dict[str, str]):
        self.name = name
        self.description = description
        self.protocol = protocol
        self.split_files = split_files

    def splits(self) -> list[str]:
        return [*self.split_files, ALL]

    @staticmethod
    def _folders(root: Path, name: str) -> tuple[Path, Path]:
        """Where sequence ``name`` may lie: ``<root>/<class>/<name>``, or a flat ``<root>/<name>``."""
        return root / name.rsplit("-", 1)[0] / name, root / name

    def _scan(self, root: Path) -> list[Path]:
        candidates = []  # flat <root>/<seq> (frames in img/), or <root>/<class>/<seq>
        for folder in _subdirs(root):
            flat = _has_groundtruth(folder) or (folder / "img").is_dir()
            candidates.extend([folder] if flat else _subdirs(folder) or [folder])
        return _with_groundtruth(candidates, root)

    def entries(self, root: Path, split: str) -> list[SequenceEntry]:
        if split == ALL:
            return [SequenceEntry(f.name, True, partial(self._load, f)) for f in self._scan(root)]
        result = []
        for name in split_names(self.split_files[split]):
            folders = self._folders(root, name)
            folder = next(filter(_has_groundtruth, folders), None)
            if folder is not None:
                result.append(SequenceEntry(name, True, partial(self._load, folder)))
            else:  # a folder without ground truth is told apart from no folder at all
                result.append(missing_entry(name, GROUNDTRUTH if any(f.is_dir() for f in folders) else None))
        return result

    def looks_like(self, root: Path) -> bool:
        return any(
            (seq / "full_occlusion.txt").is_file() and _has_groundtruth(seq)
            for cls in _subdirs(root, limit=20)
            for seq in _subdirs(cls, limit=3)
        )

    def _load(self, folder: Path) -> Sequence:
        boxes = read_boxes(folder / GROUNDTRUTH)
        occluded = read_flags(folder / "full_occlusion.txt", len(boxes))
        out_of_view = read_flags(folder / "out_of_view.txt", len(boxes))
        frames = lazy_frames(partial(frame_range, folder / "img", 1, len(boxes), 8, "jpg"), folder, len(boxes))
        return Sequence(
            folder.name,
            frames,
            boxes,
            self.name,
            self.protocol,
            target_visible=(occluded == 0) & (out_of_view == 0),
            object_class=folder.name.rsplit("-", 1)[0],
            language=_optional(folder / "nlp.txt", read_text),
            groundtruth_file=str(folder / GROUNDTRUTH),
        )


# ---------------------------------------------------------------- GOT-10k
class Got10kReader(DatasetReader):
    """``<root>/{train,val,test}/<seq>/00000001.jpg`` with groundtruth.txt, *.label, meta_info.ini, list.txt."""

    name = "got10k"
    description = "GOT-10k: train/val/test folders; published training lists as indices into train/list.txt"
    protocol = "got10k"
    default_split = "test"
    layout = "<root>/{train,val,test}/list.txt and <root>/<split>/<seq>/groundtruth.txt with 00000001.jpg"
    FOLDERS = ("train", "val", "test")
    # Published training lists: 0-based indices into the order of <root>/train/list.txt, read as
    # the published code reads them. (As shipped, the indices the vot lists leave out equal the
    # numbers of the names in got10k_vot_exclude.txt, i.e. they are one off from those names.)
    INDEX_SPLITS = {
        "train_full": "got10k_train_full_split.txt",
        "vot_train": "got10k_vot_train_split.txt",
        "vot_val": "got10k_vot_val_split.txt",
        "ltr_train": "got10k_train_split.txt",
        "ltr_val": "got10k_val_split.txt",
    }

    def splits(self) -> list[str]:
        return [*self.FOLDERS, *self.INDEX_SPLITS, ALL]

    @staticmethod
    def _listed(folder: Path) -> list[str]:
        """The folder's list.txt order, or its sequence folders when there is no list.txt."""
        listing = folder / "list.txt"
        if listing.is_file():
            return read_names(listing)
        return [f.name for f in _subdirs(folder) if _has_groundtruth(f)]

    def _entry(self, folder: Path, name: str) -> SequenceEntry:
        path = folder / name
        if not _has_groundtruth(path):
            return missing_entry(name, GROUNDTRUTH if path.is_dir() else None)
        return SequenceEntry(name, True, partial(self._load, path))

    def entries(self, root: Path, split: str) -> list[SequenceEntry]:
        if split == ALL:
            scanned = _with_groundtruth((f for part in self.FOLDERS for f in _subdirs(root / part)), root)
            return [SequenceEntry(f.name, True, partial(self._load, f)) for f in scanned]
        folder = root / (split if split in self.FOLDERS else "train")
        if not folder.is_dir():
            return [missing_entry(f"{folder.name}/ (whole folder)")]
        if split in self.FOLDERS:
            return [self._entry(folder, name) for name in self._listed(folder)]
        if not (folder / "list.txt").is_file():
            raise DatasetError(
                f"GOT-10k split {split} lists indices into {folder / 'list.txt'}, which is missing"
            )
        listed = read_names(folder / "list.txt")
        indices = [int(i) for i in split_names(self.INDEX_SPLITS[split])]
        return [
            self._entry(folder, listed[i]) if i < len(listed) else missing_entry(f"#{i} (list.txt has {len(listed)} names)")
            for i in indices
        ]

    def looks_like(self, root: Path) -> bool:
        return any((root / part / "list.txt").is_file() for part in self.FOLDERS) or any(
            (seq / "absence.label").is_file() for part in self.FOLDERS for seq in _subdirs(root / part, limit=3)
        )

    def _load(self, folder: Path) -> Sequence:
        boxes = read_boxes(folder / GROUNDTRUTH)
        frames = lazy_frames(partial(list_images, folder, key=numeric_key, suffixes=(".jpg",)), folder)
        labels = {
            key: _optional(folder / f"{stem}.label", read_flags, len(boxes))
            for key, stem in (("absent", "absence"), ("cover", "cover"), ("cut_by_image", "cut_by_image"))
        }
        meta = _optional(folder / "meta_info.ini", read_ini) or {}
        size = re.findall(r"\d+", meta.get("resolution", ""))
        return Sequence(
            folder.name,
            frames,
            boxes,
            self.name,
            self.protocol,
            cover=labels["cover"],
            absent=None if labels["absent"] is None else labels["absent"].astype(bool),
            cut_by_image=None if labels["cut_by_image"] is None else labels["cut_by_image"].astype(bool),
            object_class=meta.get("object_class"),
            attributes={k: v for k, v in meta.items() if k != "object_class"},
            image_size_hint=(int(size[0]), int(size[1])) if len(size) == 2 else None,
            groundtruth_file=str(folder / GROUNDTRUTH),
        )


# ---------------------------------------------------------------- TrackingNet
class TrackingNetReader(DatasetReader):
    """``<root>/TRAIN_<k>/`` and ``<root>/TEST/``: anno/<vid>.txt and frames/<vid>/<i>.jpg (i from 0)."""

    name = "trackingnet"
    description = "TrackingNet: TRAIN_0..TRAIN_11 chunks (split train or train:0,1,..) and TEST (first box only)"
    protocol = "trackingnet"
    default_split = "test"
    layout = "<root>/TRAIN_<k>/ or <root>/TEST/ holding anno/<vid>.txt and frames/<vid>/0.jpg"
    TRAIN_CHUNKS = 12

    def splits(self) -> list[str]:
        return ["train", "test", ALL]

    def check_split(self, split: str) -> str:
        if split.startswith("train:"):
            self._train_chunks(split)
            return split
        return super().check_split(split)

    def _train_chunks(self, split: str) -> list[int]:
        """``train:0,1,5-7`` -> [0, 1, 5, 6, 7]."""
        chunks: list[int] = []
        for part in split.partition(":")[2].split(","):
            first, _, last = part.strip().partition("-")
            try:
                chunks.extend(range(int(first), int(last or first) + 1))
            except ValueError:
                raise DatasetError(f"trackingnet split {split!r}: write chunks as train:0,1,2 or train:0-3") from None
        bad = [c for c in chunks if not 0 <= c < self.TRAIN_CHUNKS]
        if bad or not chunks:
            raise DatasetError(f"trackingnet split {split!r}: chunks are 0..{self.TRAIN_CHUNKS - 1}")
        return list(dict.fromkeys(chunks))

    def _chunks(self, root: Path, split: str) -> list[str]:
        if split == ALL:
            return [f.name for f in _subdirs(root) if re.fullmatch(r"TRAIN_\d+|TEST", f.name)]
        if split == "test":
            return ["TEST"]
        numbers = range(self.TRAIN_CHUNKS) if split == "train" else self._train_chunks(split)
        return [f"TRAIN_{k}" for k in numbers]

    def entries(self, root: Path, split: str) -> list[SequenceEntry]:
        result = []
        for chunk in self._chunks(root, split):
            anno = root / chunk / "anno"
            if not anno.is_dir():
                result.append(missing_entry(f"{chunk}/ (whole chunk)"))
                continue
            for vid in sorted(p.stem for p in anno.glob("*.txt")):
                frames_dir = root / chunk / "frames" / vid
                if frames_dir.is_dir():
                    result.append(SequenceEntry(vid, True, partial(self._load, anno / f"{vid}.txt", frames_dir)))
                else:
                    result.append(missing_entry(vid))
        return result

    def looks_like(self, root: Path) -> bool:
        return any((root / chunk / "anno").is_dir() for chunk in ["TEST", *(f"TRAIN_{k}" for k in range(12))])

    def _load(self, anno: Path, frames_dir: Path) -> Sequence:
        boxes = read_boxes(anno)
        frames = lazy_frames(partial(list_images, frames_dir, key=numeric_key, suffixes=(".jpg",)), frames_dir)
        return Sequence(
            anno.stem, frames, boxes, self.name, self.protocol, object_class=_trackingnet_classes().get(anno.stem),
            groundtruth_file=str(anno),
        )


# ---------------------------------------------------------------- UAV123, NfS, OTB100: JSON records
class RecordListReader(DatasetReader):
    """Datasets described by per-sequence records: frame folder, first/last frame, zero padding,
    extension, annotation file, optional initOmit (frames before the first annotated one)."""

    default_split = "test"

    def __init__(self, name: str, description: str, protocol: str, records: str, layout: str, allow_nan: bool):
        self.name = name
        self.description = description
        self.protocol = protocol
        self.records = records
        self.layout = layout
        self.allow_nan = allow_nan

    def splits(self) -> list[str]:
        return ["test", ALL]

    def entries(self, root: Path, split: str) -> list[SequenceEntry]:
        result = []
        for record in split_records(self.records):
            present = (root / record["path"]).is_dir() and (root / record["anno_path"]).is_file()
            if present:
                result.append(SequenceEntry(record["name"], True, partial(self._load, root, record)))
            elif split != ALL:
                result.append(missing_entry(record["name"]))
        return result

    def looks_like(self, root: Path) -> bool:
        return any((root / r["anno_path"]).is_file() for r in split_records(self.records))

    def _load(self, root: Path, record: dict[str, Any]) -> Sequence:
        omit = int(record.get("initOmit", 0))
        first, last = record["startFrame"] + omit, record["endFrame"]
        frames = lazy_frames(
            partial(frame_range, root / record["path"], first, last, record["nz"], record["ext"]), root / record["path"],
            max(0, last - first + 1),
        )
        boxes = read_boxes(root / record["anno_path"], allow_nan=self.allow_nan)[omit:]
        extra = {k: v for k, v in record.items() if k not in _RECORD_KEYS}
        return Sequence(
            record["name"], frames, boxes, self.name, self.protocol, object_class=record.get("object_class"), attributes=extra,
            groundtruth_file=str(root / record["anno_path"]),
        )


_RECORD_KEYS = {"name", "path", "startFrame", "endFrame", "nz", "ext", "anno_path", "initOmit", "object_class"}


# ---------------------------------------------------------------- TNL2K and generic folders
class Tnl2kReader(DatasetReader):
    """``<root>/<seq>/imgs/*`` (sorted by name), groundtruth.txt, language.txt."""

    name = "tnl2k"
    description = "TNL2K: every <seq>/imgs + groundtruth.txt + language.txt under the root"
    protocol = "tnl2k"
    default_split = "test"
    layout = "<root>/<seq>/imgs/ with groundtruth.txt and language.txt"

    def splits(self) -> list[str]:
        return ["test", ALL]

    def entries(self, root: Path, split: str) -> list[SequenceEntry]:
        found = [f for f in _with_groundtruth(_subdirs(root), root) if (f / "imgs").is_dir()]
        return [SequenceEntry(f.name, True, partial(self._load, f)) for f in found]

    def looks_like(self, root: Path) -> bool:
        return any((f / "imgs").is_dir() and _has_groundtruth(f) for f in _subdirs(root, limit=20))

    def _load(self, folder: Path) -> Sequence:
        boxes = read_boxes(folder / GROUNDTRUTH)
        frames = lazy_frames(partial(list_images, folder / "imgs", key=None), folder / "imgs")  # plain name order, as the reference
        return Sequence(
            folder.name, frames, boxes, self.name, self.protocol, language=_optional(folder / "language.txt", read_text),
            groundtruth_file=str(folder / GROUNDTRUTH),
        )


class FolderReader(DatasetReader):
    """Any folder of sequences: ``<root>/<seq>/`` with frames (in it, in img/, imgs/ or VOT's color/) and groundtruth.txt.

    The root may itself be one such sequence folder. Optional full_occlusion.txt and
    out_of_view.txt (LaSOT style) give per-frame visibility.
    """

    name = "folder"
    description = "Your own data: <root>/<seq>/ with jpg/png frames (or in img/, imgs/, color/) and groundtruth.txt"
    protocol = "generic"
    layout = "<root>/<seq>/groundtruth.txt with jpg/png frames beside it or in img/, imgs/ or color/ (VOT)"

    def entries(self, root: Path, split: str) -> list[SequenceEntry]:
        found = [root] if _has_groundtruth(root) else _with_groundtruth(_subdirs(root), root)
        return [SequenceEntry(f.name, True, partial(self._load, f)) for f in found]

    def looks_like(self, root: Path) -> bool:
        return _has_groundtruth(root) or any(_has_groundtruth(f) for f in _subdirs(root, limit=50))

    def _load(self, folder: Path) -> Sequence:
        boxes = read_boxes(folder / GROUNDTRUTH)
        candidates = (folder / sub for sub in ("", "img", "imgs", "color"))
        frames = next((found for d in candidates if d.is_dir() and (found := list_images(d))), [])
        check_frames(frames, folder)
        if len(boxes) not in (1, len(frames)):
            raise DatasetError(
                f"{folder / GROUNDTRUTH}: {len(boxes)} boxes for {len(frames)} frames; "
                "give one box per frame, or only the first frame's box"
            )
        flags = [_optional(folder / f, read_flags, len(boxes)) for f in ("full_occlusion.txt", "out_of_view.txt")]
        visible = None if any(f is None for f in flags) else (flags[0] == 0) & (flags[1] == 0)
        return Sequence(
            folder.name,
            frames,
            boxes,
            self.name,
            self.protocol,
            target_visible=visible,
            language=_optional(folder / "nlp.txt", read_text),
            groundtruth_file=str(folder / GROUNDTRUTH),
        )


# ---------------------------------------------------------------- data written by the generator
class SyntheticReader(DatasetReader):
    """Data written by ``ctrack data synth``: any layout above plus ``synthetic.json`` naming its splits."""

    name = "synthetic"
    description = "Generated sequences (ctrack data synth) in any layout; splits from <root>/synthetic.json"
    protocol = None  # that of the layout the data was written in
    default_split = "test"
    layout = f"<root>/{SYNTHETIC_MANIFEST} written by `ctrack data synth`"

    def splits(self) -> list[str]:
        return ["train", "val", "test", ALL]

    @staticmethod
    def manifest(root: Path) -> dict[str, Any]:
        """The generator's manifest at ``root``."""
        path = root / SYNTHETIC_MANIFEST
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{path}: not a readable synthetic-data manifest ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("layout") not in DATASETS or not isinstance(manifest.get("splits"), dict):
            raise DatasetError(f"{path}: not a synthetic-data manifest (needs a known 'layout' and 'splits')")
        return manifest

    def entries(self, root: Path, split: str) -> list[SequenceEntry]:
        if not self.looks_like(root):
            return []
        manifest = self.manifest(root)
        splits: dict[str, list[str]] = manifest["splits"]
        if split != ALL and split not in splits:
            raise DatasetError(f"{root} holds synthetic splits {', '.join(splits)} (and all), not {split!r}")
        names = [n for part in splits.values() for n in part] if split == ALL else splits[split]
        on_disk = {e.name: e for e in DATASETS[manifest["layout"]].entries(root, ALL)}
        size = tuple(manifest.get("image_size", ())) or None
        return [
            SequenceEntry(n, True, partial(_with_size_hint, on_disk[n].load, size)) if n in on_disk else missing_entry(n)
            for n in names
        ]

    def looks_like(self, root: Path) -> bool:
        return (root / SYNTHETIC_MANIFEST).is_file()

    def protocol_for(self, root: Path) -> str:
        return DATASETS[self.manifest(root)["layout"]].protocol_for(root)


def _with_size_hint(load, size: tuple[int, int] | None) -> Sequence:
    sequence = load()
    sequence.image_size_hint = size
    return sequence


# ---------------------------------------------------------------- the registry entries
register(
    LasotReader(
        "lasot",
        "LaSOT: test = official 280 sequences (Protocol II), train = the other 1120",
        "lasot",
        {"test": "lasot_test.txt", "train": "lasot_train_split.txt"},
    )
)
register(LasotReader("lasot_ext", "LaSOT_ext: 150 extension sequences, LaSOT layout", "lasot_ext", {"test": "lasot_extension_subset.txt"}))
register(Got10kReader())
register(TrackingNetReader())
register(
    RecordListReader(
        "uav123",
        "UAV123: 123 sequences, several sub-ranges of one folder; NaN rows mark absent targets",
        "uav",
        "uav123_sequences.json",
        "<root>/data_seq/UAV123/<seq>/000001.jpg and <root>/anno/UAV123/<name>.txt",
        allow_nan=True,
    )
)
register(
    RecordListReader(
        "nfs",
        "NfS (30 fps): 100 sequences, tab-separated annotations",
        "nfs",
        "nfs_sequences.json",
        "<root>/sequences/<name>/00001.jpg and <root>/anno/nfs_<name>.txt",
        allow_nan=False,
    )
)
register(
    RecordListReader(
        "otb100",
        "OTB100: start offsets, initOmit, two-target sequences listed twice",
        "otb",
        "otb100_sequences.json",
        "<root>/<Seq>/img/0001.jpg and <root>/<Seq>/groundtruth_rect.txt",
        allow_nan=False,
    )
)
register(Tnl2kReader())
register(FolderReader())
register(SyntheticReader())
