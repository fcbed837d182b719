"""``ctrack track``: run a tracker over a frame folder or a video."""
from __future__ import annotations

import click
from click.core import ParameterSource

from compresstracker.cli.common import (
    backend_option, calib_option, console, deprecated, device_option, emit_json, json_option, param_option, parse_box,
    precision_option, prefer, preset_option, threads_option,
)
from compresstracker.console import err_console


@click.command("track")
@click.option("--checkpoint", "-c", required=True, type=click.Path(dir_okay=False), help="Any checkpoint ctrack reads.")
@click.option("--frames", type=click.Path(file_okay=False), help="Folder of jpg/png frames, sorted by name.")
@click.option("--video", help="A video file OpenCV can read, or a camera index (0 = the first camera).")
@click.option("--init-box", help="Target box in the first frame: x,y,w,h (pixels).")
@click.option("--select", is_flag=True, help="Draw the first box with the mouse (needs a display and OpenCV's GUI).")
@click.option("--out", "-o", "output", type=click.Path(dir_okay=False, allow_dash=True),
              help="Boxes, one x<TAB>y<TAB>w<TAB>h line per frame ('-': stdout). Optional with --json (it holds the boxes) or --render.")
@deprecated("--output", "--out", "old_output", type=click.Path(dir_okay=False))
@click.option("--render", type=click.Path(dir_okay=False), help="Also write a video with the boxes drawn (mp4).")
@click.option("--no-ce", is_flag=True, help="Run every block plain (no candidate elimination).")
@preset_option
@param_option
@threads_option
@backend_option
@precision_option
@calib_option
@click.option("--compile", "compile_", is_flag=True, help="torch: torch.compile the network (CPU: Inductor with freezing).")
@device_option
@json_option
def track(
    checkpoint, frames, video, init_box, select, output, old_output, render, no_ce, preset, params, threads, backend, precision, calib,
    compile_, device, as_json,
):
    """Track one target through a sequence, exactly as the model family's own tracker does.

    An exported file (.onnx, OpenVINO .xml) runs on its own runtime unless --backend says
    otherwise. The checkpoint picks the loop: OSTrack-family files run OSTrack's, LightTrack files run
    LightTrack's (presets vot2019 and default, parameters by --param).

    \b
    Examples:
      ctrack track -c OSTrack_ep0300.pth.tar --frames airplane-1/img --init-box 367,101,41,16 -o airplane-1.txt
      ctrack track -c student.safetensors --video clip.mp4 --init-box 10,20,50,40 -o out.txt --render out.mp4
      ctrack track -c student.onnx --frames airplane-1/img --init-box 367,101,41,16 -o out.txt
      ctrack track -c student.safetensors --video 0 --select -o camera.txt --render camera.mp4
      ctrack track -c student.safetensors --backend openvino --precision int8 --video clip.mp4 --init-box 10,20,50,40 -o out.txt
      ctrack track -c LightTrackM.pth --preset vot2019 --frames ball/img --init-box 10,20,50,40 -o ball.txt
    """
    from compresstracker.deploy import load_network, pick_backend
    from compresstracker.devices import resolve_device
    from compresstracker.errors import TrackingError
    from compresstracker.threads import resolve_threads, set_threads
    from compresstracker.tracking.session import COMPILE_WARMUP, frame_source, track_session
    from compresstracker.tracking.video import format_boxes

    output = prefer(output, old_output)
    if not (output or as_json or render):
        raise click.UsageError("Missing option '--out' / '-o' (or --json, or --render).")
    if output == "-" and as_json:
        raise click.UsageError("-o - and --json both write to stdout; --json alone holds the boxes")
    if click.get_current_context().get_parameter_source("backend") is ParameterSource.DEFAULT:
        backend = pick_backend(checkpoint)  # an exported file runs on its own runtime
    threads = resolve_threads(threads)
    set_threads(threads)
    if (init_box is None) == (not select):
        raise TrackingError("give the first box: --init-box x,y,w,h or --select")
    torch_device = resolve_device(device)
    source = frame_source(frames, video)
    box = None if select else parse_box(init_box)
    network = load_network(
        checkpoint, backend, ce=False if no_ce else None, device=torch_device, threads=threads, precision=precision, calib=calib,
        compile=compile_,
    )  # ONNX Runtime's and OpenVINO's thread pools sized by --threads too, not only torch's
    summary = track_session(network, source, None if output == "-" else output, box, torch_device, preset, dict(params), render=render,
                            warmup=COMPILE_WARMUP if compile_ else 0, status=console.status, backend=backend)
    if as_json:
        emit_json(summary)
        return
    if output == "-":
        click.echo(format_boxes(summary["boxes"]), nl=False)
    (err_console if output == "-" else console).print(f"{summary['frames']} frames -> {output or render}  |  {speed_text(summary, backend)}")


def speed_text(summary: dict, backend: str) -> str:
    """The speeds of a track session, or why none was measured (one frame: it only initialises the tracker)."""
    where = f"on {summary['device']} ({backend} {summary['precision']})"
    if not summary["model_fps"]:
        return f"speed not measured {where}: only the first frame, which initialises the tracker, was given"
    return (f"model {summary['model_fps']:.1f} FPS, tracking step {summary['fps'] or 0:.1f} FPS, end to end (with frame reading) "
            f"{summary['end_to_end_fps'] or 0:.1f} FPS {where}")
