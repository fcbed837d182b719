"""The synthetic sequence generator: determinism, resumability, labels that match the boxes."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from compresstracker.data import get_dataset, training_visibility
from compresstracker.data.annotations import read_flags
from compresstracker.data.synthetic import PARTIAL_DIR, generate
from compresstracker.errors import DatasetError

SIZE = (64, 48)


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def box_inside(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    return (boxes[:, 0] >= 0) & (boxes[:, 1] >= 0) & (boxes[:, 0] + boxes[:, 2] <= width) & (boxes[:, 1] + boxes[:, 3] <= height)


def box_outside(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    return (boxes[:, 0] >= width) | (boxes[:, 1] >= height) | (boxes[:, 0] + boxes[:, 2] <= 0) | (boxes[:, 1] + boxes[:, 3] <= 0)


@pytest.fixture(scope="module")
def lasot_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "lasot"
    generate("lasot", out, sequences=12, frames=60, seed=7, image_size=SIZE)
    return out


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    first = generate("got10k", tmp_path / "a", sequences=3, frames=12, seed=1, image_size=SIZE)
    generate("got10k", tmp_path / "b", sequences=3, frames=12, seed=1, image_size=SIZE)
    generate("got10k", tmp_path / "c", sequences=3, frames=12, seed=2, image_size=SIZE)
    a, b, c = (tree(tmp_path / d) for d in "abc")
    assert first["written"] == 3 and len(a) > 3 * 12
    assert a == b
    gt = "train/GOT-10k_Train_000001/groundtruth.txt"
    assert a[gt] != c[gt]
    frame = "train/GOT-10k_Train_000001/00000005.jpg"
    assert a[frame] != c[frame]


def test_rerun_finishes_an_interrupted_generation(tmp_path):
    reference = tmp_path / "ref"
    generate("trackingnet", reference, sequences=4, frames=10, seed=3, image_size=SIZE)
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    shutil.rmtree(out / "TRAIN_0" / "frames" / "synth00001_0")  # killed before this folder was renamed in
    (out / "TEST" / "anno" / "synth00003_0.txt").unlink()  # killed between the annotation and the rename
    (out / PARTIAL_DIR / "junk").mkdir(parents=True)
    summary = generate("trackingnet", out, sequences=4, frames=10, seed=3, image_size=SIZE)
    assert (summary["written"], summary["skipped"]) == (2, 2)
    assert tree(out) == tree(reference) and not (out / PARTIAL_DIR).exists()


def test_refuses_foreign_or_differently_made_folders(tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not empty"):
        generate("lasot", tmp_path / "used", sequences=1, frames=2, seed=0, image_size=SIZE)
    generate("lasot", tmp_path / "out", sequences=1, frames=2, seed=0, image_size=SIZE)
    with pytest.raises(DatasetError, match="other settings .*seed 0"):
        generate("lasot", tmp_path / "out", sequences=1, frames=2, seed=1, image_size=SIZE)
    with pytest.raises(DatasetError, match="unknown synthetic layout"):
        generate("otb100", tmp_path / "v", sequences=1, frames=2, seed=0)


def test_lasot_layout_reads_back_through_every_route(lasot_out):
    everything = get_dataset("lasot", lasot_out, split="all")
    assert len(everything) == 12 and everything.protocol == "lasot"
    synthetic = get_dataset("synthetic", lasot_out)
    test_names = (lasot_out / "split_test.txt").read_text().split()
    assert synthetic.split == "test" and synthetic.names == test_names and synthetic.protocol == "lasot"
    assert get_dataset("lasot", lasot_out, split=str(lasot_out / "split_test.txt")).names == test_names
    train = get_dataset("synthetic", lasot_out, split="train")
    assert len(train) + len(synthetic) == 12 and not set(train.names) & set(test_names)
    seq = synthetic[0]
    assert seq.dataset == "synthetic" and seq.image_size_hint == SIZE and len(seq) == 60
    image = cv2.imread(seq.frames[0])
    assert image.shape == (SIZE[1], SIZE[0], 3)
    assert seq.object_class in seq.language


def test_lasot_labels_match_the_boxes(lasot_out):
    width, height = SIZE
    occluded_frames = out_of_view_frames = 0
    for seq in get_dataset("lasot", lasot_out, split="all"):
        folder = Path(seq.frames[0]).parent.parent
        boxes = seq.ground_truth
        out_of_view = read_flags(folder / "out_of_view.txt").astype(bool)
        occlusion = read_flags(folder / "full_occlusion.txt").astype(bool)
        assert seq.target_visible[0] and box_inside(boxes[:1], width, height).all()  # trackers start here
        assert not box_inside(boxes[out_of_view], width, height).any()
        assert not box_outside(boxes[occlusion], width, height).any()
        assert (boxes[:, 2:] >= 1).all()
        steps = np.hypot(*np.diff(boxes[:, :2] + boxes[:, 2:] / 2, axis=0).T)
        assert np.median(steps) < 0.1 * width  # smooth motion, with occasional dashes
        occluded_frames += occlusion.sum()
        out_of_view_frames += out_of_view.sum()
    assert occluded_frames > 0 and out_of_view_frames > 0  # the hard cases do occur


def test_target_is_drawn_where_the_box_says(lasot_out):
    """The first frame's box region differs from the same region a frame where the target left."""
    seq = get_dataset("lasot", lasot_out, split="all")[0]
    first = cv2.imread(seq.frames[0]).astype(np.float32)
    x, y, w, h = seq.ground_truth[0].astype(int)
    inside = first[y : y + h, x : x + w].reshape(-1, 3)
    assert inside.std(axis=0).mean() > 3  # textured, not flat
    assert np.abs(inside.mean(axis=0) - first.reshape(-1, 3).mean(axis=0)).max() > 1


def test_got10k_labels(tmp_path):
    width, height = SIZE
    generate("got10k", tmp_path, sequences=10, frames=40, seed=5, image_size=SIZE)
    assert (tmp_path / "val" / "list.txt").read_text().split() == ["GOT-10k_Val_000001", "GOT-10k_Val_000002"]
    cut_frames = 0
    for seq in get_dataset("got10k", tmp_path, split="train"):
        inside = box_inside(seq.ground_truth, width, height)
        assert (seq.cut_by_image == ~inside).all()
        assert (seq.cover[seq.absent] == 0).all() and (seq.cover[~seq.absent] > 0).all()
        assert not (seq.cover[~inside] == 8).any()
        assert seq.cover[0] == 8 and training_visibility(seq)[0]
        assert seq.object_class and seq.image_size_hint == SIZE
        cut_frames += seq.cut_by_image.sum()
    assert cut_frames > 0
    test = get_dataset("got10k", tmp_path)
    assert len(test) == 2 and test[0].ground_truth.shape == (1, 4) and len(test[0]) == 40


def test_trackingnet_and_folder_layouts(tmp_path):
    width, height = SIZE
    generate("trackingnet", tmp_path / "tn", sequences=8, frames=40, seed=4, image_size=SIZE)
    train = get_dataset("trackingnet", tmp_path / "tn", split="train:0")
    assert len(train) == 6 and Path(train[0].frames[0]).name == "0.jpg"
    for seq in train:
        gone = (seq.ground_truth == 0).all(axis=1)  # no visibility labels: unseen target -> 0,0,0,0
        assert not training_visibility(seq)[gone].any() and not gone[0]
    assert get_dataset("trackingnet", tmp_path / "tn")[0].ground_truth.shape == (1, 4)
    generate("folder", tmp_path / "folder", sequences=2, frames=5, seed=4, image_size=SIZE)
    folder = get_dataset("folder", tmp_path / "folder")
    assert folder.names == ["box-1", "ellipse-1"] and folder[0].target_visible is not None
    assert get_dataset("synthetic", tmp_path / "folder").protocol == "generic"


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x0, y0 = np.maximum(a[:, 0], b[:, 0]), np.maximum(a[:, 1], b[:, 1])
    x1, y1 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]), np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    return inter / (a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter)


def test_hard_data_are_unchanged(tmp_path):
    """Ablations compare against earlier hard data: its boxes, labels and rendered frames stay what they were."""
    import hashlib

    from compresstracker.data.synthetic import SHAPES, _Scene

    generate("lasot", tmp_path, sequences=6, frames=20, seed=5, image_size=(96, 72))
    text = hashlib.sha256()
    for path in sorted(tmp_path.rglob("*.txt")):
        text.update(str(path.relative_to(tmp_path)).encode())
        text.update(path.read_bytes())
    frames = hashlib.sha256()
    for index in range(6):  # the renderer's pixels, before JPEG encoding
        scene = _Scene(np.random.default_rng([5, index]), 20, 96, 72, SHAPES[index % len(SHAPES)])
        for i in range(20):
            frames.update(scene.render(i).tobytes())
    assert text.hexdigest() == "ecd9800812f6b5d11b9b7f2e1bc3b14db7bb5ba9ff806387350bf9d491ecf66d"
    assert frames.hexdigest() == "e7e7a34c81f7ab543410d3317e50a6d1280d350ce4db31df5f1605181ff5f177"


def test_fair_split_is_a_plain_tracking_task(tmp_path):
    """Fair: the whole target in view and unoccluded on every frame, larger, and drifting steadily off its first box."""
    from compresstracker.data.synthetic import FAIR_SPEED, TARGET_AREA

    width, height = 320, 240
    generate("lasot", tmp_path, sequences=24, frames=10, seed=3, image_size=(width, height), difficulty="fair")
    first_box_iou = []
    for seq in get_dataset("lasot", tmp_path, split="all"):
        folder = Path(seq.frames[0]).parent.parent
        boxes = seq.ground_truth.astype(np.float64)
        assert box_inside(boxes, width, height).all()
        assert not read_flags(folder / "full_occlusion.txt").any() and not read_flags(folder / "out_of_view.txt").any()
        area = boxes[0, 2] * boxes[0, 3] / (width * height)
        assert 0.5 * TARGET_AREA["fair"][0] < area < 2 * TARGET_AREA["fair"][1]
        steps = np.hypot(*np.diff(boxes[:, :2] + boxes[:, 2:] / 2, axis=0).T)
        assert 0.3 * FAIR_SPEED[0] < np.median(steps) < 3 * FAIR_SPEED[1]
        first_box_iou.append(_iou(np.repeat(boxes[:1], len(boxes), axis=0), boxes)[-1])
    assert np.median(first_box_iou) < 0.2  # a tracker that keeps the first box has lost the target by the last frame


def test_worker_processes_write_the_same_files(tmp_path):
    from compresstracker.data.synthetic import generate

    def digests(root):
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    generate("lasot", tmp_path / "one", sequences=6, frames=4, seed=5, difficulty="fair")
    summary = generate("lasot", tmp_path / "two", sequences=6, frames=4, seed=5, difficulty="fair", workers=2)
    assert summary["written"] == 6
    one, two = digests(tmp_path / "one"), digests(tmp_path / "two")
    assert len(one) > 6 and one == two
