"""Benchmark readers behind one registry, ground-truth parsing and the synthetic sequence generator.

    from compresstracker.data import get_dataset
    dataset = get_dataset("lasot", "/data/lasot")           # official 280-sequence test split
    for sequence in dataset: ...                            # Sequence records, parsed on access

The generator lives in ``compresstracker.data.synthetic`` (it imports OpenCV).
"""
from compresstracker.data.annotations import read_boxes, training_visibility
from compresstracker.data.registry import Dataset, DatasetReader, get_dataset, list_datasets, register
from compresstracker.data.sequence import PROTOCOLS, Sequence
from compresstracker.data import readers as _readers  # noqa: F401  (registers the benchmark readers)
from compresstracker.data import coco as _coco  # noqa: F401  (registers COCO as a training source)

__all__ = [
    "Dataset",
    "DatasetReader",
    "PROTOCOLS",
    "Sequence",
    "get_dataset",
    "list_datasets",
    "read_boxes",
    "register",
    "training_visibility",
]
