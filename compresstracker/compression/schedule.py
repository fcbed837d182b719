"""Progressive replacement: the probability p that a stage runs the student, per epoch."""
from __future__ import annotations

import torch

from compresstracker.errors import ConfigError


def replacement_probability(epoch: int, total_epochs: int, p_init: float = 0.5, alpha1: float = 0.1, alpha2: float = 0.1) -> float:
    """p for 1-based ``epoch`` of ``total_epochs``: p_init for the first alpha1 share, a linear rise
    to 1 at (1 - alpha2) * m, then 1 (pure student) for the last alpha2 share.
    """
    if alpha1 + alpha2 >= 1:
        raise ConfigError("alpha1 + alpha2 must be < 1")
    m = total_epochs
    warm_end = alpha1 * m
    rise_end = (1 - alpha2) * m
    if epoch <= warm_end:
        return p_init
    if epoch > rise_end:
        return 1.0
    return p_init + (1 - p_init) * (epoch - warm_end) / ((1 - alpha1 - alpha2) * m)


def sample_pattern(num_stages: int, p: float, generator: torch.Generator) -> list[bool]:
    """Per stage, True (student) with probability p; if no stage drew the student, one uniformly chosen does."""
    draws = torch.rand(num_stages, generator=generator) < p
    if not bool(draws.any()):
        pick = int(torch.randint(num_stages, (1,), generator=generator))
        draws[pick] = True
    return [bool(d) for d in draws]
