"""Reproduces docs/search.md's Kendall tau of the search demo: does inherited fitness rank what retraining gives?

Takes the COUNT candidates a finished ``ctrack demo --search --out DEMO_OUT`` scored, spread over its
fitness ranking (best and worst included), retrains each exactly as the demo retrains its winner
(from the path's supernet weights, BatchNorm recalibrated; the demo's recipe and length), two at a
time, tracks each on the demo's test clips with its supernet weights and retrained, and prints
Kendall's tau-b between the inherited fitness and each test AUC. The demo's winner is not
retrained again.

Usage: .venv/bin/python docs/search_kendall.py DEMO_OUT [COUNT=8]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from compresstracker.demo import kendall_tau  # the elastic demo's, one definition for both


def main(demo: Path, count: int = 8) -> None:
    from compresstracker.data import get_dataset
    from compresstracker.evaluation.report import score_trackers
    from compresstracker.fileio import atomic_write_json
    from compresstracker.search.costs import cached_cost_table
    from compresstracker.search.demo import STAGES, export_paths, fitness_spec, retrain_and_track, retrain_overrides
    from compresstracker.search.run import SearchOptions, load_supernet, supernet_file
    from compresstracker.search.space import space_for
    from compresstracker.threads import in_processes

    settings = json.loads((demo / "demo_search.json").read_text())
    records = {}
    for line in (demo / "search" / "search.jsonl").read_text().splitlines():
        record = json.loads(line)
        records.setdefault(record["arch"], record)
    ranked = sorted(records.values(), key=lambda r: -r["fitness"])
    picks = [ranked[int(i)] for i in np.unique(np.round(np.linspace(0, len(ranked) - 1, min(count, len(ranked)))))]

    file = supernet_file(demo / "supernet")
    supernet = load_supernet(file)
    space = space_for(supernet.config)
    table = cached_cost_table(supernet, file)
    opts = SearchOptions(supernet=str(file), data=fitness_spec(demo), calib=None, out=str(demo / "kendall" / "scratch"),
                         calib_batches=4, calib_batch_size=32, threads=1)
    winner = json.loads((demo / "search" / "best.json").read_text())["arch"]
    names = {record["arch"]: "searched" if record["arch"] == winner else f"kendall-{k}" for k, record in enumerate(picks)}
    others = {names[r["arch"]]: space.decode(r["arch"]) for r in picks if r["arch"] != winner}
    files = export_paths(others, demo / "kendall", supernet, space, table, opts, file,
                         {names[r["arch"]]: r["fitness"] for r in picks})
    files["searched"] = (demo / "search" / "best.json", demo / "search" / "subnet.safetensors")
    retrain = retrain_overrides(demo, settings["retrain_epochs"], settings["samples"])
    jobs = {name: (retrain_and_track, (name, str(files[name][0]), str(files[name][1]), str(demo), retrain, str(demo / "data" / "test")))
            for name in names.values()}
    in_processes(jobs)
    test = get_dataset("lasot", demo / "data" / "test", split="all")
    rows = []
    for record in picks:
        name = names[record["arch"]]
        aucs = {f"{stage}_auc": score_trackers(test, [demo / "results" / stage / name])[0].metrics()["auc"] for stage in STAGES}
        rows.append({"arch": record["arch"], "macs": record["macs"], "inherited": record["fitness"], **aucs})
        print(json.dumps(rows[-1]), flush=True)
    taus = {stage: kendall_tau([r["inherited"] for r in rows], [r[f"{stage}_auc"] for r in rows]) for stage in STAGES}
    atomic_write_json(demo / "kendall" / "kendall.json", {"tau": taus, "rows": rows})
    for stage, tau in taus.items():
        print(f"Kendall tau over {len(rows)} candidates, inherited fitness vs test AUC ({stage}): {tau:.3f}")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(Path(args[0]), *(int(a) for a in args[1:]))
