"""The search demo's report: the paired standard error and the retrained table's columns (no training here)."""
import math
import re

import pytest


def test_difference_standard_error_is_the_paired_one():
    from compresstracker.search.demo import difference_standard_error

    searched, random = [50.0, 40.0, 60.0, 30.0], [45.0, 41.0, 50.0, 30.0]
    # differences 5, -1, 10, 0: mean 3.5, sample std sqrt(77 / 3)
    assert difference_standard_error(searched, random) == pytest.approx(math.sqrt(77 / 3) / 2)
    assert difference_standard_error(random, searched) == difference_standard_error(searched, random)
    # a constant shift has no spread: pairing removes what the clips share
    assert difference_standard_error([10.0, 80.0, 35.0], [5.0, 75.0, 30.0]) == 0.0
    assert math.isnan(difference_standard_error([1.0], [2.0]))
    with pytest.raises(ValueError, match="same length"):
        difference_standard_error([1.0, 2.0], [1.0, 2.0, 3.0])


def test_retrained_table_shows_the_first_box_floor_and_the_standard_error():
    from rich.console import Console

    from compresstracker.cli.demo import retrained_table

    summary = {"budget": 12.5e6, "test": {"sequences": 60, "frames": 40, "difficulty": "fair", "first_box_auc": 20.0,
                                          "searched_minus_random": 6.25, "standard_error": 1.5},
               "retrained": [{"model": "searched", "arch": "s-arch", "macs": 12.0e6, "params": 51_200, "auc": 45.0, "over_first_box": 2.25},
                             {"model": "random", "arch": "r-arch", "macs": 9.0e6, "params": 40_000, "auc": 38.75, "over_first_box": 1.9375}]}
    console = Console(record=True, width=200)
    console.print(retrained_table(summary))
    text = console.export_text()
    flat = " ".join(text.split())  # the title and caption wrap at the table's width
    assert "x first box" in flat and "60 generated test clips x 40 frames (fair)" in flat and "12.50M MACs" in flat
    cells = [re.split(r"\s{2,}", line.strip()) for line in text.splitlines()]
    rows = {row[0]: row[1:] for row in cells if len(row) == 6}
    assert rows["searched"] == ["s-arch", "12.00", "51.2", "45.00", "2.25"]
    assert rows["random"] == ["r-arch", "9.00", "40.0", "38.75", "1.94"]
    assert rows["first box"][-2:] == ["20.00", "1.00"]
    assert "searched - random: +6.25 AUC, standard error 1.50" in flat and "sqrt(60)" in flat
