"""Toolkit layouts: ``pack --format pytracking|pysot|vot`` writes them and ``score`` reads them back."""
from __future__ import annotations

import numpy as np
import pytest

from compresstracker.evaluation import pack_results
from compresstracker.evaluation.report import score_trackers

GT = {"a": [[10, 10, 20, 20]] * 5, "b": [[40, 30, 16, 12]] * 4}
PRED = {
    "a": [[10, 10, 20, 20], [11.6, 10.2, 19.5, 20.7], [13.9, 9.1, 21.2, 18.8], [30.5, 30.5, 20, 20], [12.2, 11.7, 20.4, 19.9]],
    "b": [[40, 30, 16, 12], [41.8, 29.5, 15.2, 12.9], [44.4, 33.3, 17.7, 11.1], [40.1, 30.9, 16.6, 12.2]],
}


@pytest.fixture
def results(tmp_path, results_folder):
    folder = results_folder(tmp_path / "ct", PRED, fmt="%.4f")
    for name, boxes in PRED.items():
        (folder / f"{name}_time.txt").write_text("".join("0.0125\n" for _ in boxes))
    return folder


@pytest.fixture
def dataset(make_seq, make_dataset):
    return make_dataset([make_seq(name, gt) for name, gt in GT.items()], name="lasot")


def _metrics(dataset, folder) -> dict:
    return score_trackers(dataset, [folder])[0].to_dict()["metrics"]


def test_vot_layout_round_trip(tmp_path, results, dataset):
    out = tmp_path / "workspace" / "results" / "ct" / "baseline"
    summary = pack_results("vot", results, out)
    assert summary["sequences"] == 2
    lines = (out / "a" / "a_001.txt").read_text().splitlines()
    assert lines[0] == "1" and lines[1] == "11.6000,10.2000,19.5000,20.7000" and len(lines) == 5
    assert (out / "a" / "a_001_time.value").read_text().splitlines() == ["0.0125"] * 5
    assert _metrics(dataset, out) == _metrics(dataset, results)


def test_pysot_layout_round_trip(tmp_path, results, dataset):
    out = tmp_path / "pysot" / "ct"
    pack_results("pysot", results, out)
    assert (out / "b.txt").read_text().splitlines()[2] == "44.4000,33.3000,17.7000,11.1000"
    assert not (out / "b_time.txt").exists()
    assert _metrics(dataset, out) == _metrics(dataset, results)


def test_pytracking_layout_truncates_like_pytracking(tmp_path, results, dataset, results_folder):
    out = tmp_path / "pytracking" / "ct"
    pack_results("pytracking", results, out)
    assert (out / "a.txt").read_text().splitlines()[2] == "13\t9\t21\t18"
    assert (out / "a_time.txt").is_file()
    truncated = results_folder(tmp_path / "trunc", {n: np.trunc(np.asarray(b)) for n, b in PRED.items()})
    assert _metrics(dataset, out) == _metrics(dataset, truncated)


def test_a_zip_name_zips_a_toolkit_layout(tmp_path, results):
    import zipfile

    pack_results("pysot", results, tmp_path / "ct.zip")
    with zipfile.ZipFile(tmp_path / "ct.zip") as archive:
        assert sorted(archive.namelist()) == ["a.txt", "b.txt"]



def test_vot_binary_results_read_as_the_text_ones(tmp_path, results, dataset):
    """The VOT toolkit's default binary trajectories (rectangles, a polygon, frame 0's code) score like text."""
    import struct

    out = tmp_path / "vot_bin" / "ct"
    for name, boxes in PRED.items():
        body = struct.pack("<hI", 1, len(boxes)) + struct.pack("<BI", 0, 1)
        for i, (x, y, w, h) in enumerate(boxes[1:]):
            if i == 0:  # a polygon: its bounding box counts
                body += struct.pack("<BH8f", 2, 4, x, y, x + w, y, x + w, y + h, x, y + h)
            else:
                body += struct.pack("<Bffff", 1, x, y, w, h)
        (out / name).mkdir(parents=True)
        (out / name / f"{name}_001.bin").write_bytes(body)
    text = tmp_path / "vot_txt" / "ct"
    pack_results("vot", results, text)
    binary, expected = _metrics(dataset, out), _metrics(dataset, text)
    assert binary.keys() == expected.keys()
    assert all(binary[k] == pytest.approx(expected[k], abs=1e-3) for k in expected)  # float32 in the binary file
