"""Recipe loading, validation (all problems at once), overrides and the recipes command."""
import pytest

from compresstracker.errors import ConfigError
from compresstracker.training.recipe import list_recipes, load_recipe, set_data_roots


def test_shipped_recipes_validate():
    names = {r["name"] for r in list_recipes()}
    assert {"ostrack_vitb_256", "ostrack_tiny", "compresstracker", "compresstracker_tiny"} <= names
    for name in names:
        load_recipe(name)


def test_paper_settings_are_recorded():
    r = load_recipe("compresstracker")
    assert r["train"]["epochs"] == 500 and r["train"]["lr"] == 4e-5 and r["train"]["lr_drop_epoch"] == 400
    assert r["compress"]["loss"] == {"track": 1.0, "pred": 1.0, "feat": 0.2}
    assert r["train"]["seed"] == 3407 and r["data"]["samples_per_epoch"] == 60000


def test_all_problems_reported_at_once(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  lr: -1\n  amp: fp8\n  bogus: 3\nmodel:\n  drop_path: 2\n")
    with pytest.raises(ConfigError) as err:
        load_recipe(str(bad))
    message = str(err.value)
    for part in ("train.lr must be > 0", "train.amp must be one of", "unknown key train.bogus", "model.drop_path"):
        assert part in message


def test_overrides_parse_yaml_values():
    r = load_recipe("compresstracker_tiny", ["compress.split=[2,2,6,2]", "train.lr=1e-3", "compress.replacement=false"])
    assert r["compress"]["split"] == [2, 2, 6, 2] and r["train"]["lr"] == 1e-3 and r["compress"]["replacement"] is False
    with pytest.raises(ConfigError, match="must be bool"):
        load_recipe("compresstracker_tiny", ["compress.replacement=3"])
    with pytest.raises(ConfigError, match="not key=value"):
        load_recipe("compresstracker_tiny", ["train.lr"])


def test_data_roots_fill_and_add():
    r = load_recipe("ostrack_vitb_256")
    set_data_roots(r, ["lasot=/d/lasot", "got10k=/d/got:vot_train", "folder=/d/mine"])
    by_name = {e["name"]: e for e in r["data"]["train"]}
    assert by_name["lasot"]["root"] == "/d/lasot"
    assert by_name["got10k"]["root"] == "/d/got" and by_name["got10k"]["split"] == "vot_train"
    assert by_name["folder"]["root"] == "/d/mine"
    with pytest.raises(ConfigError):
        set_data_roots(r, ["nonsense"])


def test_recipes_cli(run_cli, tmp_path):
    listed = run_cli("recipes", "list", "--json")
    assert listed.exit_code == 0 and any(r["name"] == "ostrack_tiny" for r in listed.json())
    ok = run_cli("recipes", "validate", "compresstracker", "--json")
    assert ok.exit_code == 0 and ok.json()["valid"] is True
    shown = run_cli("recipes", "show", "ostrack_tiny", "train.epochs=3")
    assert "epochs: 3" in shown.stdout
    bad = run_cli("recipes", "validate", "ostrack_tiny", "train.lr=-2", "train.nope=1")
    assert bad.exit_code == 2
    assert "train.lr must be > 0" in bad.stderr and "unknown key train.nope" in bad.stderr
    assert "Traceback" not in bad.output


def test_every_key_is_checked_for_range_and_meaning_all_at_once():
    bad = {
        "train.lr_drop_factor=-1": "train.lr_drop_factor must be > 0",
        "train.backbone_lr_mult=0": "train.backbone_lr_mult must be > 0",
        "compress.loss.feat=-1": "compress.loss.feat must be >= 0",
        "train.loss.giou=-0.5": "train.loss.giou must be >= 0",
        "train.ce.keep_ratio=1.5": "train.ce.keep_ratio must lie in (0, 1]",
        "train.log_every=0": "train.log_every must be >= 1",
        "train.weight_decay=-5": "train.weight_decay must be >= 0",
        "model.arch=vit_huge": "model.arch 'vit_huge' is not a known architecture",
        "model.overrides.bogus=1": "unknown key model.overrides.bogus",
        "compress.init=bogus": "compress.init must be stage-end or stage-start",
        "compress.split=[6,6]": "compress.stages is 4 but compress.split [6, 6] has 2 stages",
        "compress.fixed_p=abc": "compress.fixed_p must be a number",
        "data.max_gap=0": "data.max_gap must be >= 1",
    }
    with pytest.raises(ConfigError) as err:
        load_recipe("compresstracker_tiny", list(bad))
    for message in bad.values():
        assert message in str(err.value)
    assert load_recipe("compresstracker_tiny", ["compress.init=1,4,7,11"])["compress"]["init"] == "1,4,7,11"
    with pytest.raises(ConfigError, match="data.train must be a list"):
        load_recipe("compresstracker_tiny", ["data.train=5"])


def test_stages_and_a_split_of_another_length_are_refused(run_cli, tmp_path):
    result = run_cli("compress", "--teacher", tmp_path / "t.safetensors", "--stages", "3", "--split", "6,6",
                     "-r", "compresstracker_tiny", "--out", tmp_path / "run")
    assert result.exit_code == 2 and "--stages 3 but --split 6,6 has 2 stages" in result.stderr
    assert not (tmp_path / "run").exists()
