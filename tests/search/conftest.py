import pytest


@pytest.fixture(scope="session")
def synth_search(tmp_path_factory):
    """Small synthetic data: LaSOT-layout training sequences, GOT-10k-layout validation sequences."""
    from compresstracker.data.synthetic import generate

    root = tmp_path_factory.mktemp("synth_search")
    generate("lasot", root / "train", sequences=4, frames=24, seed=5, image_size=(128, 96))
    generate("got10k", root / "got10k", sequences=5, frames=12, seed=6, image_size=(128, 96))
    return root


def supernet_overrides(root, epochs=1, samples=16, batch=8, extra=()):
    """A supernet run of a few CPU seconds."""
    return [f"train.epochs={epochs}", f"data.samples_per_epoch={samples}", f"train.batch_size={batch}", "data.workers=0",
            "train.log_every=1", "train.warmup_epochs=0", f"data.train.0.root={root / 'train'}", *extra]


@pytest.fixture(scope="session")
def supernet_run(synth_search, tmp_path_factory):
    """A 1-epoch tiny supernet run (model.safetensors, config.yaml), shared by the search tests."""
    from compresstracker.training.recipe import load_recipe
    from compresstracker.training.run import train_tracker

    out = tmp_path_factory.mktemp("supernet")
    train_tracker(load_recipe("lighttrack_supernet_tiny", supernet_overrides(synth_search)), out, progress=False)
    return out
