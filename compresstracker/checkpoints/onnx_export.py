"""ONNX export of tracker networks, verified against PyTorch at once, and int8 dynamic quantization.

The graph maps ``template`` (1, 3, Ht, Ht) and ``search`` (1, 3, Hs, Hs) to ``score_map``,
``size_map`` and ``offset_map``; box decoding and the Hann window stay in the tracker. Candidate
elimination is exported with static shapes: the CTR_POINT template row enters as a constant
int64 index instead of a boolean mask (same values, see ``select_template_rows``), the
elimination sort becomes TopK with a fixed k and the gathers/scatter have fixed sizes.

The model config and the CE setting are stored in the ONNX metadata (``metadata_props``), so
an exported file runs with ONNX Runtime without flags. onnx and onnxruntime are the optional
extra ``ctrack[onnx]``; they are imported only when needed.
"""
from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

import torch
from torch import nn

from compresstracker import __version__
from compresstracker.checkpoints.formats import config_from_dict
from compresstracker.errors import CheckpointError, CTrackError
from compresstracker.fileio import atomic_path
from compresstracker.models import TrackerConfig, TrackerNet, ctr_point_rows

__all__ = [
    "DEFAULT_OPSET", "INPUT_NAMES", "MAX_ABS_DIFF", "MIN_OPSET", "OUTPUT_NAMES", "MapsNet", "export_onnx",
    "int8_accuracy", "is_onnx_path", "make_session", "read_onnx_metadata", "require_onnx", "quantize_int8",
]

DEFAULT_OPSET = 17  # LayerNormalization is a single op from 17 on
MIN_OPSET = 14  # scaled_dot_product_attention needs 14
MAX_ABS_DIFF = 1e-4  # largest ONNX Runtime vs PyTorch difference an export may show
INPUT_NAMES = ("template", "search")
OUTPUT_NAMES = ("score_map", "size_map", "offset_map")
ONNX_KEYS = {
    "config": "ctrack.config",
    "ce": "ctrack.ce",
    "precision": "ctrack.precision",
    "version": "ctrack.version",
}
INSTALL_HINT = 'pip install "ctrack[onnx]"'


def require_onnx() -> tuple[Any, Any]:
    """(onnx, onnxruntime) modules; a one-line error saying how to install them when absent."""
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise CTrackError(f"ONNX support needs the onnx and onnxruntime packages: {INSTALL_HINT}") from None
    return onnx, onnxruntime


def is_onnx_path(path: str | Path) -> bool:
    """ONNX models are recognised by their ``.onnx`` extension; only the onnxruntime backend runs them."""
    return Path(path).suffix.lower() == ".onnx"


class MapsNet(nn.Module):
    """What the ONNX graph computes: (template, search) -> (score_map, size_map, offset_map).

    With ``ce`` the CE blocks eliminate search tokens ranked by the CTR_POINT template row, given
    as a constant index; without it every block runs plain.
    """

    def __init__(self, model: TrackerNet, ce: bool):
        super().__init__()
        cfg = model.config
        self.model = model
        self.keep_ratios = [cfg.keep_ratio(i) for i in range(cfg.depth)] if ce else None
        self.register_buffer("rows", ctr_point_rows(cfg, next(model.parameters()).device), persistent=False)

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        tokens = self.model.backbone(template, search, self.rows, self.keep_ratios)
        return self.model.head_maps(tokens)


def _resolve_ce(model: TrackerNet, ce: Optional[bool]) -> bool:
    if ce is None:
        return bool(model.ce_enabled)
    if ce and not model.config.has_ce:
        raise CheckpointError(f"{model.config.arch} has no candidate-elimination (CE) layers; export it without CE")
    return bool(ce)


def _random_inputs(config: TrackerConfig, device: torch.device, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    template = torch.randn(1, 3, config.template_size, config.template_size, generator=gen)
    search = torch.randn(1, 3, config.search_size, config.search_size, generator=gen)
    return template.to(device), search.to(device)


def make_session(path: str | Path, device: str | torch.device = "cpu", threads: Optional[int] = None):
    """An ONNX Runtime session on ``device`` (CPU, or CUDA when onnxruntime-gpu provides it).

    ``threads`` (default: torch's intra-op thread count) bounds ORT's intra-op pool, so PyTorch and
    ONNX Runtime are compared with the same number of cores.
    """
    _, ort = require_onnx()
    device = torch.device(device)
    providers = ["CPUExecutionProvider"]
    if device.type == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise CTrackError("this onnxruntime has no CUDA provider: install onnxruntime-gpu, or use --device cpu")
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # warnings and below stay quiet
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime's pybind errors (InvalidProtobuf, Fail, ...) share no useful base
        raise CheckpointError(f"onnxruntime cannot load {Path(path).name}: {str(exc).splitlines()[0]}") from None


def read_onnx_metadata(metadata: Mapping[str, str], source: str) -> tuple[TrackerConfig, bool, str]:
    """(config, CE on, precision) from an exported file's metadata map."""
    if ONNX_KEYS["config"] not in metadata:
        raise CheckpointError(f"{source} was not written by `ctrack export` (no {ONNX_KEYS['config']} metadata)")
    try:
        data = json.loads(metadata[ONNX_KEYS["config"]])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{source}: metadata {ONNX_KEYS['config']} is not valid JSON ({exc})") from None
    config = config_from_dict(data, f"{source} metadata {ONNX_KEYS['config']}")
    return config, metadata.get(ONNX_KEYS["ce"]) == "true", metadata.get(ONNX_KEYS["precision"], "fp32")


def _write_metadata(path: Path, config: TrackerConfig, ce: bool, precision: str) -> None:
    """Store config, CE setting and precision in the file's metadata_props (other entries are kept)."""
    onnx, _ = require_onnx()
    entries = {
        ONNX_KEYS["config"]: config.to_json(),
        ONNX_KEYS["ce"]: "true" if ce else "false",
        ONNX_KEYS["precision"]: precision,
        ONNX_KEYS["version"]: __version__,
    }
    proto = onnx.load(str(path))
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key not in entries]
    del proto.metadata_props[:]
    for key, value in [*kept, *entries.items()]:
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(path))


def _max_abs_diff(net: MapsNet, session, inputs: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
    """Largest |ORT - PyTorch| of each output map on ``inputs``."""
    with torch.no_grad():
        expected = net(*inputs)
    feeds = {name: t.detach().cpu().numpy() for name, t in zip(INPUT_NAMES, inputs)}
    got = session.run(list(OUTPUT_NAMES), feeds)
    return {
        name: float(abs(torch.from_numpy(g) - e.detach().float().cpu()).max())
        for name, g, e in zip(OUTPUT_NAMES, got, expected)
    }


def export_onnx(model: TrackerNet, path: str | Path, opset: int = DEFAULT_OPSET, ce: Optional[bool] = None) -> dict[str, Any]:
    """Export ``model`` (put in eval mode) to ONNX at ``path`` and verify it with ONNX Runtime.

    ``ce``: None keeps the model's own CE setting, False exports every block plain. The export is
    compared with PyTorch on random inputs; a max abs difference of ``MAX_ABS_DIFF`` or more is a
    CheckpointError and leaves no file behind. Returns what was written and the differences.
    """
    onnx, _ = require_onnx()
    if opset < MIN_OPSET:
        raise CheckpointError(f"ONNX opset {opset} is too old; use {MIN_OPSET} or newer (default {DEFAULT_OPSET})")
    ce = _resolve_ce(model, ce)
    net = MapsNet(model, ce).eval()
    cfg = model.config
    device = next(model.parameters()).device
    path = Path(path)
    start = time.perf_counter()
    with atomic_path(path) as tmp:
        with warnings.catch_warnings():
            # The TorchScript exporter announces its deprecation and traces shape arithmetic; neither
            # matters for these fixed-size graphs. (The dynamo exporter needs onnxscript, not in the extra.)
            warnings.simplefilter("ignore")
            torch.onnx.export(
                net, _random_inputs(cfg, device, seed=0), str(tmp), dynamo=False, opset_version=opset,
                input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES), do_constant_folding=True,
            )
        _write_metadata(tmp, cfg, ce, "fp32")
        onnx.checker.check_model(str(tmp))
        diffs = _max_abs_diff(net, make_session(tmp), _random_inputs(cfg, device, seed=1))
        worst = max(diffs.values())
        if not worst < MAX_ABS_DIFF:
            raise CheckpointError(
                f"ONNX export of {cfg.arch} differs from PyTorch by {worst:.3g} (limit {MAX_ABS_DIFF:g}); "
                "the file was not written"
            )
        size = tmp.stat().st_size
    return {
        "path": str(path),
        "arch": cfg.arch,
        "ce": ce,
        "opset": opset,
        "inputs": {"template": [1, 3, cfg.template_size, cfg.template_size], "search": [1, 3, cfg.search_size, cfg.search_size]},
        "outputs": list(OUTPUT_NAMES),
        "max_abs_diff": worst,
        "max_abs_diff_per_output": diffs,
        "size_bytes": size,
        "seconds": round(time.perf_counter() - start, 3),
    }


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime.quantization logs advice (run pre-processing) on the root logger; keep it off the CLI."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def quantize_int8(source: str | Path, path: str | Path) -> dict[str, Any]:
    """ONNX Runtime dynamic quantization of an exported fp32 file: int8 weights, activations per call.

    The linear layers (MatMul/Gemm with a weight) become MatMulInteger. Convolutions stay fp32
    (ORT's ConvInteger is slower than its fp32 Conv on CPUs) and so do the activation x activation
    products of attention. The metadata is carried over (precision int8).
    """
    require_onnx()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source, path = Path(source), Path(path)
    session = make_session(source)
    config, ce, _ = read_onnx_metadata(session.get_modelmeta().custom_metadata_map, source.name)
    with atomic_path(path) as tmp, _quiet_root_logger():
        quantize_dynamic(source, tmp, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])
        _write_metadata(tmp, config, ce, "int8")
        size = tmp.stat().st_size
    return {"path": str(path), "source": str(source), "precision": "int8", "size_bytes": size}


def int8_accuracy(
    fp32_path: str | Path, int8_path: str | Path, sequences: int = 4, frames: int = 40, seed: int = 0,
) -> dict[str, Any]:
    """AUC of the fp32 and int8 ONNX trackers on a freshly generated synthetic split (OPE protocol).

    The sequences are written to a temporary folder and removed afterwards; both trackers see the
    same frames, so the difference is the quantization's.
    """
    from compresstracker.data import get_dataset
    from compresstracker.data.synthetic import generate
    from compresstracker.evaluation.report import score_trackers
    from compresstracker.evaluation.runner import ModelSpec, run_tracker

    with tempfile.TemporaryDirectory(prefix="ctrack-int8-") as tmp:
        root = Path(tmp) / "data"
        generate("lasot", root, sequences=sequences, frames=frames, seed=seed)
        dataset = get_dataset("synthetic", root, split="all")
        folders = []
        for name, model in (("fp32", fp32_path), ("int8", int8_path)):
            folders.append(Path(tmp) / "results" / name)
            run_tracker(ModelSpec(checkpoint=str(model), backend="onnxruntime"), dataset, folders[-1])
        fp32, int8 = (score.metrics()["auc"] for score in score_trackers(dataset, folders))
    return {
        "dataset": f"synthetic (lasot layout, {sequences} sequences x {frames} frames, seed {seed})",
        "auc_fp32": fp32,
        "auc_int8": int8,
        "auc_change": int8 - fp32,
    }
