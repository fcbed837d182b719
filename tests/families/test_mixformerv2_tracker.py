"""MixFormerV2's online tracker: crops, presets and parameters, the template update, a whole sequence."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from compresstracker.errors import ConfigError, TrackingError
from compresstracker.families.mixformerv2 import (
    MIXFORMERV2_PRESETS,
    MixFormerV2Net,
    MixFormerV2Tracker,
    build_tracker,
    mixformerv2_params,
    named_config,
)
from compresstracker.tracking import TrackedBox, sample_target
from compresstracker.tracking.base import MEAN, STD
from tests.conftest import randomize_model


def _ramp(h: int = 60, w: int = 100) -> np.ndarray:
    """Pixel (y, x) holds (x + 1, y + 1, 7): crops read back as coordinates, padding as 0."""
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.arange(1, w + 1)[None, :]
    img[..., 1] = np.arange(1, h + 1)[:, None]
    img[..., 2] = 7
    return img


def test_crop_corner_rounds_half_to_even():
    img = _ramp()
    patch, factor = sample_target(img, (66.5, 20.0, 10, 10), 1.0, 10)  # x1 = round(66.5) = 66
    assert factor == 1.0 and patch[0, 0, 0] == 67 and patch[0, 0, 1] == 21
    patch, _ = sample_target(img, (-36.5, 20.0, 40, 40), 1.0, 40)  # x1 = round(-36.5) = -36: 36 padded columns
    assert (patch[:, :36] == 0).all() and patch[0, 36, 0] == 1


def test_crop_drops_the_last_column_at_the_right_border():
    img = _ramp()  # 100 wide
    patch, _ = sample_target(img, (95.0, 20.0, 10, 10), 1.0, 10)  # x1 = 95, x2 = 105: pad 105 - 100 + 1 = 6
    assert patch[0, :4, 0].tolist() == [96, 97, 98, 99]  # columns 95..98; column 99 (value 100) is dropped
    assert (patch[:, 4:] == 0).all()


def test_presets_differ_between_the_releases():
    b, s = named_config("mixformerv2_b"), named_config("mixformerv2_s")
    values = {name: (mixformerv2_params(b, name), mixformerv2_params(s, name)) for name in MIXFORMERV2_PRESETS}
    got = {name: ((pb.search_factor, pb.update_interval), (ps.search_factor, ps.update_interval)) for name, (pb, ps) in values.items()}
    assert got == {
        "lasot": ((5.0, 200), (4.4, 200)),
        "got10k": ((5.0, 10), (4.55, 15)),
        "trackingnet": ((5.0, 25), (4.55, 25)),
        "vot": ((5.0, 10), (4.4, 10)),
    }
    assert mixformerv2_params(b) == values["lasot"][0]  # the default preset
    student = b.replace(name="mixformerv2_custom", depth=4, search_factor=4.5)
    assert {(p.search_factor, p.update_interval) for p in (mixformerv2_params(student, n) for n in MIXFORMERV2_PRESETS)} == {(4.5, 200)}
    assert (values["lasot"][0].score_threshold, values["lasot"][0].max_score_decay) == (0.5, 1.0)


def test_parameters_override_and_bad_ones_are_refused():
    s = named_config("mixformerv2_s")
    p = mixformerv2_params(s, "got10k", {"search_factor": "4.2", "update_interval": "7"})
    assert (p.search_factor, p.update_interval) == (4.2, 7)
    bad = [
        ({"search_factor": "nan"}, "search_factor must be a positive finite number"),
        ({"search_factor": "-1"}, "search_factor must be a positive finite number"),
        ({"search_factor": "wide"}, "search_factor='wide' is not a number"),
        ({"update_interval": "0"}, "update_interval must be a positive number of frames"),
        ({"update_interval": "2.5"}, "update_interval='2.5' is not an integer"),
        ({"update_interval": "inf"}, "is not an integer"),
        ({"window": "1"}, "unknown MixFormerV2 tracker parameter 'window'"),
    ]
    for overrides, message in bad:
        with pytest.raises(ConfigError, match=message) as caught:
            mixformerv2_params(s, "got10k", overrides)
        assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match="unknown MixFormerV2 preset 'otb'"):
        mixformerv2_params(s, "otb")


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


class _StubNetwork(torch.nn.Module):
    """Predicts a centred box and the scores it is given; records which frame each online template came from.

    Frame i is filled with grey level 10 i, so a template crop tells its frame.
    """

    def __init__(self, scores: list[float]):
        super().__init__()
        self.config = named_config("mixformerv2_tiny")
        self.scores = iter(scores)
        self.online_frames: list[int] = []
        self.template_frames: list[int] = []

    @staticmethod
    def _frame(patch: torch.Tensor) -> int:
        return round((float(patch[0, 0, 0, 0]) * STD[0] + MEAN[0]) * 255 / 10)

    def forward(self, template, online_template, search):
        self.template_frames.append(self._frame(template))
        self.online_frames.append(self._frame(online_template))
        return {"pred_boxes": torch.tensor([[[0.5, 0.5, 0.2, 0.2]]]), "score": torch.tensor([[_logit(next(self.scores))]])}


def _grey(i: int) -> np.ndarray:
    return np.full((200, 200, 3), 10 * i, np.uint8)


def test_online_template_is_the_best_candidate_of_each_interval():
    scores = [0.7, 0.9, 0.8, 0.4, 0.6, 0.3, 0.99, 0.2, 0.2, 0.1, 0.1, 0.1, 0.5]
    net = _StubNetwork(scores)
    tracker = MixFormerV2Tracker(net, "cpu", "lasot", {"update_interval": 3})
    tracker.initialize(_grey(0), [90, 90, 20, 20])
    confidences = [tracker.track(_grey(i)).confidence for i in range(1, len(scores) + 1)]
    # frames 1-3: the first template; at frame 3 the best candidate (frame 2, 0.9) comes in; frames 4-6 give
    # frame 5 (0.4 is under 0.5); frames 7-9 give frame 7; frames 10-12 give none: the first template again.
    assert net.online_frames == [0, 0, 0, 2, 2, 2, 5, 5, 5, 7, 7, 7, 0]
    assert set(net.template_frames) == {0}
    assert confidences == pytest.approx(scores)
    assert tracker.settings == {"preset": "lasot", "search_factor": 4.0, "update_interval": 3,
                                "score_threshold": 0.5, "max_score_decay": 1.0}


def test_box_is_mapped_back_and_clipped():
    net = _StubNetwork([0.9] * 3)
    tracker = build_tracker(net, torch.device("cpu"), None, {})
    tracker.initialize(_grey(1), [90, 90, 20, 20])
    # search crop: ceil(20 * 4) = 80 px around the centre (100, 100) at 64 px: the centred 0.2 box is 16 px
    assert tracker.track(_grey(1)) == pytest.approx([92, 92, 16, 16])
    # near the right border: the 24 px box centred on (205, 17) starts at 193, is clipped to start 10 px inside
    tracker.state = [190.0, 2.0, 30.0, 30.0]
    box = tracker.track(_grey(1))
    assert isinstance(box, TrackedBox) and box == pytest.approx([190, 5, 10, 24], abs=1e-4)


def _sequence(frames: int = 8):
    """A textured square drifting right over noise, with its boxes."""
    rng = np.random.default_rng(0)
    background = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
    texture = rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)
    images, boxes = [], []
    for i in range(frames):
        img = background.copy()
        x, y = 30 + 3 * i, 40
        img[y:y + 20, x:x + 20] = texture
        images.append(img)
        boxes.append([x, y, 20, 20])
    return images, boxes


def test_tracker_runs_a_sequence_with_a_real_network():
    net = randomize_model(MixFormerV2Net(named_config("mixformerv2_tiny")), seed=5)
    tracker = MixFormerV2Tracker(net, "cpu", "got10k", {"update_interval": 2})
    images, boxes = _sequence()
    with pytest.raises(TrackingError, match="before initialize"):
        tracker.track(images[0])
    assert tracker.initialize(images[0], boxes[0]) == boxes[0]
    for image in images[1:]:
        box = tracker.track(image)
        x, y, w, h = box
        assert np.isfinite(box).all() and 0 <= box.confidence <= 1
        assert 0 <= x <= 128 - 10 and 0 <= y <= 96 - 10 and w >= 10 and h >= 10
    assert tracker.timing.frames == len(images) - 1
