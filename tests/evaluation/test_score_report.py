"""score_results / score_trackers over results folders, tables, attribute breakdowns and plots."""
from __future__ import annotations

import numpy as np
import pytest
from rich.console import Console

from compresstracker.errors import DatasetError, ResultsError
from compresstracker.evaluation import (
    attribute_breakdown,
    attribute_table,
    evaluate_ope,
    score_results,
    score_trackers,
    scores_table,
    write_plots,
)

BOX = [10, 10, 20, 20]
FAR = [150, 150, 20, 20]


@pytest.fixture
def toy(make_seq, make_dataset, results_folder, tmp_path):
    """Three sequences; tracker 'good' is perfect, tracker 'half' misses half of the frames."""
    sequences = [
        make_seq("a", [BOX] * 4, attributes={"occlusion": True, "fast": 0}),
        make_seq("b", [BOX] * 4, attributes={"occlusion": False, "fast": 1}),
        make_seq("c", [BOX] * 2, attributes={"occlusion": 1, "fast": False, "note": "text is no flag"}),
    ]
    good = results_folder(tmp_path / "results" / "good", {s.name: [BOX] * len(s.ground_truth) for s in sequences})
    half = results_folder(
        tmp_path / "results" / "half",
        {"a": [BOX, BOX, FAR, FAR], "b": [BOX, FAR, FAR, FAR], "c": [BOX, BOX]},
        fmt="%.1f",
        delimiter=",",
    )
    return make_dataset(sequences), good, half


def test_score_results_shape_and_values(toy):
    dataset, good, half = toy
    report = score_results(dataset, [good, half])
    assert report["dataset"] == "toy" and [t["tracker"] for t in report["trackers"]] == ["good", "half"]
    first, second = report["trackers"]
    assert set(first["metrics"]) == {"auc", "op50", "op75", "precision", "norm_precision"}
    assert first["metrics"]["op50"] == 100.0
    assert second["metrics"]["op50"] == pytest.approx((50 + 25 + 100) / 3, abs=1e-4)
    assert second["sequences"]["b"]["op50"] == 25.0 and second["sequences"]["b"]["frames"] == 4
    assert first["dataset"] == "toy" and len(first["curves"]["success"]) == 21


def test_sequence_subset(toy):
    dataset, good, half = toy
    report = score_results(dataset, [half], sequences=["b"])
    assert list(report["trackers"][0]["sequences"]) == ["b"]
    assert report["trackers"][0]["metrics"]["op50"] == 25.0
    with pytest.raises(DatasetError, match="not in dataset toy: zz"):
        score_results(dataset, [half], sequences=["b", "zz"])


def test_missing_result_files_are_named_and_counted(toy):
    dataset, good, half = toy
    (half / "b.txt").unlink()
    with pytest.raises(ResultsError, match=r"1 of 3 sequences have no result file in .*half: b"):
        score_results(dataset, [good, half])
    report = score_results(dataset, [good, half], allow_missing=True)
    for tracker in report["trackers"]:  # only sequences every tracker has
        assert sorted(tracker["sequences"]) == ["a", "c"]


def test_missing_results_folder_is_an_error(toy, tmp_path):
    dataset, _, _ = toy
    with pytest.raises(ResultsError, match="does not exist"):
        score_results(dataset, [tmp_path / "nothing"])


def test_withheld_ground_truth_is_an_error(make_seq, make_dataset, results_folder, tmp_path):
    seq = make_seq("t", [BOX])
    seq.frames = ["1.jpg", "2.jpg", "3.jpg"]
    folder = results_folder(tmp_path / "r" / "trk", {"t": [BOX] * 3})
    with pytest.raises(DatasetError, match="first frame only"):
        score_results(make_dataset([seq]), [folder])


def test_got10k_protocol_scores_ao(make_seq, make_dataset, results_folder, tmp_path):
    seqs = [make_seq("g", [BOX] * 3, protocol="got10k", cover=[1, 1, 0], image_size=(64, 64))]
    folder = tmp_path / "r" / "trk"
    (folder / "g").mkdir(parents=True)
    (folder / "g" / "g_001.txt").write_text("10,10,20,20\n10,10,20,10\n0,0,1,1\n")
    report = score_results(make_dataset(seqs, name="got10k", protocol="got10k"), [folder])
    assert report["trackers"][0]["metrics"] == pytest.approx({"ao": 50.0, "sr50": 0.0, "sr75": 0.0})


def test_attribute_breakdown_is_the_score_of_each_subset(toy):
    dataset, _, half = toy
    score = score_trackers(dataset, [half])[0]
    breakdown = attribute_breakdown(score, dataset.sequences)
    assert set(breakdown) == {"occlusion", "fast"}
    assert breakdown["occlusion"]["sequences"] == 2
    seqs = {s.name: s for s in dataset.sequences}
    expected = evaluate_ope([seqs["a"], seqs["c"]], [np.array([BOX, BOX, FAR, FAR]), np.array([BOX, BOX])])
    assert breakdown["occlusion"]["auc"] == expected.metrics()["auc"]
    assert breakdown["fast"]["op50"] == 25.0


def _render(table) -> str:
    console = Console(record=True, width=120)
    console.print(table)
    return console.export_text()


def test_tables_show_trackers_side_by_side(toy):
    dataset, good, half = toy
    scores = score_trackers(dataset, [good, half])
    text = _render(scores_table(scores))
    assert "toy (3 sequences)" in text and "Norm. Prec." in text
    good_line = next(line for line in text.splitlines() if "good" in line)
    assert "100.00" in good_line
    half_line = next(line for line in text.splitlines() if "half" in line)
    assert f"{scores[1].metrics()['auc']:.2f}" in half_line
    attributes = _render(attribute_table(scores, dataset.sequences))
    assert "occlusion" in attributes and "fast" in attributes


def test_plots_are_written_atomically(toy, tmp_path):
    dataset, good, half = toy
    scores = score_trackers(dataset, [half, good])
    out = tmp_path / "plots"
    written = write_plots(scores, out, dataset.sequences)
    names = sorted(p.name for p in written)
    assert names == ["norm_precision.png", "precision.png", "success.png", "success_fast.png", "success_occlusion.png"]
    assert sorted(p.name for p in out.iterdir()) == names  # nothing else (no temp files)
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_first_box_score_is_the_score_of_repeating_the_first_box(make_seq, make_dataset, results_folder, tmp_path):
    from compresstracker.evaluation.report import first_box_score

    moving = [[10, 10, 20, 20], [14, 10, 20, 20], [30, 10, 20, 20], [60, 10, 20, 20]]
    dataset = make_dataset([make_seq("a", moving), make_seq("b", [BOX] * 3)])
    repeated = results_folder(tmp_path / "first", {"a": [moving[0]] * 4, "b": [BOX] * 3})
    baseline = first_box_score(dataset)
    assert baseline.metrics() == score_trackers(dataset, [repeated])[0].metrics()
    assert 50 < baseline.metrics()["auc"] < 100  # perfect on the still sequence, lost on the moving one


def test_kept_standard_error_follows_the_paired_per_sequence_scores(make_seq, make_dataset, results_folder, tmp_path):
    from compresstracker.evaluation.compare import kept_standard_error

    seqs = [make_seq(name, [BOX] * 4) for name in "abcd"]
    dataset = make_dataset(seqs)
    teacher = results_folder(tmp_path / "teacher", {"a": [BOX] * 4, "b": [BOX] * 4, "c": [BOX, BOX, FAR, FAR], "d": [BOX, BOX, FAR, FAR]})
    same = results_folder(tmp_path / "same", {"a": [BOX] * 4, "b": [BOX] * 4, "c": [BOX, BOX, FAR, FAR], "d": [BOX, BOX, FAR, FAR]})
    swapped = results_folder(tmp_path / "swapped", {"a": [BOX, BOX, FAR, FAR], "b": [BOX] * 4, "c": [BOX] * 4, "d": [BOX, BOX, FAR, FAR]})
    t, s, w = score_trackers(dataset, [teacher, same, swapped])
    assert kept_standard_error(t, s) == pytest.approx(0.0, abs=1e-9)  # the same on every sequence: no spread
    # per-sequence AUCs 100/100/50/50 vs 50/100/100/50: kept = 100 %, residuals -50, 0, 50, 0 over mean 75
    expected = 100 * np.sqrt((50 ** 2 + 50 ** 2) / (4 * 3)) / 75
    assert kept_standard_error(t, w) == pytest.approx(expected, rel=1e-5)
