"""Scoring results folders against a dataset, and the tables that show the scores."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Iterable, Optional, Protocol, Sequence as SequenceOf, Union

import numpy as np
from rich.table import Table

from compresstracker.console import make_table
from compresstracker.data.sequence import Sequence
from compresstracker.errors import DatasetError, ResultsError
from compresstracker.evaluation import got10k, ope
from compresstracker.evaluation.results import existing_results_dir, read_result_file, result_path, tracker_name
from compresstracker.fileio import check_name

GOT10K_PROTOCOL = "got10k"
COLUMN_TITLES = {
    "auc": "AUC",
    "op50": "OP50",
    "op75": "OP75",
    "precision": "Prec.",
    "norm_precision": "Norm. Prec.",
    "ao": "AO",
    "sr50": "SR0.5",
    "sr75": "SR0.75",
}
_LISTED_NAMES = 5  # how many missing names an error message spells out

Result = Union[ope.OPEResult, got10k.GOT10kResult]


class DatasetLike(Protocol):
    """What scoring needs from a dataset: its registry name, metric protocol and sequences."""

    name: str
    protocol: str
    sequences: list[Sequence]


@dataclass
class TrackerScore:
    """One tracker's scores on one dataset, with the per-sequence data plots and breakdowns need."""

    tracker: str
    results_dir: Path
    dataset: str
    protocol: str
    result: Result

    @property
    def metric_names(self) -> tuple[str, ...]:
        return got10k.METRIC_NAMES if isinstance(self.result, got10k.GOT10kResult) else ope.METRIC_NAMES

    def metrics(self) -> dict[str, float]:
        return self.result.metrics()

    def to_dict(self) -> dict:
        """JSON-ready: dataset, tracker, metrics (percent), aggregate curves and per-sequence metrics."""
        return {
            "dataset": self.dataset,
            "tracker": self.tracker,
            "results_dir": str(self.results_dir),
            "protocol": self.protocol,
            "num_sequences": len(self.result.names),
            "metrics": self.metrics(),
            "curves": {name: [float(v) for v in curve] for name, curve in self.result.curves().items()},
            "sequences": self.result.sequence_metrics(),
        }


def _names_list(names: Iterable[str]) -> str:
    names = list(names)
    shown = ", ".join(names[:_LISTED_NAMES])
    return shown + (f" and {len(names) - _LISTED_NAMES} more" if len(names) > _LISTED_NAMES else "")


def select_sequences(dataset: DatasetLike, names: SequenceOf[str] | None) -> list[Sequence]:
    """The dataset's sequences, or those named (in the dataset's order); unknown names are an error."""
    if names is None:
        return list(dataset.sequences)
    wanted = set(names)
    known = {seq.name for seq in dataset.sequences}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise DatasetError(f"{len(unknown)} sequence(s) not in dataset {dataset.name}: {_names_list(unknown)}")
    return [seq for seq in dataset.sequences if seq.name in wanted]


def _check_ground_truth(seq: Sequence) -> None:
    if len(seq.ground_truth) == 1 < len(seq.frames):
        raise DatasetError(
            f"sequence {seq.name} has ground truth for its first frame only (a test split whose "
            f"annotations are withheld): score it on the benchmark's server, see `ctrack pack`"
        )


def score_trackers(
    dataset: DatasetLike,
    results_dirs: SequenceOf[str | Path],
    sequences: SequenceOf[str] | None = None,
    allow_missing: bool = False,
    labels: SequenceOf[str | None] | None = None,
) -> list[TrackerScore]:
    """Score each results folder on ``dataset`` with the dataset's published protocol.

    ``labels`` name the trackers in tables and plots (default: each results folder's name).

    A sequence without a result file is an error unless ``allow_missing``; then, as pytracking's
    skip_missing_seq does, only the sequences every folder has are scored.
    """
    seqs = select_sequences(dataset, sequences)
    dirs = [existing_results_dir(d) for d in results_dirs]
    if not dirs:
        raise ResultsError("no results folder given")
    given = list(labels or [])[: len(dirs)]
    for label in filter(None, given):
        check_name(label, "result label")  # a label may become a file or folder name downstream
    names = [given[i] if i < len(given) and given[i] else tracker_name(d) for i, d in enumerate(dirs)]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ResultsError(f"two results folders are labelled {', '.join(twice)}: label each one apart (--results LABEL=PATH)")
    paths = [{seq.name: result_path(d, seq.name) for seq in seqs} for d in dirs]
    for results_dir, found in zip(dirs, paths):
        missing = [name for name, path in found.items() if path is None]
        if missing and not allow_missing:
            raise ResultsError(
                f"{len(missing)} of {len(seqs)} sequences have no result file in {results_dir}: "
                f"{_names_list(missing)} (expected <seq>.txt; --allow-missing scores the others)"
            )
    seqs = [seq for seq in seqs if all(found[seq.name] is not None for found in paths)]
    if not seqs:
        raise ResultsError(f"no sequence of {dataset.name} has results in every results folder")
    for seq in seqs:
        _check_ground_truth(seq)
    evaluate = got10k.evaluate_got10k if dataset.protocol == GOT10K_PROTOCOL else ope.evaluate_ope
    scores = []
    for i, (results_dir, found) in enumerate(zip(dirs, paths)):
        files = [found[seq.name] for seq in seqs]
        result = evaluate(seqs, [read_result_file(f) for f in files], [str(f) for f in files])
        scores.append(TrackerScore(names[i], results_dir, dataset.name, dataset.protocol, result))
    return scores


def first_box_score(dataset: DatasetLike, label: str = "first box", names: Optional[Collection[str]] = None) -> TrackerScore:
    """The score of a "tracker" that repeats the first ground-truth box on every frame.

    The floor a tracker has to clear on a dataset: where targets barely move it is high, and a
    tracker that does not clearly beat it is not tracking. ``names``: only these sequences (those
    another tracker was scored on).
    """
    seqs = [seq for seq in dataset.sequences if names is None or seq.name in names]
    for seq in seqs:
        _check_ground_truth(seq)
    boxes = [np.repeat(np.asarray(seq.ground_truth, dtype=np.float64)[:1], len(seq.ground_truth), axis=0) for seq in seqs]
    evaluate = got10k.evaluate_got10k if dataset.protocol == GOT10K_PROTOCOL else ope.evaluate_ope
    return TrackerScore(label, Path(label), dataset.name, dataset.protocol, evaluate(seqs, boxes))


def with_first_box(dataset: DatasetLike, scores: list[TrackerScore]) -> list[TrackerScore]:
    """``scores`` and, last, :func:`first_box_score` on the sequences the first of them was scored on."""
    return [*scores, first_box_score(dataset, names=set(scores[0].result.names))]


def score_results(
    dataset: DatasetLike,
    results_dirs: SequenceOf[str | Path],
    sequences: SequenceOf[str] | None = None,
    allow_missing: bool = False,
) -> dict:
    """Scores of each results folder as JSON-ready dicts: ``{"dataset", "protocol", "trackers": [...]}``.

    Each tracker entry holds ``dataset``, ``tracker``, ``metrics`` (percent) and per-sequence metrics.
    """
    scores = score_trackers(dataset, results_dirs, sequences, allow_missing)
    return {
        "dataset": dataset.name,
        "protocol": dataset.protocol,
        "trackers": [score.to_dict() for score in scores],
    }


def sequence_attributes(sequences: Iterable[Sequence]) -> dict[str, list[str]]:
    """Attribute name -> names of the sequences flagged with it (flags are bools or 0/1)."""
    flagged: dict[str, list[str]] = {}
    for seq in sequences:
        for attribute, flag in seq.attributes.items():
            if isinstance(flag, (bool, int, float, np.bool_, np.integer, np.floating)):
                members = flagged.setdefault(attribute, [])
                if flag:
                    members.append(seq.name)
    return {attribute: members for attribute, members in flagged.items() if members}


def attribute_breakdown(score: TrackerScore, sequences: Iterable[Sequence]) -> dict[str, dict[str, float]]:
    """Metrics over the scored sequences having each attribute: ``{attribute: {"sequences": n, metric: ...}}``."""
    scored = set(score.result.names)
    breakdown = {}
    for attribute, members in sequence_attributes(sequences).items():
        members = [name for name in members if name in scored]
        if members:
            breakdown[attribute] = {"sequences": len(members), **score.result.subset(members).metrics()}
    return breakdown


def scores_table(scores: SequenceOf[TrackerScore]) -> Table:
    """Several trackers side by side, one row each, metrics in percent with 2 decimals."""
    first = scores[0]
    table = make_table(f"{first.dataset} ({len(first.result.names)} sequences)", ("Tracker", {"style": "bold"}),
                       *[(COLUMN_TITLES[name], {"justify": "right"}) for name in first.metric_names])
    for score in scores:
        metrics = score.metrics()
        table.add_row(score.tracker, *(f"{metrics[name]:.2f}" for name in first.metric_names))
    return table


def attribute_table(scores: SequenceOf[TrackerScore], sequences: Iterable[Sequence]) -> Table:
    """Per-attribute AUC (GOT-10k: AO) of several trackers: one row per attribute, one column per tracker."""
    key = "ao" if scores[0].protocol == GOT10K_PROTOCOL else "auc"
    sequences = list(sequences)
    breakdowns = [attribute_breakdown(score, sequences) for score in scores]
    table = make_table(f"{scores[0].dataset}: {COLUMN_TITLES[key]} per attribute", ("Attribute", {"style": "bold"}),
                       *[(title, {"justify": "right"}) for title in ("Seqs", *(score.tracker for score in scores))])
    for attribute, entry in breakdowns[0].items():
        table.add_row(attribute, str(entry["sequences"]), *(f"{b[attribute][key]:.2f}" for b in breakdowns))
    return table
