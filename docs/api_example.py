"""Follow one target through a folder of frames (or any video OpenCV reads) with ctrack's Python API.

    python docs/api_example.py CHECKPOINT FRAMES_DIR_OR_VIDEO x,y,w,h

CHECKPOINT is any checkpoint or exported file ctrack reads (.safetensors, .pth.tar, .onnx,
OpenVINO .xml); exported files run on their own runtime. Prints one line per frame:
x y w h (floats) and the network's confidence. The boxes equal `ctrack track`'s bit for bit.
"""
import sys
from pathlib import Path

import cv2

from compresstracker import Tracker


def frames(source: str):
    """BGR frames of a folder (sorted by name) or a video file, as OpenCV reads them."""
    if Path(source).is_dir():
        for path in sorted(p for p in Path(source).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp")):
            yield cv2.imread(str(path))
        return
    capture = cv2.VideoCapture(source)
    ok, frame = capture.read()
    while ok:
        yield frame
        ok, frame = capture.read()
    capture.release()


def main(checkpoint: str, source: str, box_text: str) -> None:
    tracker = Tracker.from_checkpoint(checkpoint, color="bgr")  # OpenCV frames are BGR
    box = [float(v) for v in box_text.split(",")]
    for index, frame in enumerate(frames(source)):
        if index == 0:
            box, score = tracker.init(frame, box), 1.0
        else:
            box, score = tracker.update(frame)
        print(" ".join(f"{v:.4f}" for v in box), f"{score:.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
