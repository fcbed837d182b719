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
