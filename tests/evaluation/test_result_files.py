"""Reading tracker result files: separators, ints and floats, layouts, and errors naming file and line."""
from __future__ import annotations

import numpy as np
import pytest

from compresstracker.errors import ResultsError
from compresstracker.evaluation import list_result_sequences, read_result_file, result_path
from compresstracker.evaluation.results import existing_results_dir, read_result_tokens, time_path, tracker_name

EXPECTED = np.array([[1, 2, 3, 4], [5.5, 6, 7, 8.25]])


@pytest.mark.parametrize(
    "text",
    [
        "1\t2\t3\t4\n5.5\t6\t7\t8.25\n",
        "1,2,3,4\n5.5,6,7,8.25",
        "1 2  3 4\r\n5.5 6 7 8.25\r\n\n",
        "1, 2, 3, 4\n5.5, 6, 7, 8.25\n",
        "1,2,3,4\n5.5\t6\t7\t8.25\n",  # mixed lines still read line by line
    ],
)
def test_separators_and_number_forms(tmp_path, text):
    path = tmp_path / "seq.txt"
    path.write_text(text)
    boxes = read_result_file(path)
    assert boxes.dtype == np.float64
    np.testing.assert_array_equal(boxes, EXPECTED)


def test_single_line_is_two_dimensional(tmp_path):
    (tmp_path / "one.txt").write_text("10\t20\t30\t40\n")
    assert read_result_file(tmp_path / "one.txt").shape == (1, 4)


@pytest.mark.parametrize(
    "text, line, what",
    [
        ("1\t2\t3\t4\n1\t2\t3\t4\n1\t2\t3\n", 3, "expected 4 numbers, found 3"),
        ("1,2,3,4\n1,2,x,4\n", 2, "'x' is not a number"),
        ("1,2,3,4\n1,,3,4\n", 2, "'' is not a number"),
        ("1 2 3 4 5\n", 1, "found 5"),
        ("1 2 3 4\n\n1 2 3 4\n", 2, "empty line"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, text, line, what):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ResultsError) as info:
        read_result_file(path)
    message = str(info.value)
    assert f"{path}:{line}:" in message and what in message
    assert "\n" not in message


def test_empty_and_missing_files_are_errors(tmp_path):
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ResultsError, match="empty"):
        read_result_file(tmp_path / "empty.txt")
    with pytest.raises(ResultsError, match="does not exist"):
        read_result_file(tmp_path / "nope.txt")
    with pytest.raises(ResultsError, match="results folder .* does not exist"):
        existing_results_dir(tmp_path / "no-tracker")


def test_tokens_keep_values_as_written(tmp_path):
    (tmp_path / "s.txt").write_text("12\t3.50\t1e2\t7\n")
    assert read_result_tokens(tmp_path / "s.txt") == [["12", "3.50", "1e2", "7"]]


def test_both_layouts_and_listing(tmp_path):
    tracker = tmp_path / "OSTrack-256"
    tracker.mkdir()
    (tracker / "plain.txt").write_text("1\t2\t3\t4\n")
    (tracker / "plain_time.txt").write_text("0.01\n")
    (tracker / "got").mkdir()
    (tracker / "got" / "got_001.txt").write_text("1,2,3,4\n")
    (tracker / "got" / "got_time.txt").write_text("0.02\n")
    (tracker / "notes").mkdir()
    assert list_result_sequences(tracker) == ["got", "plain"]
    assert result_path(tracker, "got") == tracker / "got" / "got_001.txt"
    assert result_path(tracker, "plain") == tracker / "plain.txt"
    assert result_path(tracker, "absent") is None
    assert time_path(tracker, "got") == tracker / "got" / "got_time.txt"
    assert time_path(tracker, "plain") == tracker / "plain_time.txt"
    assert tracker_name(tracker) == "OSTrack-256"


def test_a_file_that_is_not_text_names_its_line(tmp_path):
    path = tmp_path / "box-1.txt"
    path.write_bytes(b"1 2 3 4\n\xff\xfe 6 7 8\n")
    for read in (read_result_file, read_result_tokens):
        with pytest.raises(ResultsError, match=r"box-1.txt:2: not text \(byte 0xff is not UTF-8\)"):
            read(path)
