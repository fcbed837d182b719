"""PairDataset: determinism, what it samples, what it rejects and what it returns."""
import numpy as np
import pytest
import torch

from compresstracker.data.labels import gaussian_heatmap
from compresstracker.data.pairs import PairDataset, PairSampling, TrainingSequence, sample_frame_pair
from compresstracker.errors import ConfigError, DatasetError
from compresstracker.tracking import base as tracker

from .conftest import TINY, ListSource


def assert_same_pair(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_item_is_a_pure_function_of_seed_epoch_index(video_source):
    first = PairDataset([(video_source, 1.0)], 50, TINY, seed=3)
    again = PairDataset([(video_source, 1.0)], 50, TINY, seed=3)
    for index in (0, 17, 49):
        assert_same_pair(first[index], again.sample(0, index))
        assert_same_pair(first[index], first[(0, index)])
    again.set_epoch(1)
    assert not torch.equal(first[5]["search"], again[5]["search"])  # another epoch, another pair
    other_seed = PairDataset([(video_source, 1.0)], 50, TINY, seed=4)
    assert not torch.equal(first[5]["search"], other_seed[5]["search"])
    with pytest.raises(IndexError):
        first[50]


def test_item_shapes_and_labels(video_source):
    pairs = PairDataset([(video_source, 1.0)], 20, TINY, seed=0)
    feat = TINY.search_size // TINY.patch_size
    for index in range(20):
        item = pairs[index]
        assert item["template"].shape == (3, 32, 32) and item["search"].shape == (3, 64, 64)
        assert item["template"].dtype == item["search"].dtype == torch.float32
        assert item["heatmap"].shape == (feat, feat) and item["valid"].item() is True
        t_box, s_box = item["template_box"], item["search_box"]
        # the template is not jittered: its target sits at the crop centre (flips keep that)
        torch.testing.assert_close(t_box[:2] + t_box[2:] / 2, torch.tensor([0.5, 0.5]))
        # the search target's centre stays inside the crop: |shift| <= 1.5 sqrt(w'h') < crop / 2
        centre = s_box[:2] + s_box[2:] / 2
        assert ((centre > 0) & (centre < 1)).all()
        np.testing.assert_array_equal(item["heatmap"].numpy(), gaussian_heatmap(s_box[None].numpy(), feat)[0])
        on_grid = bool((torch.round(centre * feat) < feat).all())  # a centre cell of F is off the grid
        assert (item["heatmap"].max().item() == 1.0) == on_grid


def test_plain_pairs_keep_colour_and_differ_from_augmented(video_source):
    plain = PairDataset([(video_source, 1.0)], 30, TINY, seed=1, augment=False)
    augmented = PairDataset([(video_source, 1.0)], 30, TINY, seed=1)
    # the target is drawn reddish: in every plain template its centre has red > blue
    for index in range(30):
        template = plain[index]["template"]
        assert template[0, 14:18, 14:18].mean() > template[2, 14:18, 14:18].mean()
    differs = [not torch.equal(plain[i]["search"], augmented[i]["search"]) for i in range(30)]
    assert any(differs)


MEAN = torch.tensor(tracker.MEAN).view(3, 1, 1)
STD = torch.tensor(tracker.STD).view(3, 1, 1)


def to_pixels(image: torch.Tensor) -> np.ndarray:
    """A normalised (3, H, W) tensor back to [0, 1] values."""
    return (image * STD + MEAN).numpy()


def test_augmentation_is_joint_flip_and_grayscale_with_per_image_brightness(video_source):
    # augmentation draws come after the crop draws: the same seed gives the same crops with and without
    sampling = PairSampling(grayscale_p=0.3)
    plain = PairDataset([(video_source, 1.0)], 160, TINY, seed=5, augment=False, sampling=sampling)
    augmented = PairDataset([(video_source, 1.0)], 160, TINY, seed=5, sampling=sampling)
    flips = greys = 0
    factors = []
    for index in range(160):
        p, a = plain[index], augmented[index]
        p_box, a_box = p["search_box"].numpy(), a["search_box"].numpy()
        flipped = not np.allclose(a_box, p_box)
        if flipped:
            np.testing.assert_allclose(a_box, [1 - p_box[0] - p_box[2], *p_box[1:]], atol=1e-6)
        after = {key: to_pixels(a[key]) for key in ("template", "search")}
        grey = [np.allclose(image[0], image[2], atol=1e-5) for image in after.values()]
        assert grey[0] == grey[1]  # grayscale is joint
        flips, greys = flips + flipped, greys + grey[0]
        if grey[0]:
            continue
        for key, out in after.items():
            before = to_pixels(p[key])
            before = before[..., ::-1] if flipped else before  # the flip is joint: the template follows
            usable = (before > 0.05) & (out < 0.95)
            factor = float(np.median(out[usable] / before[usable]))
            np.testing.assert_allclose(out, np.clip(before * factor, 0, 1), rtol=0, atol=1e-4)
            factors.append(factor)
    assert 50 < flips < 110 and 25 < greys < 75
    factors = np.array(factors).reshape(-1, 2)
    assert factors.min() >= 0.8 - 1e-4 and factors.max() <= 1.2 + 1e-4 and factors.std() > 0.05
    assert (np.abs(factors[:, 0] - factors[:, 1]) > 1e-3).mean() > 0.9  # one factor per image


class CountingSource(ListSource):
    """Counts which sequences the sampler asks for."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[int] = []

    def __getitem__(self, index):
        self.calls.append(index)
        return super().__getitem__(index)


def test_invisible_frames_and_thin_sequences_are_never_read(video_source):
    # invisible frames point at files that do not exist: reading one would raise
    good = video_source.sequences[0]
    visible = np.array([i % 3 != 1 for i in range(12)])
    frames = [path if keep else "/nonexistent/frame.jpg" for path, keep in zip(good.frames, visible)]
    holes = TrainingSequence(frames, good.boxes, visible)
    lonely = np.zeros(12, dtype=bool)
    lonely[4] = True  # one visible frame is not enough for a video
    thin = TrainingSequence(["/nonexistent/frame.jpg"] * 12, good.boxes, lonely)
    source = CountingSource([holes, thin])
    unused = ListSource([TrainingSequence(["/nonexistent/frame.jpg"] * 12, good.boxes, np.ones(12, bool))], "unused")
    pairs = PairDataset([(source, 1.0), (unused, 0.0)], 120, TINY, seed=2)
    source.calls.clear()  # counting visible frames looked at both
    assert all(pairs[i]["valid"].item() for i in range(120))
    assert set(source.calls) == {0}


def test_sources_are_drawn_by_ratio(video_source):
    first, second = CountingSource(video_source.sequences, "a"), CountingSource(video_source.sequences, "b")
    pairs = PairDataset([(first, 3.0), (second, 1.0)], 400, TINY, seed=0)
    first.calls.clear(), second.calls.clear()
    for index in range(400):
        pairs[index]
    share = len(first.calls) / (len(first.calls) + len(second.calls))
    assert 0.68 < share < 0.82
    assert set(first.calls) == {0, 1, 2}  # every sequence gets drawn


def test_frame_pairs_respect_visibility_and_the_gap():
    rng = np.random.default_rng(0)
    visible = rng.random(1000) < 0.7
    gaps = []
    for _ in range(2000):
        template, search = sample_frame_pair(visible, rng, max_gap=200, gap_step=5)
        assert visible[template] and visible[search]
        gaps.append(search - template)
    assert min(gaps) >= 1 and max(gaps) <= 200
    assert max(gaps) > 190  # the whole window is used


def test_gap_grows_until_a_search_frame_is_in_reach():
    visible = np.zeros(400, dtype=bool)
    visible[[10, 330]] = True  # 320 frames apart: the gap has to grow from 200 in steps of 5
    rng = np.random.default_rng(1)
    assert {sample_frame_pair(visible, rng, 200, 5) for _ in range(20)} == {(10, 330)}
    visible[399] = True  # the last frame can be a search frame but never a template
    pairs = {sample_frame_pair(visible, rng, 200, 5) for _ in range(200)}
    assert all(t in (10, 330) for t, _ in pairs) and (330, 399) in pairs


def test_all_padding_pairs_are_rejected_and_drawn_again(video_source):
    # a sequence whose target lies far outside its frames: every crop would be all padding
    far = video_source.sequences[1].boxes + np.array([1000.0, 0.0, 0.0, 0.0])
    outside = TrainingSequence(video_source.sequences[1].frames, far, np.ones(12, dtype=bool))
    mixed = CountingSource([outside, video_source.sequences[0]])
    pairs = PairDataset([(mixed, 1.0)], 60, TINY, seed=0)
    mixed.calls.clear()
    padding = ((torch.zeros(3, 1, 1) - MEAN) / STD)  # what an all-zero pixel becomes
    for index in range(60):
        item = pairs[index]
        assert item["valid"].item()
        assert not torch.allclose(item["search"], padding.expand_as(item["search"]))
    assert 0 in mixed.calls  # the bad sequence was drawn, and rejected
    hopeless = PairDataset([(ListSource([outside]), 1.0)], 4, TINY, seed=0, sampling=PairSampling(max_attempts=3))
    item = hopeless[0]
    assert item["valid"].item() is False and item["search"].abs().sum() == 0 and item["search"].shape == (3, 64, 64)


def test_bad_configuration_is_an_error(video_source, tmp_path):
    with pytest.raises(ConfigError):
        PairDataset([(video_source, -1.0)], 10, TINY, seed=0)
    with pytest.raises(ConfigError):
        PairDataset([], 10, TINY, seed=0)
    with pytest.raises(ConfigError):
        PairSampling(max_gap=0)
    one_visible = TrainingSequence(video_source.sequences[0].frames, video_source.sequences[0].boxes, np.eye(12, dtype=bool)[3])
    with pytest.raises(DatasetError, match="thin"):
        PairDataset([(ListSource([one_visible], "thin"), 1.0)], 10, TINY, seed=0)
