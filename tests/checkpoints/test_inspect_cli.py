"""``ctrack inspect``: JSON and table output, one-line errors with exit code 2."""
from __future__ import annotations

import argparse

import pytest
import torch

from compresstracker.checkpoints import save_native

from . import tiny_model

REQUIRED_KEYS = {
    "path", "format", "arch", "embed_dim", "depth", "num_heads", "patch_size", "template_size",
    "search_size", "ce", "ce_layers", "params", "ignored", "dropped_keys",
}


def test_inspect_json_of_a_native_file(tmp_path, run_cli):
    model = tiny_model("tiny_64_ce")
    plan, provenance = {"stages": [[0, 1]]}, {"teacher": "t.pth"}
    path = save_native(model, model.config, tmp_path / "m.safetensors", plan=plan, provenance=provenance)
    result = run_cli("inspect", path, "--json")
    assert result.exit_code == 0, result.output
    info = result.json()
    assert REQUIRED_KEYS <= set(info)
    assert (info["format"], info["arch"], info["depth"], info["ce"]) == ("ctrack", "tiny_64_ce", 12, True)
    assert info["plan"] == {"stages": [[0, 1]]} and info["provenance"] == {"teacher": "t.pth"}
    assert info["params"] == sum(p.numel() for p in model.parameters())


def test_inspect_table_of_an_ostrack_file(tmp_path, run_cli):
    path = tmp_path / "OSTrack_ep0300.pth.tar"
    torch.save({"net": tiny_model().state_dict(), "settings": argparse.Namespace()}, path)
    result = run_cli("inspect", path, "--num-heads", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # the human table goes to stderr
    for text in ("ostrack", "tiny_64_ce", "argparse.Namespace", "3, 6, 9"):
        assert text in result.stderr


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.pth", None, "checkpoint not found"),
        ("notes.txt", b"hello\n", "not a readable PyTorch checkpoint"),
        ("no_heads.pth", "tiny", "pass num_heads"),
    ],
)
def test_inspect_errors_are_one_line(tmp_path, run_cli, name, content, message):
    path = tmp_path / name
    if content == "tiny":
        torch.save({"net": tiny_model().state_dict()}, path)
    elif content is not None:
        path.write_bytes(content)
    result = run_cli("inspect", path, "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0]
    assert "Traceback" not in result.output


def test_a_guessed_config_is_said_in_one_line_with_the_flag_that_sets_it(tmp_path, run_cli):
    from safetensors.torch import save_file

    from compresstracker.models import get_config

    model = tiny_model(get_config("tiny_64_ce", embed_dim=64, num_heads=2))
    raw = tmp_path / "raw.safetensors"  # weights only: no config in the file
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, raw)
    guessed = run_cli("inspect", raw, "--json")
    assert guessed.exit_code == 0 and guessed.json()["num_heads"] == 1  # 64 wide / 64 per head: wrong here
    lines = guessed.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: raw.safetensors")
    assert "num_heads=1" in lines[0] and "search_factor=4.0" in lines[0] and "--num-heads N" in lines[0]
    fixed = tmp_path / "fixed.safetensors"
    written = run_cli("export", raw, "--format", "safetensors", "--num-heads", "2", "--config", "ce_layers=[3,6,9]",
                      "--config", "ce_keep_ratios=[0.7,0.7,0.7]", "--config", "search_factor=4.0",
                      "--config", "template_factor=2.0", "-o", fixed)
    assert written.exit_code == 0 and written.stderr.count("warning:") == 0, written.output
    read = run_cli("inspect", fixed, "--json")
    assert read.exit_code == 0 and read.json()["num_heads"] == 2 and "warning" not in read.stderr
    bad = run_cli("export", raw, "--format", "safetensors", "--config", "heads=2", "-o", tmp_path / "x.safetensors")
    assert bad.exit_code == 2 and "heads" in bad.stderr and not (tmp_path / "x.safetensors").exists()
