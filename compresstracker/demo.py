"""``make demo`` / ``ctrack demo``: the main job on built-in data, no downloads.

Generates synthetic LaSOT-layout data, compresses the built-in 12-block teacher into a 4-block
student with the CPU recipe, evaluates both on a generated test split and reports params, MACs,
CPU FPS, AUC, the share of the teacher's AUC kept (with its standard error over the test clips)
and the speed-up, beside the AUC of a "tracker" that repeats the first box, with success plots.

The figures repeat: training and tracking run on a fixed number of CPU threads (the reduction
order of float sums follows the thread count; the two tracking workers run one thread each, as
training does), and the test split is large and a fair tracking task. It is TEST_SEQUENCES
short clips of TEST_FRAMES frames of difficulty ``fair`` (a larger target drifting steadily
over a calm background; see compresstracker.data.synthetic): these tiny trackers box a given
target better or worse for a whole clip, and teacher and student differ on which targets, so a
stable "kept" needs many clips more than long ones; the drift makes even short clips defeat a
tracker that repeats the first box (the teacher scores more than twice it). docs/results.md
has the spread over test seeds. FPS and speed-up are measured (interleaved bench), so they
follow the machine and its load. The teacher's guidance pass runs in fp32 on every CPU
(``compress.teacher_precision: auto`` would pick bf16 on a CPU with AMX, and other figures).
"""
from __future__ import annotations

import dataclasses
import importlib.resources
import json
import time
from pathlib import Path
from typing import Any, Callable, Optional

from compresstracker.errors import ConfigError, CTrackError
from compresstracker.threads import in_processes

TEACHER_ASSET = "teacher_tiny.safetensors"
# The built-in teacher of each family the demo can compress (assets/README.md says how each was trained).
TEACHER_ASSETS = {"ostrack": TEACHER_ASSET, "mixformerv2": "teacher_mixformerv2_tiny.safetensors"}
DEFAULT_FAMILY = "ostrack"
TRAIN_SEED, TEST_SEED = 21, 22
TEST_SEQUENCES, TEST_FRAMES = 4000, 10
DEMO_THREADS = 1  # what 2 cores beside one loader worker gave before the count was fixed
EVAL_WORKERS = 2  # tracking processes of DEMO_THREADS threads each: both cores of a 2-core machine
TEACHER_PRECISION = "fp32"  # the same guidance pass with and without AMX (auto: bf16 where AMX is)


def builtin_teacher(family: str = DEFAULT_FAMILY) -> Path:
    """Path of the shipped teacher of ``family`` (see assets/README.md for how it was trained)."""
    if family not in TEACHER_ASSETS:
        raise CTrackError(f"no built-in {family} teacher; the demo has: {', '.join(sorted(TEACHER_ASSETS))}")
    path = Path(str(importlib.resources.files("compresstracker") / "assets" / TEACHER_ASSETS[family]))
    if not path.is_file():
        raise CTrackError(f"the built-in teacher {path} is missing from this installation")
    return path


def run_demo(
    out: Path, stages: int = 4, epochs: int | None = None, samples: int | None = None, progress: bool | str | None = True,
    test_sequences: int = TEST_SEQUENCES, family: str = DEFAULT_FAMILY,
) -> dict[str, Any]:
    """Compress the built-in teacher of ``family`` on generated data and compare it with its student;
    a JSON-ready summary."""
    from compresstracker.evaluation.compare import compare_on, kept_standard_error
    from compresstracker.compression.run import compress_tracker
    from compresstracker.data import get_dataset
    from compresstracker.data.synthetic import generate
    from compresstracker.evaluation.plots import write_plots
    from compresstracker.evaluation.report import first_box_score, score_trackers
    from compresstracker.progress import resolve_progress
    from compresstracker.training.recipe import load_recipe
    from compresstracker.training.resume import check_resume, saved_run

    out = Path(out)
    train_root, test_root = out / "data" / "train", out / "data" / f"test-{test_sequences}x{TEST_FRAMES}"
    generate("lasot", train_root, sequences=40, frames=120, seed=TRAIN_SEED, workers=EVAL_WORKERS)
    generate("lasot", test_root, sequences=test_sequences, frames=TEST_FRAMES, seed=TEST_SEED, difficulty="fair",
             workers=EVAL_WORKERS)
    teacher = builtin_teacher(family)
    overrides = [f"compress.stages={stages}", f"compress.teacher_precision={TEACHER_PRECISION}", f"data.train.0.root={train_root}"]
    if epochs is not None:
        overrides.append(f"train.epochs={epochs}")
    if samples is not None:
        overrides.append(f"data.samples_per_epoch={samples}")
    recipe = load_recipe("compresstracker_tiny", overrides)
    run_dir = out / (f"ct{stages}" if family == DEFAULT_FAMILY else f"{family}-ct{stages}")
    saved = saved_run(run_dir)
    if saved is not None:  # resume an interrupted demo, never a run with other settings
        check_resume(saved.recipe, recipe, growable=frozenset())
    resume = saved is not None
    summary = compress_tracker(recipe, run_dir, resume=resume, progress=progress, threads=DEMO_THREADS, teacher=teacher)
    spec = f"lasot={test_root}:all"
    reports = compare_on([spec], str(teacher), summary["student"], run_dir, workers=EVAL_WORKERS, threads=DEMO_THREADS,
                         progress=resolve_progress(progress))
    dataset = get_dataset("lasot", test_root, split="all")
    results = run_dir / "results" / dataset.name
    scores = score_trackers(dataset, [results / "teacher", results / "student"])
    first_box = first_box_score(dataset)
    first_box_auc = first_box.metrics()["auc"]
    summary["plots"] = [str(p) for p in write_plots([*scores, first_box], out / "plots", dataset.sequences)]
    summary["eval"] = reports
    teacher_auc = reports[0]["teacher"]["metrics"]["auc"]
    summary["teacher_family"] = family
    summary["test_split"] = {
        "root": str(test_root), "sequences": test_sequences, "frames": TEST_FRAMES, "seed": TEST_SEED, "difficulty": "fair",
        "kept_standard_error": kept_standard_error(*scores),
        "first_box_auc": first_box_auc,
        "teacher_over_first_box": teacher_auc / first_box_auc,
    }
    return summary


# ---------------------------------------------------------------------------------------------- ctrack demo --elastic
# ``ctrack demo --elastic`` / ``make demo-elastic``: one elastic compression run, a search under the
# latency of each fixed CT-k student on this CPU, and the found students beside the fixed ones.
#
# On the compression demo's generated data and with its CPU recipe, every run gets the same pairs:
# the built-in 12-block teacher is compressed once elastically (4 stages of 3 teacher layers, 1 or
# 2 student layers per stage, MLP ratio 4, 2 or 1: 1,296 students, one path per step) and,
# separately, into fixed CT-2, CT-3 and CT-4 students (k stages, one layer each). The latency
# table is measured on this CPU (backend, precision and threads as given); each CT-k's budget is
# the table's prediction for that student, so a found student is compared with
# a fixed one of the same predicted latency; a budget under the space's fastest student (CT-2: 4
# layers are the space's least) is reported, not searched. Each found student is fine-tuned
# briefly (``compress --from-search``), and so is one path drawn at random under the same budget
# (does the search beat a draw? the paired standard error says how surely); then everything is
# tracked on the same test split and timed in one interleaved bench. Kendall tau ranks the inherited fitness of the searched students
# against their fitness after the same fine-tuning (how far the supernet's ranking can be trusted).
#
# Why 4 stages and one path per step (measured on this CPU, fitness split): a fixed 4-layer student
# in 2 stages of 2 layers scores 60.8 where CT-4 (4 stages) scores 73.7, so the stage plan decides
# more than the layer count; the sandwich rule (4 paths per step) costs 3-4 fixed runs per run, and
# on 2,560 pairs left the 4-layer paths at 61 inherited, where one path per step on 6,144 pairs
# (one fixed run's cost) gave 69.3, and 75.2 after the fine-tuning.
# Training runs and searches go two at a time in their own processes (both cores, one thread each).
VAL_SEED, VAL_SEQUENCES = 23, 200  # the elastic demo's fitness split (training data and test clips as the compression demo's)
FIXED = (2, 3, 4)
ELASTIC = ["compress.stages=4", "compress.elastic.enabled=true", "compress.elastic.depths=[1,2]",
           "compress.elastic.mlp_ratios=[4,2,1]", "compress.elastic.sampling=single"]
ELASTIC_SETTINGS = "demo_elastic.json"


def _timed(fn: Callable[[], dict]) -> tuple[dict, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def training_seconds(run: Path) -> float:
    """The training time of a run from its log (pairs over the measured pairs/s, per logged window), so a
    finished run read back on a rerun reports what it cost, not the instant it took to find it done."""
    total, last_step, batch = 0.0, 0, None
    for line in (run / "log.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "samples_per_s" not in record or record.get("epoch_end"):
            continue
        if batch is None:
            import yaml

            batch = yaml.safe_load((run / "config.yaml").read_text())["train"]["batch_size"]
        steps = record["step"] - last_step
        total += steps * batch / max(record["samples_per_s"], 1e-9)
        last_step = record["step"]
    return total


def _check_elastic_settings(out: Path, settings: dict[str, Any]) -> None:
    """A rerun continues the demo in ``out`` only with the same settings (its runs would mix otherwise)."""
    from compresstracker.fileio import atomic_write_json
    from compresstracker.training.resume import differences

    path = out / ELASTIC_SETTINGS
    if path.is_file():
        saved = json.loads(path.read_text())
        changed = [key for key, _, _ in differences(saved, settings)]
        if changed:
            raise ConfigError(f"{out} holds an elastic demo with other settings ({', '.join(changed)}); choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, settings)


def _compress_job(run: str, overrides: list[str], teacher: str) -> tuple[dict, float]:
    """One compression run of the elastic demo (resumed when begun), in its own process: summary and training seconds."""
    from compresstracker.compression.run import compress_tracker
    from compresstracker.training.recipe import load_recipe

    recipe = load_recipe("compresstracker_tiny", overrides)
    summary = compress_tracker(recipe, Path(run), resume=(Path(run) / "config.yaml").is_file(), progress=False,
                               threads=DEMO_THREADS, teacher=teacher)
    return summary, training_seconds(Path(run))


def _search_job(opts) -> tuple[dict, float]:
    """One search of the elastic demo (resumed when begun), in its own process."""
    from compresstracker.search.run import run_search

    return _timed(lambda: run_search(opts, resume=(Path(opts.out) / "search_state.json").is_file()))


def _finetuned_fitness(run: str, overrides: list[str], teacher: str, val: str) -> float:
    """Fine-tune one path (``compress --from-search``'s run) and score it on the fitness split: a Kendall point."""
    from compresstracker.checkpoints import load_model
    from compresstracker.search.fitness import fitness_dataset, track_and_score

    tuned, _ = _compress_job(run, overrides, teacher)
    return track_and_score(load_model(tuned["student"]), fitness_dataset(val), Path(run + "-tracking"), threads=DEMO_THREADS)["fitness"]


def _per_sequence_auc(dataset, results: Path) -> list[float]:
    from compresstracker.evaluation.report import score_trackers
    from compresstracker.search.demo import per_sequence_auc

    return per_sequence_auc(score_trackers(dataset, [results])[0])


def run_elastic_demo(
    out: Path, epochs: Optional[int] = None, samples: Optional[int] = None, test_sequences: int = 1000,
    backend: str = "torch", precision: str = "fp32", threads: int = 1, population: int = 6, generations: int = 3,
    finetune_epochs: int = 1, finetune_samples: int = 1024, kendall: int = 8, progress: bool = True,
    report: Optional[Callable[[str], None]] = None,
) -> dict[str, Any]:
    """The whole elastic road; a JSON-ready summary with the table's rows (see the comment above).
    ``report(name)`` hears of every training run and search as it ends."""
    from compresstracker.bench.latency import time_models
    from compresstracker.checkpoints import load_model
    from compresstracker.compression.run import from_search
    from compresstracker.data import get_dataset
    from compresstracker.data.synthetic import generate
    from compresstracker.evaluation.compare import evaluate_model
    from compresstracker.evaluation.report import first_box_score
    from compresstracker.search.evolution import Budget, EvolutionSettings
    from compresstracker.search.demo import difference_standard_error, random_within
    from compresstracker.search.run import SearchOptions, prepare

    out = Path(out)
    settings = {"epochs": epochs, "samples": samples, "test_sequences": test_sequences, "backend": backend, "precision": precision,
                "threads": threads, "population": population, "generations": generations, "finetune_epochs": finetune_epochs, "finetune_samples": finetune_samples,
                "kendall": kendall, "space": ELASTIC}
    _check_elastic_settings(out, settings)
    train_root, val_root = out / "data" / "train", out / "data" / f"val-{VAL_SEQUENCES}x{TEST_FRAMES}"
    test_root = out / "data" / f"test-{test_sequences}x{TEST_FRAMES}"
    generate("lasot", train_root, sequences=40, frames=120, seed=TRAIN_SEED, workers=EVAL_WORKERS)
    generate("lasot", val_root, sequences=VAL_SEQUENCES, frames=TEST_FRAMES, seed=VAL_SEED, difficulty="fair", workers=EVAL_WORKERS)
    generate("lasot", test_root, sequences=test_sequences, frames=TEST_FRAMES, seed=TEST_SEED, difficulty="fair", workers=EVAL_WORKERS)
    teacher = str(builtin_teacher())
    common = [f"compress.teacher_precision={TEACHER_PRECISION}", f"data.train.0.root={train_root}"]
    if epochs is not None:
        common.append(f"train.epochs={epochs}")
    if samples is not None:
        common.append(f"data.samples_per_epoch={samples}")

    # the four training runs, two at a time (the elastic run first: it is the longest)
    runs = {"elastic": ELASTIC, **{f"CT-{k}": [f"compress.stages={k}"] for k in sorted(FIXED, reverse=True)}}
    trained = in_processes({name: (_compress_job, (str(out / name.lower().replace("-", "")), [*common, *extra], teacher))
                             for name, extra in runs.items()}, report)
    costs = {name: seconds for name, (_, seconds) in trained.items()}
    elastic = trained["elastic"][0]
    fixed = {name: summary for name, (summary, _) in trained.items() if name != "elastic"}
    val = f"lasot={val_root}:all"
    marks = tuple((name, fixed[name]["student"]) for name in sorted(fixed))
    base = SearchOptions(supernet=elastic["supernet"], data=val, calib=None, out="", latency_backend=backend, latency_precision=precision,
                         threads=threads, measure_latency=True, marks=marks,
                         settings=EvolutionSettings(population, generations, min(4, population), 0.2, 0))
    _, supernet, table = prepare(base)  # the latency table, measured once on this CPU and cached beside the supernet
    floor = table.cheapest("latency_ms")
    budgets = {k: table.predict_network(load_model(fixed[f"CT-{k}"]["student"])) for k in FIXED}
    reachable = [k for k in FIXED if budgets[k] is not None and budgets[k] >= floor]
    searched = in_processes({f"search@CT-{k}": (_search_job, (dataclasses.replace(base, out=str(out / f"search-ct{k}"),
                                                                                      budget=Budget(max_latency_ms=budgets[k])),))
                              for k in sorted(reachable, reverse=True)}, report)
    searches = {k: searched[f"search@CT-{k}"][0] for k in reachable}
    costs.update({f"search-ct{k}": searched[f"search@CT-{k}"][1] for k in reachable})
    finetune = [f"train.epochs={finetune_epochs}", f"data.samples_per_epoch={finetune_samples}"]  # the same short fine-tuning for every found student
    tuned = in_processes({f"finetune-ct{k}": (_compress_job, (str(out / f"found-ct{k}"), [*common, *from_search(searches[k]["out"])[1], *finetune],
                                                                teacher)) for k in reachable}, report)
    costs.update({name: seconds for name, (_, seconds) in tuned.items()})
    found = {f"found@CT-{k}": tuned[f"finetune-ct{k}"][0]["student"] for k in reachable}
    # does the search beat a draw? one random path under each budget, fine-tuned the same way
    drawn = {k: random_within(table, Budget(max_latency_ms=budgets[k]), searches[k]["best"]["arch"]) for k in reachable}
    drawn = {k: table.space.encode(genes) for k, genes in drawn.items() if genes is not None}  # None: the winner alone fits
    randoms = in_processes({f"random-ct{k}": (_compress_job, (str(out / f"random-ct{k}"), [
        *common, *from_search(searches[k]["out"], arch)[1], *finetune], teacher)) for k, arch in drawn.items()}, report)
    found.update({f"random@CT-{k}": randoms[f"random-ct{k}"][0]["student"] for k in drawn})
    # one evaluation on the test split and one interleaved timing for every student
    dataset = get_dataset("lasot", test_root, split="all")
    students = {**{n: s["student"] for n, s in sorted(fixed.items())}, **found}
    rows: dict[str, dict[str, Any]] = {}
    nets = {name: load_model(path) for name, path in students.items()}
    measured = dict(zip(nets, time_models(list(nets.values()), backend, precision, "cpu", threads, 30)))
    teacher_eval = evaluate_model(teacher, "teacher", dataset, out / "results", workers=EVAL_WORKERS, threads=DEMO_THREADS)
    for name, path in students.items():
        result = evaluate_model(str(path), name, dataset, out / "results", workers=EVAL_WORKERS, threads=DEMO_THREADS)
        rows[name] = {"auc": result["metrics"]["auc"], "params": result["params"], "macs": result["macs"], "latency_ms": measured[name],
                      "kept": 100 * result["metrics"]["auc"] / teacher_eval["metrics"]["auc"], "checkpoint": str(path)}
    for k in FIXED:
        rows[f"CT-{k}"]["budget_ms"] = budgets[k]
    for k, summary in searches.items():
        rows[f"found@CT-{k}"].update(arch=summary["best"]["arch"], budget_ms=budgets[k], inherited_fitness=summary["best"]["fitness"])
    comparisons = {}
    for k, arch in drawn.items():
        rows[f"random@CT-{k}"].update(arch=arch, budget_ms=budgets[k])
        per = {name: _per_sequence_auc(dataset, out / "results" / name) for name in (f"found@CT-{k}", f"random@CT-{k}")}
        comparisons[f"CT-{k}"] = {"searched_minus_random": rows[f"found@CT-{k}"]["auc"] - rows[f"random@CT-{k}"]["auc"],
                                  "standard_error": difference_standard_error(per[f"found@CT-{k}"], per[f"random@CT-{k}"])}
    fixed_cost = sum(costs[f"CT-{k}"] for k in FIXED)
    summary: dict[str, Any] = {
        "out": str(out), "rows": rows, "teacher_auc": teacher_eval["metrics"]["auc"],
        "first_box_auc": first_box_score(dataset).metrics()["auc"], "latency_table": table.latency,
        "budgets_ms": budgets, "space_floor_ms": floor, "unreachable": [f"CT-{k}" for k in FIXED if k not in reachable],
        "training_seconds": costs, "elastic_vs_fixed_cost": costs["elastic"] / fixed_cost,
        "elastic_and_finetunes_vs_fixed_cost": (costs["elastic"] + sum(costs[f"finetune-ct{k}"] for k in reachable)) / fixed_cost,
        "latency_check": {k: s.get("latency_check") for k, s in searches.items()},
        "searched_vs_random": comparisons, "only_path": [f"CT-{k}" for k in reachable if k not in drawn],
        "test_split": {"sequences": test_sequences, "frames": TEST_FRAMES, "seed": TEST_SEED},
    }
    if kendall:
        summary["kendall"] = _kendall(out, searches, kendall, [*common, *finetune], val, teacher, report)
    return summary


def _kendall(out: Path, searches: dict, count: int, overrides: list[str], val: str, teacher: str, report) -> dict[str, Any]:
    """Kendall tau between inherited fitness (the search's) and fitness after the same short fine-tuning,
    over the ``count`` best distinct candidates the searches scored."""
    from compresstracker.compression.run import from_search

    records = {}
    for k, summary in searches.items():
        for r in summary["records"]:
            records.setdefault(r["arch"], (k, r))
    picked = sorted(records.values(), key=lambda kr: -kr[1]["fitness"])[:count]
    jobs = {}
    for i, (k, record) in enumerate(picked):
        jobs[f"kendall/{i}"] = (_finetuned_fitness, (str(out / "kendall" / str(i)), [*overrides, *from_search(searches[k]["out"], record["arch"])[1]],
                                                     teacher, val))
    after = in_processes(jobs, report)
    pairs = [{"arch": record["arch"], "inherited": record["fitness"], "finetuned": after[f"kendall/{i}"]} for i, (_, record) in enumerate(picked)]
    return {"tau": kendall_tau([p["inherited"] for p in pairs], [p["finetuned"] for p in pairs]), "architectures": pairs}


def kendall_tau(a: list[float], b: list[float]) -> float:
    """Kendall's tau-b of two rankings (ties counted as neither concordant nor discordant); nan under 2 items."""
    n = len(a)
    concordant = discordant = ties_a = ties_b = 0
    for i in range(n):
        for j in range(i + 1, n):
            da, db = a[i] - a[j], b[i] - b[j]
            if da == 0 and db == 0:
                continue
            if da == 0:
                ties_a += 1
            elif db == 0:
                ties_b += 1
            elif (da > 0) == (db > 0):
                concordant += 1
            else:
                discordant += 1
    pairs_a, pairs_b = concordant + discordant + ties_a, concordant + discordant + ties_b
    if n < 2 or pairs_a == 0 or pairs_b == 0:
        return float("nan")
    return (concordant - discordant) / (pairs_a * pairs_b) ** 0.5
