"""Loader workers are capped by the cores a process may use (a recipe's 8 on 2 cores only compete)."""
from __future__ import annotations

import pytest

import compresstracker.threads as threads
from compresstracker.errors import CTrackWarning


@pytest.mark.parametrize("cores,processes,requested,expected", [(2, 1, 8, 1), (16, 1, 8, 8), (16, 4, 8, 3), (1, 1, 2, 0), (8, 1, 0, 0)])
def test_loader_workers_are_capped_by_the_usable_cores(monkeypatch, cores, processes, requested, expected):
    monkeypatch.setattr(threads, "available_cores", lambda: cores)
    if expected < requested:
        with pytest.warns(CTrackWarning, match=f"data.workers {requested} lowered to {expected}"):
            assert threads.loader_workers(requested, processes) == expected
    else:
        assert threads.loader_workers(requested, processes) == expected
