"""Every benchmark reader on small hand-written datasets in its layout."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from compresstracker.data import get_dataset, list_datasets, training_visibility
from compresstracker.data.readers import split_names, split_records
from compresstracker.errors import DatasetError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def touch(folder: Path, names) -> None:
    """Empty frame files: readers check that frames exist, never decode them."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")


def boxes_text(n: int, sep: str = ",", start: int = 0) -> str:
    return "".join(sep.join(str(v) for v in (start + i, 2 * i, 10 + i, 20)) + "\n" for i in range(n))


def basenames(sequence) -> list[str]:
    return [os.path.basename(f) for f in sequence.frames]


# ---------------------------------------------------------------- LaSOT
def make_lasot_sequence(root: Path, name: str, n: int = 5, flat: bool = False) -> Path:
    folder = root / name if flat else root / name.rsplit("-", 1)[0] / name
    write(folder / "groundtruth.txt", boxes_text(n))
    write(folder / "full_occlusion.txt", ",".join("1" if i == 2 else "0" for i in range(n)) + "\n")
    write(folder / "out_of_view.txt", ",".join("1" if i == 3 else "0" for i in range(n)) + "\n")
    write(folder / "nlp.txt", "white airplane landing\n")
    touch(folder / "img", [f"{i:08d}.jpg" for i in range(1, n + 1)])
    return folder


def test_lasot_test_split_reads_frames_gt_and_visibility(tmp_path):
    make_lasot_sequence(tmp_path, "airplane-1")
    make_lasot_sequence(tmp_path, "airplane-9", n=3, flat=True)  # flat layout works too
    make_lasot_sequence(tmp_path, "airplane-10")  # a training sequence: not in the test split
    dataset = get_dataset("lasot", tmp_path, allow_missing=True)
    assert dataset.split == "test" and dataset.protocol == "lasot"
    assert dataset.names == ["airplane-1", "airplane-9"]
    seq = dataset["airplane-1"]
    assert basenames(seq) == [f"{i:08d}.jpg" for i in range(1, 6)]
    assert seq.ground_truth.shape == (5, 4) and seq.ground_truth[4].tolist() == [4, 8, 14, 20]
    assert seq.target_visible.tolist() == [True, True, False, False, True]
    assert seq.object_class == "airplane" and seq.language == "white airplane landing"
    assert seq.dataset == "lasot" and len(dataset[1]) == 3
    assert training_visibility(seq).tolist() == [True, True, False, False, True]


def test_lasot_missing_sequences_error_names_them(tmp_path):
    make_lasot_sequence(tmp_path, "airplane-1")
    with pytest.raises(DatasetError) as err:
        get_dataset("lasot", tmp_path)
    message = str(err.value)
    assert "279 of 280" in message and "airplane-9" in message and "allow" in message
    assert "airplane-1," not in message  # the present one is not listed


def test_lasot_train_all_and_sequence_lists(tmp_path):
    for name in ("airplane-10", "airplane-1", "cat-2"):
        make_lasot_sequence(tmp_path, name)
    assert get_dataset("lasot", tmp_path, split="train", allow_missing=True).names == ["airplane-10", "cat-2"]
    assert sorted(get_dataset("lasot", tmp_path, split="all").names) == ["airplane-1", "airplane-10", "cat-2"]
    assert len(get_dataset("lasot", f"{tmp_path}:all")) == 3
    listed = write(tmp_path / "mine.txt", "cat-2\nairplane-1\n")
    picked = get_dataset("lasot", tmp_path, sequences=listed)
    assert picked.names == ["cat-2", "airplane-1"] and picked.split == "mine"
    assert get_dataset("lasot", tmp_path, split=str(listed)).names == ["cat-2", "airplane-1"]
    assert get_dataset("lasot", tmp_path, sequences=["airplane-1"]).names == ["airplane-1"]
    with pytest.raises(DatasetError, match="1 of 2 .*dog-1"):
        get_dataset("lasot", tmp_path, sequences=["airplane-1", "dog-1"])
    assert get_dataset("lasot", tmp_path, sequences=["airplane-1", "dog-1"], allow_missing=True).names == ["airplane-1"]


def test_lasot_malformed_and_nan_ground_truth(tmp_path):
    folder = make_lasot_sequence(tmp_path, "airplane-1")
    write(folder / "groundtruth.txt", "1,2,3,4\n1,2,3,4\n1,2,3\n1,2,3,4\n1,2,3,4\n")
    dataset = get_dataset("lasot", tmp_path, split="all")
    with pytest.raises(DatasetError, match=r"groundtruth.txt:3: expected 4 numbers"):
        dataset[0]
    write(folder / "groundtruth.txt", "1,2,3,4\n1,2,3,4\nnan,nan,nan,nan\n1,2,3,4\n1,2,3,4\n")
    with pytest.raises(DatasetError, match=r"groundtruth.txt:3: NaN in ground truth"):
        dataset[0]
    write(folder / "groundtruth.txt", boxes_text(6))
    with pytest.raises(DatasetError, match="5 labels but the ground truth has 6 rows"):
        dataset[0]


def test_lasot_ext(tmp_path):
    make_lasot_sequence(tmp_path, "atv-1")
    dataset = get_dataset("lasot_ext", tmp_path, allow_missing=True)
    assert dataset.names == ["atv-1"] and dataset.protocol == "lasot_ext" and dataset[0].object_class == "atv"


# ---------------------------------------------------------------- GOT-10k
def make_got_sequence(folder: Path, n: int, labels: bool = True) -> None:
    write(folder / "groundtruth.txt", boxes_text(n if labels else 1))
    touch(folder, [f"{i:08d}.jpg" for i in range(1, n + 1)])
    if labels:
        write(folder / "absence.label", "".join(f"{int(i == 1)}\n" for i in range(n)))
        write(folder / "cover.label", "".join(f"{0 if i == 2 else 8}\n" for i in range(n)))
        write(folder / "cut_by_image.label", "".join(f"{int(i == 3)}\n" for i in range(n)))
        write(folder / "meta_info.ini", "[METAINFO]\nobject_class: zebra\nmotion_class: running\nresolution: (1280, 720)\n")


def test_got10k_folder_splits(tmp_path):
    make_got_sequence(tmp_path / "val" / "GOT-10k_Val_000001", 5)
    make_got_sequence(tmp_path / "test" / "GOT-10k_Test_000001", 4, labels=False)
    write(tmp_path / "val" / "list.txt", "GOT-10k_Val_000001\n")
    write(tmp_path / "test" / "list.txt", "GOT-10k_Test_000001\n")
    val = get_dataset("got10k", tmp_path, split="val")[0]
    assert val.protocol == "got10k" and len(val) == 5 and val.ground_truth.shape == (5, 4)
    assert val.absent.tolist() == [False, True, False, False, False]
    assert val.cover.tolist() == [8, 8, 0, 8, 8] and val.cut_by_image.tolist() == [False, False, False, True, False]
    assert val.object_class == "zebra" and val.image_size_hint == (1280, 720)
    assert val.attributes["motion_class"] == "running"
    assert training_visibility(val).tolist() == [True, False, False, True, True]
    test = get_dataset("got10k", tmp_path)  # default split: test, first box only
    assert test.split == "test" and len(test[0]) == 4 and test[0].ground_truth.shape == (1, 4)
    with pytest.raises(DatasetError, match="train/ \\(whole folder\\)"):
        get_dataset("got10k", tmp_path, split="train")


def test_got10k_published_lists_index_train_list_order(tmp_path):
    train = tmp_path / "train"
    names = [f"GOT-10k_Train_{i:06d}" for i in range(1, 9336)]
    write(train / "list.txt", "\n".join(names) + "\n")
    wanted = [int(i) for i in split_names("got10k_vot_train_split.txt")[:3]]
    assert wanted[0] == 3784  # the published list is not sorted; its order is kept
    for index in [*wanted, 4]:
        make_got_sequence(train / names[index], 3)
    with pytest.raises(DatasetError, match="7083 of 7086"):
        get_dataset("got10k", tmp_path, split="vot_train")
    dataset = get_dataset("got10k", tmp_path, split="vot_train", allow_missing=True)
    assert dataset.names == [names[i] for i in wanted]
    full = get_dataset("got10k", tmp_path, split="train_full", allow_missing=True)
    assert sorted(full.names) == sorted(names[i] for i in [*wanted, 4])
    assert len(get_dataset("got10k", tmp_path, split="train", allow_missing=True)) == 4


def test_got10k_index_beyond_short_list(tmp_path):
    make_got_sequence(tmp_path / "train" / "GOT-10k_Train_000001", 3)
    write(tmp_path / "train" / "list.txt", "GOT-10k_Train_000001\n")
    with pytest.raises(DatasetError, match=r"list.txt has 1 names"):
        get_dataset("got10k", tmp_path, split="train_full")


# ---------------------------------------------------------------- TrackingNet
def make_trackingnet_video(root: Path, chunk: str, vid: str, n: int, first_only: bool = False) -> None:
    write(root / chunk / "anno" / f"{vid}.txt", boxes_text(1 if first_only else n))
    touch(root / chunk / "frames" / vid, [f"{i}.jpg" for i in range(n)])


def test_trackingnet_chunks_and_zero_based_frames(tmp_path):
    make_trackingnet_video(tmp_path, "TRAIN_0", "Nf1aqv5Fg5o_0", 12)
    make_trackingnet_video(tmp_path, "TRAIN_1", "AAB6lO-XiKE_0", 3)
    make_trackingnet_video(tmp_path, "TEST", "zzz_0", 4, first_only=True)
    seq = get_dataset("trackingnet", tmp_path, split="train:0")[0]
    assert basenames(seq) == [f"{i}.jpg" for i in range(12)]  # numeric order: 2.jpg before 10.jpg
    assert seq.object_class == "airplane" and seq.ground_truth.shape == (12, 4)
    assert get_dataset("trackingnet", tmp_path, split="train:1").names == ["AAB6lO-XiKE_0"]
    assert get_dataset("trackingnet", tmp_path, split="train:0-1").names == ["Nf1aqv5Fg5o_0", "AAB6lO-XiKE_0"]
    with pytest.raises(DatasetError, match=r"10 of 12 .*TRAIN_2/ \(whole chunk\)"):
        get_dataset("trackingnet", tmp_path, split="train")
    assert len(get_dataset("trackingnet", tmp_path, split="train", allow_missing=True)) == 2
    test = get_dataset("trackingnet", tmp_path)
    assert test.names == ["zzz_0"] and len(test[0]) == 4 and test[0].ground_truth.shape == (1, 4)
    assert len(get_dataset("trackingnet", f"{tmp_path}:all")) == 3
    with pytest.raises(DatasetError, match="chunks are 0..11"):
        get_dataset("trackingnet", tmp_path, split="train:12")


def test_trackingnet_video_without_frames_is_missing(tmp_path):
    make_trackingnet_video(tmp_path, "TEST", "a_0", 2)
    write(tmp_path / "TEST" / "anno" / "b_0.txt", boxes_text(1))
    with pytest.raises(DatasetError, match="1 of 2 .*b_0"):
        get_dataset("trackingnet", tmp_path)


# ---------------------------------------------------------------- UAV123, NfS, OTB100
def record(filename: str, name: str) -> dict:
    return next(r for r in split_records(filename) if r["name"] == name)


def make_record_sequence(root: Path, rec: dict, gt: str) -> None:
    """The annotation file and the first (after initOmit) and last frame of a record's range."""
    write(root / rec["anno_path"], gt)
    first = rec["startFrame"] + rec.get("initOmit", 0)
    touch(root / rec["path"], [f"{n:0{rec['nz']}d}.{rec['ext']}" for n in (first, rec["endFrame"])])


def test_uav123_sub_ranges_and_nan_rows(tmp_path):
    for name in ("uav_bird1_1", "uav_bird1_2"):
        rec = record("uav123_sequences.json", name)
        count = rec["endFrame"] - rec["startFrame"] + 1
        make_record_sequence(tmp_path, rec, boxes_text(count - 1) + "NaN,NaN,NaN,NaN\n")
    with pytest.raises(DatasetError, match="121 of 123"):
        get_dataset("uav123", tmp_path)
    dataset = get_dataset("uav123", tmp_path, allow_missing=True)
    assert dataset.names == ["uav_bird1_1", "uav_bird1_2"] and dataset.protocol == "uav"
    second = dataset["uav_bird1_2"]
    assert second.frames[0].endswith("data_seq/UAV123/bird1/000775.jpg")
    assert second.frames[-1].endswith("data_seq/UAV123/bird1/001477.jpg")
    assert len(second) == 703 == len(second.ground_truth)
    assert np.isnan(second.ground_truth[-1]).all() and not np.isnan(second.ground_truth[:-1]).any()
    assert not training_visibility(second)[-1]
    assert dataset["uav_bird1_1"].object_class == "bird"


def test_nfs_tab_separated(tmp_path):
    rec = record("nfs_sequences.json", "nfs_Gymnastics")
    make_record_sequence(tmp_path, rec, boxes_text(368, sep="\t"))
    seq = get_dataset("nfs", tmp_path, sequences=["nfs_Gymnastics"])[0]
    assert seq.protocol == "nfs" and len(seq) == 368 and seq.ground_truth[5].tolist() == [5, 10, 15, 20]
    assert seq.frames[0].endswith("sequences/Gymnastics/00001.jpg") and seq.attributes == {"occlusion": False}
    write(tmp_path / rec["anno_path"], boxes_text(3) + "nan\tnan\tnan\tnan\n")
    with pytest.raises(DatasetError, match=r"nfs_Gymnastics.txt:4: NaN"):
        get_dataset("nfs", tmp_path, split="all")[0]


def test_otb_offsets_init_omit_and_two_targets(tmp_path):
    tiger = record("otb100_sequences.json", "Tiger1")
    make_record_sequence(tmp_path, tiger, boxes_text(354, sep=" "))
    blur = record("otb100_sequences.json", "BlurCar1")
    make_record_sequence(tmp_path, blur, boxes_text(742, sep="\t"))
    for name, start in (("Jogging_1", 0), ("Jogging_2", 100)):
        make_record_sequence(tmp_path, record("otb100_sequences.json", name), boxes_text(307, start=start))
    dataset = get_dataset("otb100", tmp_path, split="all")
    assert dataset.protocol == "otb" and set(dataset.names) == {"Tiger1", "BlurCar1", "Jogging_1", "Jogging_2"}
    seq = dataset["Tiger1"]  # initOmit 5: frames 6..354 and ground-truth rows 5..353
    assert seq.frames[0].endswith("Tiger1/img/0006.jpg") and len(seq) == 349
    assert len(seq.ground_truth) == 349 and seq.ground_truth[0].tolist() == [5, 10, 15, 20]
    blurred = dataset["BlurCar1"]
    assert blurred.frames[0].endswith("BlurCar1/img/0247.jpg") and len(blurred) == len(blurred.ground_truth) == 742
    first, second = dataset["Jogging_1"], dataset["Jogging_2"]
    assert first.frames == second.frames
    assert first.ground_truth[0, 0] == 0 and second.ground_truth[0, 0] == 100


# ---------------------------------------------------------------- TNL2K, folder
def test_tnl2k(tmp_path):
    folder = tmp_path / "advSamp_Baseball_game_002-Done"
    write(folder / "groundtruth.txt", boxes_text(3))
    write(folder / "language.txt", "the player in white\n")
    touch(folder / "imgs", ["00001.png", "00003.png", "00002.png"])
    seq = get_dataset("tnl2k", tmp_path)[0]
    assert seq.protocol == "tnl2k" and basenames(seq) == ["00001.png", "00002.png", "00003.png"]
    assert seq.language == "the player in white" and seq.ground_truth.shape == (3, 4)


def test_folder_layouts_and_checks(tmp_path):
    write(tmp_path / "a" / "groundtruth.txt", boxes_text(3))
    touch(tmp_path / "a", ["frame2.png", "frame10.png", "frame1.png"])
    write(tmp_path / "b" / "groundtruth.txt", boxes_text(1))  # first box only: fine for tracking
    touch(tmp_path / "b" / "imgs", ["1.jpg", "2.jpg"])
    write(tmp_path / "c" / "groundtruth.txt", boxes_text(2))
    touch(tmp_path / "c" / "img", ["1.jpg", "2.jpg"])
    write(tmp_path / "c" / "full_occlusion.txt", "0,1\n")
    write(tmp_path / "c" / "out_of_view.txt", "0,0\n")
    dataset = get_dataset("folder", tmp_path)
    assert dataset.names == ["a", "b", "c"] and dataset.protocol == "generic"
    assert basenames(dataset["a"]) == ["frame1.png", "frame2.png", "frame10.png"]
    assert len(dataset["b"]) == 2 and dataset["b"].ground_truth.shape == (1, 4)
    assert dataset["c"].target_visible.tolist() == [True, False] and dataset["a"].target_visible is None
    single = get_dataset("folder", tmp_path / "a")  # the root may be one sequence
    assert single.names == ["a"]
    write(tmp_path / "a" / "groundtruth.txt", boxes_text(2))
    with pytest.raises(DatasetError, match="2 boxes for 3 frames"):
        dataset["a"]


# ---------------------------------------------------------------- errors common to all readers
def test_wrong_layout_says_what_was_expected(tmp_path):
    make_got_sequence(tmp_path / "val" / "GOT-10k_Val_000001", 3)
    write(tmp_path / "val" / "list.txt", "GOT-10k_Val_000001\n")
    with pytest.raises(DatasetError) as err:
        get_dataset("lasot", tmp_path)
    message = str(err.value)
    assert "does not hold lasot data" in message and "full_occlusion.txt" in message and "got10k" in message
    with pytest.raises(DatasetError, match="does not hold trackingnet data"):
        get_dataset("trackingnet", tmp_path)


def test_bad_root_split_and_name(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        get_dataset("lasot", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="unknown dataset 'lasott'"):
        get_dataset("lasott", tmp_path)
    with pytest.raises(DatasetError, match="has no split 'tset'.*test, train, all"):
        get_dataset("lasot", tmp_path, split="tset")
    with pytest.raises(DatasetError, match="sequence list .* not found"):
        get_dataset("lasot", tmp_path, sequences=tmp_path / "names.txt")


def test_registry_listing_covers_every_dataset():
    records = {r["name"]: r for r in list_datasets()}
    expected = {"lasot", "lasot_ext", "got10k", "trackingnet", "uav123", "nfs", "otb100", "tnl2k", "folder", "synthetic"}
    assert expected <= set(records)
    assert records["uav123"]["protocol"] == "uav" and records["otb100"]["protocol"] == "otb"
    assert {"vot_train", "vot_val", "train_full"} <= set(records["got10k"]["splits"])
    assert len(split_names("lasot_test.txt")) == 280 and len(split_records("uav123_sequences.json")) == 123
