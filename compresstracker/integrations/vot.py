"""The VOT toolkit's side of ctrack: a TraX server (``ctrack trax``) and the workspace's tracker entry.

The toolkit starts ``ctrack trax -c CKPT`` and talks TraX to it over stdin/stdout: image paths
in, one rectangle out per frame with the network's confidence. Polygons sent in are reduced to
their bounding box (VOT's own polygon-to-rectangle conversion). Serving needs ``vot-trax``
(``pip install 'ctrack[vot]'``); writing the entry (:func:`write_tracker_entry`) does not.
"""
from __future__ import annotations

import contextlib
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from compresstracker.api import Tracker
from compresstracker.errors import ConfigError, TrackingError
from compresstracker.fileio import atomic_write_text
from compresstracker.tracking.video import read_rgb

__all__ = ["ctrack_command", "region_box", "serve", "write_tracker_entry"]


def region_box(region: Any) -> list[float]:
    """A TraX rectangle's x, y, w, h; a polygon's bounding box (as VOT converts a polygon to a rectangle)."""
    points = [region.get(i) for i in range(region.size())] if hasattr(region, "size") else None
    if points is None:
        return [float(v) for v in region.bounds()]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return [float(min(xs)), float(min(ys)), float(max(xs) - min(xs)), float(max(ys) - min(ys))]


def serve(tracker: Tracker) -> int:
    """Answer TraX requests on stdin/stdout with ``tracker`` until the client quits; the frames served.

    Python's own stdout goes to stderr meanwhile: a stray print would corrupt the protocol stream.
    """
    try:
        import trax
        from trax.image import Image
        from trax.region import Rectangle, Region
    except ImportError as exc:
        raise ConfigError(f"ctrack trax needs the TraX library: pip install 'ctrack[vot]' ({exc})") from None
    served = 0
    with contextlib.redirect_stdout(sys.stderr):
        server = trax.Server([Region.RECTANGLE, Region.POLYGON], [Image.PATH], ["color"], tracker_name="ctrack",
                             tracker_family="ctrack")
        with server:
            while True:
                request = server.wait()
                if request.type == trax.TraxStatus.QUIT:
                    return served
                image = read_rgb(request.image["color"].path())
                if request.type == trax.TraxStatus.INITIALIZE:
                    if not request.objects:
                        raise TrackingError("the TraX client sent no region to initialise on")
                    box, confidence = tracker.init(image, region_box(request.objects[0][0])), 1.0
                else:
                    box, confidence = tracker.update(image)
                server.status([(Rectangle.create(*box), {"confidence": f"{confidence:.6f}"})])
                served += 1


def ctrack_command() -> list[str]:
    """This installation's ctrack by absolute path (the toolkit may run in another environment)."""
    script = Path(sys.executable).parent / ("ctrack.exe" if os.name == "nt" else "ctrack")
    if script.is_file():
        return [str(script.absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "compresstracker.cli.main"]


def write_tracker_entry(workspace: str | os.PathLike, name: str, arguments: Sequence[str], stack: Optional[str] = None) -> Path:
    """Write (or replace) tracker ``name`` in ``workspace/trackers.ini``: ``ctrack trax ARGUMENTS`` over TraX.

    Other entries, comments included, are kept as they are. A folder without config.yaml becomes
    a workspace when ``stack`` is given (a toolkit stack name or a stack file; sequences in
    ``sequences/``), without the download ``vot initialize`` starts.
    """
    if not re.fullmatch(r"[A-Za-z0-9_\-.]+", name):
        raise ConfigError(f"tracker name {name!r}: use letters, digits, '_', '-' or '.' (the VOT toolkit's identifiers)")
    workspace = Path(workspace)
    if not (workspace / "config.yaml").is_file():
        if stack is None:
            raise ConfigError(f"{workspace} holds no config.yaml: not a VOT workspace (vot initialize makes one, or give --stack)")
        workspace.mkdir(parents=True, exist_ok=True)
        atomic_write_text(workspace / "config.yaml", f"stack: {stack}\nsequences: sequences\n")
    command = shlex.join([*ctrack_command(), "trax", *arguments])
    if "%" in command:
        raise ConfigError("a path with '%' cannot go into trackers.ini (the toolkit's ini reader expands it)")
    entry = [f"[{name}]", f"label = {name}", "protocol = trax", f"command = {command}", ""]
    path = workspace / "trackers.ini"
    kept: list[str] = []
    inside = False
    for line in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
        header = re.fullmatch(r"\s*\[(.+)\]\s*", line)
        if header:
            inside = header.group(1).strip() == name
        if not inside:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    atomic_write_text(path, "\n".join([*kept, *([""] if kept else []), *entry]))
    _register(workspace, path.name)
    return path


def _register(workspace: Path, registry: str) -> None:
    """List ``registry`` in the workspace's config.yaml (``vot initialize`` lists ./trackers.ini; a
    hand-written config may not, and the toolkit then finds no tracker)."""
    import yaml

    config_file = workspace / "config.yaml"
    config = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    if not isinstance(config, dict):
        raise ConfigError(f"{config_file} is not a mapping of settings")
    listed = config.get("registry") or []
    listed = [listed] if isinstance(listed, str) else list(listed)
    if not any(Path(entry).name == registry and (workspace / entry).resolve() == (workspace / registry).resolve() for entry in listed):
        config["registry"] = [*listed, f"./{registry}"]
        atomic_write_text(config_file, yaml.safe_dump(config, sort_keys=False))
