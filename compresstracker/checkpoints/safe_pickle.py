"""Read torch checkpoint files without ever executing code from them.

Released OSTrack files pickle their training ``settings`` objects next to the weights, so
``torch.load(weights_only=True)`` refuses them. The fallback here reads torch's file formats with
a restricted unpickler: tensors, storages and plain containers are rebuilt by our own functions;
every other pickled global becomes an inert :class:`Ignored` placeholder that records its name and
arguments and never calls anything. Unrestricted unpickling is never used.
"""
from __future__ import annotations

import _compat_pickle
import collections
import pickle
import struct
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable

import torch

from compresstracker.errors import CheckpointError

__all__ = ["Ignored", "load_pickle_checkpoint", "require_file"]

_ZIP_MAGIC = b"PK\x03\x04"
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # first object of torch's pre-1.6 (non-zip) format
_LEGACY_PROTOCOL = 1001


class Ignored:
    """Inert stand-in for a pickled global outside the allow-list.

    Subclasses are made per ``module.name``; instances keep what the pickle gave them (constructor
    arguments, state, items) and have no behaviour: calling one yields another placeholder.
    """

    qualified_name = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> "Ignored":
        self = object.__new__(cls)
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "kwargs", kwargs)
        object.__setattr__(self, "state", None)
        object.__setattr__(self, "items", {})
        object.__setattr__(self, "list_items", [])
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Arguments were recorded by ``__new__``."""

    def __call__(self, *args: Any, **kwargs: Any) -> "Ignored":
        return type(self)(*args, **kwargs)

    def __setstate__(self, state: Any) -> None:
        object.__setattr__(self, "state", state)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items[key] = value

    def append(self, value: Any) -> None:
        self.list_items.append(value)

    def extend(self, values: list) -> None:
        self.list_items.extend(values)

    def __repr__(self) -> str:
        return f"<ignored {self.qualified_name}>"


@dataclass(frozen=True)
class _StorageType:
    """What a pickled ``torch.FloatStorage``-like global resolves to: its element type only."""

    dtype: torch.dtype


_STORAGE_DTYPES = {
    "ByteStorage": torch.uint8, "CharStorage": torch.int8, "ShortStorage": torch.int16,
    "IntStorage": torch.int32, "LongStorage": torch.int64, "HalfStorage": torch.float16,
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "BFloat16Storage": torch.bfloat16,
    "BoolStorage": torch.bool, "ComplexFloatStorage": torch.complex64,
    "ComplexDoubleStorage": torch.complex128, "UntypedStorage": torch.uint8,
}


def _naturals(values: Any) -> bool:
    """A tuple or list of non-negative ints."""
    return isinstance(values, (tuple, list)) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values)


def _view_bytes(offset: Any, size: Any, stride: Any, element_size: int) -> int:
    """Bytes of storage a strided view needs; UnpicklingError for geometry that is not non-negative ints."""
    if not (_naturals((offset,)) and _naturals(size) and _naturals(stride) and len(size) == len(stride)):
        raise pickle.UnpicklingError("a tensor has a malformed offset, size or stride")
    if any(s == 0 for s in size):
        return 0
    return (offset + sum((s - 1) * st for s, st in zip(size, stride)) + 1) * element_size


def _tensor_on(storage: Any, dtype: Any, offset: int, size: tuple, stride: tuple, requires_grad: bool) -> torch.Tensor:
    """A tensor viewing one of our storages, refused when the view reaches past the storage.

    ``set_`` would grow the storage to fit any declared size: a few bytes of pickle could ask
    for terabytes.
    """
    if not isinstance(storage, torch.storage.TypedStorage):
        raise pickle.UnpicklingError("a tensor refers to something that is not a storage")
    dtype = storage.dtype if dtype is None else dtype
    if not isinstance(dtype, torch.dtype):
        raise pickle.UnpicklingError("tensor dtype is not a torch.dtype")
    needed = _view_bytes(offset, size, stride, torch.empty((), dtype=dtype).element_size())
    held = storage._untyped_storage.nbytes()
    if needed > held:
        raise pickle.UnpicklingError(f"a tensor view needs {needed} bytes but its storage in the file holds {held}")
    tensor = torch.empty((0,), dtype=dtype).set_(storage._untyped_storage, offset, torch.Size(size), stride)
    tensor.requires_grad_(bool(requires_grad))
    return tensor


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks, metadata=None) -> torch.Tensor:
    """torch._utils._rebuild_tensor_v2 without hooks or metadata (neither matters to weights)."""
    return _tensor_on(storage, None, offset, size, stride, requires_grad)


def _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, backward_hooks, dtype, metadata=None) -> torch.Tensor:
    """torch._utils._rebuild_tensor_v3 (dtypes without a legacy storage class, e.g. uint16)."""
    return _tensor_on(storage, dtype, offset, size, stride, requires_grad)


def _rebuild_parameter(data, requires_grad, backward_hooks, state=None) -> torch.nn.Parameter:
    """torch._utils._rebuild_parameter(_with_state); hooks and Python attributes are dropped."""
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError("a parameter wraps something that is not a tensor")
    return torch.nn.Parameter(data, bool(requires_grad))


def _codecs_encode(text: str, encoding: str = "utf-8") -> bytes:
    """How protocol-2 pickles spell ``bytes``: _codecs.encode(str, 'latin1')."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is only allowed for latin1 byte strings")
    return text.encode("latin1")


def _allow_list() -> dict[tuple[str, str], Any]:
    """(module, name) -> the object a pickle may use; everything else becomes an Ignored placeholder.

    numpy is deliberately absent: ``numpy.dtype.__setstate__`` accepts forged fields and flags, and an
    array rebuilt with such a dtype reads raw pickle bytes as object pointers. numpy values in training
    extras therefore come back as placeholders.
    """
    allowed: dict[tuple[str, str], Any] = {
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch", "Size"): torch.Size,
        ("torch", "device"): torch.device,
        ("torch.storage", "UntypedStorage"): _StorageType(torch.uint8),
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "slice"): slice,
        ("builtins", "complex"): complex,
        ("builtins", "bytearray"): bytearray,
        ("_codecs", "encode"): _codecs_encode,
    }
    for name, dtype in _STORAGE_DTYPES.items():
        allowed["torch", name] = _StorageType(dtype)
    for name, value in vars(torch).items():  # the module dict: no lazy imports triggered
        if isinstance(value, torch.dtype):
            allowed["torch", name] = value
    return allowed


_ALLOWED = _allow_list()


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose globals come only from the allow-list; the rest are recorded and ignored."""

    def __init__(self, file: BinaryIO, persistent_load: Callable[[tuple], Any] | None, ignored: list[str]):
        super().__init__(file)
        self._persistent = persistent_load
        self._ignored = ignored
        self._placeholders: dict[str, type[Ignored]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _compat_pickle.NAME_MAPPING:  # Python 2 names, as protocol 2 writes them
            module, name = _compat_pickle.NAME_MAPPING[module, name]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in _ALLOWED:
            return _ALLOWED[module, name]
        qualified = f"{module}.{name}"
        if qualified not in self._placeholders:
            self._placeholders[qualified] = type(name, (Ignored,), {"qualified_name": qualified, "__module__": __name__})
            self._ignored.append(qualified)
        return self._placeholders[qualified]

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent is None:
            raise pickle.UnpicklingError("unexpected persistent id in a plain pickle")
        if not isinstance(pid, tuple) or not pid or pid[0] not in ("storage", b"storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r:.60}")
        return self._persistent(pid)


def _storage_dtype(storage_type: Any) -> torch.dtype:
    if not isinstance(storage_type, _StorageType):
        raise pickle.UnpicklingError(f"unsupported storage type {storage_type!r:.60}")
    return storage_type.dtype


def _typed_storage(untyped: torch.UntypedStorage, dtype: torch.dtype) -> torch.storage.TypedStorage:
    return torch.storage.TypedStorage(wrap_storage=untyped, dtype=dtype, _internal=True)


def _load_zip(path: Path, ignored: list[str]) -> Any:
    """torch's zip format (torch >= 1.6): ``<archive>/data.pkl`` plus one record per storage."""
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pickles:
            raise CheckpointError(f"{path.name} is a zip archive but not a torch checkpoint (no data.pkl)")
        prefix = pickles[0][: -len("data.pkl")]
        if f"{prefix}byteorder" in archive.namelist() and archive.read(f"{prefix}byteorder") != b"little":
            raise CheckpointError(f"{path.name} was saved on a big-endian machine; re-save it on a little-endian one")
        storages: dict[str, torch.storage.TypedStorage] = {}
        archive_size = path.stat().st_size

        def load_storage(pid: tuple) -> torch.storage.TypedStorage:
            _, storage_type, key, _location, numel = pid
            dtype = _storage_dtype(storage_type)
            if key not in storages:
                if archive.getinfo(f"{prefix}data/{key}").file_size > archive_size:  # torch stores records uncompressed
                    raise CheckpointError(f"{path.name}: storage record {key} declares more bytes than the file holds; the file is damaged")
                raw = archive.read(f"{prefix}data/{key}")
                if len(raw) != numel * torch.empty((), dtype=dtype).element_size():
                    raise CheckpointError(f"{path.name}: storage record {key} has the wrong size; the file is damaged")
                storages[key] = _typed_storage(torch.UntypedStorage.from_buffer(raw, dtype=torch.uint8), dtype)
            return storages[key]

        with archive.open(pickles[0]) as data:
            return _RestrictedUnpickler(data, load_storage, ignored).load()


def _load_legacy(path: Path, ignored: list[str]) -> Any:
    """torch's pre-1.6 stream format: header pickles, the object pickle, storage keys, raw storages."""
    file_size = path.stat().st_size
    with open(path, "rb") as f:

        def plain() -> Any:
            return _RestrictedUnpickler(f, None, ignored).load()

        if plain() != _LEGACY_MAGIC or plain() != _LEGACY_PROTOCOL:
            raise pickle.UnpicklingError("not a torch file")
        plain()  # sys_info: endianness and type sizes of the saving machine
        storages: dict[str, tuple[torch.storage.TypedStorage, int]] = {}

        def load_storage(pid: tuple) -> torch.storage.TypedStorage:
            _, storage_type, key, _location, numel, view = pid
            if view is not None:
                raise CheckpointError(f"{path.name} uses storage views (torch < 1.0); re-save it with a newer torch")
            dtype = _storage_dtype(storage_type)
            if key not in storages:
                nbytes = numel * torch.empty((), dtype=dtype).element_size() if isinstance(numel, int) and numel >= 0 else -1
                if not 0 <= nbytes <= file_size:
                    raise CheckpointError(f"{path.name}: storage {key} declares {numel} elements, more than the file holds; the file is damaged")
                storages[key] = (_typed_storage(torch.UntypedStorage(nbytes), dtype), numel)
            return storages[key][0]

        obj = _RestrictedUnpickler(f, load_storage, ignored).load()
        for key in plain():
            storage, numel = storages[key]
            untyped = storage._untyped_storage
            (saved_numel,) = struct.unpack("<q", f.read(8))
            raw = f.read(untyped.nbytes())
            if saved_numel != numel or len(raw) != untyped.nbytes():
                raise CheckpointError(f"{path.name}: storage {key} is truncated; the file is damaged")
            untyped.copy_(torch.UntypedStorage.from_buffer(raw, dtype=torch.uint8))
        return obj


def _load_restricted(path: Path) -> tuple[Any, list[str]]:
    ignored: list[str] = []
    with open(path, "rb") as f:
        head = f.read(4)
    try:
        if zipfile.is_zipfile(path):
            return _load_zip(path, ignored), ignored
        if head == _ZIP_MAGIC:
            raise CheckpointError(f"{path.name} is a truncated or damaged zip archive; download or copy it again")
        if tarfile.is_tarfile(path):
            raise CheckpointError(f"{path.name} uses torch's old tar format; re-save it with torch >= 1.6")
        return _load_legacy(path, ignored), ignored
    except CheckpointError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, AttributeError,
            IndexError, RuntimeError, OverflowError, MemoryError, struct.error, zipfile.BadZipFile,
            UnicodeDecodeError) as exc:
        detail = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{path.name} is not a readable PyTorch checkpoint ({detail})") from None


def require_file(path: Path) -> None:
    """A CheckpointError unless ``path`` is an existing file."""
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory; give the checkpoint file inside it")
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")


def load_pickle_checkpoint(path: str | Path) -> tuple[Any, list[str]]:
    """Load a torch checkpoint file safely: ``(object, ignored)``.

    ``ignored`` lists the ``module.name`` of every pickled global that was not rebuilt (empty when
    ``torch.load(weights_only=True)`` could read the file on its own).
    """
    path = Path(path)
    require_file(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True), []
    except Exception:  # unknown globals, or not a torch file at all: the restricted reader decides
        return _load_restricted(path)
