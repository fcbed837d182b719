"""Did-you-mean: a mistyped dataset name, recipe name, recipe key or option names the closest one."""
from __future__ import annotations

from compresstracker.errors import did_you_mean


def test_did_you_mean_names_the_closest_choice_or_nothing():
    assert did_you_mean("lasott", ["lasot", "got10k"]) == " (did you mean 'lasot'?)"
    assert did_you_mean("zzz", ["lasot", "got10k"]) == ""


def test_cli_suggests_datasets_recipes_keys_and_options(run_cli, tmp_path):
    dataset = run_cli("score", "-d", "lasott", "--root", tmp_path, "--results", tmp_path)
    assert dataset.exit_code == 2 and "did you mean 'lasot'?" in dataset.stderr
    recipe = run_cli("recipes", "show", "ostrack_tiy")
    assert recipe.exit_code == 2 and "did you mean 'ostrack_tiny'?" in recipe.stderr
    key = run_cli("train", "-r", "ostrack_tiny", "--data", f"lasot={tmp_path}", "--out", tmp_path / "run", "--dry-run", "train.epochz=2")
    assert key.exit_code == 2 and "unknown key train.epochz (did you mean 'epochs'?)" in key.stderr
    option = run_cli("track", "-c", tmp_path / "x", "--fram", "a")
    assert option.exit_code == 2 and "Did you mean" in option.stderr and "--frames" in option.stderr
