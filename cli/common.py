"""Options and output helpers shared by the command modules."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import click

from compresstracker.console import console, err_console, make_table  # noqa: F401  (re-exported for the command modules)

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout instead of the table.")
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress on stderr (errors and warnings still go there).")


def checked_threads(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """A ``--threads`` callback: refuse counts far above the usable cores when the command line is read."""
    from compresstracker.threads import check_threads

    return None if value is None else check_threads(value)


threads_option = click.option(
    "--threads", type=click.IntRange(1), callback=checked_threads,
    help="CPU threads for the network (default: the cores this process may use, less loader workers and sibling processes).",
)
device_option = click.option(
    "--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto (CUDA when present)."
)

class RegistryChoice(click.Choice):
    """A choice whose values ``read()`` returns when the command line is parsed or --help drawn, not at
    import: a runtime registered later (a plug-in, a test) is offered too."""

    def __init__(self, read: Callable[[], Sequence[str]]):  # Choice.__init__ would freeze the values
        self.read = read
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(self.read())


class RegistryOption(click.Option):
    """An option whose attributes (help, metavar, default) ``read()`` returns when they are used, for
    the same reason as :class:`RegistryChoice`."""

    def __init__(self, *args: Any, read: Callable[[], dict[str, Any]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.read = read

    def _refresh(self) -> None:
        for key, value in self.read().items():
            setattr(self, key, value)

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self._refresh()
        return super().get_help_record(ctx)

    def get_default(self, ctx: click.Context, call: bool = True) -> Any:
        self._refresh()
        return super().get_default(ctx, call)


def registry_option(*names: str, read: Callable[[], dict[str, Any]], **kwargs: Any) -> Callable:
    """``click.option`` of a :class:`RegistryOption`."""
    return click.option(*names, cls=RegistryOption, read=read, **kwargs)


def backends() -> list:
    """The registered runtimes (:mod:`compresstracker.deploy`, imported when first needed: --help stays light elsewhere)."""
    from compresstracker.deploy import backend_names, get_backend

    return [get_backend(name) for name in backend_names()]


def precisions(deploying: bool = False) -> list[str]:
    """Every precision a backend runs (``deploying``: exports)."""
    from compresstracker.deploy import all_precisions

    return all_precisions(deploying)


def listing(words: Sequence[str], last: str = "or") -> str:
    """'a, b or c'."""
    return f"{', '.join(words[:-1])} {last} {words[-1]}" if len(words) > 1 else "".join(words)


def precision_listing(backend: Any) -> str:
    """A backend's precisions with their notes, e.g. 'fp32, bf16 (weights cast once), fp16 (CUDA)'."""
    return ", ".join(f"{p} ({backend.precision_notes[p]})" if p in backend.precision_notes else p for p in backend.precisions)


def backend_metavar() -> str:
    """'torch|onnxruntime|...': every backend's name."""
    return "|".join(b.name for b in backends())


def _backend_attributes() -> dict[str, Any]:
    from compresstracker.deploy import default_backend

    return {
        "default": default_backend(),
        "metavar": backend_metavar(),
        "help": f"Run the network with {listing([b.title for b in backends()])}: a file from `ctrack export` for that "
        "backend, or any checkpoint converted on the fly.",
    }


def _precision_attributes() -> dict[str, Any]:
    return {"help": "; ".join(f"{b.name}: {precision_listing(b)}" for b in backends()) + ". Default fp32 (a deployed file: its own)."}


def _calib_attributes() -> dict[str, Any]:
    pairs = [(p, b.name) for b in backends() for p in b.calibrated]
    return {"help": f"Static {listing(list(dict.fromkeys(p for p, _ in pairs)))} ({listing([n for _, n in pairs])}): "
            "calibrate on tracking crops of this dataset (default: generated sequences)."}


# The library checks the backend's name (an unknown one is its one-line error), so it is no click choice.
backend_option = registry_option("--backend", show_default=True, read=_backend_attributes)
precision_option = registry_option("--precision", type=RegistryChoice(precisions), read=_precision_attributes)
calib_option = registry_option("--calib", metavar="NAME=ROOT[:SPLIT]", read=_calib_attributes)

def note(message: str) -> None:
    """One line on stderr (a note or a warning, never part of the output)."""
    click.echo(message, err=True)


def deprecated(old: str, new: str, dest: str, **kwargs):
    """A hidden option keeping an old spelling working for one release; using it prints one stderr line.

    The command merges ``dest`` into the new option's value (see :func:`prefer`).
    """

    def warn(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if given(value):
            note(f"warning: {old} is deprecated and will be removed in the next release; use {new}")
        return value

    return click.option(old, dest, hidden=True, expose_value=True, callback=warn, **kwargs)


def prefer(new: Any, old: Any) -> Any:
    """The new option's value, else the deprecated spelling's."""
    return new if given(new) else old


def given(value: Any) -> bool:
    """Whether an option was used (0 counts; None, an empty tuple and an unset flag do not)."""
    return value is not None and value is not False and value != ()


plot_format_option = click.option(
    "--plot-format", "plot_formats", multiple=True, type=click.Choice(["png", "pdf", "svg"]),
    help="Plot file format(s) [default: png]; repeatable.",
)
dataset_spec_option = click.option(
    "--data", "data_spec", metavar="NAME=ROOT[:SPLIT]",
    help="The dataset, as train/compress name one: NAME=ROOT[:SPLIT] (or -d NAME --root ROOT [--split S]).",
)


def dataset_args(spec: str | None, name: str | None, root: str | None, split: str | None) -> tuple[str, str, str | None]:
    """(name, root, split) from ``--data NAME=ROOT[:SPLIT]`` or the long form ``-d NAME --root ROOT --split S``."""
    from compresstracker.data.registry import split_root

    if spec:
        if name or root:
            raise click.UsageError("give the dataset once: --data NAME=ROOT[:SPLIT] or -d NAME --root ROOT")
        name, sep, rest = spec.partition("=")
        if not sep or not name or not rest:
            raise click.BadParameter(f"{spec!r} must look like NAME=ROOT[:SPLIT]", param_hint="--data")
        root, spec_split = split_root(rest)
        return name, root, split or spec_split
    if not name or not root:
        raise click.UsageError("Missing option '--data NAME=ROOT[:SPLIT]' (or -d NAME --root ROOT).")
    return name, root, split


def _parse_params(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for text in values:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{text!r} is not KEY=VALUE")
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


# Tracker hyper-parameters; the checkpoint's model family decides which loop (and presets) apply.
preset_option = click.option(
    "--preset", help="Tracker preset (LightTrack: vot2019 or default; OSTrack's loop has none)."
)
param_option = click.option(
    "--param", "params", multiple=True, metavar="KEY=VALUE", callback=_parse_params,
    help="Override one tracker parameter (repeatable), e.g. --param penalty_k=0.01.",
)


baseline_option = click.option(
    "--baseline", is_flag=True, help='Also score a "tracker" that repeats the first box on every frame: the floor to clear.'
)


def emit_json(obj: Any) -> None:
    """Write one JSON document to stdout."""
    click.echo(json.dumps(obj, indent=2, default=_jsonable))


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "__fspath__"):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def parse_box(text: str) -> list[float]:
    """'x,y,w,h' -> four floats; a click error otherwise."""
    parts = [p for p in text.replace(" ", ",").split(",") if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not four numbers x,y,w,h") from None
    if len(values) != 4:
        raise click.BadParameter(f"{text!r} has {len(values)} numbers; expected x,y,w,h")
    return values


def parse_sequence_names(value: str | None) -> list[str] | None:
    """``a,b,c`` or the path of a text file with one sequence name per line (blank lines skipped)."""
    if value is None:
        return None
    path = Path(value)
    if path.is_file():
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return [name.strip() for name in value.split(",") if name.strip()]


def top_table(records: list[dict]):
    """The best search candidates (``ctrack search``, ``ctrack demo --search``): arch, MACs, params, latency, fitness."""
    table = make_table("top candidates", "arch", *[(column, {"justify": "right"}) for column in ("MMACs", "params K", "latency ms", "fitness")],
                       caption="latency: m = measured on this machine, p = predicted from the cost table")
    for r in records:
        measured, predicted = r.get("measured_latency_ms"), r.get("latency_ms")
        latency = f"{measured:.2f} m" if measured else f"{predicted:.2f} p" if predicted else "-"
        table.add_row(r["arch"], f"{r['macs'] / 1e6:.2f}", f"{r['params'] / 1e3:.1f}", latency, f"{r['fitness']:.2f}")
    return table
# ``ctrack train`` and ``ctrack compress``: the options of a run, and its steps around the library's.
run_data_option = click.option(
    "--data", "data_specs", multiple=True, metavar="NAME=ROOT[:SPLIT]",
    help="A training dataset and its root; repeatable. The datasets given are the training mix "
    "(ratios from the recipe where it names them).",
)


def run_options(func):
    """The options train and compress share (output folder, resume, sizes, processes, data, threads)."""
    for option in reversed([
        click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Output folder (the run)."),
        click.option("--resume", is_flag=True, help="Continue the run in --out; its settings come from the run itself."),
        click.option("--epochs", type=click.IntRange(0), help="Override train.epochs (on --resume: more epochs continue the run)."),
        click.option("--samples-per-epoch", type=click.IntRange(1), help="Override data.samples_per_epoch."),
        click.option("--batch-size", type=click.IntRange(1), help="Override train.batch_size (per process)."),
        click.option("--loader-workers", type=click.IntRange(0), help="Override data.workers (data loader processes)."),
        deprecated("--workers", "--loader-workers", "old_workers", type=click.IntRange(0)),
        click.option("--nproc", type=click.IntRange(1), help="Launch N processes with torchrun on this machine."),
        run_data_option,
        threads_option,
        click.option("--dry-run", is_flag=True, help="Check data roots, print the resolved config (and plan); write nothing."),
        device_option,
        json_option,
        quiet_option,
    ]):
        func = option(func)
    return func


def resolve_run_options(kind: str, recipe: str | None, overrides: tuple[str, ...], extra: list[str], options: dict[str, Any]):
    """The library's RunRequest for a command's options (``options``: the shared run options as click passed them)."""
    from compresstracker.training.launch import flag_overrides, resolve_run

    requested = flag_overrides(overrides, epochs=options["epochs"], samples_per_epoch=options["samples_per_epoch"],
                               batch_size=options["batch_size"],
                               loader_workers=prefer(options["loader_workers"], options["old_workers"])) + extra
    return resolve_run(kind, recipe, requested, options["data_specs"], options["out"], options["resume"])


def show_preflight(request, dry_run: bool) -> None:
    """The run's notes and data problems on stderr; the library refuses unreadable data unless --dry-run."""
    from compresstracker.training.launch import preflight

    for line in preflight(request, dry_run):
        note(line)


def show_dry_run(request, as_json: bool, plan: dict | None = None) -> None:
    """--dry-run: the resolved config (and plan) on stdout; exit 2 when data roots are missing."""
    from compresstracker.training.data import data_problems
    from compresstracker.training.recipe import dump_recipe

    problems = data_problems(request.recipe)
    if as_json:
        emit_json({"config": request.recipe, "plan": plan, "problems": problems})
    else:
        click.echo(dump_recipe(request.recipe), nl=False)
        if plan is not None:
            console.print(plan_table(plan))
            console.print(sizes_line(plan))
    if problems:
        raise click.exceptions.Exit(2)


def execute_run(run, request, options: dict[str, Any], **kwargs: Any) -> dict | None:
    """Run ``run`` through the library's shared tail (torchrun relaunch with --nproc); the summary to
    report, or None where this process reports nothing (the torchrun parent, ranks other than 0)."""
    import sys

    from compresstracker.progress import progress_mode
    from compresstracker.training.launch import check_amp, execute, relaunch

    check_amp(request.recipe, options["device"])  # before torchrun starts processes that would refuse it
    code = relaunch(options["nproc"], sys.argv[1:])
    if code:
        raise click.exceptions.Exit(code)
    if code is not None:
        return None
    return execute(run, request, options["device"], progress=progress_mode(options["quiet"]), threads=options["threads"], **kwargs)


def plan_table(plan: dict):
    """A stage plan (``describe_plan``) as a table: teacher layers, student layers, where each starts from."""
    table = make_table(f"{plan['teacher_arch']}: {plan['teacher_depth']} layers -> {plan['student_depth']}",
                       ("stage", {"justify": "right"}), "teacher layers", "student layer(s)", "initialised from")
    k = plan["layers_per_stage"]
    for i, layers in enumerate(plan["stages"]):
        student = list(range(i * k, (i + 1) * k))
        table.add_row(str(i), ", ".join(map(str, layers)), ", ".join(map(str, student)),
                      ", ".join(f"teacher {plan['student_init'][j]}" for j in student))
    return table


def sizes_line(plan: dict) -> str:
    """Params, MACs and the expected speed-up of a stage plan, in one line."""
    return (
        f"params {plan['teacher_params'] / 1e6:.2f} M -> {plan['student_params'] / 1e6:.2f} M, "
        f"MACs {plan['teacher_macs'] / 1e9:.3f} G -> {plan['student_macs'] / 1e9:.3f} G, "
        f"expected speed-up {plan['expected_speedup']:.2f}x (MACs ratio)"
    )
