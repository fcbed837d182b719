"""``ctrack eval``: track every sequence of a benchmark, then score it."""
from __future__ import annotations

from pathlib import Path

import click

from compresstracker.cli.common import (
    backend_option, calib_option, console, device_option, emit_json, json_option, param_option, precision_option, preset_option,
)


@click.command("eval")
@click.option("--checkpoint", "-c", required=True, type=click.Path(dir_okay=False), help="Any checkpoint ctrack reads.")
@click.option("--dataset", "-d", "dataset_name", required=True, help="Dataset registry name (see `ctrack datasets list`).")
@click.option("--root", required=True, type=click.Path(file_okay=False), help="The dataset's root folder.")
@click.option("--split", help="Dataset split (default: the benchmark's test split).")
@click.option("--sequences", help="Only these sequences: a,b,c or a text file with one name per line.")
@click.option("--allow-missing", is_flag=True, help="Go on without sequences of the split that are not on disk.")
@click.option("--results-dir", default="results", show_default=True, type=click.Path(file_okay=False), help="Results root.")
@click.option("--tracker-name", help="Folder name under --results-dir (default: the checkpoint's file stem).")
@click.option("--workers", "-j", default=1, show_default=True, type=click.IntRange(1), help="Tracker processes.")
@click.option("--no-ce", is_flag=True, help="Run every block plain (no candidate elimination).")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False), help="Write success/precision plots here.")
@preset_option
@param_option
@backend_option
@precision_option
@calib_option
@device_option
@json_option
def eval_cmd(
    checkpoint, dataset_name, root, split, sequences, allow_missing, results_dir, tracker_name, workers, no_ce, plot_dir,
    preset, params, backend, precision, calib, device, as_json,
):
    """Run the tracker over a benchmark (resumable) and score it with the published protocol.

    Results go to RESULTS_DIR/TRACKER_NAME/<seq>.txt (pytracking layout); a rerun skips
    sequences already done, so an interrupted evaluation resumes where it stopped. The folder
    records the checkpoint's sha256 and options: another checkpoint under the same name is
    refused rather than scored on stale results. The checkpoint's family picks the tracking
    loop; --preset/--param set its hyper-parameters and are recorded in the folder too.

    \b
    Examples:
      ctrack eval -c OSTrack_ep0300.pth.tar -d lasot --root /data/lasot -j 4
      ctrack eval -c student.safetensors -d got10k --root /data/got10k --split val --json
      ctrack eval -c student.int8.onnx --backend onnxruntime -d lasot --root /data/lasot
      ctrack eval -c LightTrackM.pth --preset vot2019 -d got10k --root /data/got10k --split val
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from compresstracker.cli.score import parse_sequence_names
    from compresstracker.data import get_dataset
    from compresstracker.deploy import check_backend
    from compresstracker.devices import resolve_device
    from compresstracker.evaluation.report import score_trackers, scores_table
    from compresstracker.evaluation.runner import ModelSpec, build_tracker, check_results_dir, run_tracker

    resolve_device(device)
    if not Path(checkpoint).is_file():
        from compresstracker.errors import CheckpointError

        raise CheckpointError(f"checkpoint {checkpoint} does not exist")
    check_backend(checkpoint, backend, precision)
    dataset = get_dataset(dataset_name, root, split=split, sequences=parse_sequence_names(sequences), allow_missing=allow_missing)
    name = tracker_name or Path(checkpoint).name.split(".")[0]
    out = Path(results_dir) / name
    spec = ModelSpec(
        checkpoint=str(checkpoint), ce=False if no_ce else None, device=device, backend=backend, precision=precision,
        calib=calib, preset=preset, params=params,
    )
    # Refusals and unreadable checkpoints are reported before any progress is drawn.
    check_results_dir(spec, dataset, out)
    tracker = build_tracker(spec)
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(), console=console, disable=as_json and not console.is_terminal,
    ) as progress:
        task = progress.add_task(f"{name} on {dataset.name}", total=len(dataset.sequences), rate="")
        done_frames = [0, 0.0]

        def on_done(seq_name: str, frames: int, seconds: float) -> None:
            done_frames[0] += frames
            done_frames[1] += seconds
            progress.update(task, advance=1, rate=f"{done_frames[0] / max(done_frames[1], 1e-9) * workers:.1f} frames/s")

        run = run_tracker(spec, dataset, out, workers=workers, on_done=on_done, tracker=tracker)
    scores = score_trackers(dataset, [out])
    plots = []
    if plot_dir:
        from compresstracker.evaluation.plots import write_plots

        plots = [str(p) for p in write_plots(scores, plot_dir, dataset.sequences)]
    if as_json:
        document = scores[0].to_dict()
        document.pop("curves", None)
        document["run"] = run
        document["plots"] = plots
        emit_json(document)
        return
    console.print(
        f"tracked {run['tracked']} sequences ({run['skipped']} already done), {run['frames']} frames"
        + (f" at {run['fps']:.1f} frames/s" if run["fps"] else "")
    )
    console.print(scores_table(scores))
