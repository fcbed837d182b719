"""Server packs: zip layouts of GOT-10k and TrackingNet, values as given, missing sequences named."""
from __future__ import annotations

import zipfile

import pytest

from compresstracker.errors import ResultsError
from compresstracker.evaluation import pack_results


def _tracker(tmp_path, names=("a", "b"), with_time=True):
    folder = tmp_path / "results" / "mytracker"
    folder.mkdir(parents=True)
    for name in names:
        (folder / f"{name}.txt").write_text("10\t20\t30.5\t40\n11\t21\t31\t41\n")
        if with_time:
            (folder / f"{name}_time.txt").write_text("0.0125\n0.0100\n")
    return folder


def test_got10k_pack_layout(tmp_path, make_seq):
    folder = _tracker(tmp_path)
    out = tmp_path / "packs" / "got10k.zip"
    summary = pack_results("got10k", folder, out)
    assert summary["sequences"] == 2
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["a/a_001.txt", "a/a_time.txt", "b/b_001.txt", "b/b_time.txt"]
        assert archive.read("a/a_001.txt").decode() == "10,20,30.5,40\n11,21,31,41\n"
        assert archive.read("b/b_time.txt").decode() == "0.0125\n0.0100\n"
    assert [p.name for p in out.parent.iterdir()] == ["got10k.zip"]  # no temp file left behind


def test_trackingnet_pack_layout(tmp_path):
    folder = _tracker(tmp_path, with_time=False)
    out = tmp_path / "tn.zip"
    pack_results("trackingnet", folder, out)
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["a.txt", "b.txt"]
        assert archive.read("b.txt").decode() == "10,20,30.5,40\n11,21,31,41\n"


def test_missing_sequences_are_named(tmp_path, make_seq):
    folder = _tracker(tmp_path, names=("a",))
    split = [make_seq(name, [[0, 0, 1, 1]]) for name in ("a", "b", "c")]
    with pytest.raises(ResultsError, match=r"2 sequence\(s\) have no result file .*: b, c"):
        pack_results("trackingnet", folder, tmp_path / "x.zip", split)
    assert not (tmp_path / "x.zip").exists()


def test_got10k_needs_timing_files(tmp_path):
    folder = _tracker(tmp_path, with_time=False)
    with pytest.raises(ResultsError, match=r"no timing file .*: a, b"):
        pack_results("got10k", folder, tmp_path / "x.zip")


def test_frame_counts_are_checked_against_the_split(tmp_path, make_seq):
    folder = _tracker(tmp_path, names=("a",))
    seq = make_seq("a", [[0, 0, 1, 1]])
    seq.frames = ["f1.jpg", "f2.jpg", "f3.jpg"]
    with pytest.raises(ResultsError, match="2 boxes for the 3 frames of a"):
        pack_results("trackingnet", folder, tmp_path / "x.zip", [seq])


def test_results_outside_the_split_are_left_out(tmp_path, make_seq):
    folder = _tracker(tmp_path, names=("a", "extra"))
    summary = pack_results("trackingnet", folder, tmp_path / "x.zip", [make_seq("a", [[0, 0, 1, 1]])])
    assert summary["not_packed"] == ["extra"]
    with zipfile.ZipFile(tmp_path / "x.zip") as archive:
        assert archive.namelist() == ["a.txt"]
