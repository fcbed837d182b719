"""Frame sources (folders, video files), the per-sequence runner and box rendering."""
from __future__ import annotations

import os
import queue
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence, TypeVar

import cv2
import numpy as np

from compresstracker.errors import TrackingError
from compresstracker.fileio import atomic_path

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read a frame with OpenCV and convert BGR -> RGB (uint8), as the reference tracker does."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise TrackingError(f"cannot read frame {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


T = TypeVar("T")
_END = object()


def read_ahead(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """``items``, produced up to ``depth`` ahead in a background thread: frame decoding (which
    releases the GIL) overlaps the network's forward instead of adding to it. Errors of the source
    are raised here, in order; closing the generator early stops the thread."""
    ahead: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                ahead.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer((item, None)):
                    return
            offer((_END, None))
        except BaseException as exc:  # handed to the consumer, raised there
            offer((_END, exc))

    worker = threading.Thread(target=produce, name="ctrack-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item, error = ahead.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        worker.join(timeout=5.0)  # a source stuck in a read (a camera) is left to its daemon thread


def list_frames(folder: str | os.PathLike) -> list[Path]:
    """Image files of ``folder`` sorted by name; an error when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise TrackingError(f"frame folder {folder} does not exist")
    frames = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not frames:
        raise TrackingError(f"frame folder {folder} holds no jpg/png frames")
    return frames


def capture_target(video: str) -> str | int:
    """What OpenCV opens for ``--video``: a camera index for a bare number (``0``), else the file."""
    return int(video) if str(video).isdigit() else str(video)


class FrameSource:
    """Iterates RGB frames from a list of image files, a video file or a camera (``video="0"``)."""

    def __init__(self, frames: Optional[Sequence[str | os.PathLike]] = None, video: Optional[str] = None):
        if (frames is None) == (video is None):
            raise TrackingError("give either frames or a video")
        self.frames = [Path(f) for f in frames] if frames is not None else None
        self.video = video
        self.fps = 30.0
        if video is not None:
            camera = isinstance(capture_target(video), int)
            if not camera and not Path(video).is_file():
                raise TrackingError(f"video file {video} does not exist")
            capture = cv2.VideoCapture(capture_target(video))
            if not capture.isOpened():
                raise TrackingError(f"cannot open {'camera' if camera else 'video'} {video}")
            self.fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
            capture.release()

    def __iter__(self) -> Iterator[np.ndarray]:
        """RGB frames, decoded one or two ahead of the consumer (:func:`read_ahead`)."""
        return read_ahead(self._decode())

    def _decode(self) -> Iterator[np.ndarray]:
        if self.frames is not None:
            for path in self.frames:
                yield read_rgb(path)
            return
        capture = cv2.VideoCapture(capture_target(self.video))
        try:
            count = 0
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                count += 1
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            if count == 0:
                raise TrackingError(f"video {self.video} has no readable frames")
        finally:
            capture.release()


def select_box(first_rgb: np.ndarray) -> list[float]:
    """Let the user draw the target on the first frame (OpenCV window); x, y, w, h in pixels."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.name == "nt"):
        raise TrackingError("--select needs a display; give the first box with --init-box x,y,w,h")
    title = "ctrack: draw the target, then press Enter"
    try:
        x, y, w, h = cv2.selectROI(title, cv2.cvtColor(first_rgb, cv2.COLOR_RGB2BGR), showCrosshair=True)
        cv2.destroyWindow(title)
    except cv2.error:
        raise TrackingError("this OpenCV has no GUI (opencv-python-headless); give the first box with --init-box x,y,w,h") from None
    if w <= 0 or h <= 0:
        raise TrackingError("no box was drawn; give the first box with --init-box x,y,w,h")
    return [float(x), float(y), float(w), float(h)]


def run_sequence(
    tracker, frames: Iterator[np.ndarray], init_box: Sequence[float],
    on_frame: Optional[Callable[[int, np.ndarray, list[float]], None]] = None,
) -> tuple[np.ndarray, list[float]]:
    """Track through ``frames``; returns boxes (N, 4) including frame 0 and seconds per frame."""
    boxes: list[list[float]] = []
    times: list[float] = []
    for index, image in enumerate(frames):
        start = time.perf_counter()
        box = tracker.initialize(image, init_box) if index == 0 else tracker.track(image)
        times.append(time.perf_counter() - start)
        boxes.append(box)
        if on_frame is not None:
            on_frame(index, image, box)
    if not boxes:
        raise TrackingError("no frames to track")
    return np.asarray(boxes, dtype=np.float64), times


def format_boxes(boxes: np.ndarray, decimals: int = 4) -> str:
    """One line per frame, x<TAB>y<TAB>w<TAB>h, as ``ctrack track`` writes them."""
    return "".join("\t".join(f"{v:.{decimals}f}" for v in row) + "\n" for row in boxes)


def write_boxes(path: str | os.PathLike, boxes: np.ndarray, decimals: int = 4) -> None:
    """:func:`format_boxes` written atomically to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(format_boxes(boxes, decimals))


BOX_COLOURS = ((0, 255, 0), (255, 0, 255), (0, 255, 255), (255, 255, 0), (0, 0, 255))  # BGR: green, magenta, yellow, cyan, red


def contrasting_colour(frame_bgr: np.ndarray, box: Sequence[int]) -> tuple[int, int, int]:
    """The drawing colour farthest from the mean colour around the box (a green box vanishes on grass)."""
    x, y, w, h = box
    height, width = frame_bgr.shape[:2]
    pad = max(2, min(w, h) // 4)
    x0, y0 = max(0, min(width - 1, x - pad)), max(0, min(height - 1, y - pad))
    x1, y1 = max(x0 + 1, min(width, x + w + pad)), max(y0 + 1, min(height, y + h + pad))
    mean = frame_bgr[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0)
    return max(BOX_COLOURS, key=lambda colour: float(np.sum((np.asarray(colour) - mean) ** 2)))


class VideoRenderer:
    """Draws each frame's box into an mp4 a person can watch; the file appears whole on close()."""

    def __init__(self, path: str | os.PathLike, fps: float = 30.0):
        self.path = Path(path)
        self.fps = fps
        self._writer: Optional[cv2.VideoWriter] = None
        # OpenCV picks the container from the extension, so the temporary name keeps it.
        self._tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix or '.mp4'}")

    def __call__(self, index: int, image: np.ndarray, box: Sequence[float]) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            height, width = image.shape[:2]
            fourcc = cv2.VideoWriter_fourcc(*"mp4v")
            self._writer = cv2.VideoWriter(str(self._tmp), fourcc, self.fps, (width, height))
            if not self._writer.isOpened():
                raise TrackingError(f"cannot write video {self.path}")
        frame = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        x, y, w, h = (int(round(v)) for v in box)
        thickness = max(2, round(min(frame.shape[:2]) / 240))
        cv2.rectangle(frame, (x, y), (x + w, y + h), contrasting_colour(frame, (x, y, w, h)), thickness)
        scale = max(0.5, min(frame.shape[:2]) / 480)
        label = f"frame {index}"
        origin = (8, int(24 * scale) + 4)
        # White text on a black outline reads on any background.
        cv2.putText(frame, label, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 3, cv2.LINE_AA)
        cv2.putText(frame, label, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), max(1, thickness - 1), cv2.LINE_AA)
        self._writer.write(frame)

    def close(self) -> None:
        """Finish the video and move it into place."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            os.replace(self._tmp, self.path)
