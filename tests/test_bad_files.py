"""Hostile and broken files through the CLI, as a table (issue 23): forged configs of every family,
forged shapes, pickles, truncated files, wrong suffixes, foreign graphs under a ctrack export's
metadata, exports onto their own input. Every row exits 2 with one clear line on stderr, no
traceback, and writes nothing (the workspace is byte-for-byte the same afterwards).

The forged-config files are also run in a subprocess under a memory limit: each must be refused
in well under 15 s with a peak RSS under 2 GB (a forged ``embed_dim`` once asked for 13 TB).
"""
from __future__ import annotations

import json
import os
import resource
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from tests.test_bad_inputs import assert_one_clear_line

pytest.importorskip("onnxruntime")

TRACK = "--frames {ws}/frames --init-box 20,20,16,16 --out {ws}/o.txt"


def _forge(root: Path, src: str, dst: str, config: dict | None = None, **metadata: str) -> None:
    """``dst``: ``src``'s tensors with its ``ctrack.config`` updated by ``config`` and other metadata entries replaced."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(root / src), "pt") as f:
        meta, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    if config is not None:
        meta["ctrack.config"] = json.dumps({**json.loads(meta["ctrack.config"]), **config})
    meta.update(metadata)
    save_file(tensors, str(root / dst), metadata=meta)


def _reshape(root: Path, src: str, dst: str, change) -> None:
    """``dst``: ``src`` with its tensors changed by ``change(dict)`` (the config kept)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(root / src), "pt") as f:
        meta, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    change(tensors)
    save_file(tensors, str(root / dst), metadata=meta)


class _Foreign(nn.Module):
    """A valid graph with other inputs than any tracker's: one input ``x``."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x)


def _onnx_metadata(path: Path) -> dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """Native files of each family's tiny network, their forged twins, broken files and foreign graphs."""
    from compresstracker.checkpoints import save_native
    from compresstracker.data.synthetic import generate
    from compresstracker.deploy.onnx import export_onnx, write_metadata
    from compresstracker.models import build_model

    root = tmp_path_factory.mktemp("bad_files")
    for name, arch in (("ost", "tiny_64_ce"), ("lt", "lighttrack_tiny"), ("mf", "mixformerv2_tiny")):
        model = build_model(arch).eval()
        save_native(model, model.config, root / f"{name}.safetensors")
    # forged configs (issue 23 item 1 and its kin), every family
    for dst, src, config in FORGED_CONFIGS:
        _forge(root, src, dst, config)
    _forge(root, "ost.safetensors", "cfg_list.safetensors", **{"ctrack.config": "[1, 2]"})
    _forge(root, "ost.safetensors", "cfg_json.safetensors", **{"ctrack.config": "{torn"})
    _forge(root, "ost.safetensors", "version.safetensors", **{"ctrack.format_version": "2"})
    # forged shapes: the config kept, the tensors changed
    key = "box_head.conv1_ctr.0.weight"
    _reshape(root, "ost.safetensors", "shape.safetensors", lambda t: t.update({key: t[key].flatten(1)}))
    _reshape(root, "ost.safetensors", "missing.safetensors", lambda t: t.pop(key))
    _reshape(root, "ost.safetensors", "extra.safetensors", lambda t: t.update({"backbone.extra": torch.zeros(2)}))
    # pickles and wrong suffixes, truncated and damaged files
    state = build_model("tiny_64_ce").state_dict()
    torch.save(state, root / "pickle.safetensors")
    torch.save([1, 2, 3], root / "list.pth")
    torch.save({"epoch": 3}, root / "notensors.pth")
    (root / "garbage.safetensors").write_bytes(b"hello, not weights")
    whole = (root / "ost.safetensors").read_bytes()
    (root / "truncated.safetensors").write_bytes(whole[: len(whole) // 2])
    (root / "header_len.safetensors").write_bytes(struct.pack("<Q", 1 << 40) + whole[8:])
    length = struct.unpack("<Q", whole[:8])[0]
    (root / "header_json.safetensors").write_bytes(whole[:8] + b"{" + b"#" * (length - 1) + whole[8 + length:])
    (root / "weights.bin").write_bytes(whole)
    # deployed files: a real export, a foreign graph under its metadata, forged metadata, a broken file
    ost = build_model("tiny_64_ce").eval()
    export_onnx(ost, root / "ost.onnx")
    metadata = _onnx_metadata(root / "ost.onnx")
    torch.onnx.export(_Foreign(), (torch.zeros(1, 3, 8, 8),), str(root / "foreign.onnx"), input_names=["x"], output_names=["y"],
                      dynamo=False)
    torch.onnx.export(_Foreign(), (torch.zeros(1, 3, 8, 8),), str(root / "plain.onnx"), input_names=["x"], output_names=["y"],
                      dynamo=False)
    write_metadata(root / "foreign.onnx", metadata)
    config = json.loads(metadata["ctrack.config"])
    for name, changes in (("onnx_embed", {"embed_dim": 1048576}), ("onnx_factor", {"search_factor": -5}),
                          ("onnx_params", {"embed_dim": 4096, "num_heads": 64, "depth": 64})):
        (root / f"{name}.onnx").write_bytes((root / "ost.onnx").read_bytes())
        write_metadata(root / f"{name}.onnx", {"ctrack.config": json.dumps({**config, **changes})})
    (root / "truncated.onnx").write_bytes((root / "ost.onnx").read_bytes()[:300])
    _openvino_foreign(root, metadata)
    generate("lasot", root / "data", sequences=1, frames=3, seed=1, image_size=(96, 72))
    (root / "frames").mkdir()
    for frame in sorted((root / "data").rglob("*.jpg"))[:3]:
        (root / "frames" / frame.name).write_bytes(frame.read_bytes())
    return root


def _openvino_foreign(root: Path, metadata: dict[str, str]) -> None:
    """foreign.xml: the foreign graph as OpenVINO IR with an OSTrack export's ctrack metadata."""
    ov = pytest.importorskip("openvino")
    from compresstracker.deploy.openvino import _set_metadata

    model = ov.convert_model(str(root / "plain.onnx"))
    _set_metadata(model, metadata)
    ov.save_model(model, str(root / "foreign.xml"), compress_to_fp16=False)


# (file, source, config changes) of the forged native files
FORGED_CONFIGS = [
    ("embed.safetensors", "ost.safetensors", {"embed_dim": 1048576}),
    ("sizes.safetensors", "ost.safetensors", {"search_size": 65536, "template_size": 32768}),
    ("depth.safetensors", "ost.safetensors", {"depth": 100000}),
    ("factor_str.safetensors", "ost.safetensors", {"search_factor": "abc"}),
    ("factor_nan.safetensors", "ost.safetensors", {"search_factor": float("nan")}),
    ("factor_neg.safetensors", "ost.safetensors", {"search_factor": -5}),
    ("depth_bool.safetensors", "ost.safetensors", {"depth": True}),
    ("depth_float.safetensors", "ost.safetensors", {"depth": 4.5}),
    ("bias_str.safetensors", "ost.safetensors", {"qkv_bias": "yes"}),
    ("unknown_key.safetensors", "ost.safetensors", {"bogus": 1}),
    ("family.safetensors", "ost.safetensors", {"family": "yolo"}),
    ("width.safetensors", "ost.safetensors", {"embed_dim": 256, "num_heads": 2}),
    ("search.safetensors", "ost.safetensors", {"search_size": 128}),
    ("shallow.safetensors", "ost.safetensors", {"depth": 4, "ce_layers": [], "ce_keep_ratios": []}),
    ("ce_layer.safetensors", "ost.safetensors", {"ce_layers": [50, 51, 52]}),
    ("mf_embed.safetensors", "mf.safetensors", {"embed_dim": 1048576}),
    ("mf_depth.safetensors", "mf.safetensors", {"depth": 100000}),
    ("mf_bins.safetensors", "mf.safetensors", {"bins": 1000000}),
    ("mf_search.safetensors", "mf.safetensors", {"search_size": 512}),
    ("mf_factor.safetensors", "mf.safetensors", {"search_factor": float("nan")}),
    ("mf_name.safetensors", "mf.safetensors", {"name": 5}),
    ("lt_channels.safetensors", "lt.safetensors", {"stage_channels": [8, 16, 100000, 24]}),
    ("lt_se.safetensors", "lt.safetensors", {"se_ratio": float("nan")}),
    ("lt_path.safetensors", "lt.safetensors", {"arch": "back_x"}),
    ("lt_template.safetensors", "lt.safetensors", {"template_size": 65536}),
    ("lt_adj.safetensors", "lt.safetensors", {"adj_channels": 64}),
]

# (case id, arguments with {ws} for the workspace, words the one stderr line must contain)
CASES = [
    # item 1: forged native configs, every family: sane ranges, types, then shapes (nothing built first)
    ("embed-huge", "inspect {ws}/embed.safetensors", "embed_dim 1048576 is outside the sane range"),
    ("sizes-huge", "inspect {ws}/sizes.safetensors", "search_size 65536 is outside the sane range"),
    ("depth-huge", "inspect {ws}/depth.safetensors", "depth 100000 is outside the sane range"),
    ("factor-string", "inspect {ws}/factor_str.safetensors", "search_factor must be a finite number, got 'abc'"),
    ("factor-nan", "inspect {ws}/factor_nan.safetensors", "search_factor must be a finite number, got nan"),
    ("factor-negative", "inspect {ws}/factor_neg.safetensors", "search_factor -5 is outside the sane range"),
    ("depth-bool", "inspect {ws}/depth_bool.safetensors", "depth must be an integer, got True"),
    ("depth-float", "inspect {ws}/depth_float.safetensors", "depth must be an integer, got 4.5"),
    ("bias-string", "inspect {ws}/bias_str.safetensors", "qkv_bias must be true or false"),
    ("unknown-key", "inspect {ws}/unknown_key.safetensors", "unknown model config keys: bogus"),
    ("unknown-family", "inspect {ws}/family.safetensors", "unknown model family 'yolo'"),
    ("config-list", "inspect {ws}/cfg_list.safetensors", "is not a model config (a list"),
    ("config-json", "inspect {ws}/cfg_json.safetensors", "is not valid JSON"),
    ("format-version", "inspect {ws}/version.safetensors", "ctrack format version 2"),
    ("width-in-range", "inspect {ws}/width.safetensors", "shape mismatch for"),
    ("search-in-range", "inspect {ws}/search.safetensors", "shape mismatch for backbone.pos_embed_x"),
    ("depth-in-range", "inspect {ws}/shallow.safetensors", "unexpected"),
    ("ce-layer", "inspect {ws}/ce_layer.safetensors", "ce_layers [50, 51, 52] must lie in"),
    ("mf-embed-huge", "inspect {ws}/mf_embed.safetensors", "embed_dim 1048576 is outside the sane range"),
    ("mf-depth-huge", "inspect {ws}/mf_depth.safetensors", "depth 100000 is outside the sane range"),
    ("mf-bins-huge", "inspect {ws}/mf_bins.safetensors", "bins 1000000 is outside the sane range"),
    ("mf-search-in-range", "inspect {ws}/mf_search.safetensors", "shape mismatch for"),
    ("mf-factor-nan", "inspect {ws}/mf_factor.safetensors", "search_factor must be a finite number, got nan"),
    ("mf-name", "inspect {ws}/mf_name.safetensors", "name must be a string, got 5"),
    ("lt-channels-huge", "inspect {ws}/lt_channels.safetensors", "stage_channels [8, 16, 100000, 24] is outside the sane range"),
    ("lt-se-nan", "inspect {ws}/lt_se.safetensors", "se_ratio must be a finite number"),
    ("lt-path", "inspect {ws}/lt_path.safetensors", "not a LightTrack path string"),
    ("lt-template-huge", "inspect {ws}/lt_template.safetensors", "template_size 65536 is outside the sane range"),
    ("lt-adj-in-range", "inspect {ws}/lt_adj.safetensors", "shape mismatch for"),
    ("track-forged", "track -c {ws}/embed.safetensors " + TRACK, "embed_dim 1048576 is outside the sane range"),
    ("bench-forged", "bench {ws}/depth.safetensors --runs 3", "depth 100000 is outside the sane range"),
    ("export-forged", "export {ws}/sizes.safetensors --format onnx -o {ws}/x.onnx", "search_size 65536 is outside"),
    # forged shapes: the config is right, the tensors are not
    ("tensor-shape", "inspect {ws}/shape.safetensors", "shape mismatch for box_head.conv1_ctr.0.weight"),
    ("tensor-missing", "inspect {ws}/missing.safetensors", "missing 1 keys: box_head.conv1_ctr.0.weight"),
    ("tensor-extra", "inspect {ws}/extra.safetensors", "unexpected 1 keys: backbone.extra"),
    # pickles, suffixes, truncated and damaged files (items 7, 17)
    ("pickle-as-safetensors", "inspect {ws}/pickle.safetensors", "pickle.safetensors is not a safetensors file"),
    ("garbage-safetensors", "inspect {ws}/garbage.safetensors", "garbage.safetensors is not a safetensors file"),
    ("truncated-safetensors", "inspect {ws}/truncated.safetensors", "truncated.safetensors is a damaged safetensors file"),
    ("header-length", "inspect {ws}/header_len.safetensors", "header says 1099511627776 bytes"),
    ("header-json", "inspect {ws}/header_json.safetensors", "header_json.safetensors is a damaged safetensors file"),
    ("track-truncated", "track -c {ws}/truncated.safetensors " + TRACK, "is a damaged safetensors file"),
    ("pickle-list", "inspect {ws}/list.pth", "holds a list object"),
    ("pickle-no-tensors", "inspect {ws}/notensors.pth", "holds no tensors"),
    # items 3 and 8: every --config value typed, finite and in range on export
    ("export-nan-word", "export {ws}/ost.safetensors --format safetensors --config search_factor=nan -o {ws}/x.safetensors",
     "search_factor must be a finite number, got 'nan'"),
    ("export-abc", "export {ws}/ost.safetensors --format safetensors --config search_factor=abc -o {ws}/x.safetensors",
     "search_factor must be a finite number, got 'abc'"),
    ("export-nan", "export {ws}/ost.safetensors --format safetensors --config search_factor=.nan -o {ws}/x.safetensors",
     "search_factor must be a finite number, got nan"),
    ("export-inf", "export {ws}/ost.safetensors --format onnx --config template_factor=.inf -o {ws}/x.onnx",
     "template_factor must be a finite number, got inf"),
    ("export-negative", "export {ws}/ost.safetensors --format safetensors --config search_factor=-5 -o {ws}/x.safetensors",
     "search_factor -5 is outside the sane range"),
    ("export-depth", "export {ws}/ost.safetensors --format safetensors --config depth=100000 -o {ws}/x.safetensors",
     "depth 100000 is outside the sane range"),
    ("export-bool", "export {ws}/ost.safetensors --format safetensors --config embed_dim=true -o {ws}/x.safetensors",
     "embed_dim must be an integer, got True"),
    ("export-lt", "export {ws}/lt.safetensors --format safetensors --config se_ratio=.nan -o {ws}/x.safetensors",
     "se_ratio must be a finite number, got nan"),
    ("export-mf", "export {ws}/mf.safetensors --format safetensors --config search_factor=-1 -o {ws}/x.safetensors",
     "search_factor must be a positive finite number"),
    # item 7: never onto an input; content matches the suffix
    ("export-onto-input", "export {ws}/ost.safetensors --format safetensors -o {ws}/ost.safetensors", "would overwrite the input"),
    ("export-pickle-onto-input", "export {ws}/ost.safetensors --format ostrack -o {ws}/ost.safetensors", "would overwrite the input"),
    ("export-onto-bin", "export {ws}/weights.bin --format openvino -o {ws}/weights.xml", "would overwrite the input weights.bin"),
    ("export-pickle-suffix", "export {ws}/ost.safetensors --format ostrack -o {ws}/new.safetensors", "a .safetensors name would misdescribe"),
    ("export-safetensors-suffix", "export {ws}/ost.safetensors --format safetensors -o {ws}/new.pth", "files are named NAME.safetensors"),
    # item 4: graphs carrying a ctrack export's metadata are checked when opened; forged deployed metadata
    ("track-foreign-onnx", "track -c {ws}/foreign.onnx --backend onnxruntime " + TRACK, "not a graph ctrack exported"),
    ("bench-foreign-onnx", "bench {ws}/foreign.onnx --backend onnxruntime --runs 3", "not a graph ctrack exported"),
    ("inspect-foreign-onnx", "inspect {ws}/foreign.onnx", "takes x (4-D) and gives y (4-D)"),
    ("track-foreign-openvino", "track -c {ws}/foreign.xml --backend openvino " + TRACK, "not a graph ctrack exported"),
    ("inspect-foreign-openvino", "inspect {ws}/foreign.xml", "not a graph ctrack exported"),
    ("onnx-forged-config", "inspect {ws}/onnx_embed.onnx", "embed_dim 1048576 is outside the sane range"),
    ("onnx-forged-factor", "track -c {ws}/onnx_factor.onnx --backend onnxruntime " + TRACK, "search_factor -5 is outside the sane range"),
    ("onnx-forged-size", "inspect {ws}/onnx_params.onnx", "more than its graph files"),
    ("onnx-truncated", "inspect {ws}/truncated.onnx", "not a readable ONNX model"),
    ("onnx-no-metadata", "inspect {ws}/plain.onnx", "was not written by `ctrack export`"),
]


@pytest.mark.parametrize("case, args, words", CASES, ids=[c[0] for c in CASES])
def test_bad_file_is_one_clear_line_and_writes_nothing(run_cli, ws, monkeypatch, case, args, words):
    assert_one_clear_line(run_cli, ws, monkeypatch, case, args, words)


def test_the_table_is_large_and_every_kind_is_distinct():
    assert len(CASES) >= 50
    assert len({case for case, _, _ in CASES}) == len(CASES) and len({args for _, args, _ in CASES}) == len(CASES)


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_inspect_reads_every_format_ctrack_writes(run_cli, ws, tmp_path, fmt):
    """Item 17: a ctrack ONNX or OpenVINO export is inspected (format, family, precision), not called an
    unreadable checkpoint."""
    path = ws / "ost.onnx"
    if fmt == "openvino":
        pytest.importorskip("openvino")
        path = tmp_path / "ost.xml"
        assert run_cli("export", ws / "ost.safetensors", "--format", "openvino", "-o", path).exit_code == 0
    result = run_cli("inspect", path, "--json")
    assert result.exit_code == 0, result.output
    info = result.json()
    assert info["format"] == fmt and info["family"] == "ostrack" and info["precision"] == "fp32"
    assert info["arch"] == "tiny_64_ce" and info["params"] > 0 and info["macs"] > 0


FORGED_RUN = """
import json, resource, sys, time
from click.testing import CliRunner
from compresstracker.cli.main import cli
CliRunner().invoke(cli, ["inspect", sys.argv[1]])  # imports and families loaded once, untimed
times = {}
for path in sys.argv[2:]:
    start = time.perf_counter()
    code = CliRunner().invoke(cli, ["inspect", path]).exit_code
    times[path] = (code, time.perf_counter() - start)
print(json.dumps({"times": times, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
LIMIT = 4 << 30  # address space of the subprocess: a regression fails there instead of taking the machine


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def test_forged_files_are_refused_fast_in_little_memory(ws):
    """Every forged-config case (all families, native and ONNX): exit 2 within 15 s, peak RSS under 2 GB."""
    forged = [ws / name for name, _, _ in FORGED_CONFIGS] + [ws / f"onnx_{n}.onnx" for n in ("embed", "factor", "params")]
    run = subprocess.run(
        [sys.executable, "-c", FORGED_RUN, str(ws / "ost.safetensors"), *map(str, forged)], capture_output=True, text=True, timeout=300,
        preexec_fn=_limited, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout.splitlines()[-1])
    for path, (code, seconds) in report["times"].items():
        assert code == 2 and seconds < 15, (path, code, seconds)
    assert report["peak_rss_mb"] < 2048, report["peak_rss_mb"]
