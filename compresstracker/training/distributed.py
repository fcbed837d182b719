"""torchrun integration: rank/world from the environment, process groups, launching on one machine."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist

from compresstracker.errors import CTrackError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group torchrun set up (RANK / WORLD_SIZE / LOCAL_RANK); single process otherwise.

    NCCL on CUDA, gloo on CPU. Under torchrun with CUDA, each process takes GPU LOCAL_RANK.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank, world, local_rank)


def local_device(device: torch.device, info: DistInfo) -> torch.device:
    """The device this process uses: its own GPU under torchrun."""
    if device.type == "cuda" and info.enabled:
        return torch.device("cuda", info.local_rank)
    return device


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_reduce_mean(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        value = value.clone()
        dist.all_reduce(value)
        value /= info.world_size
    return value


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def launch_torchrun(nproc: int, argv: list[str]) -> int:
    """Re-run ``ctrack ARGV`` under torchrun with ``nproc`` processes on this machine; its exit code."""
    if nproc < 1:
        raise CTrackError("--nproc must be >= 1")
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
        "-m", "compresstracker.cli.main", *argv,
    ]
    return subprocess.call(cmd)


def strip_option(argv: list[str], option: str) -> list[str]:
    """argv without ``option VALUE`` / ``option=VALUE`` (used to drop --nproc before relaunching)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == option:
            skip = True
            continue
        if arg.startswith(option + "="):
            continue
        out.append(arg)
    return out
