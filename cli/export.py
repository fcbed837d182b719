"""``ctrack export``: write a checkpoint in a format of a registered backend (deployed files: ONNX, OpenVINO;
weights: OSTrack .pth.tar, safetensors). Formats, precisions and calibration rules are the backends'."""
from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from compresstracker.cli.common import (
    RegistryChoice, backends, calib_option, console, emit_json, json_option, listing, precision_listing, precisions, registry_option,
)

if TYPE_CHECKING:
    from compresstracker.checkpoints import LoadedCheckpoint
    from compresstracker.deploy import Backend


def _formats() -> list[str]:
    from compresstracker.deploy import export_formats

    return export_formats()


def _deployed_formats(sep: str = " or ") -> str:
    """'onnx or openvino': the formats that fix precision and CE."""
    from compresstracker.deploy import export_formats

    return sep.join(export_formats(deploying=True))


def _format_attributes() -> dict[str, Any]:
    deployed = [f"{f} ({b.title})" for b in backends() if b.deploys for f in b.formats]
    weights = [f"{f} ({b.title})" for b in backends() if not b.deploys for f in b.formats]
    return {"help": f"What to write: {listing(deployed)} files to deploy; {listing(weights)} weights."}


def _out_attributes() -> dict[str, Any]:
    names = "; ".join(f"{f}: NAME{b.suffixes[0]}" for b in backends() if b.deploys for f in b.formats)
    return {"help": f"Output file (written atomically); {names}."}


def _no_ce_attributes() -> dict[str, Any]:
    return {"help": f"{_deployed_formats('/')}: export every block plain (no candidate elimination)."}


def _precision_attributes() -> dict[str, Any]:
    return {"help": "; ".join(f"{f}: {precision_listing(b)}" for b in backends() if b.deploys for f in b.formats) + ". Default fp32."}


@click.command("export")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@registry_option("--format", "fmt", required=True, type=RegistryChoice(_formats), read=_format_attributes)
@registry_option("--out", "-o", required=True, type=click.Path(dir_okay=False), read=_out_attributes)
# 17 and 14 are deploy.onnx.DEFAULT_OPSET / MIN_OPSET, spelled out so that parsing the number imports no torch.
@click.option("--opset", default=17, show_default=True, type=click.IntRange(14), help="ONNX opset version of traced graphs.")
@registry_option("--no-ce", is_flag=True, read=_no_ce_attributes)
@registry_option("--precision", type=RegistryChoice(lambda: precisions(deploying=True)), read=_precision_attributes)
@click.option("--quantize", type=click.Choice(["int8"]), help="Same as --precision int8.")
@calib_option
@click.option("--eval-sequences", default=4, show_default=True, type=click.IntRange(1), help="bf16/int8: synthetic sequences for the accuracy check.")
@click.option("--eval-frames", default=40, show_default=True, type=click.IntRange(2), help="bf16/int8: frames per synthetic sequence.")
@click.option("--num-heads", type=click.IntRange(1), help="Attention heads, for a file that does not store its config.")
@click.option("--config", "config_items", multiple=True, metavar="FIELD=VALUE",
              help="A model config value the file does not store (e.g. search_factor=5.0); repeatable.")
@json_option
def export(checkpoint, fmt, out, opset, no_ce, precision, quantize, calib, eval_sequences, eval_frames, num_heads, config_items, as_json):
    """Export a tracker for deployment, teacher or student.

    Deployed files (see --format): the network (template + search in; score, size and offset maps
    out) with the model config in its metadata, run by that format's --backend without flags. Every
    file written is compiled as its backend runs it and compared with the checkpoint's PyTorch
    fp32 network: the max abs difference printed is that exact file's (an fp32 ONNX file must stay
    under 1e-4, else an error and no file). Precisions other than fp32 also report the AUC change
    against PyTorch fp32 on generated sequences. Calibrated precisions (see --calib) calibrate on
    real tracking crops from --calib (default: generated sequences). Each backend names the extra
    it needs (e.g. pip install "ctrack[onnx]"). Weights files: the weights in OSTrack's .pth.tar
    layout or ctrack's native file, with the config that builds them.

    \b
    Examples:
      ctrack export student.safetensors --format onnx --out student.onnx
      ctrack export OSTrack_ep0300.pth.tar --format onnx --no-ce --out ostrack_noce.onnx
      ctrack export student.safetensors --format onnx --precision int8 --out student.int8.onnx
      ctrack export student.safetensors --format openvino --precision int8 --calib lasot=/data/lasot:train --out s.xml
      ctrack export CompressTracker_ep0500.pth.tar --format safetensors --out student.safetensors
      ctrack export raw.safetensors --format safetensors --num-heads 2 --config search_factor=4.0 -o fixed.safetensors
    """
    from compresstracker.checkpoints import load_checkpoint
    from compresstracker.deploy import deployed_backend, export_backend
    from compresstracker.errors import CheckpointError, ConfigError

    if deployed_backend(checkpoint) is not None:
        raise CheckpointError(f"{Path(checkpoint).name} is already a deployed model; export from the checkpoint it came from")
    if quantize and precision not in (None, quantize):
        raise ConfigError(f"--quantize {quantize} and --precision {precision} disagree; give one")
    precision = precision or quantize
    backend = export_backend(fmt)
    _refuse_overwriting_input(Path(checkpoint), Path(out), backend.deploys)
    if not backend.deploys and (no_ce or precision or calib):
        raise ConfigError(
            f"--no-ce, --precision, --quantize and --calib apply to --format {_deployed_formats()}; weights files carry no CE "
            "switch (choose it when running: --no-ce on track, eval, bench)"
        )
    if backend.deploys:
        suffix = backend.suffixes[0]  # the backends pick their deployed files by suffix
        if Path(out).suffix.lower() != suffix:
            raise ConfigError(f"--out {Path(out).name}: --format {fmt} files are named NAME{suffix}")
        precision = precision or "fp32"
        if precision not in backend.precisions:
            raise ConfigError(f"--format {fmt} writes {' or '.join(backend.precisions)}, not {precision}")
        if calib and precision not in backend.calibrated:
            pairs = " or ".join(f"--format {f} --precision {p}" for b in backends() if b.deploys for f in b.formats for p in b.calibrated)
            raise ConfigError(f"--calib applies to {pairs} (static quantisation)")
        backend.require()  # before a large checkpoint is read
    loaded = load_checkpoint(checkpoint, num_heads=num_heads, config_overrides=_config_items(config_items))
    converting = console.status(f"converting to {backend.title} {precision}", spinner="dots") if backend.deploys else contextlib.nullcontext()
    with converting:
        info = backend.export(loaded, fmt, Path(out), precision, False if no_ce else None, calib, opset)
    if backend.deploys and precision != "fp32":
        info["accuracy"] = _accuracy(loaded, out, backend.name, precision, no_ce, eval_sequences, eval_frames)
    info = {"source": str(checkpoint), "source_format": loaded.format, "format": fmt, **info}
    if as_json:
        emit_json(info)
        return
    _print_summary(info, backend)


def _refuse_overwriting_input(checkpoint: Path, out: Path, deploys: bool) -> None:
    """An error when --out (or, for deployed files, a file written beside it: STEM.GRAPH.SUFFIX, STEM.bin)
    would replace the checkpoint being read."""
    from compresstracker.errors import ConfigError

    same = out.resolve() == checkpoint.resolve()
    beside = (deploys and out.resolve().parent == checkpoint.resolve().parent and checkpoint.name.startswith(f"{out.stem}.")
              and checkpoint.suffix.lower() in (out.suffix.lower(), ".bin"))
    if same or beside:
        raise ConfigError(f"--out {out.name} would overwrite the input {checkpoint.name}; write the export to another name")


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


def _accuracy(loaded: LoadedCheckpoint, out: str, backend: str, precision: str, no_ce: bool, sequences: int, frames: int) -> dict:
    """AUC of the written file against the exported network in PyTorch fp32, same generated frames.

    The reference is the model as loaded (with --num-heads / --config applied), saved natively for
    the evaluation's workers: the checkpoint file alone may not say how to build it.
    """
    from compresstracker.checkpoints import save_native
    from compresstracker.evaluation.accuracy import accuracy_change
    from compresstracker.evaluation.runner import ModelSpec

    ce = False if no_ce else None
    with tempfile.TemporaryDirectory(prefix="ctrack-export-ref-") as tmp, \
            console.status(f"measuring the {precision} accuracy change on generated sequences", spinner="dots"):
        reference = save_native(loaded.model, loaded.config, Path(tmp) / "reference.safetensors")
        return accuracy_change(
            ModelSpec(str(reference), ce=ce), {precision: ModelSpec(str(out), backend=backend)}, sequences=sequences, frames=frames,
        )


def _print_summary(info: dict, backend: Backend) -> None:
    size = f"{info['size_bytes'] / 2**20:.1f} MiB"
    if not backend.deploys:
        console.print(f"wrote {info['path']} ({info['format']}, {info['arch']}, {size})")
        return
    precision = info["precision"]
    console.print(f"wrote {info['path']} ({backend.file_kind(info)}, {info['arch']}, CE {'on' if info['ce'] else 'off'}, {precision}, {size})")
    console.print(f"{backend.title} vs PyTorch fp32 on random inputs: max abs diff {info['max_abs_diff']:.2e} (this {precision} file)")
    if "quantization" in info:
        q = info["quantization"]
        console.print(f"calibrated on {q['calibration']}: {', '.join(f'{n} crops for {g}' for g, n in q['samples'].items())}")
    if len(info["graphs"]) > 1 and precision == "fp32":  # e.g. LightTrack: a template graph once, a search graph per frame
        for name, graph in info["graphs"].items():
            diffs = ", ".join(f"{key.split('/')[-1]} {value:.2e}" for key, value in info["max_abs_diff_per_output"].items()
                              if key.startswith(f"{name}/"))
            console.print(f"  graph {name}: {graph['path']} (max abs diff {diffs})")
    if "accuracy" in info:
        acc = info["accuracy"]
        console.print(
            f"{precision} accuracy on {acc['dataset']}: AUC PyTorch fp32 {acc['auc_reference']:.2f} -> {precision} "
            f"{acc['auc'][precision]:.2f} ({acc['auc_change'][precision]:+.2f})"
        )
