"""Resume checks: a saved run versus a request; running sums and torn log lines on resume; thread policy."""
import json

import pytest
import torch

from compresstracker.errors import ConfigError, CTrackWarning
from compresstracker.threads import available_cores, default_threads, resolve_threads
from compresstracker.training.engine import Trainer
from compresstracker.training.recipe import load_recipe
from compresstracker.training.resume import check_resume, differences, saved_run
from compresstracker.training.run import train_tracker

from .conftest import tiny_overrides


def test_differences_name_the_dotted_key():
    saved = {"train": {"epochs": 4, "lr": 1e-3}, "data": {"train": [{"name": "lasot", "root": "/a"}]}}
    requested = {"train": {"epochs": 4, "lr": 0.001}, "data": {"train": [{"name": "lasot", "root": "/b"}]}}
    assert list(differences(saved, requested)) == [("data.train.0.root", "/a", "/b")]
    assert list(differences({"a": 1}, {"a": 1.0})) == []


def test_check_resume_refuses_changes_and_allows_more_epochs():
    saved = load_recipe("compresstracker_tiny", ["compress.teacher=/t.safetensors"])
    same = load_recipe("compresstracker_tiny", ["compress.teacher=/moved/t.safetensors", "train.log_every=3"])
    assert check_resume(saved, same) == []  # where the teacher lies and logging do not change the result
    more = load_recipe("compresstracker_tiny", ["train.epochs=9"])
    assert check_resume(saved, more, {"train.epochs": "--epochs"}) == ["--epochs 9: continuing the run past its 4"]
    with pytest.raises(ConfigError, match=r"^--stages 3 but the run has 4;"):
        check_resume(saved, load_recipe("compresstracker_tiny", ["compress.stages=3"]), {"compress.stages": "--stages"})
    with pytest.raises(ConfigError, match=r"^train.lr 0.1 but the run has 0.0005"):
        check_resume(saved, load_recipe("compresstracker_tiny", ["train.lr=0.1"]))
    with pytest.raises(ConfigError, match="train.epochs 2 but the run has 4"):
        check_resume(saved, load_recipe("compresstracker_tiny", ["train.epochs=2"]))
    with pytest.raises(ConfigError, match="train.epochs 9 but the run has 4"):
        check_resume(saved, more, growable=frozenset())  # the demo: same settings only


def test_a_run_made_before_a_key_existed_resumes_at_its_old_value():
    """train.spos_fixed_head_epochs came later: a run saved without it resumes when asked for the value that trains
    as it did (0), and is refused for any other."""
    saved = load_recipe("lighttrack_supernet_tiny", [])
    del saved["train"]["spos_fixed_head_epochs"]  # as config.yaml of an earlier run holds it
    assert check_resume(saved, load_recipe("lighttrack_supernet_tiny", ["train.spos_fixed_head_epochs=0"])) == []
    with pytest.raises(ConfigError, match="train.spos_fixed_head_epochs 2 but the run has none"):
        check_resume(saved, load_recipe("lighttrack_supernet_tiny", ["train.spos_fixed_head_epochs=2"]))
    compression = load_recipe("compresstracker_tiny", [])
    del compression["train"]["spos_fixed_head_epochs"]
    assert check_resume(compression, load_recipe("compresstracker_tiny", [])) == []


def test_thread_policy(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = available_cores()
    assert 1 <= default_threads() <= cores
    assert default_threads(processes=cores * 4) == 1 and default_threads(reserved=cores + 5) == 1
    assert resolve_threads(cores) == cores
    with pytest.warns(CTrackWarning, match=f"--threads {cores + 1} is more than the {cores} core"):
        assert resolve_threads(cores + 1) == cores + 1
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert resolve_threads(None) == 2  # the environment's count, as asked
    with pytest.raises(ConfigError):
        resolve_threads(0)


def _records(out_dir):
    return [json.loads(line) for line in (out_dir / "log.jsonl").read_text().splitlines()]


def test_mid_epoch_resume_keeps_epoch_means_and_survives_a_torn_log_line(synth_lasot, tmp_path, monkeypatch):
    recipe = load_recipe("ostrack_tiny", tiny_overrides(synth_lasot, epochs=1, extra=("train.checkpoint_every_steps=2",)))
    train_tracker(recipe, tmp_path / "full", progress=False, threads=1)

    original_save = Trainer.save

    def save_then_die(self, tag):
        path = original_save(self, tag)
        if tag.startswith("step_"):
            raise KeyboardInterrupt  # killed right after the mid-epoch checkpoint
        return path

    monkeypatch.setattr(Trainer, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_tracker(recipe, tmp_path / "killed", progress=False, threads=1)
    monkeypatch.setattr(Trainer, "save", original_save)
    state = torch.load(tmp_path / "killed" / "checkpoints" / "last.pt", weights_only=True)
    assert state["step_in_epoch"] == 2 and state["epoch_count"] == 2 and "loss" in state["epoch_sums"]
    assert state["run_info"] == {"threads": 1} and "recipe_yaml" in state
    with open(tmp_path / "killed" / "log.jsonl", "a") as f:
        f.write('{"step": 3, "epoch": 1, "lo')  # the process died while writing this line
    train_tracker(recipe, tmp_path / "killed", resume=True, progress=False, threads=1)
    full, resumed = _records(tmp_path / "full"), _records(tmp_path / "killed")
    timeless = lambda records: [{k: v for k, v in r.items() if k != "samples_per_s"} for r in records]  # noqa: E731
    assert timeless(resumed) == timeless(full)
    end = [r for r in resumed if r.get("epoch_end")][0]
    assert end["mean_loss"] == [r for r in full if r.get("epoch_end")][0]["mean_loss"]


def test_saved_run_reads_config_and_threads(synth_lasot, tmp_path):
    recipe = load_recipe("ostrack_tiny", tiny_overrides(synth_lasot))
    train_tracker(recipe, tmp_path / "run", progress=False, threads=1)
    saved = saved_run(tmp_path / "run")
    assert saved.threads == 1 and saved.epochs_done == 1 and saved.world_size == 1
    assert check_resume(saved.recipe, recipe) == []
    assert saved_run(tmp_path / "nothing") is None


def test_config_records_only_what_applies_and_the_thread_count_warns_on_resume(synth_lasot, tmp_path):
    import yaml

    recipe = load_recipe("ostrack_tiny", tiny_overrides(synth_lasot))
    train_tracker(recipe, tmp_path / "run", progress=False, threads=1)
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert "compress" not in config and config["threads"] == 1 and config["model"]["arch"] == "tiny_64_ce"
    more = load_recipe("ostrack_tiny", tiny_overrides(synth_lasot, epochs=2))
    from compresstracker.errors import CTrackWarning

    with pytest.warns(CTrackWarning) as caught:
        train_tracker(more, tmp_path / "run", resume=True, progress=False, threads=2)
    messages = [str(w.message) for w in caught]
    assert any("2 threads but the run started with 1" in m for m in messages)
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["threads"] == 2


def test_init_weights_go_into_the_recipes_network_and_another_network_is_refused(synth_lasot, make_model, tmp_path):
    from safetensors.torch import load_file

    from compresstracker.checkpoints import save_native

    same = make_model("tiny_64_ce", seed=4)
    init = save_native(same, same.config, tmp_path / "init.safetensors")
    recipe = load_recipe("ostrack_tiny", tiny_overrides(synth_lasot, epochs=0, extra=(f"model.init={init}",)))
    train_tracker(recipe, tmp_path / "run", progress=False, threads=1)
    trained, expected = load_file(str(tmp_path / "run" / "model.safetensors")), load_file(str(init))
    assert trained.keys() == expected.keys() and all(torch.equal(trained[k], expected[k]) for k in expected)
    other = make_model("tiny_64_ce", seed=4, depth=4, ce_layers=(), ce_keep_ratios=())  # a 4-block student
    wrong = save_native(other, other.config, tmp_path / "student.safetensors")
    recipe = load_recipe("ostrack_tiny", tiny_overrides(synth_lasot, epochs=0, extra=(f"model.init={wrong}",)))
    with pytest.raises(ConfigError, match="--init student.safetensors holds a .* network, not the recipe's"):
        train_tracker(recipe, tmp_path / "wrong", progress=False, threads=1)
    assert not (tmp_path / "wrong").exists()  # refused before anything was written: no empty folder left
