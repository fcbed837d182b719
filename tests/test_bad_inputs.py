"""Bad input through the CLI, as a table: every row exits 2 with one clear line on stderr, no
traceback, and writes nothing (the workspace is byte-for-byte the same afterwards).

The kinds come from an adversarial pass over the tool (issue 16): bad recipe values, stale or
foreign results, hostile and ambiguous checkpoints, impossible boxes, wrong data, bad options.
"""
from __future__ import annotations

import collections
import hashlib
import zipfile
from pathlib import Path

import pytest
import torch

BAD_YAML = "train:\n  lr: [1, 2\n"


class HugeView:
    """A tensor view reaching past its 16-byte storage (pickles as torch's rebuild call)."""

    def __init__(self):
        self.storage = torch.ones(4)._typed_storage()

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, (self.storage, 0, (1 << 40,), (1,), False, collections.OrderedDict())


class Settings:
    """Any pickled object outside the allow-list: torch.load(weights_only=True) refuses the file."""


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """A workspace: a tiny checkpoint, a tiny dataset, frames, results folders and broken files."""
    from safetensors.torch import save_file

    from compresstracker.checkpoints import save_native
    from compresstracker.data.synthetic import generate
    from compresstracker.models import build_model

    root = tmp_path_factory.mktemp("bad_inputs")
    model = build_model("tiny_64_ce").eval()
    save_native(model, model.config, root / "tiny.safetensors")
    narrow = build_model("tiny_64_ce", embed_dim=48, num_heads=2).eval()  # width not a multiple of 64
    save_file({k: v.contiguous() for k, v in narrow.state_dict().items()}, root / "raw48.safetensors")
    generate("lasot", root / "data", sequences=2, frames=6, seed=1, image_size=(96, 72))
    (root / "frames").mkdir()
    for frame in sorted((root / "data").rglob("*.jpg"))[:3]:
        (root / "frames" / frame.name).write_bytes(frame.read_bytes())
    (root / "empty").mkdir()
    (root / "garbage.pth").write_bytes(b"not a checkpoint at all")
    with zipfile.ZipFile(root / "whole.zip", "w") as z:
        z.writestr("archive/data.pkl", b"x" * 200)
    (root / "truncated.pth").write_bytes((root / "whole.zip").read_bytes()[:60])
    torch.save({"w": HugeView(), "settings": Settings()}, root / "huge.pth")
    (root / "bad.yaml").write_text(BAD_YAML)
    (root / "list.yaml").write_text("- 1\n- 2\n")
    stray = root / "results" / "stray"
    stray.mkdir(parents=True)
    for name in ("box-1", "ellipse-1"):
        (stray / f"{name}.txt").write_text("1\t1\t5\t5\n" * 6)
    corrupt = root / "results" / "corrupt"
    corrupt.mkdir()
    (corrupt / ".ctrack_run.json").write_text("{torn")
    (corrupt / "box-1.txt").write_text("1\t1\t5\t5\n" * 6)
    malformed = root / "results" / "malformed"
    malformed.mkdir()
    (malformed / "box-1.txt").write_text("1\t1\t5\n" * 6)
    (malformed / "ellipse-1.txt").write_text("1\t1\t5\t5\n" * 6)
    (root / "onnx.onnx").write_bytes(b"\x08\x07")
    (root / "synth_used").mkdir()
    (root / "synth_used" / "keep.txt").write_text("someone's file\n")
    _issue23_files(root)
    return root


def _issue23_files(root: Path) -> None:
    """Issue 23's inputs: non-finite results, two folders of one name, ground truth with a bad first
    box or an infinite value, a LaSOT root whose split sequence lacks its ground truth, a supernet."""
    import shutil

    from compresstracker.checkpoints import save_native
    from compresstracker.models import build_model
    from compresstracker.search.costs import cached_cost_table
    from compresstracker.search.run import load_supernet

    good = "1\t1\t5\t5\n"
    for name, line in (("inf", "inf 0 10 10\n"), ("neginf", "1\t-inf\t5\t5\n"), ("nan", "nan 1 5 5\n")):
        folder = root / "results" / name
        folder.mkdir()
        (folder / "box-1.txt").write_text(good + line + good * 4)
        (folder / "ellipse-1.txt").write_text(good * 6)
    (root / "results2" / "stray").mkdir(parents=True)
    for name in ("box-1", "ellipse-1"):
        (root / "results2" / "stray" / f"{name}.txt").write_text(good * 6)
    for copy, row, text in (("badinit", 0, "10,10,0,8"), ("inftruth", 2, "1,1,inf,5")):
        shutil.copytree(root / "data", root / copy)
        truth = root / copy / "box" / "box-1" / "groundtruth.txt"
        lines = truth.read_text().splitlines()
        lines[row] = text
        truth.write_text("\n".join(lines) + "\n")
    real = root / "lasot_real" / "airplane"  # no synthetic.json: LaSOT's own test split list applies
    shutil.copytree(root / "data" / "box" / "box-1", real / "airplane-13")
    shutil.copytree(root / "data" / "box" / "box-1" / "img", real / "airplane-1" / "img")
    supernet = build_model("lighttrack_supernet_tiny").eval()
    (root / "supernet").mkdir()
    save_native(supernet, supernet.config, root / "supernet" / "model.safetensors")
    file = root / "supernet" / "model.safetensors"
    cached_cost_table(load_supernet(file), file)  # the cost table a search caches beside its supernet, made now


# (case id, arguments with {ws} for the workspace, words the one stderr line must contain)
CASES = [
    # recipes: every key validated, all at once, before any run
    ("lr-drop-factor", "recipes validate compresstracker_tiny train.lr_drop_factor=-1", "train.lr_drop_factor must be > 0"),
    ("loss-weight", "recipes validate compresstracker_tiny compress.loss.feat=-1", "compress.loss.feat must be >= 0"),
    ("keep-ratio", "recipes validate compresstracker_tiny train.ce.keep_ratio=1.5", "train.ce.keep_ratio must lie in (0, 1]"),
    ("arch", "recipes validate ostrack_tiny model.arch=vit_huge", "not a known architecture"),
    ("init-mode", "recipes validate compresstracker_tiny compress.init=bogus", "compress.init must be"),
    ("log-every", "recipes validate ostrack_tiny train.log_every=0", "train.log_every must be >= 1"),
    ("weight-decay", "recipes validate ostrack_tiny train.weight_decay=-5", "train.weight_decay must be >= 0"),
    ("overrides-key", "recipes validate ostrack_tiny model.overrides.bogus=1", "unknown key model.overrides.bogus"),
    ("split-vs-stages", "recipes validate compresstracker_tiny compress.split=[6,6]", "compress.stages is 4"),
    ("not-a-number", "recipes validate compresstracker_tiny compress.fixed_p=abc", "compress.fixed_p must be a number"),
    ("section-type", "recipes validate compresstracker_tiny train=5", "train must be a mapping"),
    ("unknown-recipe", "recipes validate no_such_recipe", "unknown recipe"),
    ("recipe-missing", "recipes validate {ws}/nope.yaml", "does not exist"),
    ("recipe-yaml", "recipes validate {ws}/bad.yaml", "is not valid YAML"),
    ("recipe-not-mapping", "recipes validate {ws}/list.yaml", "mapping at the top level"),
    ("override-form", "recipes validate ostrack_tiny train.lr", "is not key=value"),
    ("override-unknown", "recipes validate ostrack_tiny train.nope=1", "unknown key train.nope"),
    # runs refuse before they start (nothing written)
    ("stages-split", "compress --teacher {ws}/tiny.safetensors --stages 3 --split 6,6 -r compresstracker_tiny --out {ws}/run",
     "--stages 3 but --split 6,6 has 2 stages"),
    ("split-text", "compress --teacher {ws}/tiny.safetensors --split a,b -r compresstracker_tiny --out {ws}/run", "stage sizes"),
    ("compress-bad-value", "compress --teacher {ws}/tiny.safetensors -r compresstracker_tiny --out {ws}/run train.log_every=0",
     "train.log_every must be >= 1"),
    ("train-bad-value", "train -r ostrack_tiny --out {ws}/run train.weight_decay=-5", "train.weight_decay must be >= 0"),
    ("train-overrides", "train -r ostrack_tiny --out {ws}/run model.overrides.bogus=1", "unknown key model.overrides.bogus"),
    # eval: results folders are the checkpoint's own or refused
    ("eval-stray-results", "eval -c {ws}/tiny.safetensors -d lasot --root {ws}/data --split all --out {ws}/results --name stray",
     "no run record"),
    ("eval-corrupt-record", "eval -c {ws}/tiny.safetensors -d lasot --root {ws}/data --split all --out {ws}/results --name corrupt",
     "unreadable run record"),
    ("eval-missing-ckpt", "eval -c {ws}/nope.safetensors -d lasot --root {ws}/data --out {ws}/results", "does not exist"),
    ("eval-garbage-ckpt", "eval -c {ws}/garbage.pth -d lasot --root {ws}/data --split all --out {ws}/results", "garbage.pth"),
    ("eval-root", "eval -c {ws}/tiny.safetensors -d lasot --root {ws}/nowhere --out {ws}/results", "nowhere"),
    ("eval-dataset", "eval -c {ws}/tiny.safetensors -d nosuchset --root {ws}/data --out {ws}/results", "nosuchset"),
    ("eval-split", "eval -c {ws}/tiny.safetensors -d lasot --root {ws}/data --split nosplit --out {ws}/results", "nosplit"),
    ("eval-workers", "eval -c {ws}/tiny.safetensors -d lasot --root {ws}/data --workers 0", "--workers"),
    # track: impossible boxes and inputs
    ("huge-box", "track -c {ws}/tiny.safetensors --frames {ws}/frames --init-box 0,0,1e9,1e9 --out {ws}/o.txt", "more than 2x"),
    ("box-3-numbers", "track -c {ws}/tiny.safetensors --frames {ws}/frames --init-box 1,2,3 --out {ws}/o.txt", "x,y,w,h"),
    ("box-outside", "track -c {ws}/tiny.safetensors --frames {ws}/frames --init-box 500,500,5,5 --out {ws}/o.txt", "outside"),
    ("box-empty", "track -c {ws}/tiny.safetensors --frames {ws}/frames --init-box 5,5,0,5 --out {ws}/o.txt", "positive size"),
    ("no-frames", "track -c {ws}/tiny.safetensors --frames {ws}/empty --init-box 5,5,5,5 --out {ws}/o.txt", "empty"),
    # score / pack
    ("score-missing", "score -d lasot --root {ws}/data --split all --results {ws}/results/none", "does not exist"),
    ("score-malformed", "score -d lasot --root {ws}/data --split all --results {ws}/results/malformed", "expected 4 numbers"),
    ("pack-missing", "pack --format got10k --results {ws}/results/none -o {ws}/p.zip", "none"),
    # checkpoints: unreadable, hostile, ambiguous
    ("inspect-dir", "inspect {ws}/empty", "is a directory"),
    ("inspect-garbage", "inspect {ws}/garbage.pth", "garbage.pth"),
    ("inspect-truncated", "inspect {ws}/truncated.pth", "truncated.pth"),
    ("inspect-huge-view", "inspect {ws}/huge.pth", "storage in the file holds 16"),
    ("inspect-heads", "inspect {ws}/raw48.safetensors", "attention heads"),
    ("export-config-key", "export {ws}/tiny.safetensors --format safetensors --config heads=2 -o {ws}/x.safetensors", "heads"),
    ("export-config-form", "export {ws}/tiny.safetensors --format safetensors --config heads -o {ws}/x.safetensors", "FIELD=VALUE"),
    ("export-onnx-again", "export {ws}/onnx.onnx --format onnx -o {ws}/x.onnx", "already a deployed model"),
    # data, plan, bench, demo, unknown command
    ("synth-size", "data synth --layout lasot --out {ws}/synth_new --size 10x10", "too small"),
    ("synth-not-empty", "data synth --layout lasot --out {ws}/synth_used", "not empty"),
    ("synth-difficulty", "data synth --layout lasot --out {ws}/synth_new --difficulty brutal", "brutal"),
    ("plan-stages", "plan --teacher {ws}/tiny.safetensors --stages 13", "exceeds the teacher's 12 layers"),
    ("plan-split", "plan --teacher {ws}/tiny.safetensors --split 6,5", "covers 11 layers"),
    ("bench-runs", "bench {ws}/tiny.safetensors --runs 2", "--runs"),
    ("bench-missing", "bench {ws}/nope.safetensors", "nope.safetensors"),
    ("demo-stages", "demo --out {ws}/demo --stages 0", "--stages"),
    ("unknown-command", "frobnicate", "No such command"),
    # issue 23: thread counts far above the cores (the library's limit is 4x the usable cores)
    ("track-threads", "track -c {ws}/tiny.safetensors --frames {ws}/frames --init-box 5,5,5,5 --out {ws}/o.txt --threads 100000",
     "--threads 100000 is more than 4x"),
    ("eval-threads", "eval -c {ws}/tiny.safetensors -d lasot --root {ws}/data --split all --out {ws}/results --threads 100000",
     "--threads 100000 is more than 4x"),
    ("train-threads", "train -r ostrack_tiny --data lasot={ws}/data:all --out {ws}/run --threads 5000", "--threads 5000 is more than 4x"),
    ("compress-threads", "compress --teacher {ws}/tiny.safetensors -r compresstracker_tiny --data lasot={ws}/data:all --out {ws}/run "
     "--threads 5000", "--threads 5000 is more than 4x"),
    ("bench-threads", "bench {ws}/tiny.safetensors --threads 100000", "--threads 100000 is more than 4x"),
    ("search-threads", "search --supernet {ws}/supernet --max-macs 20M --dry-run --threads 100000", "--threads 100000 is more than 4x"),
    ("threads-zero", "track -c {ws}/tiny.safetensors --frames {ws}/frames --init-box 5,5,5,5 --out {ws}/o.txt --threads 0", "--threads"),
    # names that become paths are one plain component
    ("eval-name-escape", "eval -c {ws}/tiny.safetensors -d lasot --root {ws}/data --split all --out {ws}/results --name ../../escape",
     "--name '../../escape' is not a plain name"),
    ("eval-name-parent", "eval -c {ws}/tiny.safetensors -d lasot --root {ws}/data --split all --out {ws}/results --name ..",
     "--name '..' is not a plain name"),
    ("eval-name-slash", "eval -c {ws}/tiny.safetensors -d lasot --root {ws}/data --split all --out {ws}/results --name a/b",
     "--name 'a/b' is not a plain name"),
    ("eval-name-absolute", "eval -c {ws}/tiny.safetensors -d lasot --root {ws}/data --split all --out {ws}/results --name /tmp/x",
     "--name '/tmp/x' is not a plain name"),
    ("eval-name-dash", "eval -c {ws}/tiny.safetensors -d lasot --root {ws}/data --split all --out {ws}/results --name=-x",
     "--name '-x' is not a plain name"),
    ("eval-name-tilde", "eval -c {ws}/tiny.safetensors -d lasot --root {ws}/data --split all --out {ws}/results --name ~x",
     "--name '~x' is not a plain name"),
    ("eval-name-dot", "eval -c {ws}/tiny.safetensors -d lasot --root {ws}/data --split all --out {ws}/results --name .",
     "--name '.' is not a plain name"),
    ("compress-name-escape", "compress --teacher {ws}/tiny.safetensors -r compresstracker_tiny --data lasot={ws}/data:all --out {ws}/run "
     "--name ../x", "--name '../x' is not a plain name"),
    ("compress-name-parent", "compress --teacher {ws}/tiny.safetensors -r compresstracker_tiny --data lasot={ws}/data:all --out {ws}/run "
     "--name ..", "--name '..' is not a plain name"),
    ("score-label-parent", "score -d lasot --root {ws}/data --split all --results ..={ws}/results/stray", "result label '..' is not a plain name"),
    ("score-label-dash", "score -d lasot --root {ws}/data --split all --results=-x={ws}/results/stray", "result label '-x' is not a plain name"),
    # two rows of one label
    ("score-same-label", "score -d lasot --root {ws}/data --split all --results a={ws}/results/stray --results a={ws}/results2/stray",
     "two results folders are labelled a"),
    ("score-same-folder-name", "score -d lasot --root {ws}/data --split all --results {ws}/results/stray --results {ws}/results2/stray",
     "two results folders are labelled stray"),
    ("score-same-label-json", "score -d lasot --root {ws}/data --split all --results b={ws}/results/stray --results b={ws}/results2/stray "
     "--json", "two results folders are labelled b"),
    # a precision the device cannot run
    ("compress-amp-fp16", "compress --teacher {ws}/tiny.safetensors -r compresstracker_tiny --data lasot={ws}/data:all --out {ws}/run "
     "train.amp=fp16", "train.amp=fp16 needs a CUDA device"),
    ("compress-amp-bf16", "compress --teacher {ws}/tiny.safetensors -r compresstracker_tiny --data lasot={ws}/data:all --out {ws}/run "
     "train.amp=bf16", "train.amp=bf16 needs a CUDA device"),
    ("train-amp-fp16", "train -r ostrack_tiny --data lasot={ws}/data:all --out {ws}/run train.amp=fp16", "train.amp=fp16 needs a CUDA device"),
    # every --eval root checked before the run trains
    ("compress-eval-root", "compress --teacher {ws}/tiny.safetensors -r compresstracker_tiny --data lasot={ws}/data:all --out {ws}/run "
     "--eval lasot={ws}/nonexistent", "lasot root"),
    ("compress-eval-form", "compress --teacher {ws}/tiny.safetensors -r compresstracker_tiny --data lasot={ws}/data:all --out {ws}/run "
     "--eval lasot", "must look like NAME=ROOT[:SPLIT]"),
    ("compress-eval-dataset", "compress --teacher {ws}/tiny.safetensors -r compresstracker_tiny --data lasot={ws}/data:all --out {ws}/run "
     "--eval nosuchset={ws}/data", "nosuchset"),
    ("compress-eval-split", "compress --teacher {ws}/tiny.safetensors -r compresstracker_tiny --data lasot={ws}/data:all --out {ws}/run "
     "--eval lasot={ws}/data:nosplit", "nosplit"),
    ("compress-eval-second", "compress --teacher {ws}/tiny.safetensors -r compresstracker_tiny --data lasot={ws}/data:all --out {ws}/run "
     "--eval lasot={ws}/data:all --eval lasot={ws}/gone", "gone"),
    # non-finite result values: refused like nan, naming file and line
    ("score-inf", "score -d lasot --root {ws}/data --split all --results {ws}/results/inf", "box-1.txt:2: non-finite value"),
    ("score-neg-inf", "score -d lasot --root {ws}/data --split all --results {ws}/results/neginf", "box-1.txt:2: non-finite value"),
    ("score-nan", "score -d lasot --root {ws}/data --split all --results {ws}/results/nan", "box-1.txt:2: non-finite value"),
    # ground truth: errors name the sequence and the file
    ("score-inf-truth", "score -d lasot --root {ws}/inftruth --split all --results {ws}/results/stray", "groundtruth.txt:3: infinite value"),
    ("eval-bad-first-box", "eval -c {ws}/tiny.safetensors -d lasot --root {ws}/badinit --split all --out {ws}/results",
     "sequence box-1 (first row of"),
    ("eval-bad-first-box-file", "eval -c {ws}/tiny.safetensors -d lasot --root {ws}/badinit --split all --out {ws}/results --name other",
     "box-1/groundtruth.txt): the first box 10,10,0,8"),
    ("score-split-lacks-truth", "score -d lasot --root {ws}/lasot_real --split test --sequences airplane-1,airplane-13 --results {ws}/results/stray",
     "airplane-1 (its folder lacks groundtruth.txt)"),
    ("eval-split-lacks-truth", "eval -c {ws}/tiny.safetensors -d lasot --root {ws}/lasot_real --split test --sequences airplane-1,airplane-13 "
     "--out {ws}/results", "airplane-1 (its folder lacks groundtruth.txt)"),
    ("score-split-not-on-disk", "score -d lasot --root {ws}/lasot_real --split test --sequences airplane-15,airplane-13 --results {ws}/results/stray",
     "are missing under"),
    # a search budget no architecture meets
    ("search-macs-budget", "search --supernet {ws}/supernet --max-macs 1M --dry-run", "--max-macs 1.00M MACs: no architecture"),
    ("search-params-budget", "search --supernet {ws}/supernet --max-params 1000 --dry-run", "--max-params 0.001M parameters: no architecture"),
    ("search-budget-out", "search --supernet {ws}/supernet --data lasot={ws}/data:all --max-macs 1M --out {ws}/search",
     "the cheapest needs"),
    ("search-no-out", "search --supernet {ws}/supernet --max-macs 20M", "give --out DIR"),
    # where a search runs, and what its latency is measured on
    ("search-nproc", "search --supernet {ws}/supernet --data lasot={ws}/data:all --max-macs 20M --nproc 0 --out {ws}/search",
     "Invalid value for '--nproc'"),
    ("search-device", "search --supernet {ws}/supernet --data lasot={ws}/data:all --max-macs 20M --device mps --out {ws}/search",
     "device 'mps' is not supported"),
    ("search-nproc-device", "search --supernet {ws}/supernet --data lasot={ws}/data:all --max-macs 20M --device cuda:x --nproc 2 "
     "--out {ws}/search", "unknown device 'cuda:x'"),
    ("search-backend", "search --supernet {ws}/supernet --max-latency-ms 5 --backend nosuch --dry-run", "unknown backend 'nosuch'"),
    ("search-latency-precision", "search --supernet {ws}/supernet --max-latency-ms 5 --precision int8 --dry-run",
     "the LightTrack space measures latency on torch fp32, not on torch int8"),
    ("search-latency-backend", "search --supernet {ws}/supernet --max-latency-ms 5 --backend onnxruntime --dry-run",
     "not on onnxruntime fp32"),
    ("search-mark-form", "search --supernet {ws}/supernet --data lasot={ws}/data:all --max-macs 20M --mark ct4 --out {ws}/search",
     "--mark 'ct4': give NAME=CHECKPOINT"),
    ("search-mark-missing", "search --supernet {ws}/supernet --data lasot={ws}/data:all --max-macs 20M --mark ct4={ws}/nope.safetensors "
     "--out {ws}/search", "nope.safetensors does not exist"),
    # elastic compression: its space, what it writes, and fine-tuning what a search found
    ("elastic-depths", "recipes validate compresstracker_tiny compress.elastic.depths=[0]", "compress.elastic.depths must be a non-empty list"),
    ("elastic-ratios", "recipes validate compresstracker_tiny compress.elastic.mlp_ratios=[]", "compress.elastic.mlp_ratios must be a non-empty list"),
    ("elastic-path", "recipes validate compresstracker_tiny compress.elastic.path=wide", "compress.elastic.path must be an elastic path"),
    ("elastic-eval", "compress --teacher {ws}/tiny.safetensors --elastic -r compresstracker_tiny --data lasot={ws}/data:all --out {ws}/run "
     "--eval lasot={ws}/data:all", "--eval with --elastic"),
    ("elastic-too-wide", "compress --teacher {ws}/tiny.safetensors --elastic -r compresstracker_tiny --data lasot={ws}/data:all --out {ws}/run "
     "compress.elastic.mlp_ratios=[8,4]", "a student layer cannot be wider"),
    ("from-search-not-a-search", "compress --from-search {ws}/data -r compresstracker_tiny --data lasot={ws}/data:all --out {ws}/run",
     "is not a finished search of an elastic run"),
    ("from-search-and-stages", "compress --from-search {ws}/data --stages 2 --out {ws}/run", "--from-search takes the stages"),
    ("search-not-elastic", "search --supernet {ws}/tiny.safetensors --max-macs 20M --dry-run", "is not"),
    ("demo-backend-without-elastic", "demo --backend openvino --out {ws}/demo", "--backend and --precision apply to --elastic"),
]


def _snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with a hash of its bytes (folders: empty)."""
    out = {}
    for path in sorted(root.rglob("*")):
        out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
    return out


def assert_one_clear_line(run_cli, ws, monkeypatch, case, args, words):
    """A table row: exit 2, one ``Error:`` line holding ``words``, nothing on stdout, no traceback, the workspace unchanged."""
    monkeypatch.chdir(ws)  # nothing may appear in the working folder either
    before = _snapshot(ws)
    result = run_cli(*args.format(ws=ws).split())
    assert result.exit_code == 2, f"{case}: exit {result.exit_code}: {result.output}"
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), f"{case}: {result.stderr!r}"
    assert words in lines[0], f"{case}: {lines[0]!r}"
    assert result.stdout == ""
    assert _snapshot(ws) == before, f"{case} wrote or changed files"


@pytest.mark.parametrize("case, args, words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line_and_writes_nothing(run_cli, ws, monkeypatch, case, args, words):
    assert_one_clear_line(run_cli, ws, monkeypatch, case, args, words)


def test_the_table_is_large_and_every_kind_is_distinct():
    assert len(CASES) >= 40
    assert len({case for case, _, _ in CASES}) == len(CASES) and len({args for _, args, _ in CASES}) == len(CASES)


def test_an_error_from_a_loader_worker_is_one_line_without_the_workers_traceback():
    from torch._utils import ExceptionWrapper

    from compresstracker.cli.main import _last_line
    from compresstracker.errors import DatasetError

    try:
        raise DatasetError("cannot read frame /data/seq/00000007.jpg")
    except DatasetError:
        wrapped = ExceptionWrapper(where="in DataLoader worker process 0")  # what torch's DataLoader ships back
    with pytest.raises(DatasetError) as err:
        wrapped.reraise()
    assert "Traceback" in str(err.value)
    assert _last_line(str(err.value)) == "cannot read frame /data/seq/00000007.jpg"
