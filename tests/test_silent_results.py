"""Issue 23's silent results: each case ran and reported a number without a word. Now changed data is
tracked again, an unfinished student and skipped or invalid ground truth are said on stderr, and a
one-frame track says no speed was measured."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """A tiny checkpoint and a tiny LaSOT-layout dataset (2 sequences x 6 frames)."""
    from compresstracker.checkpoints import save_native
    from compresstracker.data.synthetic import generate
    from compresstracker.models import build_model

    root = tmp_path_factory.mktemp("silent")
    model = build_model("tiny_64_ce").eval()
    save_native(model, model.config, root / "tiny.safetensors")
    save_native(model, model.config, root / "half.safetensors", provenance={"epoch": 1, "epochs": 2, "unfinished": True})
    generate("lasot", root / "data", sequences=2, frames=6, seed=1, image_size=(96, 72))
    return root


def _eval(run_cli, ws: Path, data: Path, *extra: str):
    result = run_cli("eval", "-c", ws / "tiny.safetensors", "-d", "lasot", "--root", data, "--split", "all",
                     "--out", data.parent / f"{data.name}_results", "--json", *extra)
    assert result.exit_code == 0, result.output
    return result.json()


def test_eval_tracks_again_a_sequence_whose_frames_or_ground_truth_changed(run_cli, ws):
    data = ws / "changing"
    shutil.copytree(ws / "data", data)
    first = _eval(run_cli, ws, data)
    assert first["run"]["tracked"] == 2
    assert _eval(run_cli, ws, data)["run"]["skipped"] == 2  # unchanged data: nothing tracked again
    frame = data / "box" / "box-1" / "img" / "00000003.jpg"
    frame.write_bytes((data / "box" / "box-1" / "img" / "00000005.jpg").read_bytes())  # a frame replaced
    again = _eval(run_cli, ws, data)["run"]
    assert (again["tracked"], again["skipped"]) == (1, 1)
    truth = data / "ellipse" / "ellipse-1" / "groundtruth.txt"
    rows = truth.read_text().splitlines()
    rows[-1] = "1,1,4,4"
    truth.write_text("\n".join(rows) + "\n")  # a ground-truth box edited
    again = _eval(run_cli, ws, data)["run"]
    assert (again["tracked"], again["skipped"]) == (1, 1)
    record = json.loads((data.parent / "changing_results" / "tiny" / ".ctrack_run.json").read_text())
    assert set(record["sequences"]["box-1"]["data"]) == {"groundtruth_sha256", "frames_sha256"}


def test_a_frame_with_a_new_mtime_but_the_same_bytes_counts_as_changed(ws):
    from compresstracker.data import get_dataset
    from compresstracker.data.sequence import content_sha256

    data = ws / "touched"
    shutil.copytree(ws / "data", data)
    seq = get_dataset("lasot", data, split="all")["box-1"]
    before = content_sha256(seq)
    stat = os.stat(seq.frames[0])
    os.utime(seq.frames[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    after = content_sha256(seq)
    assert after["frames_sha256"] != before["frames_sha256"] and after["groundtruth_sha256"] == before["groundtruth_sha256"]


def test_a_student_of_an_unfinished_run_is_said_by_every_reader_and_recorded_by_eval(run_cli, ws):
    inspected = run_cli("inspect", ws / "half.safetensors")
    assert inspected.exit_code == 0 and "unfinished run (exported after epoch 1 of 2)" in inspected.stderr
    clean = run_cli("inspect", ws / "tiny.safetensors")
    assert clean.exit_code == 0 and "unfinished" not in clean.stderr
    result = run_cli("eval", "-c", ws / "half.safetensors", "-d", "lasot", "--root", ws / "data", "--split", "all",
                     "--out", ws / "half_results", "--json")
    assert result.exit_code == 0, result.output
    assert "unfinished run" in result.stderr
    assert result.json()["run"]["unfinished"] == "epoch 1 of 2"
    record = json.loads((ws / "half_results" / "half" / ".ctrack_run.json").read_text())
    assert record["tracker"]["unfinished"] == "epoch 1 of 2"
    text = run_cli("eval", "-c", ws / "half.safetensors", "-d", "lasot", "--root", ws / "data", "--split", "all",
                   "--out", ws / "half_results")
    assert "from an unfinished run (epoch 1 of 2)" in " ".join(text.stdout.split())  # the console wraps at 80 columns


def test_negative_ground_truth_sizes_are_counted_per_sequence_on_stderr(run_cli, ws):
    data = ws / "negative"
    shutil.copytree(ws / "data", data)
    truth = data / "box" / "box-1" / "groundtruth.txt"
    rows = truth.read_text().splitlines()
    rows[2], rows[4] = "10,10,-5,8", "10,10,5,-8"
    truth.write_text("\n".join(rows) + "\n")
    results = ws / "negative_results"
    results.mkdir()
    for name in ("box-1", "ellipse-1"):
        (results / f"{name}.txt").write_text("1\t1\t5\t5\n" * 6)
    result = run_cli("score", "-d", "lasot", "--root", data, "--split", "all", "--results", results)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "negative width or height" in line]
    assert len(lines) == 1 and "box-1/groundtruth.txt: 2 ground-truth row(s)" in lines[0] and "first at line 3" in lines[0]


def test_split_all_names_the_folders_it_skips_for_lack_of_ground_truth(run_cli, ws):
    data = ws / "partial"
    shutil.copytree(ws / "data", data)
    (data / "ellipse" / "ellipse-1" / "groundtruth.txt").unlink()
    results = ws / "partial_results"
    results.mkdir()
    (results / "box-1.txt").write_text("1\t1\t5\t5\n" * 6)
    result = run_cli("score", "-d", "lasot", "--root", data, "--split", "all", "--results", results)
    assert result.exit_code == 0, result.output
    assert "warning: 1 folder(s) under" in result.stderr and "skipped: no groundtruth.txt in ellipse/ellipse-1" in result.stderr
    complete = run_cli("score", "-d", "lasot", "--root", ws / "data", "--split", "all", "--results", results, "--allow-missing")
    assert "skipped" not in complete.stderr


def test_one_frame_says_no_speed_was_measured(run_cli, ws, tmp_path):
    frames = tmp_path / "one"
    frames.mkdir()
    shutil.copy(ws / "data" / "box" / "box-1" / "img" / "00000001.jpg", frames)
    result = run_cli("track", "-c", ws / "tiny.safetensors", "--frames", frames, "--init-box", "10,10,20,20", "--out", tmp_path / "o.txt")
    assert result.exit_code == 0, result.output
    assert "speed not measured" in result.stdout and "0.0 FPS" not in result.stdout
    as_json = run_cli("track", "-c", ws / "tiny.safetensors", "--video", frames / "00000001.jpg", "--init-box", "10,10,20,20",
                      "--out", tmp_path / "v.txt", "--json")
    assert as_json.exit_code == 0, as_json.output
    assert as_json.json()["model_fps"] is None and as_json.json()["end_to_end_fps"] is None


def test_thread_counts_above_the_cores_still_warn_and_far_above_are_refused(monkeypatch):
    from compresstracker import threads
    from compresstracker.errors import ConfigError, CTrackWarning

    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    with pytest.warns(CTrackWarning, match="more than the 2 core"):
        assert threads.resolve_threads(8) == 8
    with pytest.raises(ConfigError, match="more than 4x the 2 core"):
        threads.resolve_threads(9)
