"""make_loader / EpochSampler: worker independence, rank shards, resume mid-epoch."""
import numpy as np
import pytest
import torch

from compresstracker.data.pairs import EpochSampler, PairDataset, make_loader
from compresstracker.errors import ConfigError

from .conftest import TINY


def batches(loader) -> list[dict]:
    return [batch for batch in loader]


def test_batches_collate_to_stacked_tensors(video_source):
    pairs = PairDataset([(video_source, 1.0)], 10, TINY, seed=0)
    loader = make_loader(pairs, batch_size=4, workers=0, shuffle_seed=1)
    out = batches(loader)
    assert len(out) == len(loader) == 2  # 10 pairs, drop_last
    first = out[0]
    assert first["search"].shape == (4, 3, 64, 64) and first["heatmap"].shape == (4, 4, 4)
    assert first["valid"].dtype == torch.bool and first["valid"].shape == (4,)
    order = EpochSampler(10, 1, 4).rank_indices()
    torch.testing.assert_close(first["search"][2], pairs.sample(0, int(order[2]))["search"], rtol=0, atol=0)


def test_worker_count_does_not_change_the_batches(video_source):
    pairs = PairDataset([(video_source, 1.0)], 16, TINY, seed=7)
    in_process = make_loader(pairs, batch_size=8, workers=0, shuffle_seed=3)
    in_process.sampler.set_epoch(2)
    two_workers = make_loader(pairs, batch_size=8, workers=2, shuffle_seed=3)
    two_workers.sampler.set_epoch(2)
    for a, b in zip(batches(in_process), batches(two_workers)):
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_ranks_split_the_epoch_without_overlap():
    shards = [EpochSampler(40, seed=5, batch_size=4, rank=r, world_size=2) for r in range(2)]
    for shard in shards:
        shard.set_epoch(3)
    a, b = (list(s) for s in shards)
    assert len(a) == len(b) == 20 and {e for e, _ in a + b} == {3}
    ia, ib = {i for _, i in a}, {i for _, i in b}
    assert not ia & ib and ia | ib == set(range(40))
    shards[0].set_epoch(4)
    assert [i for _, i in shards[0]] != [i for _, i in a]  # each epoch is reshuffled


def test_uneven_epochs_are_padded_so_ranks_take_equal_steps():
    shards = [EpochSampler(11, seed=0, batch_size=2, rank=r, world_size=3) for r in range(3)]
    parts = [list(s.rank_indices()) for s in shards]
    assert [len(p) for p in parts] == [4, 4, 4] and set(sum(parts, [])) == set(range(11))


def test_loader_shards_follow_the_rank(video_source):
    pairs = PairDataset([(video_source, 1.0)], 8, TINY, seed=0)
    seen = []
    for rank in range(2):
        loader = make_loader(pairs, batch_size=2, workers=0, shuffle_seed=9, rank=rank, world_size=2)
        seen.append(torch.cat([b["search_box"] for b in batches(loader)]))
    every = torch.stack([pairs.sample(0, i)["search_box"] for i in range(8)])
    together = torch.cat(seen)
    assert together.shape == every.shape
    # the two ranks together hold each pair of the epoch exactly once
    matches = (together[:, None, :] == every[None, :, :]).all(-1)
    assert matches.sum(0).tolist() == [1] * 8


def test_skipping_batches_resumes_with_the_tail_of_the_epoch(video_source):
    pairs = PairDataset([(video_source, 1.0)], 12, TINY, seed=1)
    loader = make_loader(pairs, batch_size=3, workers=0, shuffle_seed=2)
    loader.sampler.set_epoch(1)
    full = batches(loader)
    loader.sampler.set_epoch(1, skip_batches=2)
    assert len(loader) == 2
    tail = batches(loader)
    assert len(full) == 4 and len(tail) == 2
    for a, b in zip(full[2:], tail):
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    sampler = EpochSampler(12, 2, 3)
    sampler.set_epoch(1, skip_batches=2)
    full_order = EpochSampler(12, 2, 3)
    full_order.set_epoch(1)
    np.testing.assert_array_equal(sampler.rank_indices(), full_order.rank_indices()[6:])


def test_sampler_rejects_bad_ranks():
    with pytest.raises(ConfigError):
        EpochSampler(10, 0, 2, rank=2, world_size=2)
    with pytest.raises(ConfigError):
        EpochSampler(10, 0, 2).set_epoch(0, skip_batches=-1)


def test_loading_leaves_the_global_torch_rng_alone(video_source):
    pairs = PairDataset([(video_source, 1.0)], 4, TINY, seed=0)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    batches(make_loader(pairs, batch_size=2, workers=0, shuffle_seed=0))
    torch.testing.assert_close(torch.rand(3), expected, rtol=0, atol=0)
