"""The OpenVINO backend: fp32, bf16 and int8 on the CPU (AVX-512/AMX where the CPU has them).

Graphs come from the ONNX trace of the family (:func:`~compresstracker.deploy.onnx.write_onnx`),
are converted with ``openvino.convert_model`` and compiled for one latency-bound stream. bf16 is
OpenVINO's inference-precision hint (weights stay fp32 in the file, the CPU plugin runs bf16
kernels); int8 is post-training static quantisation with NNCF, calibrated on real tracking crops
(:mod:`~compresstracker.deploy.calibration`). Deployed files are OpenVINO IR (``.xml`` + ``.bin``)
carrying ctrack's metadata in their runtime info, so ``--backend openvino`` runs them without
flags. The optional extra ``ctrack[openvino]``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import torch
from torch import nn

from compresstracker.deploy.backends import Backend, register_backend
from compresstracker.deploy.calibration import CALIB_SAMPLES, calibration_sequences
from compresstracker.deploy.family import (
    DeployedFile, Graph, GraphNetwork, Runner, check_signature, deploy_family_of, family_named, graph_differences,
)
from compresstracker.deploy.onnx import KEY, check_graph_files, deployed_metadata, graph_paths, graph_summary, parse_metadata, write_onnx
from compresstracker.errors import CheckpointError, ConfigError

if TYPE_CHECKING:
    from compresstracker.checkpoints import LoadedCheckpoint

__all__ = ["OpenVinoBackend", "cpu_supports", "export_openvino"]

HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}  # int8: what NNCF left unquantised runs in fp32
CAPABILITY = {"bf16": "BF16", "int8": "INT8"}


def _core():
    import openvino as ov

    return ov.Core()


def cpu_supports(precision: str) -> bool:
    """Whether OpenVINO's CPU plugin runs ``precision`` natively on this CPU (bf16: AVX-512 BF16 or AMX)."""
    if precision == "fp32":
        return True
    return CAPABILITY[precision] in _core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def _runner(compiled) -> Runner:
    request = compiled.create_infer_request()
    outputs = [(port, port.get_any_name()) for port in compiled.outputs]

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        result = request.infer(feeds)
        return {name: np.array(result[port]) for port, name in outputs}  # copies: the request reuses its buffers

    return run


def _compile(model, precision: str, threads: Optional[int]) -> Runner:
    config = {
        "INFERENCE_PRECISION_HINT": HINTS[precision],
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": "1",
        "INFERENCE_NUM_THREADS": str(threads or torch.get_num_threads()),
    }
    return _runner(_core().compile_model(model, "CPU", config))


@contextlib.contextmanager
def _quiet() -> Any:
    """NNCF prints progress bars and INFO lines; keep stdout clean for --json and the log quiet."""
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)  # "no CUDA runtime" on import
    import nncf

    nncf.set_log_level(logging.ERROR)
    with contextlib.redirect_stdout(sys.stderr if os.environ.get("CTRACK_VERBOSE") else open(os.devnull, "w")) as sink:
        try:
            yield
        finally:
            if sink is not sys.stderr:
                sink.close()


def _quantize(model, graph: Graph, inputs: list[tuple[torch.Tensor, ...]]):
    """NNCF post-training static int8 of one graph on its calibration inputs."""
    import nncf

    items = [{name: t.numpy() for name, t in zip(graph.inputs, sample)} for sample in inputs]
    with _quiet():
        return nncf.quantize(
            model, nncf.Dataset(items), model_type=nncf.ModelType.TRANSFORMER, subset_size=len(items),
        )


def convert(
    model: nn.Module, precision: str, ce: Optional[bool] = None, calib: Optional[str] = None, samples: int = CALIB_SAMPLES,
) -> tuple[list[Graph], DeployedFile, dict[str, Any], dict[str, Any]]:
    """(graphs, deployed description, OpenVINO models by graph, calibration note) of a torch model."""
    import openvino as ov

    if precision not in HINTS:
        raise ConfigError(f"the openvino backend runs {', '.join(HINTS)}, not {precision}")
    if not cpu_supports(precision):
        raise ConfigError(f"this CPU has no native {precision} support that OpenVINO uses; choose fp32")
    family = deploy_family_of(model)
    with tempfile.TemporaryDirectory(prefix="ctrack-ov-") as tmp:
        graphs, onnx_file = write_onnx(model, Path(tmp), ce=ce)
        models = {name: ov.convert_model(str(path)) for name, path in onnx_file.graphs.items()}
    note: dict[str, Any] = {}
    if precision == "int8":
        start = time.perf_counter()
        with calibration_sequences(calib) as (described, sequences):
            inputs = family.calibration_inputs(model, onnx_file.ce, sequences, samples)
        for graph in graphs:
            models[graph.name] = _quantize(models[graph.name], graph, inputs[graph.name])
        note = {"calibration": described, "samples": {g: len(v) for g, v in inputs.items()},
                "seconds": round(time.perf_counter() - start, 1)}
    deployed = dataclasses.replace(onnx_file, precision=precision)
    return graphs, deployed, models, note


def _set_metadata(model, entries: dict[str, str]) -> None:
    for key, value in entries.items():
        model.set_rt_info(value, ["ctrack", key[len(KEY):]])


def _read_metadata(model) -> dict[str, str]:
    keys = ("family", "config", "ce", "precision", "graph", "graphs", "version")
    return {f"{KEY}{k}": model.get_rt_info(["ctrack", k]).astype(str) for k in keys if model.has_rt_info(["ctrack", k])}


def export_openvino(
    model: nn.Module, path: str | Path, precision: str = "fp32", ce: Optional[bool] = None, calib: Optional[str] = None,
    threads: Optional[int] = None,
) -> dict[str, Any]:
    """Write ``model`` as OpenVINO IR at ``path`` (.xml + .bin per graph) in ``precision``.

    The written graphs are compiled as ``--backend openvino`` will run them and compared with the
    torch fp32 network on seeded inputs; ``max_abs_diff`` is that figure, for this exact file.
    """
    import openvino as ov

    path = Path(path)
    if path.suffix.lower() != ".xml":
        raise ConfigError(f"--out {path.name}: OpenVINO models are written as NAME.xml (with NAME.bin beside it)")
    start = time.perf_counter()
    graphs, deployed, models, note = convert(model, precision, ce, calib)
    paths = graph_paths(path, list(models))
    deployed = dataclasses.replace(deployed, path=path, graphs=paths)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as tmp:
        for name, ov_model in models.items():
            _set_metadata(ov_model, deployed_metadata(deployed, name))
            ov.save_model(ov_model, str(Path(tmp) / paths[name].name), compress_to_fp16=False)
        core = _core()  # the files as written, read back: the difference is theirs, not the in-memory graphs'
        written = {name: _compile(_read(core, Path(tmp) / p.name), precision, threads) for name, p in paths.items()}
        diffs = graph_differences(graphs, written)
        del written
        for name, target in paths.items():  # the .bin first: an .xml present means its weights are there
            os.replace(Path(tmp) / paths[name].with_suffix(".bin").name, target.with_suffix(".bin"))
            os.replace(Path(tmp) / paths[name].name, target)
    return {
        "path": str(path),
        "family": deployed.family,
        "arch": deploy_family_of(model).config_name(model.config),
        "ce": deployed.ce,
        "precision": precision,
        "graphs": graph_summary(graphs, paths),
        "max_abs_diff": max(diffs.values()),
        "max_abs_diff_per_output": diffs,
        "size_bytes": sum(p.stat().st_size + p.with_suffix(".bin").stat().st_size for p in paths.values()),
        **({"quantization": note} if note else {}),
        "seconds": round(time.perf_counter() - start, 3),
    }


def _read(core, path: Path):
    """An OpenVINO IR file read (not compiled); one-line errors for a missing, foreign or broken file."""
    if not path.is_file() or not path.with_suffix(".bin").is_file():
        raise CheckpointError(f"OpenVINO model not found: {path} (with {path.with_suffix('.bin').name} beside it)")
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if b"<net" not in head:  # else OpenVINO tries every frontend on it and prints their parse errors
        raise CheckpointError(f"{path.name} is not an OpenVINO IR model (no <net> element)")
    try:
        return core.read_model(str(path))
    except RuntimeError as exc:  # OpenVINO's message: 'Exception from FILE:LINE:' lines, then the reason
        lines = [ln for ln in str(exc).splitlines() if ln.strip() and not ln.startswith("Exception from ")]
        raise CheckpointError(f"openvino cannot read {path.name}: {lines[0].strip() if lines else type(exc).__name__}") from None


def _open(path: Path) -> tuple[DeployedFile, dict[str, Any]]:
    """(what a deployed IR file says about itself, its graphs read): every graph file beside it present,
    from the same export, and taking and giving what its family's graph does."""
    core = _core()
    first = _read(core, path)
    metadata = _read_metadata(first)
    deployed = parse_metadata(metadata, path)
    models = {name: first for name, p in deployed.graphs.items() if p == path}

    def read_metadata(graph: str, other: Path) -> dict[str, str]:
        models[graph] = _read(core, other)  # read once: checked here, compiled by the caller
        return _read_metadata(models[graph])

    check_graph_files(deployed, metadata, read_metadata, present=lambda p: p.is_file() and p.with_suffix(".bin").is_file())
    for graph, model in models.items():
        check_signature(deployed, graph, _ranks(model.inputs), _ranks(model.outputs))
    return deployed, models


def _ranks(ports: Any) -> dict[str, Optional[int]]:
    """Name -> rank of an OpenVINO model's input or output ports (None: dynamic rank)."""
    return {port.get_any_name(): (port.get_partial_shape().rank.get_length() if port.get_partial_shape().rank.is_static else None)
            for port in ports}


class OpenVinoBackend(Backend):
    """OpenVINO on the CPU: OpenVINO IR files from ``ctrack export --format openvino``, or checkpoints.

    Known issue (OpenVINO 2026.4 on an AVX-512 BF16 CPU without AMX): a Python process that trained
    with torch and then ran fp32 and bf16 OpenVINO networks side by side crashed later (SIGSEGV, heap
    corruption); each ctrack command is a process of its own, so in scripts keep OpenVINO runs apart
    from training runs as the CLI does."""

    name = "openvino"
    title = "OpenVINO"
    precisions = ("fp32", "bf16", "int8")
    precision_notes = {"int8": "NNCF static, calibrated"}
    suffixes = (".xml",)
    formats = ("openvino",)
    modules = ("openvino", "nncf", "onnx")
    install = 'pip install "ctrack[openvino]"'
    calibrated = ("int8",)  # NNCF static quantisation

    def supports(self, precision: str, device: torch.device) -> bool:
        return device.type == "cpu" and precision in self.precisions and cpu_supports(precision)

    def _device(self, device: torch.device) -> None:
        if device.type != "cpu":
            raise ConfigError("the openvino backend runs on the CPU here; use --device cpu")

    def describe(self, path: Path) -> DeployedFile:
        return _open(path)[0]

    def from_file(self, path: Path, device: torch.device, threads: Optional[int]) -> GraphNetwork:
        self._device(device)
        deployed, models = _open(path)
        if not cpu_supports(deployed.precision):  # else the CPU plugin would quietly run it in fp32
            raise ConfigError(f"{path.name} is a {deployed.precision} model and this CPU has no native {deployed.precision} "
                              "support that OpenVINO uses; export it in fp32")
        runners = {name: _compile(models[name], deployed.precision, threads) for name in deployed.graphs}
        return family_named(deployed.family, path.name).network(runners, deployed, device)

    def from_model(
        self, model: nn.Module, precision: str, device: torch.device, threads: Optional[int], calib: Optional[str] = None,
    ) -> GraphNetwork:
        self._device(device)
        _, deployed, models, _ = convert(model, precision, calib=calib)
        runners = {name: _compile(m, precision, threads) for name, m in models.items()}
        return family_named(deployed.family, deployed.path.name).network(runners, deployed, device)

    def export(
        self, loaded: LoadedCheckpoint, fmt: str, out: Path, precision: Optional[str], ce: Optional[bool], calib: Optional[str], opset: int,
    ) -> dict[str, Any]:
        return export_openvino(loaded.model, out, precision or "fp32", ce, calib)

    def file_kind(self, info: dict[str, Any]) -> str:
        return "OpenVINO IR"


register_backend(OpenVinoBackend())
