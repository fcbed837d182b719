"""tracking.session: the library's tracking session (what `ctrack track` runs), warm-up outside the clock."""
import pytest

from compresstracker.errors import TrackingError
from compresstracker.tracking import frame_source, track_session


def test_session_tracks_writes_and_summarises(make_model, frames, tmp_path):
    network = make_model("tiny_64_ce", seed=2).eval()
    out = tmp_path / "boxes.txt"
    summary = track_session(network, frame_source(frames), out, [30, 20, 20, 16])
    assert summary["frames"] == 5 and summary["backend"] == "torch" and summary["precision"] == "fp32"
    assert summary["model_fps"] > 0 and summary["end_to_end_fps"] > 0
    assert out.read_text().splitlines()[0] == "30.0000\t20.0000\t20.0000\t16.0000"


def test_warm_up_runs_before_the_clock(make_model, frames, tmp_path, monkeypatch):
    """Warm-up steps run on the first frame before the sequence (boxes unchanged); the status is shown around them."""
    from compresstracker.families.ostrack.tracker import OSTrackTracker

    network = make_model("tiny_64_ce", seed=2).eval()
    cold = track_session(network, frame_source(frames), tmp_path / "cold.txt", [30, 20, 20, 16])
    shown = []

    class Status:
        def __init__(self, text, spinner):
            shown.append(text)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    calls = []
    original = OSTrackTracker.track
    monkeypatch.setattr(OSTrackTracker, "track", lambda self, image: calls.append(1) or original(self, image))
    warm = track_session(network, frame_source(frames), tmp_path / "warm.txt", [30, 20, 20, 16], warmup=3, status=Status)
    assert len(calls) == 3 + 4 and shown == ["compiling the network (torch.compile)"]
    assert warm["frames"] == 5 and (tmp_path / "warm.txt").read_text() == (tmp_path / "cold.txt").read_text()
    assert cold["frames"] == 5


def test_frame_source_needs_exactly_one(frames):
    with pytest.raises(TrackingError, match="exactly one of --frames DIR or --video FILE"):
        frame_source()
    with pytest.raises(TrackingError, match="exactly one"):
        frame_source(frames, "clip.mp4")
