"""`ctrack eval`: tracks a benchmark into the pytracking layout, resumes, and scores."""
import pytest

from compresstracker.checkpoints import save_native


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from compresstracker.data.synthetic import generate

    root = tmp_path_factory.mktemp("eval_synth")
    generate("lasot", root, sequences=3, frames=8, seed=4, image_size=(96, 72))
    return root


@pytest.fixture
def checkpoint(make_model, tmp_path):
    model = make_model("tiny_64_ce", seed=7)
    return save_native(model, model.config, tmp_path / "tiny.safetensors")


def _eval(run_cli, checkpoint, synth, results, *extra):
    return run_cli("eval", "-c", checkpoint, "-d", "lasot", "--root", synth, "--split", "all",
                   "--out", results, "--name", "tiny", "--json", *extra)


def test_eval_writes_results_resumes_and_scores(run_cli, checkpoint, synth, tmp_path):
    results = tmp_path / "results"
    first = _eval(run_cli, checkpoint, synth, results)
    assert first.exit_code == 0, first.stderr
    doc = first.json()
    # stderr is not a terminal: progress as plain lines (--json does not silence them), one per sequence here
    assert [line.split(": ")[1].split(" sequences")[0] for line in first.stderr.splitlines() if "tiny on lasot" in line] == ["1/3", "2/3", "3/3"]
    assert doc["run"]["tracked"] == 3 and set(doc["metrics"]) == {"auc", "op50", "op75", "precision", "norm_precision"}
    folder = results / "tiny"
    files = sorted(p.name for p in folder.glob("*.txt") if not p.name.endswith("_time.txt"))
    assert len(files) == 3
    rows = (folder / files[0]).read_text().splitlines()
    assert len(rows) == 8 and all(len(r.split("\t")) == 4 and all(v.lstrip("-").isdigit() for v in r.split("\t")) for r in rows)
    assert len((folder / files[0].replace(".txt", "_time.txt")).read_text().split()) == 8
    kept = (folder / files[1]).read_text()
    (folder / files[0]).unlink()
    again = _eval(run_cli, checkpoint, synth, results)
    assert again.exit_code == 0
    assert again.json()["run"]["tracked"] == 1 and again.json()["run"]["skipped"] == 2
    assert (folder / files[1]).read_text() == kept
    assert not list(folder.glob(".*tmp"))  # no half-written files left behind
    score = run_cli("score", "-d", "lasot", "--root", synth, "--split", "all", "--results", folder, "--json")
    assert score.exit_code == 0 and score.json()["metrics"] == again.json()["metrics"]


def test_two_workers_give_the_same_results(run_cli, checkpoint, synth, tmp_path):
    one = _eval(run_cli, checkpoint, synth, tmp_path / "one")
    two = _eval(run_cli, checkpoint, synth, tmp_path / "two", "--workers", "2")
    assert one.exit_code == 0 and two.exit_code == 0, two.stderr
    for path in (tmp_path / "one" / "tiny").glob("*.txt"):
        if not path.name.endswith("_time.txt"):
            assert (tmp_path / "two" / "tiny" / path.name).read_text() == path.read_text()


def test_eval_errors_are_one_line(run_cli, checkpoint, synth, tmp_path):
    missing = run_cli("eval", "-c", tmp_path / "nope.pth", "-d", "lasot", "--root", synth)
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    wrong = run_cli("eval", "-c", checkpoint, "-d", "lasot", "--root", tmp_path / "no_such_root")
    assert wrong.exit_code == 2 and wrong.stderr.count("\n") == 1 and "Traceback" not in wrong.output


def test_another_checkpoint_under_the_same_name_is_refused(run_cli, make_model, checkpoint, synth, tmp_path):
    from compresstracker.data import get_dataset
    from compresstracker.evaluation.runner import ModelSpec, run_tracker

    results = tmp_path / "results"
    assert _eval(run_cli, checkpoint, synth, results).exit_code == 0
    other_model = make_model("tiny_64_ce", seed=8)
    other = save_native(other_model, other_model.config, tmp_path / "other" / "tiny.safetensors")
    refused = _eval(run_cli, other, synth, results)
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1
    assert "holds results of another tracker" in refused.stderr and "--name" in refused.stderr
    same_file = _eval(run_cli, checkpoint, synth, results, "--no-ce")  # options are part of the identity
    assert same_file.exit_code == 2 and "the same checkpoint run with other options (ce None there, False now)" in " ".join(same_file.stderr.split())
    # Folders ctrack owns (a compression run's evaluation) are re-tracked instead.
    dataset = get_dataset("lasot", synth, split="all")
    run = run_tracker(ModelSpec(checkpoint=str(other)), dataset, results / "tiny", replace_stale=True)
    assert run["tracked"] == 3 and run["skipped"] == 0
    assert _eval(run_cli, other, synth, results).json()["run"]["skipped"] == 3


def test_run_exports_are_named_after_their_run_folder(run_cli, make_model, synth, tmp_path):
    model = make_model("tiny_64_ce", seed=7)
    run = tmp_path / "ct4"
    save_native(model, model.config, run / "student.safetensors")
    (run / "config.yaml").write_text("kind: compress\n")
    result = run_cli("eval", "-c", run / "student.safetensors", "--data", f"lasot={synth}:all", "--out", tmp_path / "r",
                     "--quiet", "--plot", tmp_path / "plots", "--plot-format", "pdf", "--plot-format", "svg")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "r" / "ct4").is_dir() and "ct4" in result.stdout and result.stderr == ""
    assert {p.name for p in (tmp_path / "plots").iterdir()} >= {"success.pdf", "success.svg", "precision.svg"}
    assert "LaSOT (3 sequences)" in (tmp_path / "plots" / "success.svg").read_text()


def test_got10k_test_split_is_tracked_and_left_for_the_server(run_cli, checkpoint, tmp_path):
    from compresstracker.data.synthetic import generate

    generate("got10k", tmp_path / "got", sequences=3, frames=6, seed=0, image_size=(96, 72))
    result = run_cli("eval", "-c", checkpoint, "--data", f"got10k={tmp_path / 'got'}", "--out", tmp_path / "r", "--quiet")
    assert result.exit_code == 0, result.stderr
    assert "ground truth is private" in result.stdout and "ctrack pack --format got10k" in result.stdout
    packed = run_cli("pack", "--format", "got10k", "--results", tmp_path / "r" / "tiny", "--out", tmp_path / "tiny.zip",
                     "--root", tmp_path / "got")
    assert packed.exit_code == 0, packed.stderr
    as_json = run_cli("eval", "-c", checkpoint, "--data", f"got10k={tmp_path / 'got'}:test", "--out", tmp_path / "r", "--json")
    assert as_json.exit_code == 0 and as_json.json()["scored"] is False and as_json.json()["run"]["skipped"] == 1


def test_eval_runs_lighttrack_files_and_records_the_preset(run_cli, synth, tmp_path):
    import json

    import torch

    from compresstracker.evaluation.runner import RUN_RECORD
    from compresstracker.models import build_model
    from tests.conftest import randomize_model

    checkpoint = tmp_path / "LightTrackT.pth"
    torch.save({"state_dict": randomize_model(build_model("lighttrack_tiny"), seed=2).state_dict()}, checkpoint)
    results = tmp_path / "results"
    done = _eval(run_cli, checkpoint, synth, results, "--preset", "vot2019", "--param", "lr=0.5")
    assert done.exit_code == 0, done.stderr
    assert done.json()["run"]["tracked"] == 3
    record = json.loads((results / "tiny" / RUN_RECORD).read_text())
    assert record["tracker"]["preset"] == "vot2019" and record["tracker"]["params"] == {"lr": "0.5"}
    refused = _eval(run_cli, checkpoint, synth, results, "--preset", "default")  # other settings, same name
    assert refused.exit_code == 2 and "preset 'vot2019' there, 'default' now" in " ".join(refused.stderr.split())
    ostrack_preset = run_cli("eval", "-c", checkpoint, "-d", "lasot", "--root", synth, "--split", "all",
                             "--out", results, "--name", "x", "--preset", "otb")
    assert ostrack_preset.exit_code == 2 and "unknown LightTrack preset" in ostrack_preset.stderr


def test_eval_baseline_reports_the_first_box_row(run_cli, checkpoint, synth, tmp_path):
    from compresstracker.data import get_dataset
    from compresstracker.evaluation.report import first_box_score

    result = _eval(run_cli, checkpoint, synth, tmp_path / "results", "--baseline")
    assert result.exit_code == 0, result.stderr
    expected = first_box_score(get_dataset("lasot", synth, split="all")).metrics()
    assert result.json()["first_box"] == pytest.approx(expected)
