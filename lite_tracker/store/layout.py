"""Where a store keeps its files: path rules only, no I/O beyond creating folders.

A store is one DuckDB file named by the user plus a sidecar folder beside it (like SQLite's ``-wal``)::

    lite_tracker.duckdb              compacted store (read by every query)
    lite_tracker.duckdb.d/
        pending/events/<id>.parquet  per-flush segments of run/experiment/param/tag events
        pending/metrics/<id>.parquet per-flush segments of metric points
        quarantine/                  broken or stale segments moved aside, never deleted
        live/<run_id>.lock           held (shared) by every process working on a running run
        runs/<run_id>.shared         a process that did not create the run logs to it too
        runs/<run_id>.deleted        the run is deleted (processes logging to it stop within 0.5 s); gc
                                     keeps it for purged runs
        locks/                       rw.lock and intent.lock (readers vs compactor), waiting.lock (readers
                                     waiting for their turn), compact.lock, meta.lock
        artifacts/                   default artifact root
        sync/                        sync state (made by the first push or pull; gc reads its presence)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    """Paths of one store, derived from the DuckDB file's path."""

    db_path: Path

    @property
    def sidecar(self) -> Path:
        return self.db_path.with_name(self.db_path.name + ".d")

    @property
    def pending(self) -> Path:
        return self.sidecar / "pending"

    @property
    def quarantine(self) -> Path:
        return self.sidecar / "quarantine"

    @property
    def live(self) -> Path:
        return self.sidecar / "live"

    @property
    def runs(self) -> Path:
        return self.sidecar / "runs"

    @property
    def locks(self) -> Path:
        return self.sidecar / "locks"

    @property
    def sync(self) -> Path:
        return self.sidecar / "sync"

    @property
    def default_artifact_root(self) -> Path:
        return self.sidecar / "artifacts"

    def pending_dir(self, kind: str) -> Path:
        return self.pending / kind

    def run_lock(self, run_id: str) -> Path:
        return self.live / f"{run_id}.lock"

    def ensure(self, kinds: tuple[str, ...]) -> None:
        """Create the sidecar folders (idempotent, safe to race)."""
        for kind in kinds:
            os.makedirs(self.pending_dir(kind), exist_ok=True)
        for d in (self.quarantine, self.live, self.locks, self.runs):
            os.makedirs(d, exist_ok=True)
