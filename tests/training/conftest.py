import pytest


@pytest.fixture(scope="session")
def synth_lasot(tmp_path_factory):
    """A small synthetic LaSOT-layout dataset shared by the training and compression tests."""
    from compresstracker.data.synthetic import generate

    root = tmp_path_factory.mktemp("synth_lasot")
    generate("lasot", root, sequences=4, frames=24, seed=5, image_size=(96, 72))
    return root


def tiny_overrides(root, epochs=1, samples=32, batch=8, extra=()):
    """Recipe overrides that make a run of a few CPU seconds on the tiny test model."""
    return [
        "model.arch=tiny_64_ce", f"train.epochs={epochs}", f"data.samples_per_epoch={samples}",
        f"train.batch_size={batch}", "data.workers=0", "train.log_every=1", "train.warmup_epochs=0",
        f"data.train.0.root={root}", *extra,
    ]
