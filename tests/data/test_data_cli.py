"""`ctrack datasets list` and `ctrack data synth` through the CLI."""
from __future__ import annotations

import json


def test_datasets_list_json(run_cli):
    result = run_cli("datasets", "list", "--json")
    assert result.exit_code == 0
    records = {r["name"]: r for r in result.json()}
    assert records["lasot"]["protocol"] == "lasot" and records["lasot"]["default_split"] == "test"
    assert "train" in records["lasot"]["splits"] and "synthetic" in records


def test_datasets_list_table(run_cli):
    result = run_cli("datasets", "list")
    assert result.exit_code == 0
    assert "trackingnet" in result.output and "otb100" in result.output


def test_synth_json_summary_and_files(run_cli, tmp_path):
    out = tmp_path / "synth"
    result = run_cli("data", "synth", "--layout", "lasot", "--out", out, "--sequences", 3, "--frames", 4, "--seed", 2, "--size", "64x48", "--json")
    assert result.exit_code == 0
    summary = result.json()  # stdout holds only JSON; the progress bar is on stderr
    assert summary["written"] == 3 and summary["splits"] == {"train": 2, "test": 1}
    assert summary["image_size"] == [64, 48]
    manifest = json.loads((out / "synthetic.json").read_text())
    assert manifest["complete"] is True and manifest["layout"] == "lasot"
    assert len(list(out.glob("*/*/img/*.jpg"))) == 12
    again = run_cli("data", "synth", "--layout", "lasot", "--out", out, "--sequences", 3, "--frames", 4, "--seed", 2, "--size", "64x48", "--json")
    assert again.exit_code == 0 and again.json()["skipped"] == 3


def test_synth_errors_are_one_line(run_cli, tmp_path):
    huge = run_cli("data", "synth", "--layout", "lasot", "--out", tmp_path / "a", "--size", "100000x100000")
    assert huge.exit_code == 2 and "each side must be at most 8192 pixels" in huge.stderr and not (tmp_path / "a").exists()
    bad_size = run_cli("data", "synth", "--layout", "lasot", "--out", tmp_path / "a", "--size", "64by48")
    assert bad_size.exit_code == 2 and "WIDTHxHEIGHT" in bad_size.stderr
    run_cli("data", "synth", "--layout", "folder", "--out", tmp_path / "b", "--sequences", 1, "--frames", 2, "--size", "64x48")
    clash = run_cli("data", "synth", "--layout", "folder", "--out", tmp_path / "b", "--sequences", 2, "--frames", 2, "--size", "64x48")
    assert clash.exit_code == 2 and "other settings" in clash.stderr and "Traceback" not in clash.output
    assert clash.stderr.strip().count("\n") == 0
