"""``ctrack export``: write a checkpoint as ONNX (optionally int8), OSTrack .pth.tar or safetensors."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import click

from compresstracker.cli.common import console, emit_json, json_option

if TYPE_CHECKING:
    from compresstracker.checkpoints import LoadedCheckpoint
    from compresstracker.models import TrackerNet

FORMATS = ("onnx", "ostrack", "safetensors")


@click.command("export")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", required=True, type=click.Choice(FORMATS), help="What to write.")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Output file (written atomically).")
# 17 and 14 are deploy.onnx.DEFAULT_OPSET / MIN_OPSET, spelled out so that --help does not import torch.
@click.option("--opset", default=17, show_default=True, type=click.IntRange(14), help="ONNX opset version.")
@click.option("--no-ce", is_flag=True, help="ONNX: export every block plain (no candidate elimination).")
@click.option("--quantize", type=click.Choice(["int8"]), help="ONNX: ONNX Runtime dynamic int8 quantization; the AUC change is measured.")
@click.option("--eval-sequences", default=4, show_default=True, type=click.IntRange(1), help="--quantize: synthetic sequences for the accuracy check.")
@click.option("--num-heads", type=click.IntRange(1), help="Attention heads, for a file that does not store its config.")
@click.option("--config", "config_items", multiple=True, metavar="FIELD=VALUE",
              help="A model config value the file does not store (e.g. search_factor=5.0); repeatable.")
@click.option("--eval-frames", default=40, show_default=True, type=click.IntRange(2), help="--quantize: frames per synthetic sequence.")
@json_option
def export(checkpoint, fmt, out, opset, no_ce, quantize, eval_sequences, num_heads, config_items, eval_frames, as_json):
    """Export a tracker for deployment, teacher or student.

    ONNX: the network (template + search in; score, size and offset maps out) with the model
    config in its metadata; every export is checked at once with ONNX Runtime against PyTorch
    (max abs difference under 1e-4, else an error and no file). --quantize int8 writes the
    int8 model to OUT and reports AUC fp32 vs int8 on generated sequences. Needs
    pip install "ctrack[onnx]". ostrack / safetensors: the weights in OSTrack's .pth.tar layout
    or ctrack's native file, with the config that builds them.

    \b
    Examples:
      ctrack export student.safetensors --format onnx --out student.onnx
      ctrack export OSTrack_ep0300.pth.tar --format onnx --no-ce --out ostrack_noce.onnx
      ctrack export student.safetensors --format onnx --quantize int8 --out student.int8.onnx
      ctrack export CompressTracker_ep0500.pth.tar --format safetensors --out student.safetensors
      ctrack export raw.safetensors --format safetensors --num-heads 2 --config search_factor=4.0 -o fixed.safetensors
    """
    from compresstracker.checkpoints import load_checkpoint
    from compresstracker.deploy import deployed_backend
    from compresstracker.deploy.onnx import require_onnx
    from compresstracker.errors import CheckpointError, ConfigError

    if deployed_backend(checkpoint) is not None:
        raise CheckpointError(f"{Path(checkpoint).name} is already a deployed model; export from the checkpoint it came from")
    if fmt != "onnx" and (no_ce or quantize):
        raise ConfigError(
            "--no-ce and --quantize apply to --format onnx; weights files carry no CE switch "
            "(choose it when running: --no-ce on track, eval, bench)"
        )
    if fmt == "onnx":
        require_onnx()  # before a large checkpoint is read
    loaded = load_checkpoint(checkpoint, num_heads=num_heads, config_overrides=_config_items(config_items))
    if fmt == "onnx":
        info = _export_onnx(loaded.model, out, opset, False if no_ce else None, quantize, eval_sequences, eval_frames)
    else:
        info = _export_weights(loaded, fmt, out)
    info = {"source": str(checkpoint), "source_format": loaded.format, "format": fmt, **info}
    if as_json:
        emit_json(info)
        return
    _print_summary(info)


def _config_items(items: tuple[str, ...]) -> dict:
    """--config FIELD=VALUE pairs, values read as YAML (numbers, lists)."""
    import yaml

    overrides = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not FIELD=VALUE", param_hint="--config")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise click.BadParameter(f"{item!r}: {text!r} is not a value", param_hint="--config") from None
        overrides[key.strip()] = tuple(value) if isinstance(value, list) else value
    return overrides


def _export_onnx(
    model: TrackerNet, out: str, opset: int, ce: Optional[bool], quantize: Optional[str], eval_sequences: int, eval_frames: int
) -> dict:
    """The ONNX export (and, with ``quantize``, the int8 file at ``out`` with its accuracy check)."""
    from compresstracker.deploy.onnx import export_onnx
    from compresstracker.deploy.quantize import quantize_onnx_int8
    from compresstracker.evaluation.accuracy import accuracy_change
    from compresstracker.evaluation.runner import ModelSpec

    if not quantize:
        return export_onnx(model, out, opset=opset, ce=ce)
    with tempfile.TemporaryDirectory(prefix="ctrack-export-") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        info = export_onnx(model, fp32, opset=opset, ce=ce)
        info.update(quantize_onnx_int8(fp32, out))
        info.pop("source")
        with console.status("measuring the int8 accuracy change on generated sequences", spinner="dots"):
            info["accuracy"] = accuracy_change(
                ModelSpec(str(fp32), backend="onnxruntime"), {"int8": ModelSpec(str(out), backend="onnxruntime")},
                sequences=eval_sequences, frames=eval_frames,
            )
    return info


def _export_weights(loaded: LoadedCheckpoint, fmt: str, out: str) -> dict:
    """OSTrack .pth.tar or native safetensors (plan and provenance carried over)."""
    from compresstracker.checkpoints import save_native, save_ostrack

    if fmt == "ostrack":
        path = save_ostrack(loaded.model, out)
    else:
        extras = {k: loaded.metadata[k] for k in ("plan", "provenance") if k in loaded.metadata}
        path = save_native(loaded.model, loaded.config, out, **extras)
    return {"path": str(path), "arch": loaded.config.arch, "size_bytes": path.stat().st_size}


def _print_summary(info: dict) -> None:
    size = f"{info['size_bytes'] / 2**20:.1f} MiB"
    if info["format"] != "onnx":
        console.print(f"wrote {info['path']} ({info['format']}, {info['arch']}, {size})")
        return
    precision = info.get("precision", "fp32")
    console.print(
        f"wrote {info['path']} (ONNX opset {info['opset']}, {info['arch']}, CE {'on' if info['ce'] else 'off'}, "
        f"{precision}, {size})"
    )
    console.print(f"ONNX Runtime vs PyTorch on random inputs: max abs diff {info['max_abs_diff']:.2e} (fp32 graph)")
    if "accuracy" in info:
        acc = info["accuracy"]
        console.print(
            f"int8 accuracy on {acc['dataset']}: AUC fp32 {acc['auc_reference']:.2f} -> int8 {acc['auc']['int8']:.2f} "
            f"({acc['auc_change']['int8']:+.2f})"
        )
