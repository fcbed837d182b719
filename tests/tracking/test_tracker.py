"""The tracker against a plain, independent re-computation of OSTrack's loop."""
import math

import cv2
import numpy as np
import pytest
import torch

from compresstracker.errors import TrackingError
from compresstracker.models import build_model
from compresstracker.families.ostrack.tracker import OSTrackTracker


def _frames(n=6, h=96, w=128, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    frames = []
    for i in range(n):
        img = base.copy()
        img[30 + i : 50 + i, 40 + 2 * i : 64 + 2 * i] = (250, 20, 20)
        frames.append(img)
    return frames


def _plain_crop(img, box, factor, out):
    x, y, w, h = box
    size = math.ceil(math.sqrt(w * h) * factor)
    x1 = int(np.round(x + w / 2 - size / 2))  # numpy rounds half to even too
    y1 = int(np.round(y + h / 2 - size / 2))
    H, W = img.shape[:2]
    canvas = np.zeros((size, size, 3), np.uint8)
    # the reference pads right/bottom by one extra pixel: the last real column/row is dropped
    xs, ys = max(x1, 0), max(y1, 0)
    xe, ye = min(x1 + size, W - 1), min(y1 + size, H - 1)
    if xe > xs and ye > ys:
        canvas[ys - y1 : ye - y1, xs - x1 : xe - x1] = img[ys:ye, xs:xe]
    return cv2.resize(canvas, (out, out), interpolation=cv2.INTER_LINEAR), out / size


def _plain_track(model, frames, init_box):
    cfg = model.config
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)

    def norm(p):
        t = (p.astype(np.float32) / np.float32(255.0) - mean) / std
        return torch.from_numpy(t.transpose(2, 0, 1)[None].copy())

    z, _ = _plain_crop(frames[0], init_box, cfg.template_factor, cfg.template_size)
    z = norm(z)
    mask = None
    if model.ce_enabled:
        n = cfg.template_feat
        grid = np.zeros((n, n), bool)
        grid[(n - 1) // 2, (n - 1) // 2] = True
        mask = torch.from_numpy(grid.reshape(1, -1))
    f = cfg.search_feat
    k = np.arange(1, f + 1)
    hann = (0.5 * (1 - np.cos(2 * np.pi * k / (f + 1)))).astype(np.float32)
    window = np.outer(hann, hann)
    state = list(init_box)
    out_boxes = [list(init_box)]
    for img in frames[1:]:
        H, W = img.shape[:2]
        x, factor = _plain_crop(img, state, cfg.search_factor, cfg.search_size)
        with torch.no_grad():
            out = model(z, norm(x), mask)
        score = out["score_map"][0, 0].numpy() * window
        idx = int(np.argmax(score))
        iy, ix = divmod(idx, f)
        off = out["offset_map"][0, :, iy, ix].numpy()
        size = out["size_map"][0, :, iy, ix].numpy()
        crop = cfg.search_size / factor
        cx, cy = (ix + off[0]) / f * crop, (iy + off[1]) / f * crop
        w, h = size[0] * crop, size[1] * crop
        pcx, pcy = state[0] + state[2] / 2, state[1] + state[3] / 2
        bx = cx + pcx - crop / 2 - w / 2
        by = cy + pcy - crop / 2 - h / 2
        x1, y1, x2, y2 = bx, by, bx + w, by + h
        x1, x2 = min(max(0, x1), W - 10), min(max(10, x2), W)
        y1, y2 = min(max(0, y1), H - 10), min(max(10, y2), H)
        state = [x1, y1, max(10, x2 - x1), max(10, y2 - y1)]
        out_boxes.append(state)
    return np.array(out_boxes)


@pytest.mark.parametrize("arch", ["tiny_64_ce", "tiny_256"])
def test_tracker_matches_plain_recomputation(arch, make_model):
    model = make_model(arch)
    frames = _frames(h=200, w=260) if arch == "tiny_256" else _frames()
    init = [40.0, 30.0, 24.0, 20.0]
    tracker = OSTrackTracker(model)
    boxes = [tracker.initialize(frames[0], init)] + [tracker.track(f) for f in frames[1:]]
    expected = _plain_track(model, frames, init)
    np.testing.assert_allclose(np.array(boxes), expected, atol=1e-3)
    assert len({tuple(np.round(b, 3)) for b in boxes}) > 2  # the boxes really move
    assert tracker.timing.frames == len(frames) - 1


def test_tracker_keeps_constant_tensors():
    model = build_model("tiny_64_ce").eval()
    tracker = OSTrackTracker(model)
    frames = _frames()
    tracker.initialize(frames[0], [40, 30, 24, 20])
    window, template = tracker.window, tracker.template
    tracker.track(frames[1])
    tracker.track(frames[2])
    assert tracker.window is window and tracker.template is template
    assert tracker.template_mask is not None and tracker.template_mask.tolist() == [1 * 4 + 1]  # centre of the 4 x 4 template grid



class _RuntimeLike(torch.nn.Module):
    """The tiny model behind the attribute a graph-runtime network carries: torch runs its share on one thread."""

    host_threads = 1

    def __init__(self, model):
        super().__init__()
        self.model, self.config, self.ce_enabled, self.seen = model, model.config, model.ce_enabled, []

    def forward(self, *args):
        self.seen.append(torch.get_num_threads())
        return self.model(*args)


def test_a_runtime_network_steps_with_torch_on_one_thread_and_the_count_comes_back():
    model = build_model("tiny_64_ce").eval()
    frames, box = _frames(), [40, 30, 24, 20]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        plain, runtime = OSTrackTracker(model), OSTrackTracker(_RuntimeLike(model))
        plain.initialize(frames[0], box)
        runtime.initialize(frames[0], box)
        for frame in frames[1:]:
            assert runtime.track(frame) == plain.track(frame)
            assert torch.get_num_threads() == 2
        assert runtime.network.seen == [1] * (len(frames) - 1)
    finally:
        torch.set_num_threads(before)

def test_tracker_without_ce_has_no_mask():
    model = build_model("tiny_64_ce").eval()
    model.ce_enabled = False
    assert OSTrackTracker(model).template_mask is None


@pytest.mark.parametrize("box", [[-50, -50, 10, 10], [10, 10, 0, 5], [500, 10, 5, 5], [float("nan"), 1, 2, 3]])
def test_bad_initial_box_is_an_error(box):
    tracker = OSTrackTracker(build_model("tiny_64_ce").eval())
    with pytest.raises(TrackingError):
        tracker.initialize(_frames(1)[0], box)


def test_track_before_initialize_is_an_error():
    tracker = OSTrackTracker(build_model("tiny_64_ce").eval())
    with pytest.raises(TrackingError):
        tracker.track(_frames(1)[0])


def test_from_checkpoint_and_confidence(make_model, tmp_path):
    import torch

    from compresstracker.checkpoints import save_native

    model = make_model("tiny_64_ce", seed=3)
    path = save_native(model, model.config, tmp_path / "t.safetensors")
    tracker = OSTrackTracker.from_checkpoint(str(path))
    frames = _frames()
    first = tracker.initialize(frames[0], [40, 30, 24, 20])
    assert first == [40.0, 30.0, 24.0, 20.0] and first.confidence == 1.0
    box = tracker.track(frames[1])
    assert len(box) == 4 and 0.0 < box.confidence < 1.0
    # the peak of the raw score map, computed the plain way
    crop_tracker = OSTrackTracker(model)
    crop_tracker.initialize(frames[0], [40, 30, 24, 20])
    from compresstracker.tracking.crop import sample_target

    patch, _ = sample_target(frames[1], [40.0, 30.0, 24.0, 20.0], model.config.search_factor, model.config.search_size)
    with torch.no_grad():
        out = model(crop_tracker.template, crop_tracker.normalize(patch), crop_tracker.template_mask)
    assert box.confidence == pytest.approx(float(out["score_map"].max()), abs=1e-6)


def test_read_ahead_keeps_order_raises_source_errors_and_stops_early():
    import threading

    from compresstracker.tracking.video import read_ahead

    assert list(read_ahead(iter(range(50)))) == list(range(50))

    def failing():
        yield 1
        raise TrackingError("video x has no readable frames")

    got = []
    with pytest.raises(TrackingError, match="no readable frames"):
        for item in read_ahead(failing()):
            got.append(item)
    assert got == [1]

    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    stream = read_ahead(endless(), depth=2)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()  # the reader thread ends instead of reading on
    assert not any(t.name == "ctrack-read-ahead" for t in threading.enumerate())
    assert len(produced) <= 3 + 2 + 1


def test_normaliser_is_the_reference_formula_bit_for_bit_and_contiguous():
    from compresstracker.tracking.base import MEAN, STD, Normalizer

    rng = np.random.default_rng(3)
    normalize = Normalizer(torch.device("cpu"))
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    for size in (32, 64, 256):
        patch = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        expected = (torch.from_numpy(patch).float().permute(2, 0, 1).unsqueeze(0) / 255.0 - mean) / std
        got = normalize(patch)
        assert torch.equal(got, expected) and got.is_contiguous() and got.shape == (1, 3, size, size)
