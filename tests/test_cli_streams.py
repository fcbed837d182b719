"""Tables on stdout, readable at 80 columns; notes on stderr; one option vocabulary with deprecated spellings."""
import pytest


@pytest.mark.parametrize("args", [("models", "list"), ("datasets", "list"), ("recipes", "list"), ("models", "formats")])
def test_tables_go_to_stdout_with_whole_column_names(run_cli, args):
    result = run_cli(*args)
    assert result.exit_code == 0 and result.stderr == ""
    assert "…" not in result.stdout  # no header (or name) cut short at 80 columns
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_models_list_can_be_grepped(run_cli):
    result = run_cli("models", "list")
    assert any("ostrack_vitb_256_ce" in line and "M" in line for line in result.stdout.splitlines())


def test_datasets_list_shows_the_coco_training_source(run_cli):
    result = run_cli("datasets", "list", "--json")
    coco = [r for r in result.json() if r["name"] == "coco"]
    assert coco and coco[0]["protocol"] == "training only" and "train2017" in coco[0]["splits"]


def test_old_spellings_work_for_one_release_and_say_so(run_cli, make_model, tmp_path):
    from compresstracker.checkpoints import save_native
    from compresstracker.data.synthetic import generate

    generate("lasot", tmp_path / "synth", sequences=2, frames=5, seed=2, image_size=(96, 72))
    model = make_model("tiny_64_ce", seed=1)
    checkpoint = save_native(model, model.config, tmp_path / "tiny.safetensors")
    frames = sorted((tmp_path / "synth").glob("*/*/img"))[0]
    old = run_cli("track", "-c", checkpoint, "--frames", frames, "--init-box", "10,10,20,20", "--output", tmp_path / "a.txt")
    assert old.exit_code == 0, old.stderr
    assert "warning: --output is deprecated" in old.stderr and (tmp_path / "a.txt").is_file()
    new = run_cli("track", "-c", checkpoint, "--frames", frames, "--init-box", "10,10,20,20", "--out", tmp_path / "b.txt", "--threads", "1")
    assert new.exit_code == 0 and "deprecated" not in new.stderr
    assert (tmp_path / "a.txt").read_text() == (tmp_path / "b.txt").read_text()
    both = run_cli("track", "-c", checkpoint, "--frames", frames, "-o", tmp_path / "c.txt")
    assert both.exit_code == 2 and "--init-box x,y,w,h or --select" in both.stderr
