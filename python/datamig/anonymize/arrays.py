"""Arrow arrays to and from Python values without pyarrow's import of pandas.

pyarrow imports pandas, when it is installed, the first time a process converts a list or a
numpy array to Arrow (pa.array, pa.scalar) or an Arrow array to numpy (to_numpy): its checks
for pandas objects. That is ~0.4-0.7 s of CPU in each UDF worker process (udf_workers.py), on
the first chunk a model waits for. The paths every chunk of names, documents and masks takes
convert here instead: the same values, and a worker never imports pandas.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
from pyarrow.lib import StringBuilder


def string_array(values: Iterable[str | None]) -> pa.StringArray:
    """pa.array(values, pa.string()) for str and None values (None is NULL)."""
    builder = StringBuilder()
    builder.append_values(values)
    return builder.finish()


def index_array(indices: Iterable[int]) -> pa.Int64Array:
    """pa.array(indices) for whole numbers (no NULL): positions for Array.take()."""
    numbers = np.fromiter(indices, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(numbers), [None, pa.py_buffer(numbers)])


def null_string() -> pa.StringScalar:
    """pa.scalar(None, pa.string())."""
    return pa.nulls(1, pa.string())[0]


def not_null_mask(arr: pa.Array) -> np.ndarray:
    """arr.is_valid().to_numpy(zero_copy_only=False): True where arr is not NULL."""
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    bits = np.unpackbits(np.frombuffer(arr.buffers()[0], np.uint8), bitorder="little")
    return bits[arr.offset:arr.offset + len(arr)].astype(bool)
