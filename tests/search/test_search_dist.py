"""`ctrack search` on several processes (torchrun, gloo): the same records and winner as one process, resume intact."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

BUDGET = "19M"  # about the middle of the tiny space's MACs range


@pytest.fixture(scope="module")
def fitness_root(tmp_path_factory):
    """Two short GOT-10k-layout sequences: fitness in a fraction of a second per candidate."""
    from compresstracker.data.synthetic import generate

    root = tmp_path_factory.mktemp("dist_fitness")
    generate("got10k", root, sequences=2, frames=8, seed=6, image_size=(128, 96))
    return root


def _args(supernet_run, fitness_root, out, *extra):
    return ["search", "--supernet", str(supernet_run), "--data", f"got10k={fitness_root}:val", "--population", "3",
            "--generations", "2", "--parents", "2", "--max-macs", BUDGET, "--calib-batches", "2", "--calib-batch-size", "4",
            "--seed", "3", "--out", str(out), "--json", *extra]


def _torchrun(args, launch):
    """``ctrack ARGS`` on two processes: through ``--nproc 2`` or started by torchrun itself (as across nodes)."""
    cli = [sys.executable, "-m", "compresstracker.cli.main"]
    if launch == "torchrun":
        cli = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "compresstracker.cli.main"]
    extra = ["--nproc", "2"] if launch == "nproc" else []
    result = subprocess.run([*cli, *args, *extra], capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return result


class Killed(Exception):
    """The search's process dies here."""


def _records(out):
    """search.jsonl without the timing field."""
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in (out / "search.jsonl").read_text().splitlines()]


def _best(out):
    best = json.loads((out / "best.json").read_text())
    best.pop("seconds")
    return best


def test_two_processes_search_and_resume_as_one(run_cli, supernet_run, fitness_root, tmp_path, monkeypatch):
    from compresstracker.search.run import CandidateScorer

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the threads per process torchrun gives each rank
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # one process, killed at its third candidate (mid generation 0), then resumed to the end
        score = CandidateScorer.__call__
        calls = []

        def dying(self, genes):
            if len(calls) == 2:
                raise Killed
            calls.append(genes)
            return score(self, genes)

        monkeypatch.setattr(CandidateScorer, "__call__", dying)
        killed = run_cli(*_args(supernet_run, fitness_root, tmp_path / "one"))
        assert isinstance(killed.exception, Killed)
        monkeypatch.setattr(CandidateScorer, "__call__", score)
        assert len(_records(tmp_path / "one")) == 2
        shutil.copytree(tmp_path / "one", tmp_path / "killed")
        resumed = run_cli(*_args(supernet_run, fitness_root, tmp_path / "one", "--resume"))
        assert resumed.exit_code == 0, resumed.output
    finally:
        torch.set_num_threads(threads)
    one = _records(tmp_path / "one")
    assert len(one) == 6 and len({r["arch"] for r in one}) == 6
    # refusals come from the launching process, before torchrun starts any: one line each
    for extra, words in ((["--nproc", "2"], "pass --resume"), (["--nproc", "2", "--resume", "--seed", "4"], "--seed 4 but the run has 3")):
        refused = run_cli(*_args(supernet_run, fitness_root, tmp_path / "one"), *extra)
        assert refused.exit_code == 2 and words in refused.stderr and refused.stderr.count("\n") == 1, refused.stderr
    # two processes from the start (`--nproc 2`): every record and the winner as one process
    two = _torchrun(_args(supernet_run, fitness_root, tmp_path / "two"), "nproc")
    assert _records(tmp_path / "two") == one
    assert _best(tmp_path / "two") == _best(tmp_path / "one")
    assert json.loads(two.stdout)["best"]["arch"] == _best(tmp_path / "one")["arch"]  # rank 0's summary alone on stdout
    assert not any(p.name.startswith("tracking") for p in (tmp_path / "two").iterdir())  # the ranks' work folders are gone
    # the killed one-process search resumed by two processes started by torchrun: the same again
    _torchrun(_args(supernet_run, fitness_root, tmp_path / "killed", "--resume"), "torchrun")
    assert _records(tmp_path / "killed") == one and _best(tmp_path / "killed") == _best(tmp_path / "one")
    assert (tmp_path / "killed" / "subnet.safetensors").stat().st_size > 1000
