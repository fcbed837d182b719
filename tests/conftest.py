"""Shared test helpers: run the CLI in-process and parse its JSON."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from compresstracker.cli.main import cli


class CliResult:
    def __init__(self, result):
        self.exit_code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.output = result.output
        self.exception = result.exception

    def json(self):
        return json.loads(self.stdout)


@pytest.fixture
def run_cli():
    """Invoke ``ctrack ARGS...`` in-process; returns exit code, stdout, stderr."""

    def _run(*args: str) -> CliResult:
        runner = CliRunner()
        result = runner.invoke(cli, [str(a) for a in args], catch_exceptions=True)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            import traceback

            traceback.print_exception(result.exception)
        return CliResult(result)

    return _run


def randomize_model(model, seed: int = 0):
    """Give every parameter and BatchNorm statistic random, non-degenerate values (eval mode).

    Freshly built heads produce flat score maps; tests of decoding and parity need real peaks.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            elif name.endswith(("norm1.weight", "norm2.weight", "norm.weight")) or name.endswith(".1.weight"):
                tensor.copy_(1 + 0.1 * torch.randn(tensor.shape, generator=gen))
            else:
                scale = 0.5 / max(1, tensor[0].numel()) ** 0.5 if tensor.dim() > 1 else 0.1
                tensor.copy_(scale * torch.randn(tensor.shape, generator=gen) * 3)
    return model.eval()


@pytest.fixture
def make_model():
    """Build a registered architecture with random, non-degenerate weights."""
    from compresstracker.models import build_model

    def _make(arch: str = "tiny_64_ce", seed: int = 0, **overrides):
        return randomize_model(build_model(arch, **overrides), seed)

    return _make
