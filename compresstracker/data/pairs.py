"""Training pairs: sources of annotated frames, OSTrack's pair sampler and a deterministic loader.

Item ``i`` of epoch ``e`` is a pure function of (seed, e, i): it draws every random number from
its own generator seeded with SeedSequence([seed, e, i]). Worker count, worker order, DDP rank
and the resume point therefore cannot change what a pair looks like; the loader only decides
which indices a rank sees and in which order (a permutation seeded by (shuffle_seed, epoch)).
"""
from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence as SequenceType

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from compresstracker.data import Dataset, get_dataset, training_visibility
from compresstracker.data.augment import flip_horizontal, jitter_box, to_grayscale, to_normalized_tensor, training_patch
from compresstracker.data.labels import gaussian_heatmap
from compresstracker.errors import ConfigError, DatasetError
from compresstracker.tracking.video import read_rgb


@dataclass(frozen=True)
class TrainingSequence:
    """Frames of one training sequence with boxes (N, 4) x y w h and a visibility mask (N,)."""

    frames: list[str]
    boxes: np.ndarray
    visible: np.ndarray


class TrainingSource(ABC):
    """Annotated sequences to draw training pairs from; a still image is a 1-frame sequence."""

    name: str
    is_video: bool  # videos give template and search from two frames, still images from one

    @abstractmethod
    def __len__(self) -> int:
        """Number of sequences."""

    @abstractmethod
    def __getitem__(self, index: int) -> TrainingSequence:
        """Sequence ``index``."""

    def visible_counts(self) -> np.ndarray:
        """(len,) number of visible frames per sequence (decides which sequences are eligible)."""
        return np.array([int(self[i].visible.sum()) for i in range(len(self))], dtype=np.int64)


class DatasetSource(TrainingSource):
    """A benchmark split from ``get_dataset`` as a training source.

    Visibility is ``training_visibility``: LaSOT no full occlusion and not out of view, GOT-10k
    not absent and cover > 0, everywhere w > 0, h > 0 and no NaN.
    """

    is_video = True

    def __init__(self, dataset: Dataset):
        self.name = dataset.name
        self._sequences = [
            TrainingSequence(list(seq.frames), np.asarray(seq.ground_truth, dtype=np.float64), training_visibility(seq))
            for seq in dataset.sequences
        ]

    def __len__(self) -> int:
        return len(self._sequences)

    def __getitem__(self, index: int) -> TrainingSequence:
        return self._sequences[index]


def build_source(name: str, root: str | os.PathLike, split: Optional[str] = None) -> TrainingSource:
    """The training source called ``name``: ``coco`` (still images) or any registered dataset."""
    if name == "coco":
        from compresstracker.data.coco import CocoSource

        return CocoSource(root, split or "train2017")
    return DatasetSource(get_dataset(name, root, split))


@dataclass(frozen=True)
class PairCrops:
    """How a pair's patches are cut: output sizes, context, padding colour, and the label map.

    A crop's side is ``crop_window``'s ceil(sqrt((w + p)(h + p)) * factor), p = context_amount
    (w + h). OSTrack: context 0, factors 2 / 4, black padding, a Gaussian heatmap on the
    ``heatmap_size`` grid (``from_tracker``). Siamese trackers (LightTrack): context 0.5, the
    template factor 1 and the search factor search_size / template_size (so the search crop is
    the template's context square scaled as the tracker scales it), mean-colour padding, and no
    heatmap (their labels are made from ``search_box`` on the network's own score grid).
    """

    template_size: int
    search_size: int
    template_factor: float
    search_factor: float
    context_amount: float = 0.0
    pad_mean: bool = False
    heatmap_size: int = 0  # side of the Gaussian centre label; 0: the items carry no heatmap

    @classmethod
    def from_tracker(cls, config: Any) -> "PairCrops":
        """The crops of a one-stream tracker's config (template/search sizes and factors, ``search_feat``
        for the centre label): OSTrack's."""
        return cls(config.template_size, config.search_size, config.template_factor, config.search_factor,
                   heatmap_size=config.search_feat)


@dataclass(frozen=True)
class PairSampling:
    """The knobs of pair sampling and augmentation; defaults are OSTrack's (search crop only jitters)."""

    max_gap: int = 200  # search frame at most this many frames after the template
    gap_step: int = 5  # growth of the gap when no visible search frame is in reach
    min_visible: int = 2  # visible frames a video needs to be drawn (OSTrack: more than 4, and 20 frames)
    scale_jitter: float = 0.25
    center_jitter: float = 3.0
    grayscale_p: float = 0.05
    brightness_jitter: float = 0.2  # factor U(1 - b, 1 + b), one per image
    flip_p: float = 0.5
    max_attempts: int = 100  # rejected pairs (all-padding crops) before giving up with valid=False

    def __post_init__(self) -> None:
        problems = []
        if self.max_gap < 1 or self.gap_step < 1:
            problems.append("max_gap and gap_step must be at least 1")
        if self.min_visible < 2:
            problems.append("min_visible must be at least 2 (a template and a later search frame)")
        if self.scale_jitter < 0 or self.center_jitter < 0 or not 0 <= self.brightness_jitter <= 1:
            problems.append("jitter factors must be >= 0 and brightness_jitter in [0, 1]")
        if not (0 <= self.grayscale_p <= 1 and 0 <= self.flip_p <= 1):
            problems.append("grayscale_p and flip_p are probabilities in [0, 1]")
        if self.max_attempts < 1:
            problems.append("max_attempts must be at least 1")
        if problems:
            raise ConfigError("invalid pair sampling: " + "; ".join(problems))


def sample_frame_pair(visible: np.ndarray, rng: np.random.Generator, max_gap: int, gap_step: int) -> tuple[int, int]:
    """(template, search) frame indices as OSTrack's causal sampler.

    Template: a visible frame that is not the last frame. Search: a visible frame in
    (template, template + gap]. When there is none, the gap grows by ``gap_step`` and both are
    drawn again. Needs at least two visible frames. (The reference's upper bound is exclusive,
    template + gap - 1; here the search frame may lie exactly ``max_gap`` frames later.)
    """
    shown = np.flatnonzero(visible)
    if shown.size < 2:
        raise DatasetError("a video source needs at least two visible frames to give a pair")
    templates = shown[shown < len(visible) - 1]
    gap = max_gap
    while True:
        template = int(templates[rng.integers(templates.size)])
        lo = np.searchsorted(shown, template, side="right")
        hi = np.searchsorted(shown, template + gap, side="right")
        if hi > lo:
            return template, int(shown[rng.integers(lo, hi)])
        gap += gap_step


class PairDataset(torch.utils.data.Dataset):
    """``samples_per_epoch`` template/search pairs per epoch, drawn from sources by ratio.

    Each item is a dict of tensors: ``template`` (3, Ht, Ht) and ``search`` (3, Hs, Hs) float32
    normalised with the tracker's mean/std, ``template_box`` / ``search_box`` (4,) x y w h
    normalised to the crop, ``heatmap`` (F, F) the Gaussian centre label of ``search_box``
    (F = ``crops.heatmap_size``, search_size // patch_size for OSTrack; left out when 0) and
    ``valid`` (a bool tensor, False only when every attempt produced an all-padding crop; the
    images and labels are then zeros). ``crops`` is a ``PairCrops`` or an OSTrack-family config.

    Sampling follows OSTrack: source by ratio, a sequence with enough visible frames, frames from
    ``sample_frame_pair`` (still images: the same image twice), the template cropped around its
    box (factor ``template_factor``, no jitter), the search around the jittered box (factor
    ``search_factor``); a pair with an all-padding crop is drawn again from scratch. With
    ``augment`` (training; rates from ``sampling``, OSTrack's by default) a pair is turned to
    grayscale jointly with p 0.05, each image gets its own brightness factor U(0.8, 1.2), and
    both crops are flipped left-right JOINTLY with p 0.5.
    (OSTrack flips the full frames jointly and then each crop again independently; we flip once,
    jointly, so template and search always show the target with the same handedness.) Without
    ``augment`` (validation) the jitter stays, since it defines the task, and the rest is off.

    Items are indexed by ``index`` (epoch from ``set_epoch``) or by an ``(epoch, index)`` tuple,
    which is what ``make_loader``'s sampler yields.
    """

    def __init__(
        self,
        sources: SequenceType[tuple[TrainingSource, float]],
        samples_per_epoch: int,
        crops: PairCrops | Any,
        seed: int,
        augment: bool = True,
        sampling: PairSampling = PairSampling(),
    ):
        if not sources:
            raise ConfigError("a pair dataset needs at least one source")
        ratios = np.array([float(ratio) for _, ratio in sources])
        if not np.isfinite(ratios).all() or (ratios < 0).any() or ratios.sum() <= 0:
            raise ConfigError(f"source ratios {ratios.tolist()} must be >= 0 with a positive sum")
        if samples_per_epoch < 1:
            raise ConfigError(f"samples_per_epoch must be at least 1, got {samples_per_epoch}")
        if seed < 0:
            raise ConfigError(f"the data seed must be >= 0, got {seed}")
        self.sources = [source for source, _ in sources]
        self.probabilities = ratios / ratios.sum()
        self.samples_per_epoch = int(samples_per_epoch)
        self.crops = crops if isinstance(crops, PairCrops) else PairCrops.from_tracker(crops)
        self.seed = int(seed)
        self.augment = augment
        self.sampling = sampling
        self.epoch = 0
        self._eligible = []
        for source, p in zip(self.sources, self.probabilities):
            needed = sampling.min_visible if source.is_video else 1
            eligible = np.flatnonzero(source.visible_counts() >= needed)
            if p > 0 and eligible.size == 0:
                raise DatasetError(
                    f"training source {source.name} has no sequence with at least {needed} visible frame(s); "
                    "check its annotations or give it ratio 0"
                )
            self._eligible.append(eligible)

    def set_epoch(self, epoch: int) -> None:
        """Epoch used by plain integer indices."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, index: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        epoch, index = index if isinstance(index, tuple) else (self.epoch, index)
        return self.sample(epoch, index)

    def sample(self, epoch: int, index: int) -> dict[str, torch.Tensor]:
        """Pair ``index`` of ``epoch``: the same tensors whenever and wherever it is computed."""
        if not 0 <= index < self.samples_per_epoch:
            raise IndexError(f"pair index {index} outside [0, {self.samples_per_epoch})")
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, int(epoch), int(index)]))
        for _ in range(self.sampling.max_attempts):
            pair = self._attempt(rng)
            if pair is not None:
                return pair
        return self._invalid_pair()

    def _attempt(self, rng: np.random.Generator) -> Optional[dict[str, torch.Tensor]]:
        """One draw of source, sequence, frames and jitter; None when a crop is all padding."""
        crops, opts = self.crops, self.sampling
        which = int(rng.choice(len(self.sources), p=self.probabilities))
        eligible = self._eligible[which]
        source = self.sources[which]
        sequence = source[int(eligible[rng.integers(eligible.size)])]
        if source.is_video:
            t_frame, s_frame = sample_frame_pair(sequence.visible, rng, opts.max_gap, opts.gap_step)
        else:
            t_frame = s_frame = 0
        t_box, s_box = sequence.boxes[t_frame], sequence.boxes[s_frame]
        s_crop_box = jitter_box(s_box, rng, opts.scale_jitter, opts.center_jitter)
        t_image = read_rgb(sequence.frames[t_frame])
        s_image = t_image if s_frame == t_frame else read_rgb(sequence.frames[s_frame])
        context = {"context_amount": crops.context_amount, "pad_mean": crops.pad_mean}
        template = training_patch(t_image, t_box, t_box, crops.template_factor, crops.template_size, **context)
        search = training_patch(s_image, s_box, s_crop_box, crops.search_factor, crops.search_size, **context)
        if template is None or search is None:
            return None
        (t_patch, t_norm), (s_patch, s_norm) = template, search
        t_bright = s_bright = 1.0
        if self.augment:
            if rng.random() < opts.grayscale_p:
                t_patch, s_patch = to_grayscale(t_patch), to_grayscale(s_patch)
            t_bright, s_bright = rng.uniform(1 - opts.brightness_jitter, 1 + opts.brightness_jitter, size=2)
            if rng.random() < opts.flip_p:
                t_patch, t_norm = flip_horizontal(t_patch, t_norm)
                s_patch, s_norm = flip_horizontal(s_patch, s_norm)
        search_box = s_norm.astype(np.float32)
        item = {
            "template": to_normalized_tensor(t_patch, float(t_bright)),
            "search": to_normalized_tensor(s_patch, float(s_bright)),
            "template_box": torch.from_numpy(t_norm.astype(np.float32)),
            "search_box": torch.from_numpy(search_box),
            "valid": torch.tensor(True),
        }
        if crops.heatmap_size:
            item["heatmap"] = torch.from_numpy(gaussian_heatmap(search_box[None], crops.heatmap_size)[0])
        return item

    def _invalid_pair(self) -> dict[str, torch.Tensor]:
        crops = self.crops
        item = {
            "template": torch.zeros(3, crops.template_size, crops.template_size),
            "search": torch.zeros(3, crops.search_size, crops.search_size),
            "template_box": torch.zeros(4),
            "search_box": torch.zeros(4),
            "valid": torch.tensor(False),
        }
        if crops.heatmap_size:
            item["heatmap"] = torch.zeros(crops.heatmap_size, crops.heatmap_size)
        return item


class EpochSampler(Sampler):
    """One rank's (epoch, index) items of an epoch, in a fixed order.

    The epoch's order is a permutation of range(num_samples) seeded by (seed, epoch); rank r
    takes positions r::world_size. When num_samples is not a multiple of world_size the
    permutation is extended by its own head so every rank has the same count (DDP needs equal
    steps); at most world_size - 1 pairs are then seen twice. ``set_epoch(epoch, skip_batches=K)``
    starts after the first K batches: a resumed run gets exactly the tail of the full epoch.
    """

    def __init__(self, num_samples: int, seed: int, batch_size: int, rank: int = 0, world_size: int = 1):
        if world_size < 1 or not 0 <= rank < world_size:
            raise ConfigError(f"rank {rank} is not in [0, world_size={world_size})")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        if seed < 0:
            raise ConfigError(f"the shuffle seed must be >= 0, got {seed}")
        self.num_samples = num_samples
        self.seed = seed
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.skip_batches = 0

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        """Serve ``epoch`` next, leaving out its first ``skip_batches`` batches of this rank."""
        if skip_batches < 0:
            raise ConfigError(f"skip_batches must be >= 0, got {skip_batches}")
        self.epoch = int(epoch)
        self.skip_batches = int(skip_batches)

    def rank_indices(self) -> np.ndarray:
        """This rank's indices of the current epoch, after the skipped batches."""
        order = np.random.default_rng(np.random.SeedSequence([self.seed, self.epoch])).permutation(self.num_samples)
        total = math.ceil(self.num_samples / self.world_size) * self.world_size
        order = np.concatenate([order, order[: total - self.num_samples]])
        return order[self.rank :: self.world_size][self.skip_batches * self.batch_size :]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        return iter([(epoch, int(i)) for i in self.rank_indices()])

    def __len__(self) -> int:
        per_rank = math.ceil(self.num_samples / self.world_size)
        return max(0, per_rank - self.skip_batches * self.batch_size)


def make_loader(
    pair_dataset: PairDataset,
    batch_size: int,
    workers: int,
    shuffle_seed: int,
    rank: int = 0,
    world_size: int = 1,
    pin_memory: bool = False,
    drop_last: bool = True,
) -> DataLoader:
    """A DataLoader over this rank's share of ``pair_dataset``, starting at the dataset's epoch.

    Before each epoch call ``loader.sampler.set_epoch(epoch, skip_batches=K)``; the sampler
    hands (epoch, index) to the dataset, so the pairs depend on nothing else. Default collate:
    a batch is a dict of stacked tensors (``valid`` is a (B,) bool tensor).
    """
    sampler = EpochSampler(len(pair_dataset), shuffle_seed, batch_size, rank, world_size)
    sampler.set_epoch(pair_dataset.epoch)
    return DataLoader(
        pair_dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=pin_memory,
        drop_last=drop_last,
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(shuffle_seed),
    )
