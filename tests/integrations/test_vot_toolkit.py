"""The real VOT toolkit runs ``ctrack trax`` in a generated local workspace: test, evaluate, analysis."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from compresstracker.integrations.vot import write_tracker_entry

HAS_VOT = importlib.util.find_spec("vot") is not None and importlib.util.find_spec("trax") is not None
needs_vot = pytest.mark.skipif(not HAS_VOT, reason="needs the vot extra (vot-toolkit, vot-trax): pip install 'ctrack[vot]'")
STACK = """title: ctrack local stack (no download)
experiments:
  baseline:
    type: unsupervised
    repetitions: 1
    analyses:
      - type: average_accuracy
        name: accuracy
        burnin: 1
"""


def _vot(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    """The toolkit's own command line, from this environment, in ``workspace``."""
    executable = Path(sys.executable).parent / "vot"
    command = [str(executable)] if executable.is_file() else [shutil.which("vot") or "vot"]
    # One analysis worker (the pool's start-up dominates on a tiny stack); text results, as ctrack score reads them.
    env = {**os.environ, "VOT_WORKER_POOL_SIZE": "1", "VOT_RESULTS_BINARY": "0"}
    return subprocess.run([*command, *args], cwd=workspace, env=env, capture_output=True, text=True, timeout=300)


@needs_vot
def test_vot_test_evaluate_and_analysis_run_ctrack(run_cli, tiny_checkpoint, tmp_path):
    workspace = tmp_path / "ws"
    made = run_cli("data", "synth", "--layout", "vot", "--out", workspace / "sequences", "--sequences", "1", "--frames", "8",
                   "--size", "128x96", "--difficulty", "fair")
    assert made.exit_code == 0, made.stderr
    (workspace / "stack.yaml").write_text(STACK)
    (workspace / "config.yaml").write_text("stack: stack.yaml\nsequences: sequences\n")
    setup = run_cli("vot", "setup", workspace, "-c", tiny_checkpoint, "--name", "ct")
    assert setup.exit_code == 0, setup.stderr
    name = (workspace / "sequences" / "list.txt").read_text().split()[0]
    sequence = workspace / "sequences" / name

    tested = _vot(workspace, "test", "ct", "--sequence", str(sequence))
    assert tested.returncode == 0 and "Test concluded" in tested.stdout + tested.stderr, tested.stdout + tested.stderr
    evaluated = _vot(workspace, "evaluate", "ct")
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr

    run = workspace / "results" / "ct" / "baseline" / name
    lines = (run / f"{name}_001.txt").read_text().split()
    assert lines[0] == "1" and len(lines) == 8  # frame 0: the toolkit's initialisation code
    vot_boxes = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    first = (sequence / "groundtruth.txt").read_text().splitlines()[0]
    tracked = run_cli("track", "-c", tiny_checkpoint, "--frames", sequence / "color", "--init-box", first, "--json")
    assert tracked.exit_code == 0, tracked.stderr
    assert np.abs(vot_boxes - np.asarray(tracked.json()["boxes"])[1:]).max() < 0.01  # TraX carries float32
    # ctrack score reads the toolkit's run and ctrack's own results on the VOT-layout sequences alike.
    ours = tmp_path / "ours" / "ct"
    ours.mkdir(parents=True)
    (ours / f"{name}.txt").write_text("".join("\t".join(map(repr, box)) + "\n" for box in tracked.json()["boxes"]))
    scores = [run_cli("score", "--data", f"folder={workspace / 'sequences'}", "--results", folder, "--json")
              for folder in (run.parent, ours)]
    assert all(s.exit_code == 0 for s in scores), [s.stderr for s in scores]
    assert scores[0].json()["metrics"] == pytest.approx(scores[1].json()["metrics"], abs=0.01)
    confidences = (run / f"{name}_001_confidence.value").read_text().split()
    assert len(confidences) == 8 and all(0.0 <= float(c) <= 1.0 for c in confidences)

    analysed = _vot(workspace, "analysis", "ct", "--format", "json")
    assert analysed.returncode == 0, analysed.stdout + analysed.stderr
    assert list((workspace / "analysis").glob("*.json"))


@needs_vot
def test_a_polygon_is_reduced_to_its_bounding_box():
    from trax.region import Polygon, Rectangle

    from compresstracker.integrations.vot import region_box

    assert region_box(Polygon.create([(10, 20), (40, 18), (44, 50), (12, 52)])) == [10.0, 18.0, 34.0, 34.0]
    assert region_box(Rectangle.create(1.5, 2, 30, 40)) == [1.5, 2.0, 30.0, 40.0]


def test_setup_adds_to_trackers_ini_and_keeps_other_entries(tmp_path):
    (tmp_path / "config.yaml").write_text("stack: vot2022/stb\nregistry:\n- ./trackers.ini\n")
    (tmp_path / "trackers.ini").write_text("; mine\n[other]\nprotocol = trax\ncommand = other_tracker\n\n[ct]\ncommand = old\n")
    write_tracker_entry(tmp_path, "ct", ["-c", "/models/ct4.safetensors", "--threads", "2"])
    text = (tmp_path / "trackers.ini").read_text()
    assert text.startswith("; mine\n[other]\nprotocol = trax\ncommand = other_tracker\n\n[ct]\n")
    assert "command = old" not in text and text.rstrip().endswith("trax -c /models/ct4.safetensors --threads 2")
    assert (tmp_path / "config.yaml").read_text().count("trackers.ini") == 1


def test_setup_lists_the_registry_in_a_hand_written_config(tmp_path):
    (tmp_path / "config.yaml").write_text("stack: stack.yaml\n")
    write_tracker_entry(tmp_path, "ct", ["-c", "ct.safetensors"])
    assert "- ./trackers.ini" in (tmp_path / "config.yaml").read_text()


def test_setup_refuses_a_folder_that_is_no_workspace(run_cli, tiny_checkpoint, tmp_path):
    result = run_cli("vot", "setup", tmp_path, "-c", tiny_checkpoint)
    assert result.exit_code == 2 and "not a VOT workspace" in result.stderr and "Traceback" not in result.output
