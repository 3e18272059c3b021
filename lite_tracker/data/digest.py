"""Dataset digests computed as MLflow computes them, so the same data gets the same digest in both:
an MD5 over hashed contents (the first 10,000 rows or elements), the shape and the column names,
cut to 8 hex characters."""

from __future__ import annotations

import hashlib
from typing import Any

from ..errors import InvalidParameterValue

MAX_ROWS = 10000


def md5_digest(parts: list[Any]) -> str:
    """The first 8 hex characters of the MD5 of ``parts`` (bytes or objects with a buffer)."""
    if not parts:
        raise InvalidParameterValue("No hashable elements were provided for md5 digest creation")
    md5 = hashlib.md5(usedforsecurity=False)
    for part in parts:
        md5.update(part)
    return md5.hexdigest()[:8]


def pandas_digest(df: Any) -> str:
    """Digest of a DataFrame: its string and numeric columns (as pandas hashes them), its length and
    every column name."""
    import numpy as np
    import pandas as pd

    head = df.head(MAX_ROWS)
    strings = head.columns[df.map(lambda x: type(x) is str).all(axis=0)]
    numbers = head.select_dtypes(include=[np.number]).columns
    kept = head[strings.union(numbers)]
    return md5_digest([pd.util.hash_pandas_object(kept).values, np.int64(len(df))]
                      + [str(c).encode() for c in df.columns])


def numpy_digest(features: Any, targets: Any = None) -> str:
    """Digest of arrays (or dicts of named arrays): the first elements of each, then its shape."""
    import numpy as np
    import pandas as pd

    parts: list[Any] = []

    def add(array: Any) -> None:
        first = array.flatten()[:MAX_ROWS]
        try:
            parts.append(pd.util.hash_array(first))
        except TypeError:
            parts.append(np.int64(first.size))
        parts.extend(np.int64(n) for n in array.shape)

    for item in (features, targets):
        if item is None:
            continue
        if isinstance(item, dict):
            for name in sorted(item):
                add(item[name])
        else:
            add(item)
    return md5_digest(parts)
