"""The vectorised OPE against a plain per-sequence torch re-computation (loops, float64, like pytracking)."""
from __future__ import annotations

import numpy as np
import pytest

from compresstracker.evaluation import evaluate_ope

torch = pytest.importorskip("torch")


def _loop_errors(pred, gt, protocol, visible):
    pred = torch.tensor(pred, dtype=torch.float64)
    gt = torch.tensor(gt, dtype=torch.float64)
    n = gt.shape[0]
    # Zero-size boxes copy the previous box, row by row (rows past the ground truth never matter).
    for i in range(1, min(pred.shape[0], n)):
        if (pred[i, 2] == 0 or pred[i, 3] == 0) and not torch.isnan(gt[i]).any():
            pred[i] = pred[i - 1]
    if pred.shape[0] > n:
        pred = pred[:n]
    elif pred.shape[0] < n:
        pred = torch.cat([pred, torch.zeros(n - pred.shape[0], 4, dtype=torch.float64)])
    pred[0] = gt[0]
    overlap = torch.empty(n, dtype=torch.float64)
    center = torch.empty(n, dtype=torch.float64)
    norm = torch.empty(n, dtype=torch.float64)
    for i in range(n):
        p, g = pred[i], gt[i]
        valid = bool(g[2] > 0) and bool(g[3] > 0) and (visible is None or bool(visible[i]))
        if not valid:
            overlap[i] = -1.0
            center[i] = -1.0 if protocol == "uav" else float("inf")
            norm[i] = -1.0
        else:
            left, top = torch.max(p[0], g[0]), torch.max(p[1], g[1])
            right = torch.min(p[0] + p[2] - 1.0, g[0] + g[2] - 1.0)
            bottom = torch.min(p[1] + p[3] - 1.0, g[1] + g[3] - 1.0)
            inter = (right - left + 1.0).clamp(min=0) * (bottom - top + 1.0).clamp(min=0)
            overlap[i] = inter / (p[2] * p[3] + g[2] * g[3] - inter)
            pc = p[:2] + 0.5 * (p[2:] - 1.0)
            gc = g[:2] + 0.5 * (g[2:] - 1.0)
            center[i] = ((pc - gc) ** 2).sum().sqrt()
            norm[i] = ((pc / g[2:] - gc / g[2:]) ** 2).sum().sqrt()
        if protocol == "lasot" and not visible[i]:
            center[i] = float("inf")
            norm[i] = float("inf")
    return overlap, center, norm


def _random_case(rng, index):
    protocol = ["lasot", "lasot_ext", "uav", "generic", "otb"][index % 5]
    n = int(rng.integers(5, 60))
    gt = np.concatenate([rng.integers(0, 200, (n, 2)), rng.integers(1, 60, (n, 2))], axis=1).astype(float)
    gt[rng.random(n) < 0.1, 2] = 0  # zero-width ground truth: invalid frames
    visible = None
    if protocol in ("lasot", "lasot_ext"):
        visible = rng.random(n) > 0.2
    if protocol == "uav":
        gt[rng.random(n) < 0.15] = np.nan
    gt[0] = [10, 10, 30, 30]
    length = n if protocol == "lasot" else n + int(rng.integers(-3, 4))
    pred = np.concatenate(
        [gt[0, :2] + rng.integers(-20, 21, (length, 2)), rng.integers(0, 50, (length, 2))], axis=1
    ).astype(float)
    if index % 2:
        pred += rng.random(pred.shape)  # some trackers write floats
    pred[rng.random(length) < 0.2, 2] = 0  # zero-size predictions, some in runs
    return protocol, gt, visible, pred


def test_vectorised_ope_matches_a_per_frame_torch_loop(make_seq):
    rng = np.random.default_rng(7)
    sequences, predictions, curves = [], [], {"success": [], "precision": [], "norm_precision": []}
    thresholds = {
        "success": torch.arange(0.0, 1.0 + 0.05, 0.05, dtype=torch.float64),
        "precision": torch.arange(0, 51, dtype=torch.float64),
        "norm_precision": torch.arange(0, 51, dtype=torch.float64) / 100.0,
    }
    for index in range(40):
        protocol, gt, visible, pred = _random_case(rng, index)
        sequences.append(make_seq(f"seq{index}", gt, protocol=protocol, target_visible=visible))
        predictions.append(pred)
        overlap, center, norm = _loop_errors(pred, gt, protocol, visible)
        n = gt.shape[0]
        curves["success"].append((overlap.view(-1, 1) > thresholds["success"].view(1, -1)).sum(0).float() / n)
        curves["precision"].append((center.view(-1, 1) <= thresholds["precision"].view(1, -1)).sum(0).float() / n)
        curves["norm_precision"].append((norm.view(-1, 1) <= thresholds["norm_precision"].view(1, -1)).sum(0).float() / n)
    result = evaluate_ope(sequences, predictions)
    for name in curves:
        reference = torch.stack(curves[name]).numpy()
        np.testing.assert_array_equal(getattr(result, name), reference, err_msg=name)
    success = torch.stack(curves["success"])[:, None, :].mean(0) * 100.0
    precision = torch.stack(curves["precision"])[:, None, :].mean(0) * 100.0
    norm_precision = torch.stack(curves["norm_precision"])[:, None, :].mean(0) * 100.0
    metrics = result.metrics()
    assert metrics["auc"] == success.mean(-1)[0].item()
    assert metrics["op50"] == success[0, 10].item() and metrics["op75"] == success[0, 15].item()
    assert metrics["precision"] == precision[0, 20].item()
    assert metrics["norm_precision"] == norm_precision[0, 20].item()
    assert 0 < metrics["auc"] < 100 and 0 < metrics["norm_precision"] < 100


@pytest.mark.parametrize("sequences", [1, 3, 5, 7, 63, 64, 65, 280, 1023, 1025, 4500])
def test_float32_averages_are_torchs_bits(sequences):
    """The sequence average and the AUC mean reproduce torch's float32 additions exactly (no torch import to score)."""
    from compresstracker.evaluation.ope import _mean_last, _reference_average

    rng = np.random.default_rng(sequences)
    for width in (21, 51):
        frames = rng.integers(1, 3000, size=(sequences, 1))
        curves = (rng.integers(0, frames + 1, size=(sequences, width)).astype(np.float32) / frames.astype(np.float32))
        expected = torch.from_numpy(np.ascontiguousarray(curves)[:, None, :]).mean(0) * 100.0
        got = _reference_average(curves)
        assert got.dtype == np.float32 and np.array_equal(got, expected[0].numpy())
        assert _mean_last(got) == expected.mean(-1)[0].item()
