"""A runtime is one module: a backend registered from outside the package is offered and run by
`ctrack export`, `track`, `bench` and `eval` with no change to the commands."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from compresstracker.checkpoints import load_model, save_native
from compresstracker.deploy import Backend, backend_names, export_formats, register_backend, unregister_backend
from compresstracker.deploy.family import inference_form


class DummyBackend(Backend):
    """Runs the torch network; its deployed file is a native checkpoint under its own suffix."""

    name = "dummy"
    title = "Dummy"
    precisions = ("fp32",)
    suffixes = (".dummy",)
    formats = ("dummyfile",)
    modules = ("torch",)

    def __init__(self) -> None:
        self.calls = 0  # forward passes of the networks it made
        self.exports = 0

    def _counted(self, model: nn.Module, device: torch.device) -> nn.Module:
        model = inference_form(model.to(device).eval())
        model.precision = "fp32"
        model.register_forward_hook(lambda *_: setattr(self, "calls", self.calls + 1))
        return model

    def from_model(
        self, model: nn.Module, precision: str, device: torch.device, threads: Optional[int], calib: Optional[str] = None,
    ) -> nn.Module:
        return self._counted(model, device)

    def from_file(self, path: Path, device: torch.device, threads: Optional[int]) -> nn.Module:
        return self._counted(load_model(path), device)

    def export(self, loaded, fmt: str, out: Path, precision, ce, calib, opset: int) -> dict[str, Any]:
        self.exports += 1
        written = save_native(loaded.model, loaded.config, out)
        template, search = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 64, 64)
        with torch.no_grad():
            want = loaded.model.eval()(template, search)["score_map"]
            got = self.from_file(written, torch.device("cpu"), None)(template, search)["score_map"]
        diff = float((want - got).abs().max())
        return {
            "path": str(written), "arch": loaded.config.arch, "ce": loaded.model.ce_enabled, "precision": "fp32",
            "graphs": {"maps": {"path": str(written)}}, "max_abs_diff": diff, "max_abs_diff_per_output": {"maps/score_map": diff},
            "size_bytes": written.stat().st_size,
        }


@pytest.fixture
def dummy():
    """The dummy registered after the command modules were imported (their options already built)."""
    import compresstracker.cli.bench
    import compresstracker.cli.evaluate
    import compresstracker.cli.export
    import compresstracker.cli.track  # noqa: F401

    backend = register_backend(DummyBackend())
    yield backend
    unregister_backend(backend.name)


@pytest.fixture
def checkpoint(make_model, tmp_path) -> Path:
    model = make_model("tiny_64_ce", seed=3)
    return save_native(model, model.config, tmp_path / "tiny.safetensors")


@pytest.fixture
def frames(tmp_path) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        image = rng.integers(0, 255, (72, 96, 3), dtype=np.uint8)
        image[20 + i:36 + i, 30:50] = 255  # a bright target drifting down
        cv2.imwrite(str(folder / f"{i:04d}.jpg"), image)
    return folder


def test_the_commands_offer_a_backend_registered_after_they_were_imported(dummy, run_cli):
    assert "dummy" in backend_names() and "dummyfile" in export_formats(deploying=True)
    assert "dummyfile (Dummy)" in run_cli("export", "--help").stdout
    for command in ("track", "bench", "eval"):
        options = run_cli(command, "--help").stdout.split("\nOptions:", 1)[1]
        assert "--backend torch|onnxruntime|openvino|dummy" in options, command


def test_a_plugin_backend_exports_tracks_benches_and_evaluates(dummy, run_cli, checkpoint, frames, tmp_path):
    out = tmp_path / "tiny.dummy"
    result = run_cli("export", checkpoint, "--format", "dummyfile", "--out", out)
    assert result.exit_code == 0, result.stderr
    assert dummy.exports == 1 and out.is_file()
    assert "(Dummy model, tiny_64_ce, CE on, fp32" in result.stdout and "Dummy vs PyTorch fp32 on random inputs" in result.stdout

    wrong = run_cli("export", checkpoint, "--format", "dummyfile", "--out", tmp_path / "tiny.onnx")
    assert wrong.exit_code == 2 and "--format dummyfile files are named NAME.dummy" in wrong.stderr

    boxes = {}
    for backend, source in (("torch", checkpoint), ("dummy", out)):
        boxes[backend] = tmp_path / f"{backend}.txt"
        tracked = run_cli("track", "-c", source, "--backend", backend, "--frames", frames, "--init-box", "30,20,20,16",
                          "-o", boxes[backend], "--json")
        assert tracked.exit_code == 0, tracked.stderr
        assert tracked.json()["backend"] == backend
    assert dummy.calls >= 5  # template + every frame ran through the dummy's network
    assert boxes["dummy"].read_text() == boxes["torch"].read_text()

    calls = dummy.calls
    bench = run_cli("bench", checkpoint, "--backend", "torch", "--backend", "dummy", "--runs", "3", "--json")
    assert bench.exit_code == 0, bench.stderr
    rows = {row["backend"]: row for row in bench.json()["models"]}
    assert set(rows) == {"torch", "dummy"} and rows["dummy"]["max_abs_diff"] < 1e-5
    assert dummy.calls > calls

    from compresstracker.data.synthetic import generate

    synth = tmp_path / "synth"
    generate("lasot", synth, sequences=2, frames=6, seed=4, image_size=(96, 72))
    metrics = {}
    for backend, source in (("torch", checkpoint), ("dummy", out)):
        calls = dummy.calls
        evaluated = run_cli("eval", "-c", source, "--backend", backend, "-d", "lasot", "--root", synth, "--split", "all",
                            "--out", tmp_path / "results", "--name", backend, "--json")
        assert evaluated.exit_code == 0, evaluated.stderr
        metrics[backend] = evaluated.json()["metrics"]
        assert (dummy.calls > calls) == (backend == "dummy")
    assert metrics["dummy"] == metrics["torch"]


def test_an_unregistered_backend_is_gone(run_cli, checkpoint, tmp_path):
    backend = register_backend(DummyBackend())
    unregister_backend(backend.name)
    assert "dummy" not in backend_names()
    result = run_cli("export", checkpoint, "--format", "dummyfile", "--out", tmp_path / "x.dummy")
    assert result.exit_code == 2 and "'dummyfile' is not one of" in result.stderr
