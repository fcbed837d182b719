"""``ctrack score`` and ``ctrack pack`` through the CLI: JSON shape, table, one-line errors with exit code 2."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest

import compresstracker.data

BOX = [10, 10, 20, 20]
FAR = [150, 150, 20, 20]


@pytest.fixture
def fake_dataset(monkeypatch, make_seq, make_dataset):
    """Replace the dataset registry with two in-memory sequences; records the call it gets."""
    calls = []
    all_sequences = [make_seq("a", [BOX] * 4, attributes={"occlusion": True}), make_seq("b", [BOX] * 2)]

    def get_dataset(name, root, split=None, sequences=None, allow_missing=False):
        calls.append({"name": name, "root": root, "split": split, "sequences": sequences, "allow_missing": allow_missing})
        chosen = [s for s in all_sequences if sequences is None or s.name in sequences]
        return make_dataset(chosen, name=name)

    monkeypatch.setattr(compresstracker.data, "get_dataset", get_dataset)
    return calls


@pytest.fixture
def two_trackers(tmp_path, results_folder):
    good = results_folder(tmp_path / "good", {"a": [BOX] * 4, "b": [BOX] * 2})
    half = results_folder(tmp_path / "half", {"a": [BOX, BOX, FAR, FAR], "b": [BOX, FAR]})
    return good, half


def test_score_json_single_tracker(run_cli, fake_dataset, two_trackers, tmp_path):
    good, _ = two_trackers
    result = run_cli("score", "--dataset", "lasot", "--root", tmp_path, "--results", good, "--json")
    assert result.exit_code == 0, result.output
    doc = result.json()
    assert doc["dataset"] == "lasot" and doc["tracker"] == "good"
    assert doc["metrics"]["auc"] == pytest.approx(100.0 * 20 / 21, abs=1e-4)
    assert sorted(doc["sequences"]) == ["a", "b"]
    assert fake_dataset[0]["sequences"] is None and fake_dataset[0]["allow_missing"] is False


def test_score_json_several_trackers(run_cli, fake_dataset, two_trackers, tmp_path):
    good, half = two_trackers
    result = run_cli("score", "-d", "lasot", "--root", tmp_path, "--results", good, "--results", half, "--json")
    assert result.exit_code == 0, result.output
    doc = result.json()
    assert [t["tracker"] for t in doc["trackers"]] == ["good", "half"]
    assert "metrics" not in doc  # one entry per tracker, none singled out
    assert doc["trackers"][1]["metrics"]["op50"] == 50.0
    labelled = run_cli("score", "-d", "lasot", "--root", tmp_path, "--results", f"mine={good}", "--results", half, "--json")
    assert [t["tracker"] for t in labelled.json()["trackers"]] == ["mine", "half"]
    table = run_cli("score", "--data", f"lasot={tmp_path}", "-r", good, "-r", half)  # old spelling: still works, said
    assert table.exit_code == 0 and "warning: -r is deprecated" in table.stderr
    assert "good" in table.stdout and "half" in table.stdout  # the table is output (`> scores.txt` keeps it)


def test_score_allow_missing_and_attributes(run_cli, fake_dataset, two_trackers, tmp_path):
    good, half = two_trackers
    (half / "b.txt").unlink()
    strict = run_cli("score", "-d", "lasot", "--root", tmp_path, "--results", good, "--results", half, "--json")
    assert strict.exit_code == 2 and "1 of 2 sequences have no result file" in strict.stderr
    result = run_cli(
        "score", "-d", "lasot", "--root", tmp_path, "--results", good, "--results", half, "--allow-missing", "--attributes", "--json"
    )
    assert result.exit_code == 0, result.output
    assert fake_dataset[-1]["allow_missing"] is True
    doc = result.json()
    assert [list(t["sequences"]) for t in doc["trackers"]] == [["a"], ["a"]]
    assert doc["trackers"][1]["attributes"]["occlusion"]["op50"] == 50.0


def test_score_table(run_cli, fake_dataset, two_trackers, tmp_path):
    good, half = two_trackers
    result = run_cli("score", "-d", "lasot", "--root", tmp_path, "--results", good, "--results", half)
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "good" in line or "half" in line]
    assert len(rows) == 2 and "95.24" in rows[0] and "50.00" in rows[1]
    assert result.stderr == "" and "good" in result.stdout  # tables go to stdout


def test_score_sequences_option_and_plots(run_cli, fake_dataset, two_trackers, tmp_path):
    good, _ = two_trackers
    names = tmp_path / "names.txt"
    names.write_text("b\n\n")
    plots = tmp_path / "plots"
    result = run_cli("score", "-d", "uav", "--root", tmp_path, "--results", good, "--sequences", names, "--plot", plots, "--json")
    assert result.exit_code == 0, result.output
    assert fake_dataset[0]["sequences"] == ["b"]
    doc = result.json()
    assert list(doc["sequences"]) == ["b"] and len(doc["plots"]) == 3
    assert (plots / "success.png").is_file()
    run_cli("score", "-d", "uav", "--root", tmp_path, "--results", good, "--sequences", "a, b", "--json")
    assert fake_dataset[1]["sequences"] == ["a", "b"]


def test_score_errors_are_one_line_with_exit_code_2(run_cli, fake_dataset, two_trackers, tmp_path):
    good, _ = two_trackers
    missing = run_cli("score", "-d", "lasot", "--root", tmp_path, "--results", tmp_path / "nope")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.txt").write_text("1\t2\t3\t4\n1\t2\t3\n")
    (bad / "b.txt").write_text("1\t2\t3\t4\n")
    malformed = run_cli("score", "-d", "lasot", "--root", tmp_path, "--results", bad, "--json")
    (bad / "a.txt").write_text("1\t2\t3\t4\n1\t2\t-3\t4\n")
    negative = run_cli("score", "-d", "lasot", "--root", tmp_path, "--results", bad)
    for result, text in ((missing, "does not exist"), (malformed, "a.txt:2: expected 4"), (negative, "a.txt:2: negative")):
        assert result.exit_code == 2
        assert result.stderr.startswith("Error: ") and text in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert result.stdout == ""


def test_pack_cli(run_cli, tmp_path):
    folder = tmp_path / "trk"
    folder.mkdir()
    np.savetxt(folder / "s1.txt", np.array([[1, 2, 3, 4]]), fmt="%d", delimiter="\t")
    out = tmp_path / "tn.zip"
    result = run_cli("pack", "--format", "trackingnet", "--results", folder, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    assert result.json()["sequences"] == 1
    with zipfile.ZipFile(out) as archive:
        assert archive.read("s1.txt") == b"1,2,3,4\n"
    failed = run_cli("pack", "--format", "got10k", "--results", folder, "--out", tmp_path / "g.zip")
    assert failed.exit_code == 2 and "timing file" in failed.stderr


def _lasot_sequence(root, name, boxes, occlusion):
    folder = root / name.rsplit("-", 1)[0] / name
    (folder / "img").mkdir(parents=True)
    for i in range(1, len(boxes) + 1):
        (folder / "img" / f"{i:08d}.jpg").write_bytes(b"")
    np.savetxt(folder / "groundtruth.txt", np.array(boxes), fmt="%d", delimiter=",")
    (folder / "full_occlusion.txt").write_text(",".join(str(v) for v in occlusion) + "\n")
    (folder / "out_of_view.txt").write_text(",".join("0" for _ in boxes) + "\n")


def test_score_smoke_with_the_lasot_reader(run_cli, tmp_path, results_folder):
    """End to end through the real LaSOT reader: an invisible frame fails precision and norm. precision."""
    root = tmp_path / "lasot"
    _lasot_sequence(root, "airplane-1", [BOX] * 4, [0, 0, 1, 0])
    _lasot_sequence(root, "airplane-13", [BOX] * 2, [0, 0])
    tracker = results_folder(tmp_path / "results" / "exact", {"airplane-1": [BOX] * 4, "airplane-13": [BOX] * 2})
    result = run_cli(
        "score", "-d", "lasot", "--root", root, "--results", tracker, "--sequences", "airplane-1,airplane-13", "--json"
    )
    assert result.exit_code == 0, result.output
    doc = result.json()
    assert doc["sequences"]["airplane-1"]["precision"] == 75.0
    assert doc["sequences"]["airplane-1"]["norm_precision"] == 75.0
    assert doc["metrics"]["precision"] == pytest.approx(87.5)


def test_an_annotation_only_root_scores_without_torch(tmp_path):
    """LaSOT annotations with no image at all, scored in a fresh interpreter that never imports torch."""
    import subprocess
    import sys

    import numpy as np

    root, results = tmp_path / "lasot", tmp_path / "results"
    results.mkdir()
    for i, name in enumerate(("cat-1", "cat-2")):
        folder = root / "cat" / name
        folder.mkdir(parents=True)
        boxes = np.array([[10 + k, 20, 30, 40] for k in range(6)])
        np.savetxt(folder / "groundtruth.txt", boxes, fmt="%d", delimiter=",")
        for flags in ("full_occlusion.txt", "out_of_view.txt"):
            (folder / flags).write_text("0,0,0,0,0,0\n")
        np.savetxt(results / f"{name}.txt", boxes + [i, 0, 0, 0], fmt="%d", delimiter="\t")
    code = (
        "import sys; from compresstracker.cli.main import main\n"
        f"sys.argv = ['ctrack', 'score', '-d', 'lasot', '--root', {str(root)!r}, '--split', 'all', '-r', {str(results)!r}, '--json']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "print('torch imported' if 'torch' in sys.modules else 'no torch')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("no torch")
    assert '"auc"' in done.stdout and not any(root.rglob("*.jpg"))


def test_score_baseline_adds_the_first_box_row(run_cli, fake_dataset, two_trackers, tmp_path):
    _, half = two_trackers
    result = run_cli("score", "-d", "lasot", "--root", tmp_path, "--results", half, "--baseline", "--json")
    assert result.exit_code == 0, result.output
    trackers = result.json()["trackers"]
    assert [t["tracker"] for t in trackers] == ["half", "first box"]
    assert trackers[1]["metrics"]["auc"] == pytest.approx(100.0 * 20 / 21, abs=1e-4)  # targets that never move
    table = run_cli("score", "-d", "lasot", "--root", tmp_path, "--results", half, "--baseline")
    assert "first box" in table.stdout
