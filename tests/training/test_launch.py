"""training.launch: fresh run or resume, preflight, the torchrun relaunch and the shared run tail."""
import pytest

from compresstracker.errors import ConfigError
from compresstracker.training import launch
from compresstracker.training.launch import RunRequest, execute, flag_overrides, preflight, relaunch, resolve_run
from compresstracker.training.resume import SavedRun


def test_flag_overrides_follow_key_value_overrides():
    assert flag_overrides(["train.epochs=3"], epochs=5, batch_size=None, loader_workers=0) == [
        "train.epochs=3", "train.epochs=5", "data.workers=0"]


def test_a_fresh_run_needs_a_recipe_of_its_kind(tmp_path):
    with pytest.raises(ConfigError, match=r"^Missing option '--recipe'"):
        resolve_run("train", None, [], [], tmp_path / "run", resume=False)
    with pytest.raises(ConfigError, match="recipe compresstracker_tiny is a compress recipe; use `ctrack compress`"):
        resolve_run("train", "compresstracker_tiny", [], [], tmp_path / "run", resume=False)
    request = resolve_run("compress", None, ["train.epochs=0"], [], tmp_path / "run", resume=True)
    assert request.recipe["source"] == "recipe:compresstracker" and request.saved is None
    assert f"{tmp_path / 'run'} holds no run yet; starting one" in request.notes


def test_preflight_refuses_missing_data_unless_dry_run(tmp_path):
    request = resolve_run("train", "ostrack_tiny", [], [], tmp_path / "run", resume=False)
    with pytest.raises(ConfigError, match="no root for"):
        preflight(request)
    assert any("no root for" in line for line in preflight(request, dry_run=True))
    assert not (tmp_path / "run").exists()


def test_relaunch_only_with_several_processes_outside_torchrun(monkeypatch):
    calls = []
    monkeypatch.setattr(launch, "launch_torchrun", lambda nproc, argv: calls.append((nproc, argv)) or 3)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert relaunch(None, ["train"]) is None and relaunch(1, ["train"]) is None
    assert relaunch(2, ["train", "--nproc", "2", "--out", "r"]) == 3
    assert calls == [(2, ["train", "--out", "r"])]
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert relaunch(2, ["train"]) is None and len(calls) == 1


def test_execute_uses_the_runs_threads_and_reports_on_rank_zero(monkeypatch, tmp_path):
    seen = []

    def run(recipe, out, device, resume, progress, threads):
        seen.append((out, device, resume, progress, threads))
        return {"ok": True}

    request = RunRequest({"kind": "train"}, tmp_path, True, [], SavedRun(recipe={}, threads=3))
    monkeypatch.delenv("RANK", raising=False)
    assert execute(run, request, "cpu", progress=None) == {"ok": True}
    assert execute(run, request, "cpu", progress=None, threads=2) == {"ok": True}
    assert [s[-1] for s in seen] == [3, 2]  # the resumed run's count unless one is asked for
    monkeypatch.setenv("RANK", "1")
    assert execute(run, request, "cpu", progress=None) is None
