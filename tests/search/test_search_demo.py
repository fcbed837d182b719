"""The search demo: the paired standard errors, the comparison table's columns, and the whole demo at toy size."""
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


def test_comparison_table_shows_both_scores_the_first_box_floor_and_the_standard_errors():
    from rich.console import Console

    from compresstracker.cli.demo import comparison_table

    lead = lambda mean, se, first, second: {  # noqa: E731
        "random_draws": 2, "searched_minus_random": mean, "standard_error": se,
        "per_draw": [{"model": "random-1", "searched_minus": first, "standard_error": 1.75},
                     {"model": "random-2", "searched_minus": second, "standard_error": 2.0}]}
    summary = {"budget": 12.5e6, "test": {"sequences": 60, "frames": 40, "difficulty": "fair", "first_box_auc": 20.0,
                                          "supernet": lead(6.25, 1.5, 6.25, 6.25), "retrained": lead(-0.5, 0.75, -1.0, 0.0)},
               "networks": [{"model": "searched", "arch": "s-arch", "macs": 12.0e6, "params": 51_200, "auc_supernet": 45.0,
                             "over_first_box_supernet": 2.25, "auc_retrained": 50.0, "over_first_box_retrained": 2.5},
                            {"model": "random-1", "arch": "r-arch", "macs": 9.0e6, "params": 40_000, "auc_supernet": 38.75,
                             "over_first_box_supernet": 1.9375, "auc_retrained": 51.0, "over_first_box_retrained": 2.55},
                            {"model": "random-2", "arch": "q-arch", "macs": 8.0e6, "params": 30_000, "auc_supernet": 38.75,
                             "over_first_box_supernet": 1.9375, "auc_retrained": 50.0, "over_first_box_retrained": 2.5}]}
    console = Console(record=True, width=250)
    console.print(comparison_table(summary))
    text = console.export_text()
    flat = " ".join(text.split())  # the title and caption wrap at the table's width
    assert "x first box" in flat and "60 generated test clips x 40 frames (fair)" in flat and "12.50M MACs" in flat
    cells = [re.split(r"\s{2,}", line.strip()) for line in text.splitlines()]
    rows = {row[0]: row[1:] for row in cells if len(row) == 8}
    assert rows["searched"] == ["s-arch", "12.00", "51.2", "45.00", "2.25", "50.00", "2.50"]
    assert rows["random-1"] == ["r-arch", "9.00", "40.0", "38.75", "1.94", "51.00", "2.55"] and rows["random-2"][0] == "q-arch"
    assert rows["first box"][-4:] == ["20.00", "1.00", "20.00", "1.00"]
    assert ("supernet weights: searched - random (mean of 2 draws): +6.25 AUC, standard error 1.50; "
            "each draw: random-1 +6.25 (1.75); random-2 +6.25 (2.00)") in flat
    assert "Retrained: searched - random (mean of 2 draws): -0.50 AUC, standard error 0.75; each draw: random-1 -1.00 (1.75)" in flat
    assert "sqrt(60)" in flat


def test_the_searched_network_is_compared_with_the_mean_of_the_draws_and_with_each():
    from compresstracker.search.demo import compare_with_draws

    rows = [{"model": "searched", "auc": 50.0}, {"model": "random-1", "auc": 44.0}, {"model": "random-2", "auc": 46.0}]
    per = {"searched": [60.0, 40.0, 50.0], "random-1": [50.0, 40.0, 42.0], "random-2": [52.0, 42.0, 44.0]}
    out = compare_with_draws(rows, per)
    assert out["random_draws"] == 2 and out["random_mean_auc"] == 45.0 and out["searched_minus_random"] == 5.0
    # per clip the draws' mean is 51, 41, 43: differences 9, -1, 7 (mean 5, sample std sqrt(28))
    assert out["standard_error"] == pytest.approx(math.sqrt(28) / math.sqrt(3))
    assert [d["model"] for d in out["per_draw"]] == ["random-1", "random-2"]
    assert [d["searched_minus"] for d in out["per_draw"]] == [6.0, 4.0]
    # against random-1 alone: differences 10, 0, 8 (sample std sqrt(28))
    assert out["per_draw"][0]["standard_error"] == pytest.approx(math.sqrt(28) / math.sqrt(3))


def test_the_search_demo_runs_end_to_end_on_a_small_scale(tmp_path, monkeypatch):
    """The whole demo at toy size: a held-head supernet, the search, the winner and a random draw retrained in
    their own processes and tracked on the test clips."""
    import json

    import compresstracker.search.demo as demo

    monkeypatch.setattr(demo, "TRAIN_CLIPS", (3, 20))
    monkeypatch.setattr(demo, "VAL_CLIPS", (2, 10))
    monkeypatch.setattr(demo, "TEST_CLIPS", (3, 10))
    monkeypatch.setattr(demo, "RANDOM_DRAWS", 1)
    out = demo.run_search_demo(tmp_path / "d", epochs=1, samples=32, population=2, generations=1, retrain_epochs=1, progress=False)
    rows = {row["model"]: row for row in out["networks"]}
    assert list(rows) == ["searched", "random-1"]
    best = json.loads((tmp_path / "d" / "search" / "best.json").read_text())
    assert rows["searched"]["arch"] == best["arch"] != rows["random-1"]["arch"]
    assert all("+cls_211111111+reg_211111111_" in row["arch"] for row in rows.values())  # the held heads
    assert all(row["macs"] <= out["budget"] for row in rows.values())
    test = out["test"]
    assert test["sequences"] == 3
    for stage in ("supernet", "retrained"):
        assert test[stage]["random_draws"] == 1 and math.isfinite(test[stage]["standard_error"])
        assert test[stage]["searched_minus_random"] == pytest.approx(rows["searched"][f"auc_{stage}"] - rows["random-1"][f"auc_{stage}"])
        assert rows["searched"][f"over_first_box_{stage}"] == pytest.approx(rows["searched"][f"auc_{stage}"] / test["first_box_auc"])
        for name in rows:
            assert len(list((tmp_path / "d" / "results" / stage / name).glob("*.txt"))) >= 3
    for name in rows:
        assert (tmp_path / "d" / f"retrain_{name}" / "model.safetensors").is_file()
