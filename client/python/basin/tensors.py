"""numpy arrays <-> basin.v1 TensorChunk messages.

Tensors travel as raw little-endian elements in chunks (docs/protocol.md, "Chunks and dtypes"):
every tensor of the layout in order, each from offset 0 upwards without gaps. Wire dtypes are
F32, F64, BF16 and F16; BF16 is encoded from float32 with round-to-nearest-even (NaN kept NaN),
F16 through numpy's float16 (also round-to-nearest-even).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Iterator, List, Mapping, Sequence, Tuple, Union

import numpy as np

from basin.v1 import optimizer_service_pb2 as pb

#: The default largest ``TensorChunk.data`` the client sends and asks for: 1 MiB, so any model fits
#: gRPC's default 4 MiB message limit.
DEFAULT_CHUNK_BYTES = 1 << 20

DTypeName = str  # "f32" | "f64" | "bf16" | "f16"

_WIRE: Dict[str, int] = {
    "f32": pb.DTYPE_F32,
    "f64": pb.DTYPE_F64,
    "bf16": pb.DTYPE_BF16,
    "f16": pb.DTYPE_F16,
}
_ITEMSIZE: Dict[int, int] = {pb.DTYPE_F32: 4, pb.DTYPE_F64: 8, pb.DTYPE_BF16: 2, pb.DTYPE_F16: 2}

Layout = List[Tuple[str, Tuple[int, ...]]]
Arrays = Dict[str, np.ndarray]


def wire_dtype(name: Union[DTypeName, int]) -> int:
    """The ``basin.v1.DType`` value of ``"f32"``, ``"f64"``, ``"bf16"`` or ``"f16"``."""
    if isinstance(name, int):
        return name
    try:
        return _WIRE[name.lower()]
    except KeyError:
        raise ValueError(f"unknown wire dtype {name!r}; expected one of {sorted(_WIRE)}") from None


def layout_of(session: pb.Session) -> Layout:
    """The (name, shape) list a Session's spec declares, in layout order."""
    return [(t.name, tuple(int(d) for d in t.shape)) for t in session.spec.tensors]


def layout_from_arrays(arrays: Mapping[str, np.ndarray]) -> List[pb.TensorSpec]:
    """TensorSpecs for a dict of arrays (insertion order = layout order)."""
    return [pb.TensorSpec(name=name, shape=list(np.shape(a))) for name, a in arrays.items()]


def _encode(values: np.ndarray, dtype: int) -> bytes:
    """Little-endian bytes of ``values`` (any float array) in the wire ``dtype``."""
    if dtype == pb.DTYPE_F32:
        return np.ascontiguousarray(values, dtype="<f4").tobytes()
    if dtype == pb.DTYPE_F64:
        return np.ascontiguousarray(values, dtype="<f8").tobytes()
    if dtype == pb.DTYPE_F16:
        with np.errstate(over="ignore"):  # overflow becomes ±Inf, as on the server
            return np.ascontiguousarray(values, dtype="<f2").tobytes()
    if dtype == pb.DTYPE_BF16:
        return to_bf16_bits(values).astype("<u2").tobytes()
    raise ValueError(f"cannot encode wire dtype {dtype}")


def _decode(data: bytes, dtype: int) -> np.ndarray:
    """The elements of ``data`` as float32 (float64 for an F64 chunk)."""
    if dtype == pb.DTYPE_F32:
        return np.frombuffer(data, dtype="<f4")
    if dtype == pb.DTYPE_F64:
        return np.frombuffer(data, dtype="<f8")
    if dtype == pb.DTYPE_F16:
        return np.frombuffer(data, dtype="<f2").astype(np.float32)
    if dtype == pb.DTYPE_BF16:
        return from_bf16_bits(np.frombuffer(data, dtype="<u2"))
    raise ValueError(f"cannot decode wire dtype {dtype}")


def to_bf16_bits(values: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) of ``values``, rounded to nearest even; NaN stays NaN."""
    f = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
    bits = f.view(np.uint32)
    rounded = bits + (np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1)))
    out = (rounded >> np.uint32(16)).astype(np.uint16)
    nan = np.isnan(f)
    if nan.any():  # keep the sign, force a quiet NaN (rounding could carry a NaN into Inf)
        out[nan] = ((bits[nan] >> np.uint32(16)) | np.uint32(0x0040)).astype(np.uint16)
    return out


def from_bf16_bits(bits: np.ndarray) -> np.ndarray:
    """float32 values of bfloat16 bit patterns (exact)."""
    return (np.asarray(bits, dtype=np.uint32) << np.uint32(16)).view(np.float32)


def chunks_of(
    layout: Layout,
    arrays: Union[Mapping[str, np.ndarray], np.ndarray, Sequence[float]],
    dtype: Union[DTypeName, int] = "f32",
    max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> Iterator[pb.TensorChunk]:
    """The TensorChunks covering ``layout`` with ``arrays``.

    ``arrays`` is a dict name -> array (every tensor of the layout, each of its shape; the dict's
    order does not matter) or one flat array of all elements in layout order. Each chunk holds at
    most ``max_chunk_bytes`` bytes of whole elements; a tensor with no elements gets no chunk.
    Raises ValueError for a missing or unknown tensor or a wrong size.
    """
    code = wire_dtype(dtype)
    per_chunk = max(1, max_chunk_bytes // _ITEMSIZE[code])
    for name, values in _flat_tensors(layout, arrays):
        for offset in range(0, values.size, per_chunk):
            yield pb.TensorChunk(
                tensor=name, offset=offset, dtype=code, data=_encode(values[offset : offset + per_chunk], code)
            )


def _flat_tensors(
    layout: Layout, arrays: Union[Mapping[str, np.ndarray], np.ndarray, Sequence[float]]
) -> Iterator[Tuple[str, np.ndarray]]:
    sizes = [(name, int(np.prod(shape, dtype=np.int64))) for name, shape in layout]
    if isinstance(arrays, Mapping):
        unknown = set(arrays) - {name for name, _ in layout}
        if unknown:
            raise ValueError(f"unknown tensor(s) {sorted(unknown)}; the layout has {[n for n, _ in layout]}")
        for name, size in sizes:
            if name not in arrays:
                raise ValueError(f"tensor {name!r} is missing")
            flat = np.asarray(arrays[name]).reshape(-1)
            if flat.size != size:
                raise ValueError(f"tensor {name!r} has {flat.size} elements, the layout wants {size}")
            yield name, flat
        return
    flat = np.asarray(arrays).reshape(-1)
    total = sum(size for _, size in sizes)
    if flat.size != total:
        raise ValueError(f"got {flat.size} values, the layout has {total}")
    start = 0
    for name, size in sizes:
        yield name, flat[start : start + size]
        start += size


class Assembler:
    """Reassembles chunks arriving in layout order into one array per tensor.

    Values are float32, or float64 when ``float64`` is set (for F64 chunks).
    """

    def __init__(self, layout: Layout, float64: bool = False) -> None:
        self._layout = layout
        self._shapes = dict(layout)
        dt = np.float64 if float64 else np.float32
        self._flat: Dict[str, np.ndarray] = {
            name: np.empty(int(np.prod(shape, dtype=np.int64)), dtype=dt) for name, shape in layout
        }
        self._filled: Dict[str, int] = {name: 0 for name, _ in layout}

    def add(self, chunk: pb.TensorChunk) -> None:
        """Places one chunk; raises ValueError for an unknown tensor or a chunk out of order."""
        flat = self._flat.get(chunk.tensor)
        if flat is None:
            raise ValueError(f"chunk of unknown tensor {chunk.tensor!r}")
        if chunk.offset != self._filled[chunk.tensor]:
            raise ValueError(
                f"chunk of {chunk.tensor!r} at offset {chunk.offset}, expected {self._filled[chunk.tensor]}"
            )
        values = _decode(chunk.data, chunk.dtype)
        end = chunk.offset + values.size
        if end > flat.size:
            raise ValueError(f"chunk of {chunk.tensor!r} runs past its {flat.size} elements")
        flat[chunk.offset : end] = values
        self._filled[chunk.tensor] = end

    def finish(self) -> Arrays:
        """The arrays, in layout order, each of its shape; raises ValueError if one is incomplete."""
        for name, flat in self._flat.items():
            if self._filled[name] != flat.size:
                raise ValueError(f"tensor {name!r} got {self._filled[name]} of {flat.size} elements")
        return OrderedDict((name, self._flat[name].reshape(self._shapes[name])) for name, _ in self._layout)
