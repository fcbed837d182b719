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


def train_killed_then_resumed(recipe, out, monkeypatch, train=None):
    """Train ``recipe`` into ``out`` (with ``train(recipe, out, resume=..., progress=...)``, default
    ``train_tracker``), killed right after the first mid-epoch checkpoint of epoch 2, then resumed to
    the end; returns the loss records the killed run had written."""
    import json

    from compresstracker.training.engine import Trainer
    from compresstracker.training.run import train_tracker

    train_tracker = train or train_tracker

    original_save = Trainer.save

    def save_then_die(self, tag):
        path = original_save(self, tag)
        if tag.startswith("step_") and self.epoch == 1:
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(Trainer, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_tracker(recipe, out, progress=False)
    monkeypatch.setattr(Trainer, "save", original_save)
    killed = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    train_tracker(recipe, out, resume=True, progress=False)
    return [r for r in killed if "loss" in r]
