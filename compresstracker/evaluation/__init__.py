"""Benchmark evaluation: pytracking OPE metrics, GOT-10k toolkit metrics, reports, plots, server packs."""
from __future__ import annotations

from compresstracker.evaluation.got10k import GOT10kResult, evaluate_got10k, rect_iou
from compresstracker.evaluation.ope import FrameErrors, OPEResult, evaluate_ope, sequence_errors
from compresstracker.evaluation.pack import PACK_FORMATS, pack_results
from compresstracker.evaluation.report import (
    TrackerScore,
    attribute_breakdown,
    attribute_table,
    score_results,
    score_trackers,
    scores_table,
)
from compresstracker.evaluation.results import list_result_sequences, read_result_file, result_path

__all__ = [
    "FrameErrors",
    "GOT10kResult",
    "OPEResult",
    "PACK_FORMATS",
    "TrackerScore",
    "attribute_breakdown",
    "attribute_table",
    "evaluate_got10k",
    "evaluate_ope",
    "list_result_sequences",
    "pack_results",
    "read_result_file",
    "rect_iou",
    "result_path",
    "score_results",
    "score_trackers",
    "scores_table",
    "sequence_errors",
    "write_plots",
]


def __getattr__(name: str):
    """``write_plots`` imports matplotlib, so it loads on first use."""
    if name == "write_plots":
        from compresstracker.evaluation.plots import write_plots

        return write_plots
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
