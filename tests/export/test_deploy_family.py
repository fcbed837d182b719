"""The deploy interface takes any registered family: a toy two-graph tracker (template branch run once,
search branch run per frame, as LightTrack) exports, verifies and runs on ONNX Runtime."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from compresstracker.deploy import DeployFamily, Graph, GraphNetwork, load_network, register_deploy_family
from compresstracker.deploy.onnx import export_onnx, read_onnx

pytest.importorskip("onnxruntime")


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    arch: str = "toy_two_branch"
    channels: int = 4

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class ToyTwoBranch(nn.Module):
    def __init__(self, config: ToyConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Conv2d(3, config.channels, 3, stride=2, padding=1)
        self.head = nn.Conv2d(config.channels, 5, 1)

    def template_features(self, template: torch.Tensor) -> torch.Tensor:
        return self.embed(template).mean(dim=(2, 3), keepdim=True)

    def maps(self, features: torch.Tensor, search: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.head(self.embed(search) * features)
        return out[:, :1].sigmoid(), out[:, 1:3].sigmoid(), out[:, 3:]


class _Branch(nn.Module):
    def __init__(self, model: ToyTwoBranch, method: str):
        super().__init__()
        self.model, self.method = model, method

    def forward(self, *inputs):
        return getattr(self.model, self.method)(*inputs)


class ToyNetwork(GraphNetwork):
    def __call__(self, template, search, template_mask=None):
        if getattr(self, "_template", None) is not template:  # the template branch runs once per target
            self._template, self._features = template, self.run("template", template=template)["features"]
        return self.run("search", features=self._features, search=search)


class ToyFamily(DeployFamily):
    name = "toy"
    model_type = ToyTwoBranch

    def graphs(self, model, ce):
        def example_t(seed):
            return (torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(seed)),)

        def example_s(seed):
            gen = torch.Generator().manual_seed(seed)
            return torch.randn(1, model.config.channels, 1, 1, generator=gen), torch.randn(1, 3, 16, 16, generator=gen)

        return [
            Graph("template", _Branch(model, "template_features"), ("template",), ("features",), example_t),
            Graph("search", _Branch(model, "maps"), ("features", "search"), ("score_map", "size_map", "offset_map"), example_s),
        ]

    def config_from_dict(self, data, source):
        return ToyConfig(**data)

    def network(self, runners, deployed, device):
        return ToyNetwork(runners, deployed, device)

    def calibration_inputs(self, model, ce, sequences, samples):
        graphs = self.graphs(model, ce)
        return {g.name: [g.example(seed) for seed in range(samples)] for g in graphs}

    def architecture(self, deployed):
        return ToyTwoBranch(deployed.config)


@pytest.fixture
def toy_family():
    family = register_deploy_family(ToyFamily())
    yield family
    from compresstracker.deploy import family as registry

    registry._FAMILIES.pop(family.name)


def test_a_two_graph_family_exports_and_runs(toy_family, tmp_path):
    torch.manual_seed(0)
    model = ToyTwoBranch(ToyConfig()).eval()
    info = export_onnx(model, tmp_path / "toy.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.onnx", "toy.template.onnx"]
    assert set(info["max_abs_diff_per_output"]) == {"template/features", "search/score_map", "search/size_map", "search/offset_map"}
    assert info["max_abs_diff"] < 1e-5
    deployed = read_onnx(tmp_path / "toy.onnx")
    assert deployed.family == "toy" and deployed.config == ToyConfig() and set(deployed.graphs) == {"template", "search"}

    network = load_network(tmp_path / "toy.onnx", backend="onnxruntime")
    template, search = torch.randn(1, 3, 8, 8), torch.randn(1, 3, 16, 16)
    got = network(template, search)
    with torch.no_grad():
        expected = model.maps(model.template_features(template), search)
    for name, value in zip(("score_map", "size_map", "offset_map"), expected):
        torch.testing.assert_close(got[name], value, rtol=0, atol=1e-5)
    assert isinstance(network.architecture(), ToyTwoBranch)


def test_the_other_graph_file_must_be_there(toy_family, tmp_path):
    export_onnx(ToyTwoBranch(ToyConfig()).eval(), tmp_path / "toy.onnx")
    (tmp_path / "toy.template.onnx").unlink()
    from compresstracker.errors import CheckpointError

    with pytest.raises(CheckpointError, match="toy.template.onnx"):
        load_network(tmp_path / "toy.onnx", backend="onnxruntime")
