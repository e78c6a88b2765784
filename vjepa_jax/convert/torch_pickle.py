"""Read and write PyTorch ``torch.save`` zip checkpoints without importing torch.

Security model: a checkpoint's ``data.pkl`` is unpickled by a restricted unpickler
whose ``find_class`` resolves only a fixed allowlist (``collections.OrderedDict``,
torch's tensor-rebuild helpers and typed storage classes, all replaced by local
NumPy-based stand-ins); any other global raises ``UnsafeCheckpointError`` before
anything is called, so loading never runs code named by the file.
"""

from __future__ import annotations

import _compat_pickle
import contextlib
import errno
import io
import os
import pickle
import re
import struct
import tempfile
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, ClassVar

import ml_dtypes
import numpy as np

from vjepa_jax.errors import CheckpointError

__all__ = [
    "CheckpointFormatError",
    "UnsafeCheckpointError",
    "load_torch_checkpoint",
    "save_torch_checkpoint",
]


class UnsafeCheckpointError(CheckpointError):
    """The checkpoint references something other than tensors and plain containers."""


class CheckpointFormatError(CheckpointError):
    """The file is not a (well-formed) torch zip checkpoint."""


@dataclass(frozen=True, slots=True)
class _Global:
    """Stand-in for a torch global; pickled as ``GLOBAL module name``, never callable."""

    module: str
    name: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise UnsafeCheckpointError(f"{self.module}.{self.name} cannot be called here")


# torch storage class name <-> NumPy dtype (storage bytes are little-endian).
_STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype(np.float32),
    "DoubleStorage": np.dtype(np.float64),
    "HalfStorage": np.dtype(np.float16),
    "BFloat16Storage": np.dtype(ml_dtypes.bfloat16),
    "LongStorage": np.dtype(np.int64),
    "IntStorage": np.dtype(np.int32),
    "ShortStorage": np.dtype(np.int16),
    "CharStorage": np.dtype(np.int8),
    "ByteStorage": np.dtype(np.uint8),
    "BoolStorage": np.dtype(np.bool_),
}
_STORAGE_GLOBALS = {name: _Global("torch", name) for name in _STORAGE_DTYPES}
_REBUILD_V2 = _Global("torch._utils", "_rebuild_tensor_v2")
_ALIGNMENT = 64
_LEGACY_HINT = (
    "expected the zip-based format that torch.save writes by default since torch 1.6; "
    "re-save it with torch>=1.6: torch.save(torch.load(old_path), new_path)"
)


def _from_le_bytes(buf: bytes, dtype: np.dtype) -> np.ndarray:
    """Interpret little-endian ``buf`` as a flat (read-only) array of ``dtype``."""
    if dtype.itemsize == 1:
        return np.frombuffer(buf, dtype)
    raw = np.frombuffer(buf, f"<u{dtype.itemsize}")
    return raw.astype(f"=u{dtype.itemsize}", copy=False).view(dtype)


def _to_le_bytes(arr: np.ndarray) -> bytes:
    """Raw little-endian C-order bytes of ``arr``."""
    arr = np.ascontiguousarray(arr)
    if arr.dtype.itemsize > 1:
        arr = arr.view(f"=u{arr.dtype.itemsize}").astype(f"<u{arr.dtype.itemsize}", copy=False)
    return arr.tobytes()


@dataclass(frozen=True, slots=True)
class _LoadedStorage:
    array: np.ndarray  # flat, native byte order


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only allowlisted globals and ``storage`` persistent ids."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, path: str):
        super().__init__(io.BytesIO(data), encoding="utf-8")
        self._archive, self._prefix, self._path = archive, prefix, path
        self._storages: dict[tuple[str, str], _LoadedStorage] = {}

    def find_class(self, module: str, name: str) -> Any:
        # Bound methods are returned so that a BUILD opcode cannot mutate shared functions.
        allowed = {
            ("collections", "OrderedDict"): OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2"): self._rebuild_tensor,
            ("torch._utils", "_rebuild_tensor"): self._rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): self._rebuild_parameter,
        }
        if (module, name) in allowed:
            return allowed[(module, name)]
        if module == "torch" and name in _STORAGE_GLOBALS:
            return _STORAGE_GLOBALS[name]
        py3 = _compat_pickle.IMPORT_MAPPING.get(module, module)  # e.g. __builtin__ -> builtins
        shown = f"'{module}.{name}'" + (f" (i.e. '{py3}.{name}')" if py3 != module else "")
        raise UnsafeCheckpointError(
            f"refusing to load {self._path!r}: its pickle references {shown}, "
            "which is not allowed. The file was NOT executed or loaded; checkpoints may only "
            "contain tensors and plain containers (dict, OrderedDict, list, tuple, numbers, "
            "strings, None)."
        )

    def persistent_load(self, pid: Any) -> _LoadedStorage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise UnsafeCheckpointError(
                f"refusing to load {self._path!r}: unsupported persistent record {pid!r:.80}; "
                "only ('storage', ...) tensor records are allowed. The file was NOT loaded."
            )
        _, storage_type, key, _location, numel = pid
        if not (isinstance(storage_type, _Global) and storage_type.name in _STORAGE_DTYPES):
            raise CheckpointFormatError(f"storage record with an invalid storage type: {pid!r:.80}")
        if not isinstance(key, str) or type(numel) is not int or numel < 0:
            raise CheckpointFormatError(f"malformed storage record: {pid!r:.80}")
        dtype = _STORAGE_DTYPES[storage_type.name]
        cached = self._storages.get((key, storage_type.name))
        if cached is not None:
            return cached
        member = f"{self._prefix}data/{key}"
        try:
            info = self._archive.getinfo(member)
        except KeyError:
            raise CheckpointFormatError(f"{self._path!r}: missing storage entry {member!r}") from None
        if info.file_size != numel * dtype.itemsize:
            raise CheckpointFormatError(
                f"{self._path!r}: {member!r} has {info.file_size} bytes, expected "
                f"{numel} x {dtype.itemsize}"
            )
        storage = _LoadedStorage(_from_le_bytes(self._archive.read(info), dtype))
        self._storages[(key, storage_type.name)] = storage
        return storage

    def _rebuild_tensor(self, storage: Any, offset: Any, size: Any, stride: Any, *_: Any) -> np.ndarray:
        """Materialise ``storage[offset]`` viewed with ``size``/``stride`` as a C-contiguous array."""
        if not isinstance(storage, _LoadedStorage):
            raise CheckpointFormatError("tensor record does not refer to a storage")
        size, stride = tuple(size), tuple(stride)
        dims = (offset, *size, *stride)
        if len(size) != len(stride) or any(type(v) is not int or v < 0 for v in dims):
            raise CheckpointFormatError(f"invalid tensor geometry: size={size}, stride={stride}")
        flat = storage.array
        if 0 in size:
            return np.zeros(size, flat.dtype)
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= flat.size:
            raise CheckpointFormatError(f"tensor view exceeds its storage ({last} >= {flat.size})")
        view = np.lib.stride_tricks.as_strided(
            flat[offset:], shape=size, strides=[s * flat.itemsize for s in stride], writeable=False
        )
        return np.array(view, order="C", copy=True)

    def _rebuild_parameter(self, data: Any, *_: Any) -> np.ndarray:
        if not isinstance(data, np.ndarray):
            raise CheckpointFormatError("parameter record does not wrap a tensor")
        return data


def load_torch_checkpoint(path: str | os.PathLike) -> Any:
    """Load a ``torch.save`` zip checkpoint, with every tensor as a C-contiguous NumPy array.

    Raises ``FileNotFoundError`` for a missing file, ``CheckpointFormatError`` for anything
    that is not a well-formed zip checkpoint, and ``UnsafeCheckpointError`` when the pickle
    references anything other than tensors and plain containers.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "checkpoint file not found", path)
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(2)
        found = "a raw pickle (legacy torch format)" if head[:1] == b"\x80" else "not a zip archive"
        raise CheckpointFormatError(f"{path!r} is {found}; {_LEGACY_HINT}")
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")]
            if len(pickles) != 1:
                raise CheckpointFormatError(
                    f"{path!r}: expected exactly one '<name>/data.pkl' entry, found {len(pickles)}; "
                    + _LEGACY_HINT
                )
            prefix = pickles[0][: -len("data.pkl")]
            if f"{prefix}byteorder" in archive.namelist():
                order = archive.read(f"{prefix}byteorder").strip()
                if order != b"little":
                    raise CheckpointFormatError(f"{path!r}: unsupported byte order {order!r}")
            data = archive.read(pickles[0])
            return _RestrictedUnpickler(data, archive, prefix, path).load()
    except (UnsafeCheckpointError, CheckpointFormatError):
        raise
    except Exception as exc:  # truncated zip, broken pickle, wrong opcode arguments, ...
        raise CheckpointFormatError(f"{path!r}: malformed checkpoint ({exc})") from exc


_PLAIN_TYPES = (dict, OrderedDict, list, tuple, int, float, str, bool, type(None))


class _TorchPickler(pickle._Pickler):  # pure-Python pickler: supports a custom dispatch
    """Protocol-2 pickler emitting torch's tensor records for NumPy arrays."""

    dispatch: ClassVar[dict] = dict(pickle._Pickler.dispatch)

    def __init__(self, file: io.BytesIO):
        super().__init__(file, protocol=2)
        self.records: list[tuple[str, bytes]] = []

    def persistent_id(self, obj: Any) -> Any:
        if not isinstance(obj, _PendingStorage):
            return None
        key = str(len(self.records))
        self.records.append((key, obj.data))
        return ("storage", _STORAGE_GLOBALS[obj.type_name], key, "cpu", obj.numel)

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, np.ndarray):
            return _tensor_reduce(obj)
        if type(obj) is dict and any(isinstance(v, np.ndarray) for v in obj.values()):
            return (OrderedDict, (), None, None, iter(obj.items()))
        if type(obj) in _PLAIN_TYPES or obj is OrderedDict or type(obj) is _Global:
            return NotImplemented
        raise TypeError(
            f"cannot save {type(obj).__module__}.{type(obj).__qualname__} in a torch checkpoint; "
            "supported: dict, OrderedDict, list, tuple, int, float, str, bool, None, np.ndarray"
        )

    def _save_global_standin(self, obj: _Global) -> None:
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("ascii"))
        self.memoize(obj)

    dispatch[_Global] = _save_global_standin


@dataclass(frozen=True)
class _PendingStorage:
    type_name: str
    numel: int
    data: bytes


def _tensor_reduce(arr: np.ndarray) -> tuple:
    """``(rebuild, args)`` reproducing torch's pickling of a contiguous tensor."""
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    names = [n for n, d in _STORAGE_DTYPES.items() if d == arr.dtype]
    if not names:
        raise TypeError(f"unsupported array dtype for a torch checkpoint: {arr.dtype}")
    # torch's contiguous strides treat zero-length dims as length 1
    stride, step = [], 1
    for n in reversed(arr.shape):
        stride.insert(0, step)
        step *= max(n, 1)
    storage = _PendingStorage(names[0], int(arr.size), _to_le_bytes(arr))
    shape = tuple(int(n) for n in arr.shape)
    return (_REBUILD_V2, (storage, 0, shape, tuple(stride), False, OrderedDict()))


def _aligned_extra(offset: int, name: str, size: int) -> bytes:
    """A padding extra field ('FB' id, as torch uses) that puts the member data on a 64-byte boundary."""
    zip64 = 20 if size * 1.05 > zipfile.ZIP64_LIMIT else 0  # mirrors zipfile's own choice
    start = offset + 30 + len(name.encode()) + 4 + zip64
    pad = -start % _ALIGNMENT
    return struct.pack("<HH", 0x4246, pad) + b"Z" * pad


def _write_archive(f: Any, archive: str, pickled: bytes, records: list[tuple[str, bytes]]) -> None:
    entries = [("data.pkl", pickled), (".format_version", b"1"), (".storage_alignment", b"64"),
               ("byteorder", b"little")]
    entries += [(f"data/{key}", data) for key, data in records] + [("version", b"3\n")]
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(f"{archive}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            if name.startswith("data/"):
                info.extra = _aligned_extra(f.tell(), info.filename, len(data))
            zf.writestr(info, data)


def save_torch_checkpoint(obj: Any, path: str | os.PathLike) -> None:
    """Atomically write ``obj`` as a torch zip checkpoint readable by ``torch.load(weights_only=True)``.

    ``obj`` may nest dict / OrderedDict / list / tuple / int / float / str / bool / None and
    NumPy arrays (supported dtypes incl. ``ml_dtypes.bfloat16``); arrays become tensors, and
    dicts holding arrays are written as ``collections.OrderedDict`` like a state_dict.
    """
    path = os.fspath(path)
    buffer = io.BytesIO()
    pickler = _TorchPickler(buffer)
    pickler.dump(obj)
    base = os.path.basename(path)
    stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base  # like torch: drop last suffix
    archive = re.sub(r"[^A-Za-z0-9._-]", "_", stem) or "archive"
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_archive(f, archive, buffer.getvalue(), pickler.records)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise

