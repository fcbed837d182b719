"""Model families as deployment sees them: a network cut into named graphs, put back together at run time.

A family says which graphs its network exports (OSTrack: one graph ``maps``, template + search ->
score, size and offset maps; a two-branch tracker such as LightTrack: a template graph run once per
target and a search graph run per frame), how its config is written into and read back from a
deployed file, and what object the tracker calls when those graphs run on a runtime backend.
Exporters, quantisers and backends see only graphs; each family's plug-in registers its deploy family.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
from torch import nn

from compresstracker.errors import CheckpointError, ConfigError
from compresstracker.plugins import load_families

__all__ = [
    "DeployFamily", "DeployedFile", "Graph", "GraphNetwork", "Runner", "check_signature", "deploy_family_of", "deployed_architecture", "deployed_differences", "family_named", "graph_differences",
    "inference_form", "register_deploy_family",
]

# A graph compiled by a backend: named numpy inputs in, named numpy outputs out.
Runner = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Graph:
    """One exportable graph of a network: a module with named inputs and outputs.

    ``example(seed)`` gives inputs of the graph's fixed shapes: exports trace with seed 0 and are
    verified on seed 1; quantisation calibrates on real crops instead (see ``calibration``).
    ``dynamic_axes`` (torch.onnx's form, input/output name -> {axis: name}) leaves those axes free.
    ``reference`` computes the same outputs from the network as trained (``module`` may be its
    inference form); deployed files are verified against it.
    """

    name: str
    module: nn.Module
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    example: Callable[[int], tuple[torch.Tensor, ...]]
    dynamic_axes: Optional[dict[str, dict[int, str]]] = None
    reference: Optional[nn.Module] = None


@dataclass
class DeployedFile:
    """What a deployed file says about itself: family, config, CE, precision and its graphs' files."""

    path: Path
    family: str
    config: Any
    ce: bool
    precision: str
    graphs: dict[str, Path] = field(default_factory=dict)


class DeployFamily(ABC):
    """How one model family is exported and run outside PyTorch."""

    name: str = ""
    model_type: type = nn.Module
    casts: bool = False  # its torch network may run with weights cast to bf16/fp16 (CastNetwork)
    # Per graph: (input name -> rank, output name -> rank), what its exported files must take and give
    # (checked when a file is opened; every built-in family declares it).
    signature: dict[str, tuple[dict[str, int], dict[str, int]]] = {}

    @abstractmethod
    def graphs(self, model: nn.Module, ce: bool) -> list[Graph]:
        """The graphs of ``model`` in the order they run; the last one is run every frame."""

    @abstractmethod
    def config_from_dict(self, data: dict, source: str) -> Any:
        """The family's config from the dict stored in a deployed file."""

    def config_to_dict(self, config: Any) -> dict:
        return config.to_dict()

    def config_name(self, config: Any) -> str:
        """The name a config goes by in reports (OSTrack: its registered arch)."""
        return config.arch
    def inference_form(self, model: nn.Module) -> nn.Module:
        """``model`` rewritten for inference with the same outputs (e.g. BatchNorm folded); default as is."""
        return model

    def resolve_ce(self, model: nn.Module, ce: Optional[bool]) -> bool:
        """The CE setting to export (families without candidate elimination: always off)."""
        if ce:
            raise CheckpointError(f"{type(model).__name__} has no candidate elimination (CE); export it without CE")
        return False

    @abstractmethod
    def network(self, runners: dict[str, Runner], deployed: DeployedFile, device: torch.device) -> "GraphNetwork":
        """The object the tracker calls, running the family's graphs through ``runners``."""

    @abstractmethod
    def calibration_inputs(self, model: nn.Module, ce: bool, sequences: list, samples: int) -> dict[str, list[tuple[torch.Tensor, ...]]]:
        """Per graph, ``samples`` input tuples made from ``sequences`` as the family's tracker makes them."""

    @abstractmethod
    def architecture(self, deployed: DeployedFile) -> nn.Module:
        """An untrained torch network of the deployed file's config (for counting params and MACs)."""


_FAMILIES: dict[str, DeployFamily] = {}


def register_deploy_family(family: DeployFamily) -> DeployFamily:
    """Make ``family`` exportable and runnable on every backend."""
    _FAMILIES[family.name] = family
    return family


def deploy_family_of(model: nn.Module) -> DeployFamily:
    """The family whose model type ``model`` is."""
    load_families()
    family = next((f for f in _FAMILIES.values() if isinstance(model, f.model_type)), None)
    if family is not None:
        return family
    raise ConfigError(f"no deployment family handles {type(model).__name__}; register one with register_deploy_family")


def inference_form(model: nn.Module) -> nn.Module:
    """``model`` in its family's inference form (as is for models no family handles)."""
    load_families()
    family = next((f for f in _FAMILIES.values() if isinstance(model, f.model_type)), None)
    return family.inference_form(model) if family else model


def family_named(name: str, source: str) -> DeployFamily:
    load_families()
    if name not in _FAMILIES:
        raise CheckpointError(f"{source} holds a {name!r} network; this ctrack deploys {', '.join(sorted(_FAMILIES))}")
    return _FAMILIES[name]


def check_signature(deployed: DeployedFile, graph: str, inputs: dict[str, Optional[int]], outputs: dict[str, Optional[int]]) -> None:
    """An error unless a graph file's inputs and outputs (name -> rank; None: unknown rank) are the family's
    ``signature``: a graph carrying a ctrack export's metadata is run only when it takes what ctrack feeds."""
    signature = family_named(deployed.family, deployed.path.name).signature
    if graph not in signature:  # a family that declares none is not checked
        return
    want_in, want_out = signature[graph]
    if inputs != want_in or outputs != want_out:
        raise CheckpointError(
            f"{deployed.path.name}: its {graph!r} graph takes {_ranks(inputs)} and gives {_ranks(outputs)}; a {deployed.family} "
            f"{graph!r} graph takes {_ranks(want_in)} and gives {_ranks(want_out)}: not a graph ctrack exported"
        )


def _ranks(names: dict[str, Optional[int]]) -> str:
    return ", ".join(f"{name} ({'?' if rank is None else rank}-D)" for name, rank in names.items()) or "nothing"


class GraphNetwork:
    """Base of the networks the tracker calls when a family's graphs run on a runtime backend.

    Subclasses define ``__call__`` with the family's torch call contract (tensors in, a dict of
    tensors out); this base keeps the file's config, CE setting and precision, and the device the
    outputs are put on (the backend keeps its own).
    """

    host_threads = 1  # the runtime has its own pool; torch's share of a step runs on one thread (threads.host_threads)

    def __init__(self, runners: dict[str, Runner], deployed: DeployedFile, device: torch.device):
        self.runners = runners
        self.deployed = deployed
        self.path = deployed.path
        self.config = deployed.config
        self.ce_enabled = deployed.ce
        self.precision = deployed.precision
        self.device = torch.device(device)

    def to(self, device: str | torch.device) -> "GraphNetwork":
        self.device = torch.device(device)
        return self

    def eval(self) -> "GraphNetwork":
        return self

    def run(self, graph: str, **inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run one graph on torch tensors; outputs as float32 torch tensors on ``self.device``."""
        feeds = {name: t.detach().float().cpu().numpy() for name, t in inputs.items()}
        return {name: torch.from_numpy(np.asarray(v)).to(self.device) for name, v in self.runners[graph](feeds).items()}

    def architecture(self) -> nn.Module:
        return deployed_architecture(self.deployed)


def deployed_architecture(deployed: DeployedFile) -> nn.Module:
    """An untrained torch network of a deployed file's config, for counting params and MACs.

    It is sized on the meta device first: a network with more parameters than its graph files have
    bytes (every stored weight takes at least one) comes from forged or damaged metadata, and is
    refused before it is allocated.
    """
    family = family_named(deployed.family, deployed.path.name)
    with torch.device("meta"):
        params = sum(p.numel() for p in family.architecture(deployed).parameters())
    files = [f for p in deployed.graphs.values() for f in {p, p.with_suffix(".bin")} if f.is_file()]
    size = sum(f.stat().st_size for f in files)
    if params > size:
        raise CheckpointError(
            f"{deployed.path.name}: its ctrack metadata describes a network of {params:,} parameters, more than its graph files "
            f"({size:,} bytes) can hold: the metadata does not belong to these graphs"
        )
    return family.architecture(deployed)


def deployed_differences(model: nn.Module, network: GraphNetwork) -> dict[str, float]:
    """:func:`graph_differences` of a deployed network (any backend, any precision) against ``model`` in fp32."""
    return graph_differences(deploy_family_of(model).graphs(model, network.ce_enabled), network.runners)


def graph_differences(graphs: list[Graph], runners: dict[str, Runner], seed: int = 1) -> dict[str, float]:
    """Largest |runner - torch fp32| of each graph output on the graphs' example inputs (``seed``).

    Keys are output names, prefixed ``graph/`` when a family has several graphs.
    """
    diffs = {}
    for graph in graphs:
        inputs = graph.example(seed)
        with torch.no_grad():
            expected = (graph.reference or graph.module)(*inputs)
        got = runners[graph.name]({n: t.detach().float().cpu().numpy() for n, t in zip(graph.inputs, inputs)})
        for name, e in zip(graph.outputs, expected):
            key = name if len(graphs) == 1 else f"{graph.name}/{name}"
            diffs[key] = float(np.abs(np.asarray(got[name], dtype=np.float32) - e.detach().float().cpu().numpy()).max())
    return diffs
