"""`ctrack track` through click's runner: frame folders, videos, renders and one-line errors."""
import cv2
import pytest

from compresstracker.checkpoints import save_native


@pytest.fixture
def checkpoint(make_model, tmp_path):
    model = make_model("tiny_64_ce", seed=2)
    return save_native(model, model.config, tmp_path / "tiny.safetensors")


def test_track_frames_writes_boxes_and_render(run_cli, checkpoint, frames, tmp_path):
    out, video = tmp_path / "boxes.txt", tmp_path / "render.mp4"
    result = run_cli("track", "-c", checkpoint, "--frames", frames, "--init-box", "30,20,20,16",
                     "-o", out, "--render", video, "--json")
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    assert summary["frames"] == 5 and summary["ce"] is True and summary["model_fps"] > 0
    lines = out.read_text().splitlines()
    assert len(lines) == 5 and lines[0] == "30.0000\t20.0000\t20.0000\t16.0000"
    assert all(len(line.split("\t")) == 4 for line in lines)
    capture = cv2.VideoCapture(str(video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    capture.release()


def test_track_video_and_no_ce(run_cli, checkpoint, frames, tmp_path):
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 25, (96, 72))
    for path in sorted(frames.iterdir()):
        writer.write(cv2.imread(str(path)))
    writer.release()
    out = tmp_path / "v.txt"
    result = run_cli("track", "-c", checkpoint, "--video", video, "--init-box", "30,20,20,16", "-o", out, "--no-ce", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["ce"] is False and len(out.read_text().splitlines()) == 5


@pytest.mark.parametrize(
    "args,message",
    [
        (["--init-box", "1,2,3"], "expected x,y,w,h"),
        (["--init-box", "500,500,10,10"], "outside"),
        (["--init-box", "10,10,0,5"], "positive size"),
    ],
)
def test_track_bad_box_is_one_line(run_cli, checkpoint, frames, tmp_path, args, message):
    result = run_cli("track", "-c", checkpoint, "--frames", frames, "-o", tmp_path / "o.txt", *args)
    assert result.exit_code == 2 and message in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "o.txt").exists()


def test_track_bad_inputs(run_cli, checkpoint, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    no_frames = run_cli("track", "-c", checkpoint, "--frames", empty, "--init-box", "1,1,5,5", "-o", tmp_path / "o.txt")
    assert no_frames.exit_code == 2 and "no jpg/png frames" in no_frames.stderr
    not_ckpt = tmp_path / "notes.txt"
    not_ckpt.write_text("hello")
    bad = run_cli("track", "-c", not_ckpt, "--frames", empty, "--init-box", "1,1,5,5", "-o", tmp_path / "o.txt")
    assert bad.exit_code == 2 and bad.stderr.startswith("Error:") and bad.stderr.count("\n") == 1
    both = run_cli("track", "-c", checkpoint, "--init-box", "1,1,5,5", "-o", tmp_path / "o.txt")
    assert both.exit_code == 2 and "exactly one of --frames" in both.stderr


def test_unreadable_frame_is_reported(run_cli, checkpoint, frames, tmp_path):
    (frames / "00002.jpg").write_bytes(b"not a jpeg")
    result = run_cli("track", "-c", checkpoint, "--frames", frames, "--init-box", "30,20,20,16", "-o", tmp_path / "o.txt")
    assert result.exit_code == 2 and "cannot read frame" in result.stderr and "00002.jpg" in result.stderr

