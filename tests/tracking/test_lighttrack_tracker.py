"""LightTrack's tracking loop: crop rounding, padding, the 288 switch, one step by hand, presets, CLI."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from compresstracker.errors import ConfigError
from compresstracker.models import build_model, get_config
from compresstracker.tracking import make_tracker, round_half_away, siamese_crop
from compresstracker.families.lighttrack.tracker import LightTrackTracker, lighttrack_params
from compresstracker.families.ostrack.tracker import OSTrackTracker
from tests.conftest import randomize_model


# --- crops ---------------------------------------------------------------------------------------

def test_round_half_away_differs_from_pythons_round_only_on_halves():
    assert [round_half_away(v) for v in (122.5, 123.5, 0.5, 122.49999, 122.50001, 7.0)] == [123, 124, 1, 122, 123, 7]
    assert [round(v) for v in (122.5, 123.5, 0.5)] == [122, 124, 0]  # half to even, what the template crop uses


def _ramp(h=40, w=50):
    """An image whose pixel (y, x) holds (x, y, 7): crops can be read back as coordinates."""
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.arange(w)[None, :]
    img[..., 1] = np.arange(h)[:, None]
    img[..., 2] = 7
    return img


def test_crop_corner_rounds_half_to_even():
    img = _ramp()
    # size 20: the corner is round(c - 10.5); c = 13.0 gives 2.5 -> 2 (half to even, not 3).
    patch = siamese_crop(img, (13.0, 15.0), 20, 20, np.zeros(3))
    assert patch.shape == (20, 20, 3)
    assert (patch[0, 0, 0], patch[0, 0, 1]) == (2, 4)  # x from round(2.5) = 2, y from round(4.5) = 4
    assert (patch[-1, -1, 0], patch[-1, -1, 1]) == (21, 23)
    patch = siamese_crop(img, (14.0, 15.0), 20, 20, np.zeros(3))  # 3.5 -> 4
    assert patch[0, 0, 0] == 4


def test_padding_is_the_mean_colour_truncated_to_uint8():
    img = _ramp()
    fill = np.array([100.99, 3.5, 250.2])
    # Corner (round(2 - 5.5), round(3 - 5.5)) = (round(-3.5), round(-2.5)) = (-4, -2), half to even.
    patch = siamese_crop(img, (2.0, 3.0), 10, 10, fill)
    assert patch[0, 0].tolist() == [100, 3, 250]  # truncated, not rounded
    assert patch[2, 4].tolist() == [0, 0, 7]  # image pixel (0, 0)
    assert patch[9, 9].tolist() == [5, 7, 7]
    assert patch[1, 4].tolist() == [100, 3, 250] and patch[2, 3].tolist() == [100, 3, 250]
    assert (patch[:2] == [100, 3, 250]).all() and (patch[:, :4] == [100, 3, 250]).all()


def test_crop_is_resized_bilinear_on_uint8_and_not_resized_at_its_own_size():
    img = _ramp()
    same = siamese_crop(img, (25.0, 20.0), 21, 21.0, np.zeros(3))  # corner (25 - 11, 20 - 11)
    assert same.dtype == np.uint8 and np.array_equal(same, img[9:30, 14:35])
    resized = siamese_crop(img, (25.0, 20.0), 42, 21.0, np.zeros(3))
    assert np.array_equal(resized, cv2.resize(img[9:30, 14:35], (42, 42), interpolation=cv2.INTER_LINEAR))


# --- a network with hand-made outputs ---------------------------------------------------------------

class StubNet:
    """Returns fixed maps; records the crop sizes it was given."""

    def __init__(self, cls: np.ndarray, reg: np.ndarray, config_name: str = "lighttrack_tiny"):
        self.config = get_config(config_name)
        self.cls, self.reg = torch.tensor(cls, dtype=torch.float32), torch.tensor(reg, dtype=torch.float32)
        self.shapes: list[tuple] = []

    def to(self, device):
        return self

    def eval(self):
        return self

    def template(self, z):
        self.shapes.append(tuple(z.shape))
        return torch.zeros(1)

    def track(self, x, zf):
        self.shapes.append(tuple(x.shape))
        return {"cls": self.cls[None, None], "reg": self.reg[None]}


def _maps(peaks: dict, boxes: dict, size: int = 16):
    cls = np.full((size, size), -5.0)
    reg = np.full((4, size, size), 10.0)
    for (r, c), logit in peaks.items():
        cls[r, c] = logit
    for (r, c), ltrb in boxes.items():
        reg[:, r, c] = ltrb
    return cls, reg


IMAGE = np.full((200, 200, 3), 90, np.uint8)
BOX = [80.0, 90.0, 40.0, 20.0]  # centre (100, 100)


def test_one_step_by_hand():
    net = StubNet(*_maps({(9, 10): 2.0}, {(9, 10): (40, 25, 40, 25)}))
    tracker = LightTrackTracker(net, params={"penalty_k": 0, "window_influence": 0, "lr": 0.5})
    assert tracker.initialize(IMAGE, BOX) == BOX
    box = tracker.track(IMAGE)
    # By hand: context 70 x 50, s_z = sqrt(3500) = 59.1608, scale_z = 128 / s_z = 2.163595; the
    # search side 2 s_z = 118.32 -> 118 pixels, resized to 256 (template: 128).
    assert net.shapes == [(1, 3, 128, 128), (1, 3, 256, 256)]
    # Cell (9, 10) sits at ((10 - 8) * 16 + 128, (9 - 8) * 16 + 128) = (160, 144) in the crop: the
    # centre moves by (32, 16) / scale_z = (14.7902, 7.3951); the box is 80 x 50 crop pixels =
    # 36.9755 x 23.1097 image pixels; lr = sigmoid(2) * 0.5 = 0.440399; the size is smoothed twice:
    # w = 40 (1 - lr) + lr (36.9755 lr + 40 (1 - lr)) = 39.4134, h = 20.6031.
    np.testing.assert_allclose(tracker.pos, [114.790199, 107.395100], atol=1e-5)
    np.testing.assert_allclose(box, [95.083502, 97.093537, 39.413395, 20.603126], atol=1e-5)


def test_penalty_and_window_change_the_pick():
    # Cell (8, 8): higher score but a 200 x 200 box (scale 3.125x, ratio 2x off the 2:1 target);
    # cell (8, 9): slightly lower score, the target's own size in crop pixels.
    s = 128 / math.sqrt(3500)
    boxes = {(8, 8): (100, 100, 100, 100), (8, 9): (20 * s, 10 * s, 20 * s, 10 * s)}
    maps = _maps({(8, 8): 2.0, (8, 9): 1.9}, boxes)
    plain = LightTrackTracker(StubNet(*maps), params={"penalty_k": 0, "window_influence": 0})
    plain.initialize(IMAGE, BOX)
    plain.track(IMAGE)
    assert plain.pos[0] == pytest.approx(100.0)  # cell (8, 8) is the crop centre: no move
    # penalty = exp(-(2 * 3.125 - 1) * 1) = 0.0052 for (8, 8), 1 for (8, 9): (8, 9) wins.
    penalised = LightTrackTracker(StubNet(*maps), params={"penalty_k": 1, "window_influence": 0})
    penalised.initialize(IMAGE, BOX)
    penalised.track(IMAGE)
    assert penalised.pos[0] == pytest.approx(100 + 16 / s)
    # A window of influence 1 ignores the scores: the centre cells of the cosine window win.
    windowed = LightTrackTracker(StubNet(*_maps({(0, 0): 9.0}, {})), params={"window_influence": 1})
    windowed.initialize(IMAGE, BOX)
    windowed.track(IMAGE)
    assert abs(windowed.pos[0] - 100) < 16 / s + 1e-6 and abs(windowed.pos[1] - 100) < 16 / s + 1e-6


@pytest.mark.parametrize("ltrb, expected", [
    (1000, [0.0, 0.0, 200.0, 200.0]),  # huge: size clamped to the image, corner to 0
    (1, None),  # tiny: size clamped to 10 x 10
])
def test_clamps(ltrb, expected):
    net = StubNet(*_maps({(0, 0): 2.0}, {(0, 0): (ltrb,) * 4}))
    tracker = LightTrackTracker(net, params={"penalty_k": 0, "window_influence": 0, "lr": 1})
    tracker.initialize(IMAGE, BOX)
    box = tracker.track(IMAGE)
    # Cell (0, 0) is at (0, 0) in the crop: the centre moves by -128 / scale_z on both axes.
    np.testing.assert_allclose(tracker.pos, [100 - 128 / (128 / math.sqrt(3500))] * 2)
    if expected is not None:
        assert box == expected
    else:
        assert box[2:] == [10.0, 10.0]


def test_search_is_288_for_targets_under_0_4_percent_of_the_image():
    img = np.zeros((100, 100, 3), np.uint8)  # 10000 px: 0.4% is 40 px
    big = StubNet(*_maps({}, {}, size=18))
    tracker = LightTrackTracker(big)
    tracker.initialize(img, [40, 40, 7.9, 5])  # 39.5 px
    assert tracker.instance_size == 288 and tracker.window.shape == (18, 18)
    assert tracker.grid_x[0, 0] == (0 - 9) * 16 + 144 and tracker.grid_x[0, -1] == (17 - 9) * 16 + 144
    tracker.track(img)
    assert big.shapes[-1] == (1, 3, 288, 288)
    small = StubNet(*_maps({}, {}))
    tracker = LightTrackTracker(small)
    tracker.initialize(img, [40, 40, 8, 5])  # exactly 0.4%: not smaller
    assert tracker.instance_size == 256 and tracker.window.shape == (16, 16)
    np.testing.assert_allclose(tracker.window, np.outer(np.hanning(16), np.hanning(16)))


def test_template_side_rounds_half_to_even():
    net = StubNet(*_maps({}, {}))
    net.config = get_config("lighttrack_tiny", template_size=20)
    # w = h = 10.25: context 20.5 x 20.5, sqrt = 20.5 -> 20 (half to even); crop not resized if
    # the exemplar size is 20 (no resize at its own size), so the network sees 20 x 20.
    tracker = LightTrackTracker(net, params={"exemplar_size": 20})
    tracker.initialize(_ramp(60, 60), [20, 20, 10.25, 10.25])
    assert net.shapes[0] == (1, 3, 20, 20)


# --- presets, registry ------------------------------------------------------------------------------

def test_presets_and_parameters():
    vot = lighttrack_params("vot2019")
    assert (vot.penalty_k, vot.window_influence, vot.lr, vot.exemplar_size) == (0.007, 0.225, 0.616, 127)
    default = lighttrack_params()
    assert (default.penalty_k, default.window_influence, default.lr, default.exemplar_size) == (0.062, 0.38, 0.765, 128)
    assert (default.small_sz, default.big_sz) == (256, 288)
    assert lighttrack_params("vot2019", {"lr": "0.5", "exemplar_size": "128"}).lr == 0.5
    with pytest.raises(ConfigError, match="unknown LightTrack preset 'otb'"):
        lighttrack_params("otb")
    with pytest.raises(ConfigError, match="unknown LightTrack tracker parameter 'alpha'"):
        lighttrack_params(None, {"alpha": "1"})
    with pytest.raises(ConfigError, match="exemplar_size='12.5' is not an integer"):
        lighttrack_params(None, {"exemplar_size": "12.5"})
    with pytest.raises(ConfigError, match="penalty_k must be finite"):  # NaN tracked junk boxes with exit 0
        lighttrack_params(None, {"penalty_k": "nan"})
    with pytest.raises(ConfigError, match=r"lr must lie in \[0, 1\]"):
        lighttrack_params(None, {"lr": "1.5"})


def test_the_family_picks_the_tracker():
    assert isinstance(make_tracker(build_model("tiny_64_ce")), OSTrackTracker)
    light = make_tracker(build_model("lighttrack_tiny"), preset="vot2019", params={"lr": "0.3"})
    assert isinstance(light, LightTrackTracker) and light.settings["preset"] == "vot2019" and light.params.lr == 0.3
    with pytest.raises(ConfigError, match="the ostrack tracker has no presets"):
        make_tracker(build_model("tiny_64_ce"), preset="vot2019")


def test_real_network_tracks_with_template_127_and_288_search():
    net = randomize_model(build_model("lighttrack_tiny"), seed=1)
    tracker = LightTrackTracker(net, preset="vot2019")
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    tracker.initialize(img, [100, 120, 12, 9])  # 108 px of 120000: the 288 search
    assert tracker.zf.shape == (1, 24, 8, 8) and tracker.instance_size == 288  # 127 px -> 8 x 8
    box = tracker.track(img)
    assert len(box) == 4 and all(math.isfinite(v) for v in box) and box[2] >= 10 and box[3] >= 10


# --- CLI ------------------------------------------------------------------------------------------

@pytest.fixture
def official_file(tmp_path):
    net = randomize_model(build_model("lighttrack_tiny"), seed=3)
    path = tmp_path / "LightTrackT.pth"
    torch.save({"epoch": 1, "state_dict": net.state_dict()}, path)
    return path


def test_track_cli_runs_lighttrack_files_with_presets(run_cli, official_file, frames, tmp_path):
    out = tmp_path / "boxes.txt"
    result = run_cli("track", "-c", official_file, "--frames", frames, "--init-box", "30,20,20,16", "-o", out,
                     "--preset", "vot2019", "--param", "lr=0.5", "--json")
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    assert summary["frames"] == 5 and summary["tracker"]["preset"] == "vot2019"
    assert summary["tracker"]["penalty_k"] == 0.007 and summary["tracker"]["lr"] == 0.5
    lines = out.read_text().splitlines()
    assert len(lines) == 5 and lines[0] == "30.0000\t20.0000\t20.0000\t16.0000"
    # The same run through the library gives the same boxes.
    from compresstracker.checkpoints import load_model
    from compresstracker.tracking import list_frames, read_rgb, run_sequence

    tracker = make_tracker(load_model(official_file), preset="vot2019", params={"lr": "0.5"})
    boxes, _ = run_sequence(tracker, (read_rgb(p) for p in list_frames(frames)), [30, 20, 20, 16])
    assert lines[-1] == "\t".join(f"{v:.4f}" for v in boxes[-1])


@pytest.mark.parametrize("args, words", [
    (["--preset", "otb"], "unknown LightTrack preset 'otb'"),
    (["--param", "lr"], "is not KEY=VALUE"),
    (["--param", "gamma=1"], "unknown LightTrack tracker parameter 'gamma'"),
])
def test_track_cli_errors_are_one_line(run_cli, official_file, frames, tmp_path, args, words):
    result = run_cli("track", "-c", official_file, "--frames", frames, "--init-box", "30,20,20,16",
                     "-o", tmp_path / "b.txt", *args)
    assert result.exit_code == 2 and words in result.stderr and "Traceback" not in result.output


def test_an_exemplar_the_network_was_not_built_for_is_refused():
    net = build_model("lighttrack_tiny", template_size=64)  # 4 x 4 template features
    # with no parameters the crops follow the sizes the network was built for (here 64, 256 and 288)
    params = LightTrackTracker(net).params
    assert (params.exemplar_size, params.small_sz, params.big_sz) == (64, 256, 288)
    small = LightTrackTracker(build_model("lighttrack_tiny", template_size=64, search_size=128)).params
    assert (small.exemplar_size, small.small_sz, small.big_sz) == (64, 128, 144)
    with pytest.raises(ConfigError, match="exemplar_size 128 does not fit lighttrack_tiny.*exemplar_size=64"):
        LightTrackTracker(net, params={"exemplar_size": 128})
    assert LightTrackTracker(net, params={"exemplar_size": 64}).params.exemplar_size == 64
