"""Ground-truth and label parsing: separators, malformed rows, NaN rules, visibility."""
from __future__ import annotations

import numpy as np
import pytest

from compresstracker.data import Sequence, read_boxes, training_visibility
from compresstracker.data.annotations import list_images, read_flags, read_ini, read_names
from compresstracker.errors import DatasetError


@pytest.mark.parametrize(
    "text",
    ["1,2,3,4\n5,6,7,8\n", "1\t2\t3\t4\n5\t6\t7\t8", "1 2  3 4\r\n5 6 7 8\r\n", "1,2,3,4,\n\n5;6;7;8\n", "\ufeff1,2,3,4\n5,6,7,8\n"],
)
def test_read_boxes_accepts_every_separator(tmp_path, text):
    path = tmp_path / "gt.txt"
    path.write_text(text, encoding="utf-8")
    np.testing.assert_array_equal(read_boxes(path), [[1, 2, 3, 4], [5, 6, 7, 8]])


def test_single_row_is_two_dimensional(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("10.5,20,30,40\n")
    assert read_boxes(path).shape == (1, 4)


@pytest.mark.parametrize(
    "text, line, what",
    [
        ("1,2,3,4\n1,2,3\n", 2, "expected 4 numbers"),
        ("1,2,3,4\n\n1,2,x,4\n", 3, "'x' is not a number"),
        ("1,2,3,4,5\n", 1, "found 5"),
    ],
)
def test_malformed_row_names_file_and_line(tmp_path, text, line, what):
    path = tmp_path / "groundtruth.txt"
    path.write_text(text)
    with pytest.raises(DatasetError) as err:
        read_boxes(path)
    assert f"{path}:{line}:" in str(err.value)
    assert what in str(err.value)
    assert "\n" not in str(err.value)


def test_nan_rows_are_an_error_unless_allowed(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("1,2,3,4\n\nNaN,NaN,NaN,NaN\n")
    with pytest.raises(DatasetError, match=rf"{path}:3: NaN in ground truth"):
        read_boxes(path)
    boxes = read_boxes(path, allow_nan=True)
    assert boxes.shape == (2, 4) and np.isnan(boxes[1]).all()


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(DatasetError, match="empty file"):
        read_boxes(tmp_path / "empty.txt")
    with pytest.raises(DatasetError, match="not found"):
        read_boxes(tmp_path / "absent.txt")


def test_flags_one_line_or_one_per_line(tmp_path):
    (tmp_path / "a.txt").write_text("0,1,1,0\n")
    (tmp_path / "b.label").write_text("0\n1\n1\n0\n")
    np.testing.assert_array_equal(read_flags(tmp_path / "a.txt"), [0, 1, 1, 0])
    np.testing.assert_array_equal(read_flags(tmp_path / "b.label", 4), [0, 1, 1, 0])
    with pytest.raises(DatasetError, match="4 labels but the ground truth has 5 rows"):
        read_flags(tmp_path / "a.txt", 5)


def test_ini_names_and_image_sorting(tmp_path):
    (tmp_path / "meta_info.ini").write_text("[METAINFO]\nurl: https://x.y/z\nobject_class: zebra\n")
    assert read_ini(tmp_path / "meta_info.ini") == {"url": "https://x.y/z", "object_class": "zebra"}
    (tmp_path / "names.txt").write_text("a-1\n\n# comment\nb-2  # trailing\n")
    assert read_names(tmp_path / "names.txt") == ["a-1", "b-2"]
    for name in ("f10.png", "f2.png", "f1.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.rsplit("/", 1)[1] for p in list_images(tmp_path)] == ["f1.jpg", "f2.png", "f10.png"]
    assert [p.rsplit("/", 1)[1] for p in list_images(tmp_path, key=None)] == ["f1.jpg", "f10.png", "f2.png"]


def _sequence(boxes, **labels) -> Sequence:
    return Sequence("s", [f"{i}.jpg" for i in range(len(boxes))], np.asarray(boxes, float), "folder", **labels)


def test_training_visibility_rules():
    boxes = [[0, 0, 5, 5], [0, 0, 0, 5], [0, 0, 5, 5], [np.nan] * 4, [0, 0, 5, 5]]
    assert training_visibility(_sequence(boxes)).tolist() == [True, False, True, False, True]
    lasot = _sequence(boxes, target_visible=np.array([1, 1, 0, 1, 1], bool))
    assert training_visibility(lasot).tolist() == [True, False, False, False, True]
    got = _sequence(boxes, absent=np.array([0, 0, 0, 0, 1], bool), cover=np.array([8, 8, 0, 8, 8]))
    assert training_visibility(got).tolist() == [True, False, False, False, False]


@pytest.mark.parametrize("text, columns, blank_inside, delimiter, expected", [
    (b"1 2 3 4\r\n5 6 7 8\r\n", 4, True, None, [[1, 2, 3, 4], [5, 6, 7, 8]]),
    (b"\n1 2\n\n3 4\n  \n", 2, True, None, [[1, 2], [3, 4]]),
    (b"\n1 2\n3 4\n", 2, False, None, None),  # a blank line before the last row: the careful reader decides
    (b"1 2\n \n3 4\n", 2, False, None, None),
    (b"1 2\n3 4\n\n\n", 2, False, None, [[1, 2], [3, 4]]),  # trailing blank lines are fine
    (b"1 2 3\n4 5\n", 3, True, None, None),  # ragged
    (b"1 2 3 4\n", 2, True, None, None),  # wrong width
    (b"1 2 x 4\n", 4, True, None, None),
    (b"1 2 # 3\n", 3, True, None, None),  # no comment syntax in annotation files
    (b"   \n", 4, True, None, None),
    (b"1, 2,nan ,4\n", 4, True, b",", [[1, 2, np.nan, 4]]),
    (b"1,2,3 4\n", 4, True, b",", None),  # two numbers in one comma field
    (b"1,2,,3,4\n", 4, True, b",", None),
    (b"1,2,3,4,\n", 4, True, b",", None),
])
def test_parse_table_fast_path(text, columns, blank_inside, delimiter, expected):
    from compresstracker.data.annotations import parse_table

    table = parse_table(text, columns, blank_inside, delimiter)
    if expected is None:
        assert table is None
    else:
        np.testing.assert_array_equal(table, np.array(expected, dtype=np.float64))
