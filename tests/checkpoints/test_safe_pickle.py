"""The restricted unpickler: weights load, pickled objects are recorded and never run."""
from __future__ import annotations

import argparse
import builtins
import collections
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from compresstracker.checkpoints import Ignored, load_pickle_checkpoint
from compresstracker.errors import CheckpointError

from . import assert_same_state, tiny_model

class TrainSettings:
    """Like OSTrack's pickled ``settings``: its __setstate__ would leave a trace if ever run."""

    def __init__(self, marker: Path):
        self.marker = str(marker)
        self.lr = 4e-4

    def __setstate__(self, state):
        Path(state["marker"]).write_text("settings were instantiated")


class AttrDict(dict):
    """Like easydict.EasyDict: a dict subclass with attribute access."""


class RunsShell:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class WritesFile:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


def training_file(tmp_path: Path, legacy: bool = False) -> tuple[Path, dict, list[Path]]:
    """An OSTrack-style training file with optimizer state, settings objects and hostile pickles."""
    model = tiny_model("tiny_64_ce")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    model(torch.randn(1, 3, 32, 32), torch.randn(1, 3, 64, 64))["score_map"].sum().backward()
    optimizer.step()
    markers = [tmp_path / f"marker{i}" for i in range(3)]
    payload = {
        "net": model.state_dict(),
        "epoch": 300,
        "optimizer": optimizer.state_dict(),
        "settings": TrainSettings(markers[0]),
        "args": argparse.Namespace(config="vitb_256_mae_ce_32x4_ep300", local_rank=0),
        "cfg": AttrDict(MODEL=AttrDict(HEAD="CENTER")),
        "stats": {"loss": np.float64(0.25), "ious": np.arange(4, dtype=np.float32), "seen": {1, 2}},
        "hooks": [RunsShell(markers[1]), WritesFile(markers[2])],
    }
    path = tmp_path / ("legacy.pth.tar" if legacy else "OSTrack_ep0300.pth.tar")
    torch.save(payload, path, _use_new_zipfile_serialization=not legacy)
    return path, payload, markers


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_hostile_training_file_loads_weights_and_runs_nothing(tmp_path, legacy):
    path, payload, markers = training_file(tmp_path, legacy)
    obj, ignored = load_pickle_checkpoint(path)
    assert not any(m.exists() for m in markers), "a pickled callable was executed"
    assert_same_state(dict(obj["net"]), dict(payload["net"]))
    assert obj["epoch"] == 300
    opt_state = obj["optimizer"]["state"]
    assert torch.equal(opt_state[0]["exp_avg"], payload["optimizer"]["state"][0]["exp_avg"])
    assert {f"{os.system.__module__}.system", "builtins.exec", "argparse.Namespace"} <= set(ignored)
    assert any(name.endswith(".TrainSettings") for name in ignored)
    assert any(name.endswith(".AttrDict") for name in ignored)
    assert len(ignored) == len(set(ignored))
    # builtin containers are rebuilt for real; numpy values are not (see the forged-dtype test)
    assert obj["stats"]["seen"] == {1, 2}
    assert isinstance(obj["stats"]["loss"], Ignored) and isinstance(obj["stats"]["ious"], Ignored)
    test_package = __name__.split(".")[0]
    assert {name.split(".")[0] for name in ignored} == {"argparse", "builtins", "numpy", os.system.__module__, test_package}


def test_placeholders_record_their_contents_and_stay_inert(tmp_path):
    path, _, markers = training_file(tmp_path)
    obj, _ = load_pickle_checkpoint(path)
    settings, args, cfg = obj["settings"], obj["args"], obj["cfg"]
    assert isinstance(settings, Ignored) and settings.qualified_name.endswith("TrainSettings")
    assert settings.state["lr"] == 4e-4  # state recorded, __setstate__ of the real class never ran
    assert args.state == {"config": "vitb_256_mae_ce_32x4_ep300", "local_rank": 0}
    assert cfg.items["MODEL"].items == {"HEAD": "CENTER"}
    shell = obj["hooks"][0]
    assert shell.args == (f"touch {markers[1]}",)
    result = shell("rm -rf /")  # calling a placeholder yields another placeholder
    assert isinstance(result, Ignored) and result.args == ("rm -rf /",)
    assert not markers[1].exists()


def test_plain_weights_file_needs_no_fallback(tmp_path):
    state = tiny_model().state_dict()
    torch.save({"net": state, "epoch": 3}, tmp_path / "plain.pth")
    obj, ignored = load_pickle_checkpoint(tmp_path / "plain.pth")
    assert ignored == []
    assert_same_state(dict(obj["net"]), dict(state))


def test_dtypes_views_and_parameters_survive_the_restricted_reader(tmp_path):
    base = torch.arange(12, dtype=torch.float32).view(3, 4)
    payload = {
        "view": base.t(),  # non-contiguous view sharing base's storage
        "base": base,
        "half": torch.ones(3, dtype=torch.float16),
        "u16": torch.zeros(2, dtype=torch.uint16),  # rebuilt by _rebuild_tensor_v3
        "param": torch.nn.Parameter(torch.ones(2)),
        "empty": torch.zeros(0),
        "size": torch.Size([2, 3]),
        "dtype": torch.bfloat16,
        "device": torch.device("cpu"),
        "blob": b"\x00\xffbytes",
        "why": argparse.Namespace(),  # forces the restricted reader
    }
    torch.save(payload, tmp_path / "mixed.pt")
    obj, ignored = load_pickle_checkpoint(tmp_path / "mixed.pt")
    assert ignored == ["argparse.Namespace"]
    assert torch.equal(obj["view"], base.t()) and obj["view"].stride() == (1, 4)
    assert obj["view"].untyped_storage().data_ptr() == obj["base"].untyped_storage().data_ptr()
    assert obj["half"].dtype == torch.float16 and obj["u16"].dtype == torch.uint16
    assert isinstance(obj["param"], torch.nn.Parameter) and obj["param"].requires_grad
    assert obj["empty"].shape == (0,)
    assert (obj["size"], obj["dtype"], obj["device"], obj["blob"]) == (
        torch.Size([2, 3]), torch.bfloat16, torch.device("cpu"), b"\x00\xffbytes",
    )


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make",
    [
        lambda d: _write(d / "notes.txt", b"just some text\n"),
        lambda d: _write(d / "model.onnx", b"\x08\x07\x12\x07pytorch\x1a\x032.0" + bytes(range(256))),
        lambda d: _write(d / "dict.pkl", pickle.dumps({"epoch": 3, "lr": 0.1}, protocol=2)),
        lambda d: _write(d / "empty.pth", b""),
    ],
    ids=["text", "onnx", "plain-pickle", "empty"],
)
def test_non_checkpoint_files_are_one_line_errors(tmp_path, make):
    path = make(tmp_path)
    with pytest.raises(CheckpointError, match=r"not a readable PyTorch checkpoint") as info:
        load_pickle_checkpoint(path)
    assert "\n" not in str(info.value) and path.name in str(info.value)


def test_truncated_zip_is_reported_as_damaged(tmp_path):
    torch.save({"net": tiny_model().state_dict(), "args": argparse.Namespace()}, tmp_path / "full.pth")
    data = (tmp_path / "full.pth").read_bytes()
    truncated = _write(tmp_path / "cut.pth", data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or damaged zip"):
        load_pickle_checkpoint(truncated)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_pickle_checkpoint(tmp_path / "nope.pth")


class ForgedStorage:
    def __reduce__(self):
        return os.getcwd, ()


class ForgedTensor:
    """Pickles as torch's tensor rebuild call, fed with something that is not a storage."""

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, (ForgedStorage(), 0, (1,), (1,), False, collections.OrderedDict())


class ForgedDtype:
    """numpy accepts this dtype state: an object field with the 'holds objects' flag cleared."""

    def __reduce__(self):
        return np.dtype, ("V8", False, True), (3, "|", None, ("a",), {"a": (np.dtype("O"), 0)}, 8, 1, 0)


class ForgedArray:
    """An array whose raw bytes numpy would read as an object pointer (0x4141414141414141)."""

    def __reduce__(self):
        return np.ndarray.__reduce__(np.zeros(1))[0], (np.ndarray, (0,), b"b"), (1, (1,), ForgedDtype(), False, b"A" * 8)


def test_numpy_arrays_stay_placeholders_so_forged_dtypes_cannot_read_memory(tmp_path):
    torch.save({"net": {"w": torch.ones(1)}, "arr": ForgedArray()}, tmp_path / "forged.pth")
    obj, ignored = load_pickle_checkpoint(tmp_path / "forged.pth")
    assert isinstance(obj["arr"], Ignored) and obj["arr"].qualified_name.endswith("._reconstruct")
    assert "numpy.dtype" in ignored and torch.equal(obj["net"]["w"], torch.ones(1))


def test_tensor_rebuild_only_accepts_storages_read_from_the_file(tmp_path):
    path = _write(tmp_path / "forged.pkl", pickle.dumps({"w": ForgedTensor()}, protocol=2))
    with pytest.raises(CheckpointError, match="not a storage"):
        load_pickle_checkpoint(path)


class HugeView:
    """Pickles as torch's tensor rebuild call: a 4-element storage viewed as ``count`` elements."""

    def __init__(self, count: int):
        self.storage = torch.ones(4)._typed_storage()
        self.count = count

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, (self.storage, 0, (self.count,), (1,), False, collections.OrderedDict())


class HostileStorage:
    """A legacy-format storage reference declaring far more elements than the file holds."""


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_a_view_past_its_storage_is_refused_not_grown(tmp_path, legacy):
    path = tmp_path / "huge.pth"
    torch.save({"w": HugeView(1 << 40), "settings": TrainSettings(tmp_path / "m")}, path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(CheckpointError, match="needs 4398046511104 bytes but its storage in the file holds 16"):
        load_pickle_checkpoint(path)
    torch.save({"w": HugeView(4), "settings": TrainSettings(tmp_path / "m")}, path, _use_new_zipfile_serialization=not legacy)
    assert torch.equal(load_pickle_checkpoint(path)[0]["w"], torch.ones(4))  # a view inside the storage loads


def test_a_legacy_storage_declaring_more_than_the_file_is_refused_before_allocation(tmp_path):
    import io
    import struct

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", 1 << 40, None) if obj is HostileStorage else None

    body = io.BytesIO()
    Pickler(body, protocol=2).dump({"w": HostileStorage, "settings": Ignored})
    head = b"".join(pickle.dumps(v, protocol=2) for v in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}))
    data = head + body.getvalue() + pickle.dumps(["0"], protocol=2) + struct.pack("<q", 1 << 40) + b"\0" * 16
    path = _write(tmp_path / "legacy.pth", data)
    with pytest.raises(CheckpointError, match="declares 1099511627776 elements, more than the file holds"):
        load_pickle_checkpoint(path)
