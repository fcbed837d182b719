"""The dataset registry: name -> reader, and ``get_dataset`` which turns (name, root, split) into a Dataset.

A reader knows one on-disk layout. It lists the sequences a split should hold as
``SequenceEntry`` records (name, whether it is on disk, how to load it); ``get_dataset`` does
the rest the same way for every dataset: split syntax, restriction to named sequences, the
missing-sequence check and the wrong-layout message.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence as SequenceType
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from compresstracker.data.annotations import read_names
from compresstracker.data.sequence import Sequence
from compresstracker.errors import DatasetError, did_you_mean

ALL = "all"  # split name every dataset accepts: every sequence found on disk


@dataclass(frozen=True)
class SequenceEntry:
    """A sequence a split lists: its name, whether its files are present, and how to load it."""

    name: str
    present: bool
    load: Callable[[], Sequence]
    missing_file: str | None = None  # an absent sequence whose folder is there: the file it lacks


def missing_entry(name: str, missing_file: str | None = None) -> SequenceEntry:
    """An entry for a sequence the split lists but the disk does not hold (or holds without ``missing_file``)."""

    def fail() -> Sequence:
        raise DatasetError(f"sequence {name} is not on disk" if missing_file is None else f"sequence {name}: {missing_file} is missing")

    return SequenceEntry(name, False, fail, missing_file)


class DatasetReader:
    """One on-disk layout. Subclasses set the class attributes and implement ``entries``."""

    name: str
    description: str
    protocol: str | None  # None: depends on the data (see protocol_for)
    default_split: str = ALL
    layout: str  # what the root should hold, for the wrong-layout message

    def splits(self) -> list[str]:
        """Split names this dataset accepts (besides a text file of sequence names)."""
        return [ALL]

    def check_split(self, split: str) -> str:
        """Return ``split`` if this dataset has it, else raise a DatasetError listing the choices."""
        if split not in self.splits():
            raise DatasetError(
                f"{self.name} has no split {split!r}; choose one of {', '.join(self.splits())} "
                "or give a text file of sequence names"
            )
        return split

    def entries(self, root: Path, split: str) -> list[SequenceEntry]:
        """The sequences of ``split`` under ``root``, present or not, in the split's order."""
        raise NotImplementedError

    def looks_like(self, root: Path) -> bool:
        """Cheap check whether ``root`` has this layout (used to explain errors)."""
        raise NotImplementedError

    def protocol_for(self, root: Path) -> str:
        """The metric protocol of the data under ``root`` (fixed for most datasets)."""
        assert self.protocol is not None
        return self.protocol


DATASETS: dict[str, DatasetReader] = {}


def register(reader: DatasetReader) -> DatasetReader:
    """Add a reader to the registry under its name."""
    if reader.name in DATASETS:
        raise ValueError(f"dataset {reader.name!r} registered twice")
    DATASETS[reader.name] = reader
    return reader


def get_reader(name: str) -> DatasetReader:
    """The registered reader called ``name``; a DatasetError listing the known names otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}{did_you_mean(name, DATASETS)}; known: {', '.join(sorted(DATASETS))}") from None


class Dataset:
    """The sequences of one split of one dataset. Ground truth is parsed when a sequence is accessed."""

    def __init__(self, name: str, protocol: str, split: str, root: Path, entries: list[SequenceEntry]):
        self.name = name
        self.protocol = protocol
        self.split = split
        self.root = root
        self._entries = entries
        self._position = {entry.name: i for i, entry in enumerate(entries)}

    @property
    def names(self) -> list[str]:
        return [entry.name for entry in self._entries]

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._position

    def __iter__(self) -> Iterator[Sequence]:
        """Yield sequences one at a time, each parsed on the way (use ``.sequences`` to keep them)."""
        for i in range(len(self._entries)):
            yield self[i]

    def __getitem__(self, key: int | str) -> Sequence:
        """A sequence by position or by name."""
        if isinstance(key, str):
            if key not in self._position:
                raise DatasetError(f"{self.name} split {self.split!r} has no sequence {key!r}")
            key = self._position[key]
        if "sequences" in self.__dict__:
            return self.__dict__["sequences"][key]
        sequence = self._entries[key].load()
        sequence.dataset = self.name
        sequence.protocol = self.protocol
        return sequence

    @cached_property
    def sequences(self) -> list[Sequence]:
        """All sequences, parsed once and kept."""
        return [self[i] for i in range(len(self._entries))]

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, split={self.split!r}, {len(self)} sequences, root={str(self.root)!r})"


def list_datasets() -> list[dict]:
    """One record per registered dataset: name, description, splits, protocol."""
    return [
        {
            "name": reader.name,
            "description": reader.description,
            "splits": reader.splits(),
            "default_split": reader.default_split,
            "protocol": reader.protocol,
        }
        for reader in DATASETS.values()
    ]


def split_root(text: str) -> tuple[str, str | None]:
    """'ROOT[:SPLIT]' -> (root, split); a Windows drive letter or a bare path has no split."""
    head, sep, tail = text.rpartition(":")
    if sep and head and tail and "/" not in tail and "\\" not in tail:
        return head, tail
    return text, None


def _split_root(root: str | os.PathLike, split: str | None) -> tuple[Path, str | None]:
    """Accept ``PATH:SPLIT`` as root (e.g. ``/data/lasot:all``, ``/data/tn:train:0,1``) when PATH is a folder."""
    text = os.fspath(root)
    if not os.path.isdir(text):
        for i, char in enumerate(text):
            head, tail = text[:i], text[i + 1 :]
            if char == ":" and tail and os.path.isdir(head):
                if split is not None and split != tail:
                    raise DatasetError(f"root {text!r} names split {tail!r} but split {split!r} was given too")
                return Path(head), tail
    return Path(text), split


def _names(sequences: SequenceType[str] | str | os.PathLike) -> tuple[list[str], str]:
    """Sequence names given as a list or as a text file; also a label for the selection."""
    if isinstance(sequences, (str, os.PathLike)):
        path = Path(sequences)
        if not path.is_file():
            raise DatasetError(f"sequence list {path} not found")
        names, label = read_names(path), path.stem
    else:
        names, label = [str(name) for name in sequences], "custom"
    if not names:
        raise DatasetError("the list of sequence names is empty")
    return names, label


def _pick(entries: list[SequenceEntry], names: list[str]) -> list[SequenceEntry]:
    """Entries for ``names`` in that order; names the split does not have become absent entries."""
    by_name = {entry.name: entry for entry in entries}
    return [by_name.get(name) or missing_entry(name) for name in dict.fromkeys(names)]


def _generated_split(root: Path, split: str | None) -> list[str] | None:
    """The sequence names of ``split`` as recorded in a generated root's ``synthetic.json``, if any."""
    record = root / "synthetic.json"
    if split is None or split == ALL or not record.is_file():
        return None
    try:
        splits = json.loads(record.read_text()).get("splits", {})
    except (ValueError, AttributeError):
        return None
    names = splits.get(split) if isinstance(splits, dict) else None
    return [str(n) for n in names] if isinstance(names, list) and names else None


def _guess_layouts(root: Path, exclude: str) -> list[str]:
    return [name for name, reader in DATASETS.items() if name != exclude and reader.looks_like(root)]


def _first_few(names: list[str], count: int = 5) -> str:
    shown = ", ".join(names[:count])
    return shown + (f", ... ({len(names) - count} more)" if len(names) > count else "")


def get_dataset(
    name: str,
    root: str | os.PathLike,
    split: str | None = None,
    sequences: SequenceType[str] | str | os.PathLike | None = None,
    allow_missing: bool = False,
) -> Dataset:
    """Open a split of a registered dataset.

    ``split`` is a split name (the dataset's default when None; ``all`` = every sequence on disk)
    or a text file of sequence names; ``root`` may carry it as ``PATH:SPLIT``. ``sequences``
    (names, or a text file of names) restricts the selection; with no split given it picks from
    every sequence on disk. Sequences of the selection that are not on disk are an error naming
    them unless ``allow_missing``, which goes on with those present.
    """
    reader = get_reader(name)
    root_path, split = _split_root(root, split)
    if not root_path.exists():
        raise DatasetError(f"{name} root {root_path} does not exist")
    if not root_path.is_dir():
        raise DatasetError(f"{name} root {root_path} is not a folder")

    selections: list[list[str]] = []  # name lists to narrow the split down by, in turn
    generated = _generated_split(root_path, split or (None if sequences is not None else reader.default_split))
    if generated is not None:  # a generated root (ctrack data synth) defines its own train/test splits
        selections.append(generated)
        split_key, label = ALL, split or reader.default_split
    elif split is not None and split not in reader.splits() and Path(split).is_file():
        names, label = _names(split)
        selections.append(names)
        split_key = ALL
    elif split is not None:
        split_key = label = reader.check_split(split)
    else:
        split_key = label = ALL if sequences is not None else reader.default_split
    if sequences is not None:
        names, picked_label = _names(sequences)
        selections.append(names)
        label = label if split is not None else picked_label

    entries = reader.entries(root_path, split_key)
    for names in selections:
        entries = _pick(entries, names)
    present = [entry for entry in entries if entry.present]
    missing = [entry.name if entry.missing_file is None else f"{entry.name} (its folder lacks {entry.missing_file})"
               for entry in entries if not entry.present]
    if not present:
        if not reader.looks_like(root_path):
            guesses = _guess_layouts(root_path, exclude=name)
            found = f"; it looks like {' or '.join(guesses)} data" if guesses else ""
            raise DatasetError(f"{root_path} does not hold {name} data: expected {reader.layout}{found}")
        detail = f": {_first_few(missing)}" if missing else ""
        raise DatasetError(
            f"no sequence of {name} split {label!r} found under {root_path}{detail}; "
            f"split {ALL!r} takes every sequence on disk"
        )
    if missing and not allow_missing:
        raise DatasetError(
            f"{len(missing)} of {len(entries)} sequences of {name} split {label!r} are missing under "
            f"{root_path}: {_first_few(missing)}; allow missing sequences (--allow-missing) to go on "
            f"with the {len(present)} present"
        )
    return Dataset(name, reader.protocol_for(root_path), label, root_path, present)
