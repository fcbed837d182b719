"""``ctrack eval``: track every sequence of a benchmark, then score it."""
from __future__ import annotations

from pathlib import Path

import click

from compresstracker.cli.common import (
    backend_option, baseline_option, calib_option, console, dataset_args, dataset_spec_option, deprecated, device_option, emit_json, json_option,
    param_option, parse_sequence_names, plot_format_option, precision_option, prefer, preset_option, quiet_option, threads_option,
)


@click.command("eval")
@click.option("--checkpoint", "-c", required=True, type=click.Path(dir_okay=False), help="Any checkpoint ctrack reads.")
@dataset_spec_option
@click.option("--dataset", "-d", "dataset_name", help="Dataset registry name (see `ctrack datasets list`).")
@click.option("--root", type=click.Path(file_okay=False), help="The dataset's root folder.")
@click.option("--split", help="Dataset split (default: the benchmark's test split).")
@click.option("--sequences", help="Only these sequences: a,b,c or a text file with one name per line.")
@click.option("--allow-missing", is_flag=True, help="Go on without sequences of the split that are not on disk.")
@click.option("--out", "-o", type=click.Path(file_okay=False), help="Results root [default: results].")
@deprecated("--results-dir", "--out", "old_results_dir", type=click.Path(file_okay=False))
@click.option("--name", help="The tracker's name: its folder under --out and its row in tables (default: the checkpoint's file stem).")
@deprecated("--tracker-name", "--name", "old_tracker_name")
@click.option("--workers", "-j", default=1, show_default=True, type=click.IntRange(1), help="Tracker processes.")
@threads_option
@click.option("--no-ce", is_flag=True, help="Run every block plain (no candidate elimination).")
@baseline_option
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False), help="Write success/precision plots here.")
@plot_format_option
@preset_option
@param_option
@backend_option
@precision_option
@calib_option
@device_option
@json_option
@quiet_option
def eval_cmd(checkpoint, data_spec, dataset_name, root, split, sequences, allow_missing, out, old_results_dir, name, old_tracker_name,
             workers, threads, no_ce, baseline, plot_dir, plot_formats, preset, params, backend, precision, calib, device, as_json, quiet):
    """Run the tracker over a benchmark (resumable) and score it with the published protocol.

    Results go to OUT/NAME/<seq>.txt (pytracking layout); a rerun skips sequences already done,
    so an interrupted evaluation resumes where it stopped. The folder records the checkpoint's
    sha256 and options: another checkpoint under the same name is refused rather than scored on
    stale results. The checkpoint's family picks the tracking loop; --preset/--param set its
    hyper-parameters and are recorded in the folder too. A split whose ground truth is private
    (GOT-10k test) is tracked, not scored: pack it for the server with `ctrack pack`.

    \b
    Examples:
      ctrack eval -c OSTrack_ep0300.pth.tar -d lasot --root /data/lasot -j 4
      ctrack eval -c student.safetensors --data got10k=/data/got10k:val --json
      ctrack eval -c student.safetensors --data lasot=synth --name ct4
      ctrack eval -c student.int8.onnx --backend onnxruntime -d lasot --root /data/lasot
      ctrack eval -c LightTrackM.pth --preset vot2019 -d got10k --root /data/got10k --split val
    """
    from compresstracker.checkpoints import unfinished_run
    from compresstracker.data import get_dataset
    from compresstracker.deploy import check_backend
    from compresstracker.devices import resolve_device
    from compresstracker.fileio import check_name
    from compresstracker.evaluation.report import score_trackers, scores_table, with_first_box
    from compresstracker.evaluation.runner import ModelSpec, build_tracker, check_results_dir, run_tracker
    from compresstracker.progress import SequenceProgress, progress_mode

    dataset_name, root, split = dataset_args(data_spec, dataset_name, root, split)
    resolve_device(device)
    if not Path(checkpoint).is_file():
        from compresstracker.errors import CheckpointError

        raise CheckpointError(f"checkpoint {checkpoint} does not exist")
    check_backend(checkpoint, backend, precision)
    dataset = get_dataset(dataset_name, root, split=split, sequences=parse_sequence_names(sequences), allow_missing=allow_missing)
    name = check_name(prefer(name, old_tracker_name) or default_name(checkpoint), "--name")
    results = Path(prefer(out, old_results_dir) or "results") / name
    spec = ModelSpec(
        checkpoint=str(checkpoint), ce=False if no_ce else None, device=device, backend=backend, precision=precision,
        calib=calib, preset=preset, params=params,
    )
    # Refusals and unreadable checkpoints are reported before any progress is drawn.
    check_results_dir(spec, dataset, results)
    tracker = build_tracker(spec)
    with SequenceProgress(progress_mode(quiet), f"{name} on {dataset.name}", len(dataset.sequences)) as progress:
        run = run_tracker(spec, dataset, results, workers=workers, tracker=tracker, threads=threads,
                          on_done=lambda seq, frames, seconds: progress.sequence_done(seq, frames, seconds, workers))
    stopped = unfinished_run(checkpoint)
    run["unfinished"] = stopped  # the report says a student of an unfinished run was scored
    tracked = (f"tracked {run['tracked']} sequences ({run['skipped']} already done), {run['frames']} frames"
               + (f" at {run['fps']:.1f} frames/s" if run["fps"] else "")
               + (f"; {Path(checkpoint).name} is from an unfinished run ({stopped})" if stopped else ""))
    if all(len(seq.ground_truth) == 1 < len(seq.frames) for seq in dataset.sequences):
        ready = (f"{dataset.name} {dataset.split}: the ground truth is private, so nothing is scored here; the results in "
                 f"{results} are ready for `ctrack pack --format {dataset.name} --results {results} --out {name}_{dataset.name}.zip`")
        if as_json:
            emit_json({"dataset": dataset.name, "split": dataset.split, "results": str(results), "run": run, "scored": False})
        else:
            console.print(tracked)
            console.print(ready)
        return
    scores = score_trackers(dataset, [results], labels=[name])
    if baseline:
        scores = with_first_box(dataset, scores)
    plots = []
    if plot_dir:
        from compresstracker.evaluation.plots import write_plots

        plots = [str(p) for p in write_plots(scores, plot_dir, dataset.sequences, plot_formats)]
    if as_json:
        document = scores[0].to_dict()
        document.pop("curves", None)
        document["run"] = run
        document["plots"] = plots
        if baseline:
            document["first_box"] = scores[-1].metrics()
        emit_json(document)
        return
    console.print(tracked)
    console.print(scores_table(scores))


def default_name(checkpoint: str) -> str:
    """A tracker's name: its file stem, or for a run's own export (``ct4/student.safetensors``,
    ``runs/x/model.safetensors``) the run folder's name, so two runs can be scored side by side."""
    path = Path(checkpoint)
    stem = path.name.split(".")[0]
    if stem in ("student", "model") and (path.parent / "config.yaml").is_file() and path.resolve().parent.name:
        return path.resolve().parent.name
    return stem
