"""CPU thread policy shared by every command that runs a network (track, eval, bench, train, compress).

Oversubscribed OpenMP threads stall on a busy machine (measured here: 11 pairs/s with 2 threads
beside one loader worker on 2 cores, 41 pairs/s with 1; eval at a tenth of its speed). So the
default is the cores this process may run on (its affinity mask, not the machine's count),
shared between sibling processes and minus the cores other workers (data loaders) need.
An explicit count (``--threads``) wins, then ``OMP_NUM_THREADS``, then this policy.
"""
from __future__ import annotations

import contextlib
import functools
import os
import warnings
from typing import Any, Callable, Iterator, TypeVar

from compresstracker.errors import ConfigError, CTrackWarning

Method = TypeVar("Method", bound=Callable[..., Any])


def available_cores() -> int:
    """Cores this process may run on (``os.sched_getaffinity``; ``os.cpu_count`` where it is missing)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_threads(processes: int = 1, reserved: int = 0) -> int:
    """Threads for one of ``processes`` sibling processes, leaving ``reserved`` cores (loader workers) free.

    Never more than the available cores, never fewer than 1.
    """
    return max(1, available_cores() // max(1, processes) - max(0, reserved))


# An explicit count above this many threads per usable core is refused: past a few threads a core
# nothing gets faster, and huge counts exhaust memory maps or thread limits (issue 23).
MAX_THREADS_PER_CORE = 4


def check_threads(requested: int) -> int:
    """``requested`` if it is a sensible explicit thread count (1 .. 4x the usable cores), else a ConfigError."""
    if requested < 1:
        raise ConfigError(f"--threads must be >= 1, got {requested}")
    cores = available_cores()
    if requested > MAX_THREADS_PER_CORE * cores:
        raise ConfigError(f"--threads {requested} is more than {MAX_THREADS_PER_CORE}x the {cores} core(s) this process may use; "
                          f"give at most {MAX_THREADS_PER_CORE * cores}")
    return requested


def loader_worker_cap(processes: int = 1) -> int:
    """The most data-loader workers one of ``processes`` sibling processes runs: its cores less one (its own step)."""
    return max(0, available_cores() // max(1, processes) - 1)


def loader_workers(requested: int, processes: int = 1) -> int:
    """Data-loader workers for one of ``processes`` sibling processes: ``requested``, at most
    :func:`loader_worker_cap`; a warning says when it was lowered (a recipe's 8 workers on a 2-core
    machine only compete for the cores)."""
    cap = loader_worker_cap(processes)
    if requested > cap:
        warnings.warn(CTrackWarning(f"data.workers {requested} lowered to {cap}: this process may use {available_cores()} core(s)"
                                    f"{f' shared by {processes} processes' if processes > 1 else ''}"), stacklevel=2)
        return cap
    return int(requested)


def resolve_threads(requested: int | None, processes: int = 1, reserved: int = 0) -> int:
    """The thread count to use: ``requested``, else ``OMP_NUM_THREADS``, else :func:`default_threads`."""
    if requested is not None:
        check_threads(requested)
        cores = available_cores()
        if requested > cores:  # honoured (an explicit count wins), but said: such threads only compete
            warnings.warn(CTrackWarning(f"--threads {requested} is more than the {cores} core(s) this process may use; "
                                        "the extra threads compete for them"), stacklevel=2)
        return int(requested)
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) >= 1:
        return int(env)
    return default_threads(processes, reserved)


def set_threads(threads: int) -> int:
    """Set PyTorch's intra-op thread count for this process; returns it."""
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


@contextlib.contextmanager
def host_threads(network: Any) -> Iterator[None]:
    """PyTorch's thread count set to ``network.host_threads`` (where it has one) for a tracking step.

    A network run by a graph runtime (OpenVINO, ONNX Runtime) has its own thread pool; the step's
    torch work beside it (normalising the crop, decoding the maps) is a few hundred microseconds.
    With PyTorch's OpenMP team of 2 on 2 cores, that team's workers keep spinning after each small
    op while the runtime's pool starts, and the whole step ran 7-16 % slower (ViT-B 4-block student,
    OpenVINO int8, interleaved with a torch row; docs/speed.md). Networks without the attribute
    (torch ones) leave the count alone.
    """
    wanted = getattr(network, "host_threads", None)
    if wanted is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    set_threads(wanted)
    try:
        yield
    finally:
        set_threads(before)


def on_host_threads(method: Method) -> Method:
    """Run a tracker method (``self.network`` is its network) under :func:`host_threads`."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with host_threads(self.network):
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


DEMO_PROCESSES = 2  # the cores of a 2-core machine: the demos' training runs and searches go two at a time


def in_processes(jobs: dict[str, tuple[Callable, tuple]], report: Callable[[str], None] | None = None,
                 processes: int = DEMO_PROCESSES) -> dict[str, Any]:
    """Run ``{name: (fn, args)}`` in ``processes`` fresh spawned processes (one per job), in the order given
    (longest first is best); results by name. Every job must resume what it finds done: when a process dies (a
    native library's crash takes the pool down) the jobs without a result run once more in a new pool."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    from compresstracker.errors import CTrackError

    results: dict[str, Any] = {}
    for attempt in range(2):
        todo = {name: job for name, job in jobs.items() if name not in results}
        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"), max_tasks_per_child=1) as pool:
            futures = {pool.submit(_job, fn, args): name for name, (fn, args) in todo.items()}
            try:
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    if report is not None:
                        report(futures[future])
            except BrokenProcessPool:
                if attempt:
                    raise CTrackError(f"a process running {', '.join(n for n in todo if n not in results)} died twice") from None
    return {name: results[name] for name in jobs}


def _job(fn: Callable, args: tuple) -> Any:
    """One job in its process, with ctrack's warnings on one line each as in the command that started it."""
    from compresstracker.errors import print_warnings_on_one_line

    with warnings.catch_warnings():
        print_warnings_on_one_line()
        return fn(*args)
