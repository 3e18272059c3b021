"""What push and pull report: progress events and a one-line summary."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SyncProgress:
    """Progress of one push or pull, passed to the ``progress`` callback after each batch.

    Example:
        >>> SyncProgress("push", 3, 10, 300, 1000).fraction
        0.3
    """

    action: str
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int

    @property
    def fraction(self) -> float:
        """Done so far, by bytes when there are any, else by files (0.0 to 1.0)."""
        if self.bytes_total:
            return self.bytes_done / self.bytes_total
        return self.files_done / self.files_total if self.files_total else 1.0


@dataclass(frozen=True)
class SyncResult:
    """What one push or pull did.

    Attributes:
        action: ``"push"``, ``"pull"`` or ``"migrate"``.
        url: The bucket URL.
        store_id: This store's id in the bucket.
        commit: Push: the push number written (or the last one, when nothing was new). Pull: pushes read.
            Migrate: commits migrated.
        files: Objects uploaded or downloaded (data, artifacts and the commit object).
        bytes: Bytes uploaded or downloaded.
        runs: Runs whose data or artifacts were transferred.
        rows: Event rows and metric points transferred.
        seconds: Wall time.
        dry_run: True if nothing was transferred on purpose.
        note: A short remark (``"nothing new"``...).
    """

    action: str
    url: str
    store_id: str
    commit: int
    files: int
    bytes: int
    runs: int
    rows: int
    seconds: float
    dry_run: bool = False
    note: str = ""

    def summary(self) -> str:
        """One line for humans, e.g. ``pushed 12 files (3.4 MB), 5 runs, 1200 rows in 0.8s``."""
        verb = {"push": "pushed", "pull": "pulled", "migrate": "migrated"}.get(self.action, self.action)
        if self.dry_run:
            verb = f"would have {verb}"
        text = (f"{verb} {self.files} files ({_size(self.bytes)}), {self.runs} runs, {self.rows} rows "
                f"in {self.seconds:.2f}s")
        return f"{text} ({self.note})" if self.note else text


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} B"
