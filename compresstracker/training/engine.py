"""The training engine: one loop for OSTrack-style training and for replacement training.

What is trained is a *task* (see ``Task``): it owns the module, its parameter groups, the
per-step loss and any state of its own (a seeded generator, say). The engine owns everything
else: optimiser and schedule, AMP, DDP, logging, atomic checkpoints and exact resume.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Protocol

import torch
from torch import nn

from compresstracker.checkpoints.formats import TRAIN_STATE_FORMAT
from compresstracker.errors import CTrackError
from compresstracker.fileio import atomic_path, atomic_write_text
from compresstracker.training.distributed import DistInfo, all_reduce_mean, barrier
from compresstracker.training.recipe import dump_recipe

CHECKPOINT_DIR = "checkpoints"
LAST = "last.pt"


class Task(Protocol):
    """What the engine trains."""

    module: nn.Module

    def param_groups(self, recipe: dict) -> list[dict]: ...

    def begin_epoch(self, epoch: int) -> dict[str, float]: ...

    def step(self, module: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def lr_factor(epoch: int, recipe: dict) -> float:
    """The learning rate of (0-based) ``epoch`` as a multiple of ``train.lr``.

    Linear warm-up over ``warmup_epochs`` ((epoch + 1) / warmup_epochs), then by ``lr_schedule``:
    ``step`` x ``lr_drop_factor`` from epoch ``lr_drop_epoch`` on; ``log`` decays geometrically
    (evenly on a log scale) from ``lr`` at the first epoch after the warm-up to ``lr_end`` at the
    last epoch, LightTrack's (Ocean's) schedule.
    """
    train = recipe["train"]
    warmup = train["warmup_epochs"]
    if warmup and epoch < warmup:
        factor = (epoch + 1) / warmup
        if train["lr_schedule"] == "log":
            return factor
    else:
        factor = 1.0
    if train["lr_schedule"] == "log":
        span = train["epochs"] - warmup - 1
        return (train["lr_end"] / train["lr"]) ** ((epoch - warmup) / span) if span > 0 else 1.0
    if train["lr_drop_epoch"] is not None and epoch >= train["lr_drop_epoch"]:
        factor *= train["lr_drop_factor"]
    return factor


OPTIMIZERS: dict[str, Callable[[list[dict], dict], torch.optim.Optimizer]] = {
    "adamw": lambda groups, train: torch.optim.AdamW(groups, lr=train["lr"], weight_decay=train["weight_decay"]),
    "sgd": lambda groups, train: torch.optim.SGD(
        groups, lr=train["lr"], momentum=train["momentum"], weight_decay=train["weight_decay"]),
}


def ce_keep_rate(epoch: int, start_epoch: int, warm_epochs: int, base: float) -> float:
    """OSTrack's keep-rate ramp: 1 before ``start_epoch``, cosine down to ``base`` over ``warm_epochs``.

    ``epoch`` is 1-based, as in the reference.
    """
    if epoch < start_epoch:
        return 1.0
    if epoch >= start_epoch + warm_epochs:
        return base
    progress = (epoch - start_epoch) / warm_epochs
    return base + (1 - base) * (math.cos(progress * math.pi) + 1) * 0.5


def _only_valid(batch: dict) -> dict:
    """Drop pairs the sampler marked invalid (every attempt gave an all-padding crop)."""
    valid = batch.get("valid")
    if valid is None or bool(valid.all()):
        return batch
    return {k: v[valid] if torch.is_tensor(v) and v.shape[:1] == valid.shape else v for k, v in batch.items()}


def _to_device(batch: dict, device: torch.device) -> dict:
    non_blocking = device.type == "cuda"
    return {k: v.to(device, non_blocking=non_blocking) if torch.is_tensor(v) else v for k, v in batch.items()}


class JsonlLog:
    """Append-only JSON-lines log that can be cut back to a step when a run resumes."""

    def __init__(self, path: Path, enabled: bool):
        self.path = path
        self.enabled = enabled

    def truncate_after(self, step: int) -> None:
        """Keep the records up to ``step``; a torn line (the process died while writing it) is dropped."""
        if not self.enabled or not self.path.exists():
            return
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("step", 0) <= step:
                kept.append(line)
        atomic_write_text(self.path, "".join(line + "\n" for line in kept))

    def write(self, record: dict) -> None:
        if self.enabled:
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")


class Trainer:
    """Runs ``task`` for the recipe's epochs over ``loader_factory(epoch, skip_batches)``."""

    def __init__(
        self, task: Task, recipe: dict, out_dir: Path, device: torch.device, dist_info: DistInfo,
        loader_factory, val_loader_factory=None, progress=None, epoch_callback=None, run_info: dict | None = None,
    ):
        self.task = task
        self.recipe = recipe
        self.out_dir = Path(out_dir)
        self.device = device
        self.dist = dist_info
        self.loader_factory = loader_factory
        self.val_loader_factory = val_loader_factory
        self.progress = progress  # a compresstracker.progress.TrainingProgress, or None
        self.epoch_callback = epoch_callback
        self.run_info = dict(run_info or {})  # what the run was started with (teacher sha256, threads), kept in last.pt
        train = recipe["train"]
        task.module.to(device)
        self.module: nn.Module = task.module
        if dist_info.enabled:
            ids = [device.index] if device.type == "cuda" else None
            self.module = nn.parallel.DistributedDataParallel(task.module, device_ids=ids, find_unused_parameters=True)
        self.optimizer = OPTIMIZERS[train["optimizer"]](task.param_groups(recipe), train)
        self.base_lrs = [g["lr"] for g in self.optimizer.param_groups]
        amp = train["amp"] if device.type == "cuda" else "none"
        self.amp_dtype = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp == "fp16")
        self.epoch = 0  # next epoch to run (0-based)
        self.step_in_epoch = 0  # batches of `epoch` already done (mid-epoch checkpoints)
        self.global_step = 0
        self.epoch_sums: dict[str, float] = {}  # running sums of the epoch's logged values (kept mid-epoch)
        self.epoch_count = 0
        self.log = JsonlLog(self.out_dir / "log.jsonl", dist_info.is_main)
        self.tb = self._tensorboard() if dist_info.is_main else None

    # ----------------------------------------------------------------------------- state
    def _tensorboard(self):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except Exception:  # tensorboard is optional
            return None
        return SummaryWriter(str(self.out_dir / "tensorboard"))

    def state_dict(self) -> dict[str, Any]:
        state = {
            "format": TRAIN_STATE_FORMAT,
            "model": self.task.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "task": self.task.state_dict(),
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step,
            "rng_cpu": torch.get_rng_state(),
            "recipe_yaml": dump_recipe(self.recipe),
            "run_info": self.run_info,
            "epoch_sums": dict(self.epoch_sums),
            "epoch_count": self.epoch_count,
        }
        # The trained network's config, so `ctrack inspect`/`load_model` read a training file with no flags.
        config = getattr(self.task.module, "config", None)
        if config is not None and hasattr(config, "to_dict"):
            state["model_config"] = config.to_dict()
        if self.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.task.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.task.load_state_dict(state["task"])
        self.epoch = int(state["epoch"])
        self.step_in_epoch = int(state["step_in_epoch"])
        self.global_step = int(state["global_step"])
        self.epoch_sums = {k: float(v) for k, v in state.get("epoch_sums", {}).items()} if self.step_in_epoch else {}
        self.epoch_count = int(state.get("epoch_count", 0)) if self.step_in_epoch else 0
        torch.set_rng_state(state["rng_cpu"])
        if "rng_cuda" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng_cuda"], self.device)

    def save(self, tag: str) -> Path:
        """Write the full training state atomically as checkpoints/<tag>.pt and checkpoints/last.pt."""
        folder = self.out_dir / CHECKPOINT_DIR
        path = folder / f"{tag}.pt"
        if self.dist.is_main:
            state = self.state_dict()
            for target in (path, folder / LAST):
                with atomic_path(target) as tmp:
                    torch.save(state, tmp)
            self._prune(folder, path)
        barrier(self.dist)
        return path

    def _prune(self, folder: Path, newest: Path) -> None:
        """Keep the newest ``keep_checkpoints`` epoch files and only the newest step file."""
        keep = self.recipe["train"]["keep_checkpoints"]
        epochs = sorted(folder.glob("epoch_*.pt"))
        if keep > 0:
            for old in epochs[: max(0, len(epochs) - keep)]:
                old.unlink(missing_ok=True)
        for step_file in folder.glob("step_*.pt"):
            if step_file != newest:
                step_file.unlink(missing_ok=True)

    def resume(self) -> bool:
        """Load checkpoints/last.pt when present; True if a run was resumed."""
        path = self.out_dir / CHECKPOINT_DIR / LAST
        if not path.exists():
            return False
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as exc:
            raise CTrackError(f"cannot resume from {path}: {exc}".splitlines()[0]) from None
        if state.get("format") != TRAIN_STATE_FORMAT:
            raise CTrackError(f"{path} is not a ctrack training checkpoint")
        self.load_state_dict(state)
        self.log.truncate_after(self.global_step)
        return True

    # ----------------------------------------------------------------------------- loop
    def _set_lr(self, epoch: int) -> float:
        factor = lr_factor(epoch, self.recipe)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * factor
        return self.optimizer.param_groups[0]["lr"]

    def fit(self) -> dict[str, Any]:
        train = self.recipe["train"]
        epochs = train["epochs"]
        summary: dict[str, Any] = {"epochs": epochs, "samples_per_s": None}
        every = train["checkpoint_every_steps"]
        if self.progress is not None and self.epoch < epochs:
            steps = len(self.loader_factory(self.epoch, 0))
            self.progress.begin(epochs, steps, self.epoch * steps + self.step_in_epoch)
        while self.epoch < epochs:
            epoch = self.epoch
            lr = self._set_lr(epoch)
            self.module.train()
            extra = self.task.begin_epoch(epoch)  # after train(): a task may put parts in eval mode
            loader = self.loader_factory(epoch, self.step_in_epoch)
            total = len(loader) + self.step_in_epoch
            start = time.perf_counter()
            samples = 0
            if self.progress is not None:
                self.progress.begin_epoch(epoch, total, self.step_in_epoch)
            for batch in loader:
                batch = _to_device(_only_valid(batch), self.device)
                with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                    loss, logs = self.task.step(self.module, batch)
                if not torch.isfinite(loss):
                    raise CTrackError(f"loss became {loss.item()} at epoch {epoch + 1} step {self.step_in_epoch}: lower train.lr or check the data")
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                if train["grad_clip"] > 0:
                    self.scaler.unscale_(self.optimizer)
                    nn.utils.clip_grad_norm_(self.task.module.parameters(), train["grad_clip"])
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.step_in_epoch += 1
                self.global_step += 1
                batch_size = next(iter(v for v in batch.values() if torch.is_tensor(v))).shape[0]
                samples += batch_size * self.dist.world_size
                logs = {"loss": loss.detach(), **logs}
                for key, value in logs.items():
                    self.epoch_sums[key] = self.epoch_sums.get(key, 0.0) + float(value)
                self.epoch_count += 1
                rate = samples / max(time.perf_counter() - start, 1e-9)
                if self.global_step % train["log_every"] == 0 or self.step_in_epoch == total:
                    record = {"step": self.global_step, "epoch": epoch + 1, "lr": lr, "samples_per_s": rate,
                              **{k: float(v) for k, v in logs.items()}, **extra}
                    self.log.write(record)
                    if self.tb is not None:
                        for key, value in record.items():
                            if isinstance(value, (int, float)) and key not in ("step", "epoch"):
                                self.tb.add_scalar(f"train/{key}", value, self.global_step)
                if self.progress is not None:
                    self.progress.step(self.step_in_epoch, float(logs["loss"]), lr, rate)
                if every and self.step_in_epoch % every == 0 and self.step_in_epoch < total:
                    self.save(f"step_{self.global_step:08d}")
            means = {k: v / max(self.epoch_count, 1) for k, v in self.epoch_sums.items()}
            summary["samples_per_s"] = samples / max(time.perf_counter() - start, 1e-9)
            self.epoch += 1
            self.step_in_epoch = 0
            self.epoch_sums, self.epoch_count = {}, 0
            record = {"step": self.global_step, "epoch": epoch + 1, "epoch_end": True, "lr": lr, **{f"mean_{k}": v for k, v in means.items()}, **extra}
            if self.val_loader_factory is not None and train["val_every"] and (epoch + 1) % train["val_every"] == 0:
                record["val_loss"] = self.validate(epoch)
            if self.epoch_callback is not None:
                record.update(self.epoch_callback(self, epoch) or {})
            self.log.write(record)
            self.save(f"epoch_{self.epoch:04d}")
            if self.progress is not None:
                self.progress.end_epoch(record, summary["samples_per_s"])
            summary["last"] = record
        if self.progress is not None:
            self.progress.close()
        if self.tb is not None:
            self.tb.close()
        return summary

    @torch.no_grad()
    def validate(self, epoch: int) -> float:
        """Mean loss on the validation pairs (all ranks), module in eval mode."""
        self.module.eval()
        total, count = torch.zeros((), device=self.device), 0
        for batch in self.val_loader_factory(epoch, 0):
            batch = _to_device(batch, self.device)
            loss, _ = self.task.step(self.module, batch)
            total += loss.detach()
            count += 1
        self.module.train()
        mean = all_reduce_mean(total / max(count, 1), self.dist)
        return float(mean)
