"""Read a legacy (non-zip) ``torch.save`` state dict into numpy arrays, without importing torch.

Why: the service and CI should not need a 200+ MB torch install to convert two 1.8 MB weight files.
The legacy format (torch < 1.6 and ``_use_new_zipfile_serialization=False``) is five pickles and raw
storages: magic number, protocol version, system info, the object (tensors refer to storages through
``persistent_id``), the list of storage keys, then for each key an int64 element count and the
little-endian element bytes. Only the classes a plain state dict needs are allowed to load; anything
else raises, so a hostile file cannot run code through this reader.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = 0x1950A86A20F9469CFC6C
DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ByteStorage": np.uint8,
}


@dataclass
class _Storage:
    key: str
    dtype: type
    data: np.ndarray | None = None


@dataclass
class _TensorRef:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def array(self) -> np.ndarray:
        base = self.storage.data
        if not self.size:
            return base[self.offset].copy()
        item = base.itemsize
        view = np.lib.stride_tricks.as_strided(
            base[self.offset :], shape=self.size, strides=[s * item for s in self.stride]
        )
        return np.array(view)


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple, stride: tuple, *_: object) -> _TensorRef:
    return _TensorRef(storage, offset, tuple(size), tuple(stride))


class _StorageType:
    def __init__(self, name: str) -> None:
        self.dtype = DTYPES[name]


class _Unpickler(pickle.Unpickler):
    def __init__(self, f: io.BufferedReader, storages: dict[str, _Storage]) -> None:
        super().__init__(f)
        self.storages = storages

    def find_class(self, module: str, name: str) -> object:
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return lambda tensor, *_: tensor
        if module in ("torch", "torch.cuda") and name in DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights file")

    def persistent_load(self, pid: tuple) -> _Storage:
        kind, storage_type, key, _location, _numel = pid[:5]
        if kind != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {kind!r}")
        return self.storages.setdefault(key, _Storage(key, storage_type.dtype))


def load_state_dict(path: Path) -> dict[str, np.ndarray]:
    """``{name: array}`` of a legacy torch state dict (``module.`` prefixes kept as they are)."""
    storages: dict[str, _Storage] = {}
    with path.open("rb") as f:
        magic, _protocol, _sys_info, obj, keys = (_Unpickler(f, storages).load() for _ in range(5))
        if magic != MAGIC:
            raise ValueError(f"{path}: not a legacy torch.save file (zip-format files are not supported)")
        for key in keys:
            storage = storages[key]
            (count,) = struct.unpack("<q", f.read(8))
            raw = f.read(count * np.dtype(storage.dtype).itemsize)
            storage.data = np.frombuffer(raw, dtype=storage.dtype)
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict, found {type(obj).__name__}")
    return {name: ref.array() for name, ref in obj.items() if isinstance(ref, _TensorRef)}
