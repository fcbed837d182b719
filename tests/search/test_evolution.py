"""The evolutionary search loop on a synthetic fitness: budgets, no repeats, seeds, resume."""
import json

import pytest

from compresstracker.errors import ConfigError
from compresstracker.search.budget import parse_count
from compresstracker.search.evolution import Budget, Evolution, EvolutionSettings, pareto_front
from compresstracker.models import get_config
from compresstracker.families.lighttrack.space import LightTrackSpace


class Space(LightTrackSpace):
    """The LightTrack genes with a plain digit string as the path."""

    def __init__(self):
        super().__init__(get_config("lighttrack_supernet_tiny"))

    def encode(self, genes):
        return "".join(map(str, self.canonical(genes)))

    def decode(self, text):
        return self.canonical([int(c) for c in text])


def costs(genes):
    return {"macs": sum(genes) * 10, "params": len([g for g in genes if g]), "latency_ms": None}


def fitness(genes):
    # a smooth synthetic objective: prefers large choices in the backbone, small in the heads
    return {"fitness": float(sum(genes[:14]) - 0.5 * sum(genes[15:]))}


def run(tmp_path, name, seed=0, budget=Budget(max_macs=600), resume=False, calls=None, **kw):
    settings = EvolutionSettings(population=kw.pop("population", 8), generations=kw.pop("generations", 4), parents=3, seed=seed)

    def scored(genes):
        if calls is not None:
            calls.append(genes)
        return fitness(genes)

    return Evolution(Space(), settings, budget, costs, scored, tmp_path / name, **kw).run(resume=resume)


def test_budget_never_broken_no_candidate_twice_and_progress(tmp_path):
    reports, calls = [], []
    state = run(tmp_path, "a", calls=calls, on_generation=reports.append)
    arches = [r["arch"] for r in state.records]
    assert len(arches) == len(set(arches)) == len(calls)
    assert all(r["macs"] <= 600 for r in state.records)
    assert state.rejected > 0  # the budget does bite in this space
    assert [r["generation"] for r in reports] == [1, 2, 3, 4]
    assert all({"best_fitness", "mean_fitness", "evaluated", "eta_s"} <= set(r) for r in reports)
    assert reports[-1]["eta_s"] == 0
    lines = (tmp_path / "a" / "search.jsonl").read_text().splitlines()
    assert [json.loads(line)["arch"] for line in lines] == arches
    # evolution improves on the random first generation
    first = max(r["fitness"] for r in state.records if r["generation"] == 0)
    assert max(r["fitness"] for r in state.records) > first


def test_same_seed_same_search_other_seed_differs(tmp_path):
    a, b, c = run(tmp_path, "a", seed=1), run(tmp_path, "b", seed=1), run(tmp_path, "c", seed=2)
    assert [r["arch"] for r in a.records] == [r["arch"] for r in b.records]
    assert [r["arch"] for r in a.records] != [r["arch"] for r in c.records]


def test_killed_search_resumes_to_the_same_result(tmp_path):
    full = run(tmp_path, "full")
    calls = []

    class Killed(Exception):
        pass

    def dying(genes):
        if len(calls) == 13:
            raise Killed
        calls.append(genes)
        return fitness(genes)

    settings = EvolutionSettings(population=8, generations=4, parents=3, seed=0)
    with pytest.raises(Killed):
        Evolution(Space(), settings, Budget(max_macs=600), costs, dying, tmp_path / "part").run()
    with pytest.raises(ConfigError, match="--resume"):
        run(tmp_path, "part")
    resumed_calls = []
    resumed = run(tmp_path, "part", resume=True, calls=resumed_calls)
    assert [r["arch"] for r in resumed.records] == [r["arch"] for r in full.records]
    assert len(resumed_calls) == len(full.records) - 13  # nothing evaluated twice across the kill


def test_resume_with_changed_settings_is_refused_in_one_line(tmp_path):
    run(tmp_path, "a")
    with pytest.raises(ConfigError) as err:
        run(tmp_path, "a", resume=True, population=6)
    assert "--population 6 but the run has 8" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="max-macs"):
        run(tmp_path, "a", resume=True, budget=Budget(max_macs=500))


def test_impossible_budget_is_a_clear_error(tmp_path):
    settings = EvolutionSettings(population=4, generations=1, parents=2)
    dear = Evolution(Space(), settings, Budget(max_macs=5), lambda g: {"macs": 10 + sum(g) * 10}, fitness, tmp_path / "a")
    with pytest.raises(ConfigError, match="nor any draw brought within it; loosen the budget"):
        dear.run()


def test_a_budget_admitting_a_sliver_of_the_space_still_fills_every_generation(tmp_path):
    """Under 20 MACs only paths with at most two steps above the cheapest choices fit: random draws almost never
    land there, so draws are brought within the budget, each a different path."""
    state = run(tmp_path, "a", budget=Budget(max_macs=20), population=6, generations=2)
    assert [r["generation"] for r in state.records].count(0) == 6 and len(state.records) == 12
    assert all(r["macs"] <= 20 for r in state.records) and len({r["arch"] for r in state.records}) == 12
    again = run(tmp_path, "b", budget=Budget(max_macs=20), population=6, generations=2)
    assert [r["arch"] for r in again.records] == [r["arch"] for r in state.records]  # seeded, as every draw


def test_budget_numbers():
    assert parse_count("600M") == 600_000_000
    assert parse_count("2M") == 2_000_000
    assert parse_count("1.5g") == 1_500_000_000
    assert parse_count("2e6") == 2_000_000
    assert parse_count(800) == 800
    for bad in ("abc", "-3M", "12Q", ""):
        with pytest.raises(ConfigError):
            parse_count(bad)


def test_pareto_front():
    records = [{"fitness": 1, "macs": 10}, {"fitness": 2, "macs": 20}, {"fitness": 1.5, "macs": 25}, {"fitness": 3, "macs": 30}]
    assert [r["macs"] for r in pareto_front(records)] == [10, 20, 30]


def test_random_search_baseline_keeps_the_same_checks(tmp_path):
    settings = EvolutionSettings(population=8, generations=3, parents=3, seed=0, strategy="random")
    state = Evolution(Space(), settings, Budget(max_macs=600), costs, fitness, tmp_path / "r").run()
    arches = [r["arch"] for r in state.records]
    assert len(arches) == len(set(arches)) == 24 and all(r["macs"] <= 600 for r in state.records)
    with pytest.raises(ConfigError, match="strategy"):
        EvolutionSettings(strategy="grid")
