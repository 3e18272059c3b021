"""Globally unique, time-sortable ids that still match MLflow's id formats."""

from __future__ import annotations

import os
import time


def time_sortable_hex() -> str:
    """A UUIDv7-style id as 32 lowercase hex characters (MLflow run-id shape).

    The first 48 bits are the Unix time in milliseconds, so ids sort by creation time and DuckDB's
    zonemaps prune by them; the rest is random.

    Example:
        >>> len(time_sortable_hex())
        32
    """
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (rand >> 62 & 0xFFF) << 64 | 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return f"{value:032x}"


def new_experiment_id() -> str:
    """A decimal experiment id: milliseconds since the epoch then 6 random digits (19 digits).

    Decimal like MLflow's, unique across machines so stores can be merged.
    """
    ms = time.time_ns() // 1_000_000
    return str(ms * 1_000_000 + int.from_bytes(os.urandom(4), "big") % 1_000_000)
