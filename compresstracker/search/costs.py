"""Per-choice cost tables: MACs, params and latency of every unit of the supernet, summed along a path.

A path's cost is the sum over its units (``space.units``): every parameter and every counted
multiply-add of the standalone network belongs to exactly one unit, so MACs and params from the
table are exact (tested against ``ctrack inspect``'s count of the cut-out network). The space counts
and times its units (``SearchSpace.unit_costs``, ``time_units``, ``time_path``) with the helpers here
(thop's MAC rules, timing by hooks inside whole forward passes). Latency is measured once per unit on
a backend, precision and thread count and cached beside the supernet; a path's prediction is the sum
of its units plus a constant for the work between units, fitted on a few measured paths.
``check_latency`` compares predictions with measurements.
"""
from __future__ import annotations

import json
import statistics
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from compresstracker.bench.flops import thop_ops
from compresstracker.fileio import atomic_write_json
from compresstracker.search.space import Genes, space_for

TABLE_VERSION = 1


@contextmanager
def unit_macs(net: nn.Module, roots: dict[str, str]) -> Iterator[dict[str, dict[str, Any]]]:
    """While open, count each unit's MACs by thop's rules (``bench.flops.thop_ops``, as ``ctrack inspect``
    counts) over the forward passes of ``net``; ``roots``: submodule name -> its unit."""
    found: dict[str, dict[str, Any]] = {}
    handles = []
    for root, unit in roots.items():
        entry = found.setdefault(unit, {"macs": 0})
        module = net.get_submodule(root)
        for sub in module.modules():
            handles.append(sub.register_forward_hook(
                lambda mod, args, out, entry=entry: entry.__setitem__("macs", entry["macs"] + thop_ops(mod, args, out))
            ))
    try:
        yield found
    finally:
        for handle in handles:
            handle.remove()


def clock(threads: int):
    """The timer for ``threads``: one thread's CPU time when single-threaded, wall time otherwise.

    On a shared machine a single-threaded run is preempted; its CPU time is what it would take
    alone (on an idle machine the two agree), and it stays comparable between a whole network and
    its parts. Several threads need wall time.
    """
    return time.thread_time if threads == 1 else time.perf_counter


def time_fn(fn, repeats: int, threads: int, warmup: int = 2) -> float:
    """Fastest of ``repeats`` runs of ``fn()`` in ms (on a shared machine the minimum is the stable statistic)."""
    now = clock(threads)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = now()
        fn()
        times.append((now() - start) * 1e3)
    return min(times)


def time_in_network(net: nn.Module, roots: dict[str, str], run, repeats: int, threads: int, warmup: int = 2) -> dict[str, float]:
    """Fastest ms per unit over ``repeats`` whole forward passes ``run()``, timed by hooks inside them.

    Timed alone and repeated, a unit runs up to 3x faster than inside the network (its inputs and
    weights stay hot in the caches), so units are timed as the network runs them.
    """
    now = clock(threads)
    samples: dict[str, list[float]] = {unit: [] for unit in roots.values()}
    spent: dict[str, float] = {}
    started: dict[str, float] = {}
    handles = []
    for root, unit in roots.items():
        module = net.get_submodule(root)
        handles.append(module.register_forward_pre_hook(lambda mod, args, root=root: started.__setitem__(root, now())))
        handles.append(module.register_forward_hook(
            lambda mod, args, out, root=root, unit=unit: spent.__setitem__(unit, spent.get(unit, 0.0) + now() - started[root])
        ))
    try:
        for i in range(warmup + repeats):
            spent.clear()
            run()
            if i >= warmup:
                for unit, seconds in spent.items():
                    samples[unit].append(seconds * 1e3)
    finally:
        for handle in handles:
            handle.remove()
    return {unit: min(values) for unit, values in samples.items() if values}


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op thread count set to ``n`` while open."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class CostTable:
    """Unit -> {macs, params, latency_ms}; ``costs(genes)`` sums a path."""

    def __init__(self, space, units: dict[str, dict[str, float]], latency: dict[str, Any] | None = None):
        self.space = space
        self.units = units
        self.latency = latency  # {"backend", "threads", "overhead_ms", "units": {unit: ms}} or None

    def costs(self, genes: Sequence[int]) -> dict[str, Any]:
        keys = self.space.units(genes)
        out: dict[str, Any] = {
            "macs": int(sum(self.units[k]["macs"] for k in keys)),
            "params": int(sum(self.units[k]["params"] for k in keys)),
        }
        out["latency_ms"] = self.predict_latency(genes) if self.latency else None
        return out

    def cheapest(self, key: str) -> float | None:
        """The least ``key`` (macs, params or latency_ms) any path of the space costs; exact, as costs add
        up per unit. None for latency without a latency table."""
        if key == "latency_ms" and not self.latency:
            return None
        per_unit = (lambda unit: self.latency["units"][unit]) if key == "latency_ms" else (lambda unit: self.units[unit][key])
        return self.costs(self.space.minmax(per_unit)[0])[key]

    def predict_latency(self, genes: Sequence[int]) -> float:
        return self.predict_units(self.space.units(genes))

    def predict_units(self, units: Sequence[str]) -> float:
        """The predicted latency of a network running ``units`` (a path's, or ``space.units_of`` a network's)."""
        return float(self.latency["overhead_ms"] + sum(self.latency["units"][k] for k in units))

    def predict_network(self, net: nn.Module) -> float | None:
        """The predicted latency of a network trained apart (a fixed CT-k student), as of any path; None without a
        latency table or when the space's units (or this table's) do not describe it."""
        units = self.space.units_of(net) if self.latency else None
        if units is None or any(u not in self.latency["units"] for u in units):
            return None
        return self.predict_units(units)

    def ranges(self) -> dict[str, list[int]]:
        """Exact min and max MACs and params over the space (costs add up per unit; checked per output choice)."""
        out = {}
        for key in ("macs", "params"):
            low, high = self.space.minmax(lambda unit, key=key: self.units[unit][key])
            out[f"{key}_range"] = [self.costs(low)[key], self.costs(high)[key]]
        return out


def build_cost_table(supernet, latency: dict[str, Any] | None = None, repeats: int = 20) -> CostTable:
    """MACs and params per unit (the space's count); with ``latency`` ({backend, precision, threads}) also each
    unit's time and the constant between units, fitted on a few measured paths."""
    space = space_for(supernet.config)
    table = CostTable(space, space.unit_costs(supernet))
    if latency is not None:
        setting = (latency["backend"], latency["precision"], int(latency["threads"]))
        space.check_latency(*setting[:2])
        timed = space.time_units(supernet, *setting, repeats)
        rng = np.random.default_rng(0)
        fit = [space.sample(rng) for _ in range(5)]
        residual = [space.time_path(supernet, g, *setting, repeats) - sum(timed[u] for u in space.units(g)) for g in fit]
        table.latency = {**latency, "overhead_ms": float(statistics.median(residual)), "units": timed}
    return table


def latency_setting(backend: str, precision: str, threads: int) -> dict[str, Any]:
    """The latency part of a cost table's key: what it was measured on."""
    return {"backend": backend, "precision": precision, "threads": int(threads)}


def table_path(supernet_file: Path, latency: dict[str, Any] | None = None) -> Path:
    """Where the cost table of a supernet file is cached (latency tables per backend, precision and thread count)."""
    suffix = f".latency-{latency['backend']}-{latency['precision']}-t{latency['threads']}" if latency else ".costs"
    return supernet_file.with_name(supernet_file.stem + suffix + ".json")


def cached_cost_table(supernet, supernet_file: Path, latency: dict[str, Any] | None = None) -> CostTable:
    """Load the table cached beside ``supernet_file``, or build and cache it."""
    path = table_path(supernet_file, latency)
    key = {"version": TABLE_VERSION, "supernet": supernet.config.to_dict(), "latency": latency}
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):  # a damaged cache is a miss: rebuilt below
            data = None
        if isinstance(data, dict) and data.get("key") == key and isinstance(data.get("units"), dict):
            return CostTable(space_for(supernet.config), data["units"], data.get("latency"))
    table = build_cost_table(supernet, latency)
    atomic_write_json(path, {"key": key, "units": table.units, "latency": table.latency})
    return table


def check_latency(supernet, table: CostTable, genes_list: list[Genes], repeats: int = 20) -> dict[str, Any]:
    """Predicted vs measured latency on ``genes_list``: per path and the mean absolute relative error."""
    rows = []
    setting = (table.latency["backend"], table.latency["precision"], int(table.latency["threads"]))
    for genes in genes_list:
        predicted = table.predict_latency(genes)
        measured = table.space.time_path(supernet, genes, *setting, repeats)
        rows.append({"arch": table.space.encode(genes), "predicted_ms": predicted, "measured_ms": measured,
                     "error": abs(predicted - measured) / measured})
    return {"mean_abs_error": float(np.mean([r["error"] for r in rows])), "paths": rows}
