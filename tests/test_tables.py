"""Tables stay readable when piped at 80 columns: a long name in the first column never folds."""
import re

import pytest
from rich.console import Console

from compresstracker.checkpoints import save_native
from compresstracker.console import console, make_table

LONG = "a_very_long_checkpoint_name_for_the_student_model"


def _on_one_line(name: str, text: str) -> bool:
    """``name`` whole on one line, or its end behind a left ellipsis (at least 8 characters of it)."""
    for line in text.splitlines():
        if name in line:
            return True
        shown = re.search(r"…(\S+)", line)
        if shown and len(shown.group(1)) >= 8 and name.endswith(shown.group(1)):
            return True
    return False


def _render(table, width: int = 80) -> str:
    out = Console(width=width, record=True, color_system=None)
    out.print(table)
    return out.export_text()


def test_the_first_column_is_cut_from_the_left_and_other_columns_keep_their_width():
    table = make_table("t", "model", "backend", ("ms", {"justify": "right"}))
    table.add_row(f"runs/exp1/{LONG}.safetensors", "onnxruntime", "12.34")
    table.add_row("s4.safetensors", "torch", "1.00")
    text = _render(table, 50)
    assert _on_one_line(f"{LONG}.safetensors", text) and "s4.safetensors" in text and "onnxruntime" in text
    assert all(len(line) <= 50 for line in text.splitlines())
    assert "…" in text  # it did not fit whole


def test_too_many_columns_give_one_block_per_row():
    table = make_table("wide", "model", *[f"column number {i}" for i in range(9)])
    table.add_row(f"{LONG}.safetensors", *[f"value{i}" for i in range(9)])
    text = _render(table)
    assert f"{LONG}.safetensors" in text.splitlines()[1]
    assert "column number 8: value8" in text and all(len(line) <= 80 for line in text.splitlines())


@pytest.fixture
def narrow_console(monkeypatch):
    monkeypatch.setattr(console, "width", 80)


@pytest.fixture
def long_checkpoint(make_model, tmp_path):
    model = make_model("tiny_64_ce", seed=7)
    return save_native(model, model.config, tmp_path / f"{LONG}.safetensors")


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from compresstracker.data.synthetic import generate

    root = tmp_path_factory.mktemp("tables_synth")
    generate("lasot", root, sequences=2, frames=6, seed=4, image_size=(96, 72))
    return root


def test_bench_keeps_the_model_name_on_one_line(run_cli, narrow_console, long_checkpoint):
    result = run_cli("bench", long_checkpoint, "--threads", "1", "--runs", "20")
    assert result.exit_code == 0, result.stderr
    table = result.stdout.split(f"{LONG}.safetensors: ")[0]  # the sizes line under the table names it too
    assert _on_one_line(f"{LONG}.safetensors", table), result.stdout


def test_eval_and_score_keep_the_tracker_name_on_one_line(run_cli, narrow_console, long_checkpoint, synth, tmp_path):
    evaluated = run_cli("eval", "-c", long_checkpoint, "-d", "lasot", "--root", synth, "--split", "all",
                        "--out", tmp_path / "r", "--name", LONG, "--quiet")
    assert evaluated.exit_code == 0, evaluated.stderr
    assert _on_one_line(LONG, evaluated.stdout), evaluated.stdout
    scored = run_cli("score", "-d", "lasot", "--root", synth, "--split", "all", "--results", tmp_path / "r" / LONG,
                     "--results", f"short={tmp_path / 'r' / LONG}", "--attributes")
    assert scored.exit_code == 0, scored.stderr
    assert _on_one_line(LONG, scored.stdout), scored.stdout


def test_models_list_keeps_arch_names_on_one_line(run_cli, narrow_console):
    from compresstracker.models import list_models

    result = run_cli("models", "list")
    assert result.exit_code == 0, result.stderr
    assert all(_on_one_line(row["name"], result.stdout) for row in list_models())
