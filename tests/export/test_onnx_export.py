"""ONNX export: static-shape CE, ONNX Runtime against PyTorch, metadata, verification failures."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from compresstracker.deploy import onnx as onnx_export
from compresstracker.deploy.backends import ort_runner
from compresstracker.deploy.onnx import export_onnx
from compresstracker.families.ostrack.deploy import OUTPUT_NAMES
from compresstracker.errors import CheckpointError
from compresstracker.families.ostrack.config import OSTrackConfig
from compresstracker.families.ostrack.network import ctr_point_mask, ctr_point_rows

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def _inputs(config: OSTrackConfig, batch: int = 1, seed: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    template = torch.randn(batch, 3, config.template_size, config.template_size, generator=g)
    search = torch.randn(batch, 3, config.search_size, config.search_size, generator=g)
    return template, search


def test_row_index_gives_the_eager_outputs_of_the_boolean_mask(make_model):
    model = make_model("tiny_256_ce")  # 256 -> 180 -> 126 -> 89 search tokens
    c = model.config
    template, search = _inputs(c, batch=2)
    with torch.no_grad():
        by_mask = model(template, search, ctr_point_mask(c, batch=2))
        by_rows = model(template, search, ctr_point_rows(c))
        all_rows = model(template, search, None)
    assert int(ctr_point_rows(c)) == int(ctr_point_mask(c)[0].nonzero())
    for key in by_mask:
        assert torch.equal(by_mask[key], by_rows[key]), key
    assert not torch.equal(all_rows["tokens"], by_rows["tokens"])  # the selected row does matter


@pytest.mark.parametrize("which, ce", [("teacher", None), ("teacher", False), ("student", None)])
def test_export_matches_pytorch(which, ce, request, tmp_path):
    model = request.getfixturevalue(which)
    path = tmp_path / "model.onnx"
    info = export_onnx(model, path, ce=ce)
    with_ce = which == "teacher" and ce is None
    assert info["ce"] is with_ce and info["max_abs_diff"] < 1e-4 and path.is_file()

    # An independent check on other inputs, against the eager model with OSTrack's boolean mask.
    model.ce_enabled = with_ce
    c = model.config
    template, search = _inputs(c)
    with torch.no_grad():
        expected = model(template, search, ctr_point_mask(c) if with_ce else None)
    got = ort_runner(path)({"template": template.numpy(), "search": search.numpy()})
    assert list(got) == list(OUTPUT_NAMES)
    for name, value in got.items():
        assert value.shape == tuple(expected[name].shape)
        np.testing.assert_allclose(value, expected[name].numpy(), rtol=0, atol=1e-4, err_msg=name)

    proto = onnx.load(str(path))
    ops = {node.op_type for node in proto.graph.node}
    assert ("TopK" in ops) == with_ce  # the elimination sort is in the graph exactly when CE is on
    assert "NonZero" not in ops  # no boolean indexing: every shape is static
    dims = [[d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input]
    assert dims == [[1, 3, c.template_size, c.template_size], [1, 3, c.search_size, c.search_size]]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert OSTrackConfig.from_dict(json.loads(meta["ctrack.config"])) == c
    assert meta["ctrack.ce"] == ("true" if with_ce else "false") and meta["ctrack.precision"] == "fp32"


def test_export_that_differs_from_pytorch_is_an_error_and_writes_nothing(teacher, tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_export, "MAX_ABS_DIFF", 0.0)
    with pytest.raises(CheckpointError, match="differs from PyTorch"):
        export_onnx(teacher, tmp_path / "model.onnx")
    assert list(tmp_path.iterdir()) == []


def test_ce_export_of_a_model_without_ce_layers_is_an_error(student, tmp_path):
    with pytest.raises(CheckpointError, match="no candidate-elimination"):
        export_onnx(student, tmp_path / "model.onnx", ce=True)
    with pytest.raises(CheckpointError, match="opset 13 is too old"):
        export_onnx(student, tmp_path / "model.onnx", opset=13)
