"""Success and precision plots as papers draw them: one curve per tracker, legend "[score] name", best first."""
from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Iterable, Sequence as SequenceOf

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from compresstracker.data.sequence import Sequence
from compresstracker.evaluation import got10k, ope
from compresstracker.evaluation.report import GOT10K_PROTOCOL, TrackerScore, sequence_attributes
from compresstracker.fileio import atomic_write_bytes


def _write_curve_plot(
    path: Path,
    x: np.ndarray,
    curves: SequenceOf[tuple[str, float, np.ndarray]],
    title: str,
    xlabel: str,
    ylabel: str,
    formats: SequenceOf[str] = ("png",),
) -> list[Path]:
    """One figure with a curve per (name, score, y) entry, sorted by score, legend '[score] name' outside
    the axes (it never hides a curve); written as ``path`` in each of ``formats`` (png, pdf, svg)."""
    figure = Figure(figsize=(8.5, 5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    for name, score, y in sorted(curves, key=lambda entry: -entry[1]):
        axes.plot(x, y, linewidth=2, label=f"[{score:.1f}] {name}")
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_xlim(float(x[0]), float(x[-1]))
    axes.set_ylim(0, 100)
    axes.grid(True, linestyle="--", alpha=0.5)
    axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=9)
    written = []
    for fmt in formats:
        if fmt not in PLOT_FORMATS:
            raise ValueError(f"unknown plot format {fmt!r}; use {', '.join(PLOT_FORMATS)}")
        buffer = io.BytesIO()
        figure.savefig(buffer, format=fmt, dpi=120, bbox_inches="tight", metadata=_STABLE_METADATA.get(fmt))
        target = path.with_suffix(f".{fmt}")
        atomic_write_bytes(target, buffer.getvalue())
        written.append(target)
    return written


PLOT_FORMATS = ("png", "pdf", "svg")
_STABLE_METADATA = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}


def dataset_title(scores: SequenceOf[TrackerScore]) -> str:
    """The benchmark's proper name (as its registry entry spells it) and the number of sequences scored."""
    from compresstracker.data import list_datasets

    name = scores[0].dataset
    proper = next((r["description"].split(":")[0] for r in list_datasets() if r["name"] == name and ":" in r["description"]), name)
    return f"{proper} ({len(scores[0].result.names)} sequences)"


def _file_stem(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "attribute"


def success_plot(scores: SequenceOf[TrackerScore], path: str | Path, title: str | None = None,
                 formats: SequenceOf[str] = ("png",)) -> list[Path]:
    """Success plot (overlap thresholds); legend scores are AUC (GOT-10k: AO)."""
    path = Path(path)
    title = title or f"Success plots of OPE on {dataset_title(scores)}"
    if scores[0].protocol == GOT10K_PROTOCOL:
        x, key = got10k.SUCCESS_THRESHOLDS, "ao"
    else:
        x, key = ope.OVERLAP_THRESHOLDS, "auc"
    curves = [(s.tracker, s.metrics()[key], s.result.curves()["success"]) for s in scores]
    return _write_curve_plot(path, x, curves, title, "Overlap threshold", "Success rate [%]", formats)


def precision_plot(scores: SequenceOf[TrackerScore], path: str | Path, normalized: bool = False,
                   formats: SequenceOf[str] = ("png",)) -> list[Path]:
    """Precision plot (centre error thresholds 0..50 px, or 0..0.5 normalised); legend scores at 20 px / 0.2."""
    path = Path(path)
    curve_key, x = ("norm_precision", ope.NORM_CENTER_THRESHOLDS) if normalized else ("precision", ope.CENTER_THRESHOLDS)
    curves = [(s.tracker, s.metrics()[curve_key], s.result.curves()[curve_key]) for s in scores]
    kind = "Normalized precision" if normalized else "Precision"
    xlabel = "Normalized location error threshold" if normalized else "Location error threshold [pixels]"
    return _write_curve_plot(path, x, curves, f"{kind} plots of OPE on {dataset_title(scores)}", xlabel, f"{kind} [%]", formats)


def write_plots(
    scores: SequenceOf[TrackerScore], out_dir: str | Path, sequences: Iterable[Sequence] = (), formats: SequenceOf[str] = ("png",)
) -> list[Path]:
    """All plots into ``out_dir``: success, precision and normalised precision (OPE), and one success
    plot per attribute carried by the scored ``sequences``, in each of ``formats``. Returns the files written."""
    out_dir = Path(out_dir)
    formats = tuple(formats) or ("png",)
    written = success_plot(scores, out_dir / "success.png", formats=formats)
    if scores[0].protocol != GOT10K_PROTOCOL:
        written += precision_plot(scores, out_dir / "precision.png", formats=formats)
        written += precision_plot(scores, out_dir / "norm_precision.png", normalized=True, formats=formats)
    scored = set(scores[0].result.names)
    for attribute, members in sequence_attributes(sequences).items():
        members = [name for name in members if name in scored]
        if not members:
            continue
        subset = [
            TrackerScore(s.tracker, s.results_dir, s.dataset, s.protocol, s.result.subset(members)) for s in scores
        ]
        title = f"Success plots of OPE on {dataset_title(scores).split(' (')[0]}: {attribute} ({len(members)} sequences)"
        written += success_plot(subset, out_dir / f"success_{_file_stem(attribute)}.png", title, formats)
    return written
