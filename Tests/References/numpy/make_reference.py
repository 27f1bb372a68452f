"""The .npy headers numpy writes for a few float32 shapes, for NumpyArchiveWriter's test.

Run with any Python that has numpy: `python make_reference.py` writes npy_headers.json.
"""
import io
import json

import numpy as np

shapes = [[3, 40, 48, 56], [2, 24, 56, 48], [5], [1, 1, 1, 1], [4, 155, 240, 240]]
headers = {}
for shape in shapes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": tuple(shape)})
    headers["x".join(map(str, shape))] = list(buffer.getvalue())
with open("npy_headers.json", "w") as f:
    json.dump({"numpy": np.__version__, "headers": headers}, f)
