"""Progress reports on stderr: a live bar on a terminal, plain lines elsewhere (CI logs, files).

Training reports per step and per epoch (epoch, loss, lr, pairs/s, elapsed, whole-run ETA);
evaluation per sequence. ``progress_mode`` picks the form the way users of command-line
tools expect: nothing when asked to be quiet, a bar when stderr is a terminal, lines otherwise.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Optional

LINE_INTERVAL_S = 60.0  # a plain line inside a long epoch at most this often


def progress_mode(quiet: bool = False) -> Optional[str]:
    """'bar' on a terminal, 'lines' when stderr is a pipe or file, None when ``quiet``."""
    if quiet:
        return None
    return "bar" if sys.stderr.isatty() else "lines"


def resolve_progress(progress: bool | str | None) -> Optional[str]:
    """A ``progress`` argument as the API takes it -> a mode: 'bar'/'lines' as given, True -> :func:`progress_mode`, falsy -> None."""
    if not progress:
        return None
    return progress if isinstance(progress, str) else progress_mode()


def _clock(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class TrainingProgress:
    """What the training engine reports to; ``mode`` 'bar' or 'lines' (see :func:`progress_mode`)."""

    def __init__(self, mode: str = "lines"):
        self.mode = mode
        self.start = time.perf_counter()
        self.steps_done = 0  # steps run by this process (the ETA's rate)
        self.steps_left_at_start: Optional[int] = None
        self._bar = None
        self._epoch_task = None
        self._run_task = None
        self._last_line = self.start

    # --------------------------------------------------------------------- engine side
    def begin(self, epochs: int, steps_per_epoch: int, done_steps: int) -> None:
        """The run: ``epochs`` in all, ``steps_per_epoch`` each, ``done_steps`` already done (resume)."""
        self.epochs = epochs
        self.total_steps = epochs * steps_per_epoch
        self.done_before = done_steps
        if self.mode == "bar":
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            from compresstracker.console import err_console

            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TimeRemainingColumn(), console=err_console,
            )
            self._bar.start()
            self._run_task = self._bar.add_task("run", total=self.total_steps, completed=done_steps)

    def begin_epoch(self, epoch: int, total: int, done: int) -> None:
        self.epoch, self.epoch_total = epoch, total
        if self._bar is not None:
            self._epoch_task = self._bar.add_task(f"epoch {epoch + 1}/{self.epochs}", total=total, completed=done)

    def step(self, step_in_epoch: int, loss: float, lr: float, rate: float) -> None:
        self.steps_done += 1
        summary = f"loss {loss:.3f} lr {lr:.1e} {rate:.1f} pairs/s"
        if self._bar is not None:
            self._bar.update(self._epoch_task, advance=1, description=f"epoch {self.epoch + 1}/{self.epochs} {summary}")
            self._bar.update(self._run_task, advance=1, description=f"run (ETA {_clock(self.eta())})")
        elif time.perf_counter() - self._last_line >= LINE_INTERVAL_S and step_in_epoch < self.epoch_total:
            self._last_line = time.perf_counter()
            _line(f"epoch {self.epoch + 1}/{self.epochs} step {step_in_epoch}/{self.epoch_total} {summary} "
                  f"elapsed {_clock(self.elapsed())} ETA {_clock(self.eta())}")

    def end_epoch(self, record: dict[str, Any], rate: float) -> None:
        if self._bar is not None:
            self._bar.remove_task(self._epoch_task)
            return
        self._last_line = time.perf_counter()
        loss = record.get("mean_loss")
        extra = "".join(f" {k} {record[k]:.4f}" for k in ("val_loss",) if isinstance(record.get(k), (int, float)))
        _line(
            f"epoch {record['epoch']}/{self.epochs} loss {loss:.4f} lr {record['lr']:.1e} {rate:.1f} pairs/s{extra} "
            f"elapsed {_clock(self.elapsed())} ETA {_clock(self.eta())}" if loss is not None else
            f"epoch {record['epoch']}/{self.epochs} elapsed {_clock(self.elapsed())}"
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    # --------------------------------------------------------------------- figures
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def eta(self) -> float:
        """Seconds to the end of the whole run at this process's mean step rate."""
        left = self.total_steps - self.done_before - self.steps_done
        return self.elapsed() / self.steps_done * left if self.steps_done else 0.0


class SequenceProgress:
    """Evaluation progress: a bar on a terminal, a line every ``every`` sequences (and the last) otherwise."""

    def __init__(self, mode: Optional[str], label: str, total: int, every: int = 0):
        self.mode, self.label, self.total = mode, label, total
        self.every = every or max(1, total // 10)
        self.done = self.frames = 0
        self.seconds = 0.0
        self.start = time.perf_counter()
        self._bar = None
        if mode == "bar":
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            from compresstracker.console import err_console

            self._bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(), console=err_console,
            )
            self._bar.start()
            self._task = self._bar.add_task(label, total=total, rate="")

    def sequence_done(self, name: str, frames: int, seconds: float, workers: int = 1) -> None:
        self.done += 1
        self.frames += frames
        self.seconds += seconds
        rate = self.frames / max(self.seconds, 1e-9) * workers
        if self._bar is not None:
            self._bar.update(self._task, advance=1, rate=f"{rate:.1f} frames/s")
        elif self.mode == "lines" and (self.done % self.every == 0 or self.done == self.total):
            elapsed = time.perf_counter() - self.start
            eta = elapsed / self.done * (self.total - self.done)
            _line(f"{self.label}: {self.done}/{self.total} sequences, {rate:.1f} frames/s, "
                  f"elapsed {_clock(elapsed)} ETA {_clock(eta)}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> "SequenceProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
