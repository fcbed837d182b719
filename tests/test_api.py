"""The stable Python API: ``compresstracker.Tracker`` gives ``ctrack track``'s boxes bit for bit."""
from __future__ import annotations

import importlib.util
import threading

import cv2
import numpy as np
import pytest
import torch

from compresstracker import Tracker
from compresstracker.checkpoints import save_native
from compresstracker.errors import TrackingError
from compresstracker.families import plugins
from compresstracker.models import build_model
from compresstracker.tracking.video import list_frames

BOX = (30.0, 20.0, 20.0, 16.0)


@pytest.fixture(scope="module")
def frame_folder(tmp_path_factory):
    """Eight 96 x 72 frames: noise with a red box drifting one pixel per frame."""
    folder = tmp_path_factory.mktemp("api_frames")
    base = np.random.default_rng(3).integers(0, 255, (72, 96, 3), dtype=np.uint8)
    for i in range(8):
        img = base.copy()
        img[20 + i: 36 + i, 30 + i: 50 + i] = (0, 0, 255)
        cv2.imwrite(str(folder / f"{i:05d}.jpg"), img)
    return folder


def _checkpoint(tmp_path, family: str):
    torch.manual_seed(0)
    model = build_model(plugins()[family].tiny).eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # non-degenerate weights: a fresh head gives flat maps
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(0.02 * torch.randn(tensor.shape, generator=gen))
    return save_native(model, model.config, tmp_path / f"{family}.safetensors")


def _api_boxes(tracker: Tracker, folder, color: str = "rgb") -> list[list[float]]:
    frames = [cv2.imread(str(p)) for p in list_frames(folder)]
    if color == "rgb":
        frames = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames]
    boxes = [tracker.init(frames[0], BOX)]
    for frame in frames[1:]:
        box, score = tracker.update(frame)
        assert 0.0 <= score <= 1.0
        boxes.append(box)
    return boxes


@pytest.mark.parametrize("family", sorted(plugins()))
def test_api_boxes_equal_ctrack_track_bit_for_bit(run_cli, tmp_path, frame_folder, family):
    checkpoint = _checkpoint(tmp_path, family)
    result = run_cli("track", "-c", checkpoint, "--frames", frame_folder, "--init-box", ",".join(map(str, BOX)),
                     "-o", tmp_path / "boxes.txt", "--json")
    assert result.exit_code == 0, result.stderr
    expected = result.json()["boxes"]
    assert _api_boxes(Tracker.from_checkpoint(checkpoint), frame_folder) == expected
    assert _api_boxes(Tracker.from_checkpoint(checkpoint, color="bgr"), frame_folder, color="bgr") == expected


def test_one_tracker_per_thread_gives_the_same_boxes(tmp_path, frame_folder):
    checkpoint = _checkpoint(tmp_path, "ostrack")
    alone = _api_boxes(Tracker.from_checkpoint(checkpoint), frame_folder)
    trackers = [Tracker.from_checkpoint(checkpoint) for _ in range(3)]
    found: dict[int, list] = {}

    def follow(i: int) -> None:
        found[i] = _api_boxes(trackers[i], frame_folder)

    threads = [threading.Thread(target=follow, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [found[i] for i in range(3)] == [alone] * 3


def test_calls_out_of_order_and_bad_frames_are_clear_errors(tmp_path):
    tracker = Tracker.from_checkpoint(_checkpoint(tmp_path, "ostrack"))
    frame = np.zeros((72, 96, 3), np.uint8)
    with pytest.raises(TrackingError, match=r"update\(\) before Tracker.init"):
        tracker.update(frame)
    with pytest.raises(TrackingError, match="HxWx3 uint8"):
        tracker.init(frame[..., 0], BOX)
    with pytest.raises(TrackingError, match="color must be one of rgb, bgr"):
        Tracker.from_checkpoint(_checkpoint(tmp_path, "ostrack"), color="hsv")


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="needs the onnx extra (onnxruntime)")
def test_an_exported_file_is_a_first_class_input(run_cli, tmp_path, frame_folder):
    checkpoint = _checkpoint(tmp_path, "ostrack")
    onnx = tmp_path / "tiny.onnx"
    assert run_cli("export", checkpoint, "--format", "onnx", "--out", onnx).exit_code == 0
    result = run_cli("track", "-c", onnx, "--frames", frame_folder, "--init-box", ",".join(map(str, BOX)), "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["backend"] == "onnxruntime"
    assert _api_boxes(Tracker.from_checkpoint(onnx), frame_folder) == result.json()["boxes"]
    benched = run_cli("bench", onnx, "--runs", "3", "--threads", "1", "--json")  # not dropped for want of --backend
    assert benched.exit_code == 0, benched.stderr
    assert [(row["backend"], benched.json()["skipped"]) for row in benched.json()["models"]] == [("onnxruntime", [])]
    inspected = run_cli("inspect", onnx, "--json")
    assert inspected.exit_code == 0, inspected.stderr


def test_the_docs_example_runs_and_prints_ctrack_tracks_boxes(run_cli, tmp_path, frame_folder):
    import subprocess
    import sys
    from pathlib import Path

    checkpoint = _checkpoint(tmp_path, "ostrack")
    example = Path(__file__).resolve().parents[1] / "docs" / "api_example.py"
    ran = subprocess.run([sys.executable, str(example), str(checkpoint), str(frame_folder), "30,20,20,16"],
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    printed = [[float(v) for v in line.split()[:4]] for line in ran.stdout.splitlines()]
    result = run_cli("track", "-c", checkpoint, "--frames", frame_folder, "--init-box", "30,20,20,16", "-o", "-")
    assert result.exit_code == 0, result.stderr
    assert printed == [[float(v) for v in line.split("\t")] for line in result.stdout.splitlines()]


def test_api_on_a_video_equals_ctrack_track_video(run_cli, tmp_path, frame_folder):
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 25, (96, 72))
    for path in list_frames(frame_folder):
        writer.write(cv2.imread(str(path)))
    writer.release()
    checkpoint = _checkpoint(tmp_path, "ostrack")
    result = run_cli("track", "-c", checkpoint, "--video", video, "--init-box", ",".join(map(str, BOX)),
                     "--render", tmp_path / "drawn.mp4", "--json")  # no -o: --json holds the boxes
    assert result.exit_code == 0, result.stderr
    assert result.json()["output"] is None and (tmp_path / "drawn.mp4").is_file()
    tracker = Tracker.from_checkpoint(checkpoint, color="bgr")
    capture = cv2.VideoCapture(str(video))
    ok, frame = capture.read()
    boxes = [tracker.init(frame, BOX)]
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        boxes.append(tracker.update(frame)[0])
    capture.release()
    assert boxes == result.json()["boxes"]
