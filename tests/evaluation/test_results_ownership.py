"""A results folder is the checkpoint's own or refused: foreign, stale or half-known result files are never scored."""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from compresstracker.checkpoints import save_native
from compresstracker.data import get_dataset
from compresstracker.data.synthetic import generate
from compresstracker.evaluation.runner import RUN_RECORD, ModelSpec, run_tracker
from compresstracker.fileio import folder_lock


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    """Two roots with the same sequence names: 8 frames and 12 frames per sequence."""
    base = tmp_path_factory.mktemp("ownership")
    generate("lasot", base / "short", sequences=2, frames=8, seed=4, image_size=(96, 72))
    generate("lasot", base / "long", sequences=2, frames=12, seed=5, image_size=(96, 72))
    return base / "short", base / "long"


@pytest.fixture
def checkpoints(make_model, tmp_path):
    paths = []
    for seed in (7, 8):
        model = make_model("tiny_64_ce", seed=seed)
        paths.append(save_native(model, model.config, tmp_path / f"m{seed}" / "tiny.safetensors"))
    return paths


def _eval(run_cli, checkpoint, root, results):
    return run_cli("eval", "-c", checkpoint, "-d", "lasot", "--root", root, "--split", "all",
                   "--out", results, "--name", "tiny", "--json")


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _refused(result, folder, before, words):
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert words in result.stderr
    assert _snapshot(folder) == before  # nothing written, nothing deleted


def test_result_files_without_a_record_are_refused_or_retracked_when_owned(run_cli, roots, checkpoints, tmp_path):
    short, _ = roots
    teacher, student = checkpoints
    assert _eval(run_cli, teacher, short, tmp_path / "a").exit_code == 0
    copied = tmp_path / "b" / "tiny"
    shutil.copytree(tmp_path / "a" / "tiny", copied)
    (copied / RUN_RECORD).unlink()  # the teacher's files, copied without their record
    _refused(_eval(run_cli, student, short, tmp_path / "b"), copied, _snapshot(copied), "no run record")
    (copied / RUN_RECORD).write_text("{not json")
    _refused(_eval(run_cli, student, short, tmp_path / "b"), copied, _snapshot(copied), "unreadable run record")
    # Where ctrack owns the folder, the foreign files are tracked again by the student.
    run = run_tracker(ModelSpec(checkpoint=str(student)), get_dataset("lasot", short, split="all"), copied, replace_stale=True)
    assert run["tracked"] == 2
    record = json.loads((copied / RUN_RECORD).read_text())
    assert record["tracker"]["sha256"] != json.loads((tmp_path / "a" / "tiny" / RUN_RECORD).read_text())["tracker"]["sha256"]
    assert set(record["sequences"]) == {"ellipse-1", "box-1"} and record["sequences"]["box-1"]["frames"] == 8


def test_results_on_another_root_are_refused(run_cli, roots, checkpoints, tmp_path):
    short, long = roots
    assert _eval(run_cli, checkpoints[0], long, tmp_path).exit_code == 0
    folder = tmp_path / "tiny"
    record = json.loads((folder / RUN_RECORD).read_text())
    assert record["dataset"] == {"name": "lasot", "root": str(long.resolve()), "split": "all"}
    assert record["tracker"]["checkpoint"] == "tiny.safetensors" and len(record["tracker"]["sha256"]) == 64
    _refused(_eval(run_cli, checkpoints[0], short, tmp_path), folder, _snapshot(folder), "other data (lasot at")


def test_a_result_file_the_record_does_not_vouch_for_is_tracked_again(run_cli, roots, checkpoints, tmp_path):
    short, long = roots
    assert _eval(run_cli, checkpoints[0], short, tmp_path).exit_code == 0
    folder = tmp_path / "tiny"
    own = (folder / "box-1.txt").read_text()
    # A longer file of the same name (another root's 12 frames) dropped over the run's own one.
    (folder / "box-1.txt").write_text("1\t2\t3\t4\n" * 12)
    again = _eval(run_cli, checkpoints[0], short, tmp_path)
    assert again.exit_code == 0 and again.json()["run"]["tracked"] == 1 and again.json()["run"]["skipped"] == 1
    assert (folder / "box-1.txt").read_text() == own


def test_two_writers_never_share_a_folder(run_cli, roots, checkpoints, tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    with folder_lock(folder):  # another ctrack eval holds the folder
        busy = _eval(run_cli, checkpoints[0], roots[0], tmp_path)
    _refused(busy, folder, {}, "another ctrack process is writing to")
    assert _eval(run_cli, checkpoints[0], roots[0], tmp_path).exit_code == 0  # free again


def test_eval_workers_exit_when_the_parent_dies(tmp_path):
    script = (
        "import multiprocessing as mp, os, sys, time\n"
        "from compresstracker.evaluation.runner import _exit_with_parent\n"
        "def child(parent):\n"
        "    _exit_with_parent(parent, 0.05)\n"
        "    time.sleep(120)\n"
        "if __name__ == '__main__':\n"
        "    p = mp.get_context('spawn').Process(target=child, args=(os.getpid(),))\n"
        "    p.start()\n"
        "    print(p.pid, flush=True)\n"
        "    os._exit(0)\n"  # the parent dies without stopping its worker
    )
    path = tmp_path / "parent.py"
    path.write_text(script)
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    child = int(out.stdout.split()[0])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.1)
    if _alive(child):
        os.kill(child, 9)
        pytest.fail("the worker outlived its parent")


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its new parent to reap it has exited)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_default_asked_for_explicitly_is_the_same_tracker(checkpoints, tmp_path):
    from compresstracker.evaluation.runner import run_record

    ckpt = str(checkpoints[0])
    plain = run_record(ModelSpec(ckpt))
    assert run_record(ModelSpec(ckpt, precision="fp32")) == plain and plain["precision"] is None
    assert run_record(ModelSpec(ckpt, precision="bf16"))["precision"] == "bf16"
    openvino_int8 = ModelSpec(ckpt, backend="openvino", precision="int8", calib=f"synthetic={tmp_path}")
    assert run_record(openvino_int8)["calib"] == f"synthetic={tmp_path}"  # it decides what the int8 network is
