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
# ``ctrack demo --elastic`` / ``make demo-elastic``: one elastic compression run, a search under two
# latency budgets on this CPU, and the found students beside fixed CT-k students trained apart.
#
# On the compression demo's generated data and with its CPU recipe (the same pairs per run): the
# built-in 12-block teacher is compressed once elastically (2 stages, 1-3 layers per stage, MLP
# ratio 4, 2 or 1: 81 students) and, separately, into fixed CT-2, CT-3 and CT-4 students. The
# latency table is measured on this CPU (backend, precision and threads as given); the two budgets
# are the predicted latencies of the CT-2 and CT-4 shapes of the space, so every found student is
# compared with a fixed one of the same latency. Each found student is fine-tuned briefly
# (``compress --from-search``), then everything is tracked on the same test split and timed in one
# interleaved bench. Kendall tau ranks the inherited fitness of the searched students against their
# fitness after the same fine-tuning (how far the supernet's ranking can be trusted).
VAL_SEED, VAL_SEQUENCES = 23, 200  # the elastic demo's fitness split (training data and test clips as the compression demo's)
FIXED = (2, 3, 4)
ELASTIC = ["compress.stages=2", "compress.elastic.enabled=true", "compress.elastic.depths=[1,2,3]",
           "compress.elastic.mlp_ratios=[4,2,1]"]
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


def run_elastic_demo(
    out: Path, epochs: Optional[int] = None, samples: Optional[int] = None, test_sequences: int = 1000,
    backend: str = "torch", precision: str = "fp32", threads: int = 1, population: int = 6, generations: int = 3,
    finetune_epochs: int = 1, finetune_samples: int = 512, kendall: int = 8, progress: bool = True, on_generation=None,
) -> dict[str, Any]:
    """The whole elastic road; a JSON-ready summary with the table's rows (see the module docstring)."""
    from compresstracker.bench.latency import time_models
    from compresstracker.checkpoints import load_model
    from compresstracker.compression.run import compress_tracker, from_search
    from compresstracker.data import get_dataset
    from compresstracker.data.synthetic import generate
    from compresstracker.evaluation.compare import evaluate_model
    from compresstracker.evaluation.report import first_box_score
    from compresstracker.search.evolution import Budget, EvolutionSettings
    from compresstracker.search.run import SearchOptions, prepare, run_search
    from compresstracker.training.recipe import load_recipe

    out = Path(out)
    settings = {"epochs": epochs, "samples": samples, "test_sequences": test_sequences, "backend": backend, "precision": precision,
                "threads": threads, "population": population, "generations": generations, "finetune_epochs": finetune_epochs, "finetune_samples": finetune_samples,
                "kendall": kendall}
    _check_elastic_settings(out, settings)
    train_root, val_root = out / "data" / "train", out / "data" / f"val-{VAL_SEQUENCES}x{TEST_FRAMES}"
    test_root = out / "data" / f"test-{test_sequences}x{TEST_FRAMES}"
    generate("lasot", train_root, sequences=40, frames=120, seed=TRAIN_SEED, workers=EVAL_WORKERS)
    generate("lasot", val_root, sequences=VAL_SEQUENCES, frames=TEST_FRAMES, seed=VAL_SEED, difficulty="fair", workers=EVAL_WORKERS)
    generate("lasot", test_root, sequences=test_sequences, frames=TEST_FRAMES, seed=TEST_SEED, difficulty="fair", workers=EVAL_WORKERS)
    teacher = builtin_teacher()
    common = [f"compress.teacher_precision={TEACHER_PRECISION}", f"data.train.0.root={train_root}"]
    if epochs is not None:
        common.append(f"train.epochs={epochs}")
    if samples is not None:
        common.append(f"data.samples_per_epoch={samples}")

    def compress(name: str, extra: list[str]) -> tuple[dict, float]:
        run = out / name
        recipe = load_recipe("compresstracker_tiny", [*common, *extra])
        resume = (run / "config.yaml").is_file()
        summary = compress_tracker(recipe, run, resume=resume, progress=progress, threads=DEMO_THREADS, teacher=teacher)
        return summary, training_seconds(run)

    costs: dict[str, float] = {}
    elastic, costs["elastic"] = compress("elastic", ELASTIC)
    fixed = {}
    for k in FIXED:
        fixed[f"CT-{k}"], costs[f"CT-{k}"] = compress(f"ct{k}", [f"compress.stages={k}"])
    val = f"lasot={val_root}:all"
    marks = tuple((name, s["student"]) for name, s in fixed.items())
    base = SearchOptions(supernet=elastic["supernet"], data=val, calib=None, out="", latency_backend=backend, latency_precision=precision,
                         threads=threads, measure_latency=True, marks=marks,
                         settings=EvolutionSettings(population, generations, min(4, population), 0.2, 0))
    _, supernet, table = prepare(base)  # the latency table, measured once on this CPU and cached beside the supernet
    space, full = table.space, supernet.elastic.hidden[0]
    shape_ms = {k: table.predict_latency(space.from_arch(_ct_shape(k, full))) for k in (2, 4)}
    searches = {}
    for k, budget in shape_ms.items():
        opts = dataclasses.replace(base, out=str(out / f"search-ct{k}"), budget=Budget(max_latency_ms=budget))
        resume = (out / f"search-ct{k}" / "search_state.json").is_file()
        searches[k], costs[f"search-ct{k}"] = _timed(lambda: run_search(opts, resume=resume, on_generation=on_generation))
    found = {}
    finetune = [f"train.epochs={finetune_epochs}", f"data.samples_per_epoch={finetune_samples}"]  # the same short fine-tuning for every found student
    for k, summary in searches.items():
        teacher_file, extra = from_search(summary["out"])
        tuned, costs[f"finetune-ct{k}"] = compress(f"found-ct{k}", [*extra, *finetune])
        found[f"found@CT-{k}"] = tuned["student"]
    # one evaluation on the test split and one interleaved timing for every student
    dataset = get_dataset("lasot", test_root, split="all")
    students = {**{n: s["student"] for n, s in fixed.items()}, **found}
    rows: dict[str, dict[str, Any]] = {}
    nets = {name: load_model(path) for name, path in students.items()}
    measured = dict(zip(nets, time_models(list(nets.values()), backend, precision, "cpu", threads, 30)))
    teacher_eval = evaluate_model(str(teacher), "teacher", dataset, out / "results", workers=EVAL_WORKERS, threads=DEMO_THREADS)
    for name, path in students.items():
        report = evaluate_model(str(path), name, dataset, out / "results", workers=EVAL_WORKERS, threads=DEMO_THREADS)
        rows[name] = {"auc": report["metrics"]["auc"], "params": report["params"], "macs": report["macs"], "latency_ms": measured[name],
                      "kept": 100 * report["metrics"]["auc"] / teacher_eval["metrics"]["auc"], "checkpoint": str(path)}
    for k, summary in searches.items():
        rows[f"found@CT-{k}"].update(arch=summary["best"]["arch"], budget_ms=shape_ms[k], inherited_fitness=summary["best"]["fitness"])
    summary: dict[str, Any] = {
        "out": str(out), "rows": rows, "teacher_auc": teacher_eval["metrics"]["auc"],
        "first_box_auc": first_box_score(dataset).metrics()["auc"], "latency_table": table.latency,
        "budgets_ms": shape_ms, "training_seconds": costs,
        "elastic_vs_fixed_cost": costs["elastic"] / sum(costs[f"CT-{k}"] for k in FIXED),
        "latency_check": {k: s.get("latency_check") for k, s in searches.items()},
        "test_split": {"sequences": test_sequences, "frames": TEST_FRAMES, "seed": TEST_SEED},
    }
    if kendall:
        summary["kendall"] = _kendall(out, searches, kendall, finetune, val, compress)
    return summary


def _ct_shape(k: int, hidden: int):
    """The path of the 2-stage space with the layer count of CT-k at full width (k = 2..6)."""
    from compresstracker.compression.elastic import ElasticPath

    return ElasticPath((k // 2, k - k // 2), (hidden, hidden))


def _kendall(out: Path, searches: dict, count: int, finetune: list[str], val: str, compress) -> dict[str, Any]:
    """Kendall tau between inherited fitness (the search's) and fitness after the same short fine-tuning,
    over the ``count`` best distinct candidates the searches scored."""
    from compresstracker.compression.run import from_search
    from compresstracker.search.fitness import fitness_dataset, track_and_score
    from compresstracker.checkpoints import load_model

    records = {}
    for k, summary in searches.items():
        for r in summary["records"]:
            records.setdefault(r["arch"], (k, r))
    picked = sorted(records.values(), key=lambda kr: -kr[1]["fitness"])[:count]
    dataset = fitness_dataset(val)
    pairs = []
    for i, (k, record) in enumerate(picked):
        _, extra = from_search(searches[k]["out"])
        extra = [e for e in extra if not e.startswith("compress.elastic.path=")] + [f"compress.elastic.path={record['arch']}"]
        tuned, _ = compress(f"kendall/{i}", [*extra, *finetune])
        after = track_and_score(load_model(tuned["student"]), dataset, out / "kendall" / f"{i}-tracking", threads=1)
        pairs.append({"arch": record["arch"], "inherited": record["fitness"], "finetuned": after["fitness"]})
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
