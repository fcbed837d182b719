"""ONNX export of any registered family's graphs, with the model's config in the file's metadata.

:func:`ort_runner` runs such a file with ONNX Runtime (the verification here and the onnxruntime
backend). Each graph becomes one ONNX file: a one-graph family writes exactly the path asked for; a family
with several graphs writes its per-frame (last) graph there and the others beside it as
``STEM.GRAPH.onnx``, listed in the metadata (``ctrack.graphs``). Family, config, CE setting and
precision are stored in ``metadata_props``, so an exported file runs without flags. onnx and
onnxruntime are the optional extra ``ctrack[onnx]``, imported only when needed.
"""
from __future__ import annotations

import contextlib
import json
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
from torch import nn

from compresstracker import __version__
from compresstracker.deploy.family import DeployedFile, Runner, check_signature, deploy_family_of, family_named, graph_differences
from compresstracker.models import default_family
from compresstracker.errors import CheckpointError, ConfigError, CTrackError
from compresstracker.fileio import atomic_path

__all__ = [
    "DEFAULT_OPSET", "MAX_ABS_DIFF", "MIN_OPSET", "check_graph_files", "export_onnx", "graph_paths", "graph_summary", "ort_runner",
    "read_onnx", "require_onnx", "write_metadata", "write_onnx",
]

DEFAULT_OPSET = 17  # LayerNormalization is a single op from 17 on
MIN_OPSET = 14  # scaled_dot_product_attention needs 14
MAX_ABS_DIFF = 1e-4  # largest ONNX Runtime vs PyTorch difference an fp32 export may show
KEY = "ctrack."
INSTALL_HINT = 'pip install "ctrack[onnx]"'


def require_onnx() -> tuple[Any, Any]:
    """(onnx, onnxruntime) modules; a one-line error saying how to install them when absent."""
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise CTrackError(f"ONNX support needs the onnx and onnxruntime packages: {INSTALL_HINT}") from None
    return onnx, onnxruntime


def graph_paths(path: str | Path, names: list[str]) -> dict[str, Path]:
    """Where each graph of an export goes: the last at ``path``, the others as ``STEM.NAME.SUFFIX`` beside it."""
    path = Path(path)
    return {name: path if i == len(names) - 1 else path.with_name(f"{path.stem}.{name}{path.suffix}") for i, name in enumerate(names)}


def deployed_metadata(deployed: DeployedFile, graph: str) -> dict[str, str]:
    """The ``ctrack.*`` entries every deployed graph file carries."""
    family = family_named(deployed.family, deployed.path.name)
    return {
        f"{KEY}family": deployed.family,
        f"{KEY}config": json.dumps(family.config_to_dict(deployed.config), sort_keys=True),
        f"{KEY}ce": "true" if deployed.ce else "false",
        f"{KEY}precision": deployed.precision,
        f"{KEY}graph": graph,
        f"{KEY}graphs": json.dumps({name: p.name for name, p in deployed.graphs.items()}),
        f"{KEY}version": __version__,
    }


def parse_metadata(metadata: dict[str, str], path: Path) -> DeployedFile:
    """A :class:`DeployedFile` from a file's ``ctrack.*`` entries (files of ctrack <= 0.x: one OSTrack graph)."""
    if f"{KEY}config" not in metadata:
        raise CheckpointError(f"{path.name} was not written by `ctrack export` (no {KEY}config metadata)")
    try:
        data = json.loads(metadata[f"{KEY}config"])
        graphs = json.loads(metadata.get(f"{KEY}graphs", "{}")) or {"maps": path.name}
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path.name}: its ctrack metadata is not valid JSON ({exc})") from None
    name = metadata.get(f"{KEY}family") or default_family().name  # files written before the entry: the default family
    config = family_named(name, path.name).config_from_dict(data, f"{path.name} metadata {KEY}config")
    return DeployedFile(
        path=path, family=name, config=config, ce=metadata.get(f"{KEY}ce") == "true",
        precision=metadata.get(f"{KEY}precision", "fp32"), graphs=_graph_files(metadata, path, list(graphs)),
    )


def _graph_files(metadata: dict[str, str], path: Path, names: list[str]) -> dict[str, Path]:
    """Each graph's file, found from the name ``path`` has now (not the names stored at export time).

    A renamed or copied export then runs its own graphs: the stored names would point at whatever
    file holds the old name, possibly another export (another precision) under this file's label.
    """
    own = metadata.get(f"{KEY}graph", names[-1])
    if own not in names:
        raise CheckpointError(f"{path.name}: its ctrack metadata names graph {own!r}, not one of {', '.join(names)}")
    main = path
    if own != names[-1]:
        tail = f".{own}"
        if not path.stem.endswith(tail):
            raise CheckpointError(f"{path.name} holds the {own!r} graph of an export whose main file is named STEM{path.suffix} "
                                  f"beside STEM{tail}{path.suffix}; keep those names")
        main = path.with_name(path.stem[: -len(tail)] + path.suffix)
    return graph_paths(main, names)


def check_graph_files(
    deployed: DeployedFile, first: dict[str, str], read_metadata: Callable[[str, Path], dict[str, str]],
    present: Callable[[Path], bool] = Path.is_file,
) -> None:
    """An error unless every other graph file of ``deployed`` is beside it and came from the same export.

    ``first`` is the named file's ``ctrack.*`` entries; ``read_metadata(graph, path)`` reads those of
    another graph's file (a backend reads its own format); ``present`` says whether a file is whole.
    """
    missing = [p.name for p in deployed.graphs.values() if not present(p)]
    if missing:
        raise CheckpointError(f"{deployed.path.name} needs its other graph file(s) beside it: {', '.join(missing)}")
    for graph, path in deployed.graphs.items():
        if path == deployed.path:
            continue
        metadata = read_metadata(graph, path)
        if metadata.get(f"{KEY}graph", graph) != graph:
            raise CheckpointError(f"{path.name} holds graph {metadata.get(f'{KEY}graph')!r}, not the {graph!r} graph {deployed.path.name} needs")
        differ = [k for k in ("family", "config", "ce", "precision") if metadata.get(f"{KEY}{k}") != first.get(f"{KEY}{k}")]
        if differ:
            raise CheckpointError(
                f"{path.name} is not from the same export as {deployed.path.name} (its {', '.join(differ)} {'differs' if len(differ) == 1 else 'differ'})"
            )


def read_onnx(path: str | Path) -> DeployedFile:
    """What an exported .onnx file (any of a family's graph files) says about itself."""
    onnx, _ = require_onnx()
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"ONNX model not found: {path}")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends share no useful base
        raise CheckpointError(f"{path.name} is not a readable ONNX model ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    first = {p.key: p.value for p in proto.metadata_props}
    deployed = parse_metadata(first, path)
    protos = {first.get(f"{KEY}graph", list(deployed.graphs)[-1]): proto}

    def read_metadata(graph: str, other: Path) -> dict[str, str]:
        try:
            protos[graph] = onnx.load(str(other), load_external_data=False)
        except Exception as exc:  # as above
            raise CheckpointError(f"{other.name} is not a readable ONNX model ({type(exc).__name__})") from None
        return {p.key: p.value for p in protos[graph].metadata_props}

    check_graph_files(deployed, first, read_metadata)
    for graph, graph_proto in protos.items():
        _check_proto(deployed, graph, graph_proto)
    return deployed


def _check_proto(deployed: DeployedFile, graph: str, proto: Any) -> None:
    """The family's signature check on an ONNX graph's inputs (initializers excepted) and outputs."""
    def rank(value: Any) -> Optional[int]:
        kind = value.type.tensor_type
        return len(kind.shape.dim) if kind.HasField("shape") else None

    initializers = {t.name for t in proto.graph.initializer}
    inputs = {v.name: rank(v) for v in proto.graph.input if v.name not in initializers}
    check_signature(deployed, graph, inputs, {v.name: rank(v) for v in proto.graph.output})


def ort_runner(path: str | Path, device: str | torch.device = "cpu", threads: Optional[int] = None) -> Runner:
    """An ONNX Runtime session on ``device`` (CPU, or CUDA with onnxruntime-gpu) as a graph runner.

    ``threads`` (default: torch's intra-op thread count) bounds ORT's intra-op pool, so PyTorch and
    ONNX Runtime are compared on the same number of cores.
    """
    import onnxruntime as ort

    device = torch.device(device)
    providers: list = ["CPUExecutionProvider"]
    if device.type == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise CTrackError("this onnxruntime has no CUDA provider: install onnxruntime-gpu, or use --device cpu")
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # warnings and below stay quiet
    # Workers spin between the operators of one run (fast hand-offs) but stop when it returns: left
    # spinning they took the cores from everything else in the process (the crop and decode of the
    # next frame, LightTrack's other graph, the other rows of an interleaved bench: torch ran 3x
    # slower beside a spinning session). Tracking FPS alone is unchanged (docs/speed.md).
    options.add_session_config_entry("session.force_spinning_stop", "1")
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime's pybind errors (InvalidProtobuf, Fail, ...) share no useful base
        raise CheckpointError(f"onnxruntime cannot load {Path(path).name}: {str(exc).splitlines()[0]}") from None
    outputs = [o.name for o in session.get_outputs()]

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(outputs, session.run(outputs, feeds)))

    run.session = session  # type: ignore[attr-defined]
    return run


def write_metadata(path: Path, entries: dict[str, str]) -> None:
    """Store ``entries`` in an ONNX file's metadata_props (other entries are kept)."""
    onnx, _ = require_onnx()
    proto = onnx.load(str(path))
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key not in entries]
    del proto.metadata_props[:]
    for key, value in [*kept, *entries.items()]:
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(path))


def write_onnx(model: nn.Module, folder: Path, opset: int = DEFAULT_OPSET, ce: Optional[bool] = None) -> tuple[list, DeployedFile]:
    """The family's graphs of ``model`` traced into ``folder/model.onnx`` (and siblings), unverified.

    For backends that convert from ONNX (OpenVINO) and verify what they compiled themselves.
    Returns (graphs, deployed file).
    """
    onnx, _ = require_onnx()
    family, ce = _resolve(model, ce)
    graphs = family.graphs(model, ce)
    paths = graph_paths(Path(folder) / "model.onnx", [g.name for g in graphs])
    deployed = DeployedFile(Path(folder) / "model.onnx", family.name, model.config, ce, "fp32", paths)
    for graph in graphs:
        _trace(graph, paths[graph.name], opset, deployed)
    return graphs, deployed


def _resolve(model: nn.Module, ce: Optional[bool]):
    family = deploy_family_of(model)
    model.eval()
    return family, family.resolve_ce(model, ce)


def _trace(graph, path: Path, opset: int, deployed: DeployedFile) -> None:
    """One graph to ONNX at ``path``, with the deployed file's metadata, checked by the onnx checker."""
    onnx, _ = require_onnx()
    if opset < MIN_OPSET:
        raise CheckpointError(f"ONNX opset {opset} is too old; use {MIN_OPSET} or newer (default {DEFAULT_OPSET})")
    with warnings.catch_warnings():
        # The TorchScript exporter announces its deprecation and traces shape arithmetic; neither
        # matters for these fixed-size graphs. (The dynamo exporter needs onnxscript, not in the extra.)
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph.module, graph.example(0), str(path), dynamo=False, opset_version=opset,
            input_names=list(graph.inputs), output_names=list(graph.outputs), do_constant_folding=True,
            dynamic_axes=graph.dynamic_axes,
        )
    write_metadata(path, deployed_metadata(deployed, graph.name))
    onnx.checker.check_model(str(path))


def export_onnx(model: nn.Module, path: str | Path, opset: int = DEFAULT_OPSET, ce: Optional[bool] = None) -> dict[str, Any]:
    """Export ``model`` (put in eval mode) to ONNX at ``path`` and verify it with ONNX Runtime.

    ``ce``: None keeps the model's own CE setting, False exports every block plain. Every graph is
    compared with PyTorch on seeded random inputs; a max abs difference of ``MAX_ABS_DIFF`` or more
    is a CheckpointError and leaves no file behind. Returns what was written and the differences.
    """
    require_onnx()
    if Path(path).suffix.lower() != ".onnx":  # the onnxruntime backend picks its files by suffix
        raise ConfigError(f"{Path(path).name}: ONNX models are written as NAME.onnx")
    family, ce = _resolve(model, ce)
    graphs = family.graphs(model, ce)
    paths = graph_paths(path, [g.name for g in graphs])
    deployed = DeployedFile(Path(path), family.name, model.config, ce, "fp32", paths)
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        tmps = {name: stack.enter_context(atomic_path(p)) for name, p in paths.items()}
        for graph in graphs:
            _trace(graph, tmps[graph.name], opset, deployed)
        diffs = graph_differences(graphs, {name: ort_runner(tmp) for name, tmp in tmps.items()})
        worst = max(diffs.values())
        if not worst < MAX_ABS_DIFF:
            raise CheckpointError(
                f"ONNX export of {family.config_name(model.config)} differs from PyTorch by {worst:.3g} (limit {MAX_ABS_DIFF:g}); "
                "the file was not written"
            )
        size = sum(tmp.stat().st_size for tmp in tmps.values())
    return {
        "path": str(path),
        "family": family.name,
        "arch": family.config_name(model.config),
        "ce": ce,
        "opset": opset,
        "precision": "fp32",
        "graphs": graph_summary(graphs, paths),
        "max_abs_diff": worst,
        "max_abs_diff_per_output": diffs,
        "size_bytes": size,
        "seconds": round(time.perf_counter() - start, 3),
    }


def graph_summary(graphs: list, paths: dict[str, Path]) -> dict[str, dict]:
    """Per graph: its file, input shapes and output names (for export reports)."""
    return {
        g.name: {"path": str(paths[g.name]), "inputs": {n: list(t.shape) for n, t in zip(g.inputs, g.example(0))}, "outputs": list(g.outputs)}
        for g in graphs
    }
