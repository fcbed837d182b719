"""``ctrack models list``."""
from __future__ import annotations

from compresstracker.models import build_model


def test_models_list_json(run_cli):
    result = run_cli("models", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in result.json()}
    vitb = rows["ostrack_vitb_256_ce"]
    assert (vitb["depth"], vitb["embed_dim"], vitb["num_heads"], vitb["search_size"]) == (12, 768, 12, 256)
    assert vitb["ce"] is True and vitb["ce_layers"] == [3, 6, 9]
    assert round(vitb["params"] / 1e6, 1) == 92.5
    assert rows["tiny_256"]["ce"] is False and rows["tiny_256"]["ce_layers"] == []
    assert rows["tiny_64_ce"]["params"] == sum(p.numel() for p in build_model("tiny_64_ce").parameters())
    assert rows["ostrack_vitb_384_ce"]["config"]["search_factor"] == 5.0
    assert all(row["description"] for row in rows.values())


def test_models_list_table(run_cli):
    result = run_cli("models", "list")
    assert result.exit_code == 0, result.output
    assert "ostrack_vitb_384_ce" in result.stdout and "92.52M" in result.stdout and result.stderr == ""


def test_models_formats(run_cli):
    result = run_cli("models", "formats", "--json")
    assert result.exit_code == 0, result.output
    names = [row["name"] for row in result.json()]
    assert names == ["ctrack", "compresstracker_train", "compresstracker", "ostrack", "lighttrack", "mixformerv2"]  # registration order


def test_models_list_shows_lighttrack_beside_ostrack(run_cli):
    rows = {row["name"]: row for row in run_cli("models", "list", "--json").json()}
    assert rows["ostrack_vitb_256_ce"]["family"] == "ostrack"
    mobile = rows["lighttrack_mobile"]
    assert mobile["family"] == "lighttrack" and mobile["params"] == 1_969_397
    assert mobile["arch_path"] == "back_04502514044521042540+cls_211000022+reg_100000111_ops_32"
    assert (mobile["stride"], mobile["template_size"], mobile["search_size"]) == (16, 128, 256)
    assert rows["lighttrack_tiny"]["family"] == "lighttrack" and rows["lighttrack_tiny"]["params"] < 200_000
    assert rows["lighttrack_tiny_s8"]["stride"] == 8
    table = run_cli("models", "list").stdout
    assert "lighttrack_mobile" in table and "lighttrack" in table and "1.97M" in table
