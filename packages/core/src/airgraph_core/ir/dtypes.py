"""GE data types: the protobuf numbering, the ge:: numbering and torch dtypes.

GE uses two numberings for the same data types. Tensor descriptors in the
protobuf (`TensorDescriptor.dtype`) use the proto enum; integer attributes
that carry a type (`Cast.dst_type`, the graph attribute `_output_dtypes`,
`AttrDef.dt`) use the C++ `ge::DataType` numbering. Mixing them up produces
graphs that GE silently misreads, so both live here, side by side.
"""

from __future__ import annotations

import enum

import torch

__all__ = ["DataType", "from_torch", "to_torch", "from_ge_code"]


class DataType(enum.Enum):
    """A GE data type. ``value`` is the proto enum number; ``ge_code`` the ge:: number."""

    UNDEFINED = 0
    FLOAT = 1
    FLOAT16 = 2
    INT8 = 3
    UINT8 = 4
    INT16 = 5
    UINT16 = 6
    INT32 = 7
    INT64 = 8
    UINT32 = 9
    UINT64 = 10
    BOOL = 11
    DOUBLE = 12
    STRING = 13
    COMPLEX64 = 16
    COMPLEX128 = 17
    BF16 = 27
    FLOAT8_E5M2 = 34
    FLOAT8_E4M3FN = 35

    @property
    def proto(self) -> int:
        """The number used in ``TensorDescriptor.dtype``."""
        return self.value

    @property
    def ge_code(self) -> int:
        """The number used in integer attributes such as ``Cast.dst_type``."""
        return _GE_CODES[self]

    @property
    def opdef_name(self) -> str:
        """The spelling in GE op prototypes, e.g. ``DT_FLOAT``."""
        return _OPDEF_NAMES.get(self, f"DT_{self.name}")

    @property
    def is_floating(self) -> bool:
        return self in (
            DataType.FLOAT,
            DataType.FLOAT16,
            DataType.BF16,
            DataType.DOUBLE,
            DataType.FLOAT8_E5M2,
            DataType.FLOAT8_E4M3FN,
        )


_GE_CODES = {
    DataType.FLOAT: 0,
    DataType.FLOAT16: 1,
    DataType.INT8: 2,
    DataType.INT32: 3,
    DataType.UINT8: 4,
    DataType.INT16: 6,
    DataType.UINT16: 7,
    DataType.UINT32: 8,
    DataType.INT64: 9,
    DataType.UINT64: 10,
    DataType.DOUBLE: 11,
    DataType.BOOL: 12,
    DataType.STRING: 13,
    DataType.COMPLEX64: 16,
    DataType.COMPLEX128: 17,
    DataType.BF16: 27,
    DataType.UNDEFINED: 28,
    DataType.FLOAT8_E5M2: 35,
    DataType.FLOAT8_E4M3FN: 36,
}
_FROM_GE_CODE = {code: dt for dt, code in _GE_CODES.items()}

_OPDEF_NAMES = {DataType.BF16: "DT_BF16"}

_TORCH_TO_GE = {
    torch.float32: DataType.FLOAT,
    torch.float16: DataType.FLOAT16,
    torch.bfloat16: DataType.BF16,
    torch.float64: DataType.DOUBLE,
    torch.int8: DataType.INT8,
    torch.uint8: DataType.UINT8,
    torch.int16: DataType.INT16,
    torch.int32: DataType.INT32,
    torch.int64: DataType.INT64,
    torch.bool: DataType.BOOL,
    torch.complex64: DataType.COMPLEX64,
    torch.complex128: DataType.COMPLEX128,
    # Stored, cast and moved (eager has no arithmetic on them); GE has the types.
    torch.uint16: DataType.UINT16,
    torch.uint32: DataType.UINT32,
    torch.uint64: DataType.UINT64,
    torch.float8_e5m2: DataType.FLOAT8_E5M2,
    torch.float8_e4m3fn: DataType.FLOAT8_E4M3FN,
}
_GE_TO_TORCH = {ge: t for t, ge in _TORCH_TO_GE.items()}


def from_torch(dtype: torch.dtype) -> DataType:
    """Map a torch dtype to its GE data type.

    Raises:
        TypeError: ``dtype`` has no GE equivalent.
    """
    try:
        return _TORCH_TO_GE[dtype]
    except KeyError:
        raise TypeError(
            f"dtype: {dtype} has no GE data type; supported: "
            + ", ".join(str(t) for t in _TORCH_TO_GE)
        ) from None


def to_torch(dtype: DataType) -> torch.dtype:
    """Map a GE data type back to torch.

    Raises:
        TypeError: ``dtype`` has no torch equivalent (e.g. ``STRING``).
    """
    try:
        return _GE_TO_TORCH[dtype]
    except KeyError:
        raise TypeError(f"dtype: GE type {dtype.name} has no torch dtype") from None


def from_ge_code(code: int) -> DataType:
    """Map a ge:: numbering code (as in ``Cast.dst_type``) to a DataType."""
    try:
        return _FROM_GE_CODE[code]
    except KeyError:
        raise ValueError(f"code: {code} is not a ge::DataType number") from None
