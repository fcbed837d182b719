"""``ctrack track``: run a tracker over a frame folder or a video."""
from __future__ import annotations

import time

import click

from compresstracker.cli.common import (
    backend_option, calib_option, console, deprecated, device_option, emit_json, json_option, param_option, parse_box,
    precision_option, prefer, preset_option, threads_option,
)

COMPILE_WARMUP = 3  # tracking steps on the first frame before timing a compiled network (dynamo may compile twice)


@click.command("track")
@click.option("--checkpoint", "-c", required=True, type=click.Path(dir_okay=False), help="Any checkpoint ctrack reads.")
@click.option("--frames", type=click.Path(file_okay=False), help="Folder of jpg/png frames, sorted by name.")
@click.option("--video", help="A video file OpenCV can read, or a camera index (0 = the first camera).")
@click.option("--init-box", help="Target box in the first frame: x,y,w,h (pixels).")
@click.option("--select", is_flag=True, help="Draw the first box with the mouse (needs a display and OpenCV's GUI).")
@click.option("--out", "-o", "output", type=click.Path(dir_okay=False), help="Boxes, one x<TAB>y<TAB>w<TAB>h line per frame.")
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

    The checkpoint picks the loop: OSTrack-family files run OSTrack's, LightTrack files run
    LightTrack's (presets vot2019 and default, parameters by --param).

    \b
    Examples:
      ctrack track -c OSTrack_ep0300.pth.tar --frames airplane-1/img --init-box 367,101,41,16 -o airplane-1.txt
      ctrack track -c student.safetensors --video clip.mp4 --init-box 10,20,50,40 -o out.txt --render out.mp4
      ctrack track -c student.onnx --backend onnxruntime --frames airplane-1/img --init-box 367,101,41,16 -o out.txt
      ctrack track -c student.safetensors --video 0 --select -o camera.txt --render camera.mp4
      ctrack track -c student.safetensors --backend openvino --precision int8 --video clip.mp4 --init-box 10,20,50,40 -o out.txt
      ctrack track -c LightTrackM.pth --preset vot2019 --frames ball/img --init-box 10,20,50,40 -o ball.txt
    """
    from compresstracker.deploy import load_network
    from compresstracker.devices import resolve_device
    from compresstracker.errors import TrackingError
    from compresstracker.threads import resolve_threads, set_threads
    from compresstracker.tracking import FrameSource, VideoRenderer, list_frames, make_tracker, run_sequence, write_boxes

    output = prefer(output, old_output)
    if not output:
        raise click.UsageError("Missing option '--out' / '-o'.")
    set_threads(resolve_threads(threads))

    if (init_box is None) == (not select):
        raise TrackingError("give the first box: --init-box x,y,w,h or --select")
    if (frames is None) == (video is None):
        raise TrackingError("give exactly one of --frames DIR or --video FILE")
    torch_device = resolve_device(device)
    source = FrameSource(frames=list_frames(frames)) if frames else FrameSource(video=video)
    images = iter(source)  # a camera is read once: the frame the box is drawn on is tracked from
    if select:
        import itertools

        from compresstracker.tracking.video import select_box

        first = next(images, None)
        if first is None:
            raise TrackingError("no frames to track")
        box = select_box(first)
        images = itertools.chain([first], images)
    else:
        box = parse_box(init_box)
    network = load_network(
        checkpoint, backend, ce=False if no_ce else None, device=torch_device, precision=precision, calib=calib, compile=compile_,
    )
    tracker = make_tracker(network, torch_device, preset, dict(params))
    if compile_:  # torch.compile compiles on the first calls: make them on the first frame, before the clock starts
        first = next(images, None)
        if first is not None:
            import itertools

            images = itertools.chain([first], images)
            with console.status("compiling the network (torch.compile)", spinner="dots"):
                tracker.initialize(first, box)
                for _ in range(COMPILE_WARMUP):
                    tracker.track(first)
    renderer = VideoRenderer(render, fps=source.fps) if render else None
    start = time.perf_counter()
    boxes, _ = run_sequence(tracker, images, box, on_frame=renderer)
    wall_s = time.perf_counter() - start
    if renderer is not None:
        renderer.close()
    write_boxes(output, boxes)
    t = tracker.timing
    summary = {
        "frames": int(len(boxes)),
        "output": output,
        "render": render,
        "device": str(torch_device),
        "backend": backend,
        "precision": getattr(network, "precision", "fp32"),
        "ce": bool(network.ce_enabled),
        "tracker": tracker.settings,
        "model_fps": (t.frames / t.model_s) if t.model_s else None,
        "fps": (t.frames / t.total_s) if t.total_s else None,
        "end_to_end_fps": len(boxes) / wall_s if wall_s else None,
    }
    if as_json:
        emit_json(summary)
    else:
        console.print(
            f"{summary['frames']} frames -> {output}  |  model {summary['model_fps'] or 0:.1f} FPS, "
            f"tracking step {summary['fps'] or 0:.1f} FPS, end to end (with frame reading) "
            f"{summary['end_to_end_fps'] or 0:.1f} FPS on {summary['device']} ({backend} {summary['precision']})"
        )
