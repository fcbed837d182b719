"""``ctrack trax`` (a TraX server for the VOT toolkit) and ``ctrack vot setup`` (its tracker entry)."""
from __future__ import annotations

from pathlib import Path

import click

from compresstracker.cli.common import (
    backend_option, console, device_option, emit_json, json_option, param_option, precision_option, preset_option, threads_option,
)


def _tracker_options(command):
    """The options that choose the network and its loop, shared by ``trax`` and ``vot setup``."""
    for option in reversed((
        click.option("--checkpoint", "-c", required=True, type=click.Path(exists=True, dir_okay=False), help="Any checkpoint or exported file ctrack reads."),
        preset_option, param_option, threads_option, backend_option, precision_option, device_option,
    )):
        command = option(command)
    return command


@click.command("trax")
@_tracker_options
def trax(checkpoint, preset, params, threads, backend, precision, device):
    """Serve a tracker over TraX (stdin/stdout) for the VOT toolkit: `ctrack vot setup` writes the entry that runs this.

    Rectangles (polygons: their bounding box) and image paths in; a rectangle and the network's
    confidence out per frame. Needs `pip install 'ctrack[vot]'`.

    \b
    What a trackers.ini entry from `ctrack vot setup` runs:
      command = /abs/path/bin/ctrack trax -c /abs/path/ct4.safetensors --threads 4
    """
    from click.core import ParameterSource

    from compresstracker.api import Tracker
    from compresstracker.devices import resolve_device
    from compresstracker.integrations.vot import serve
    from compresstracker.threads import resolve_threads

    if click.get_current_context().get_parameter_source("backend") is ParameterSource.DEFAULT:
        backend = None  # an exported file runs on its own runtime
    tracker = Tracker.from_checkpoint(checkpoint, backend=backend, precision=precision, threads=resolve_threads(threads), preset=preset,
                                      params=dict(params), device=resolve_device(device))
    serve(tracker)


@click.group("vot")
def vot() -> None:
    """Run ctrack trackers in the VOT toolkit (`pip install 'ctrack[vot]'`).

    \b
    Examples:
      ctrack data synth --layout vot --out vot-ws/sequences --sequences 2 --frames 20 --size 160x120
      ctrack vot setup vot-ws -c student.safetensors --name ct --stack vot2022/stb
    and then, in vot-ws: vot test ct; vot evaluate ct; vot analysis ct
    """


@vot.command("setup")
@click.argument("workspace", type=click.Path(file_okay=False))
@click.option("--name", help="The tracker's name in the toolkit (default: the checkpoint's file name without suffix).")
@click.option("--stack", help="Make WORKSPACE a workspace when it has no config.yaml: this stack (a toolkit stack name or a stack file), sequences in WORKSPACE/sequences.")
@_tracker_options
@json_option
def setup(workspace, name, stack, checkpoint, preset, params, threads, backend, precision, device, as_json):
    """Write (or replace) an entry in WORKSPACE/trackers.ini that runs `ctrack trax` with these options.

    The entry names this installation's ctrack by absolute path, so the toolkit may live in an
    environment of its own; the checkpoint path is made absolute too.
    """
    from click.core import ParameterSource

    from compresstracker.integrations.vot import write_tracker_entry

    ctx = click.get_current_context()
    name = name or Path(checkpoint).stem
    arguments = ["-c", str(Path(checkpoint).resolve())]
    for key, value in (("--preset", preset), ("--threads", threads), ("--precision", precision)):
        if value is not None:
            arguments += [key, str(value)]
    for key, value in (("--backend", backend), ("--device", device)):
        if ctx.get_parameter_source(key.lstrip("-")) is not ParameterSource.DEFAULT:
            arguments += [key, str(value)]
    for key, value in params:
        arguments += ["--param", f"{key}={value}"]
    path = write_tracker_entry(workspace, name, arguments, stack)
    if as_json:
        emit_json({"trackers_ini": str(path), "name": name, "arguments": arguments})
        return
    console.print(f"tracker {name} -> {path}; in {workspace}: vot test {name}, vot evaluate {name}, vot analysis {name}")
