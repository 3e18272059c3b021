"""File locks of a store, built on ``flock`` (POSIX): the OS drops them when a process dies.

- :class:`RWLock`: readers (queries) share the DuckDB file; the compactor writes it alone. Writers are
  preferred: a waiting writer holds an *intent* lock that new readers queue behind, so a busy reader
  never starves compaction. Readers are not starved either: a reader that has to wait says so on a
  *waiting* lock, and a writer about to start lets the readers already waiting in first.
- :class:`RunLiveness`: every process working on a running run holds a *shared* lock on
  ``live/<run_id>.lock``; a RUNNING run whose lock nobody holds belongs to dead processes (KILLED).
- ``try_exclusive``: a non-blocking exclusive lock (the "only one compactor at a time" rule).
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import LockTimeout

_POLL = 0.002
_LET_IN = 1.0  # at most this long a writer lets the readers already waiting go first


# Every lock file this process has open. A forked child gets copies of them, and a copy keeps the lock
# held (flock locks belong to the open file, shared with the copy) until the child closes it: a child
# forked while a thread held the store's write lock would otherwise block compaction for its whole life.
# The child closes its copies at once; closing a copy never releases the parent's lock.
_open_fds: set[int] = set()
_open_fds_lock = threading.Lock()  # held across fork, so no descriptor is half opened or closed


def _open(path: Path, flags: int = os.O_RDWR | os.O_CREAT) -> int:
    """Open a lock file (recorded in ``_open_fds``); in a read-only folder, an existing one is opened
    for reading (``flock`` works on it all the same)."""
    with _open_fds_lock:
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as e:
            if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
            fd = os.open(path, os.O_RDONLY)
        _open_fds.add(fd)
        return fd


def _open_for_reading(path: Path) -> int | None:
    """Open a lock file for a reader; None if it does not exist and cannot be made (a read-only folder
    without lock files: no lite_tracker process can be writing that store either)."""
    try:
        return _open(path)
    except FileNotFoundError:
        return None


def _close(fd: int) -> None:
    """Close a lock file opened by ``_open``."""
    with _open_fds_lock:
        _open_fds.discard(fd)
        os.close(fd)


# The threads that have a store's DuckDB file open (while holding an RWLock side), with how many times.
# fork() waits until no other thread has: DuckDB registers open files process-wide, and a connection a
# child inherits is never closed (see ``catalog.keep_after_fork``), so the child could never open the
# store again. A thread stuck with the file open holds a fork up for ``_FORK_WAIT`` seconds at most.
_store_file_users: dict[int, int] = {}
_store_file_cond = threading.Condition()
_FORK_WAIT = 60.0


@contextmanager
def _store_file_open() -> Iterator[None]:
    """Mark the calling thread as having a store's DuckDB file open, for the duration."""
    me = threading.get_ident()
    with _store_file_cond:
        _store_file_users[me] = _store_file_users.get(me, 0) + 1
    try:
        yield
    finally:
        with _store_file_cond:
            left = _store_file_users.pop(me, 1) - 1
            if left:
                _store_file_users[me] = left
            _store_file_cond.notify_all()


def _before_fork() -> None:
    """Wait until no other thread has a store file open, and hold off new ones and lock-file changes."""
    me = threading.get_ident()
    _store_file_cond.acquire()
    _store_file_cond.wait_for(lambda: not _store_file_users.keys() - {me}, _FORK_WAIT)
    _open_fds_lock.acquire()


def _after_fork_in_parent() -> None:
    """Let the parent's threads go on."""
    _open_fds_lock.release()
    _store_file_cond.release()


def _after_fork_in_child() -> None:
    """Fresh locks; close the copies of the parent's lock files (the parent's locks stay held)."""
    global _open_fds_lock, _store_file_cond
    _open_fds_lock = threading.Lock()
    _store_file_cond = threading.Condition()
    _store_file_users.clear()
    for fd in _open_fds:
        os.close(fd)
    _open_fds.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)


def _flock(fd: int, mode: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"Timed out after {timeout:.1f}s waiting for the {what}; nothing was changed. "
                    "Another process holds it; retry, or raise the timeout."
                ) from None
            time.sleep(_POLL)


class RWLock:
    """Writer-preferring readers/writer lock over two lock files."""

    def __init__(self, folder: Path, timeout: float = 30.0) -> None:
        self._rw = folder / "rw.lock"
        self._intent = folder / "intent.lock"
        self._waiting = folder / "waiting.lock"
        self.timeout = timeout

    @contextmanager
    def read(self) -> Iterator[None]:
        """Hold the shared side while a query reads the DuckDB file (fork waits for the end)."""
        intent = _open_for_reading(self._intent)
        fd = _open_for_reading(self._rw)
        try:
            if intent is not None and fd is not None:
                self._queue(intent)
                try:
                    _flock(fd, fcntl.LOCK_SH, self.timeout, "store read lock")
                finally:
                    fcntl.flock(intent, fcntl.LOCK_UN)
            with _store_file_open():
                yield
        finally:
            for held in (fd, intent):
                if held is not None:
                    _close(held)

    def _queue(self, intent: int) -> None:
        """Take the shared side of the intent lock; while a writer has it, hold the waiting lock shared
        so that the next writer lets this reader in first."""
        try:
            fcntl.flock(intent, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        waiting = _open_for_reading(self._waiting)
        try:
            if waiting is not None:
                _flock(waiting, fcntl.LOCK_SH, self.timeout, "store read lock")
            _flock(intent, fcntl.LOCK_SH, self.timeout, "store read lock")
        finally:
            if waiting is not None:
                _close(waiting)

    def _let_waiting_readers_in(self) -> None:
        """Wait (at most ``_LET_IN`` seconds) until no reader waits: back-to-back writers, such as the
        compactions of many processes, would otherwise keep a reader out for as long as they go on."""
        waiting = _open(self._waiting)
        try:
            deadline = time.monotonic() + _LET_IN
            while True:
                try:
                    fcntl.flock(waiting, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        return
                    time.sleep(_POLL)
        finally:
            _close(waiting)

    @contextmanager
    def write(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the exclusive side while the DuckDB file is opened read-write (fork waits for the end)."""
        wait = self.timeout if timeout is None else timeout
        self._let_waiting_readers_in()
        intent = _open(self._intent)
        fd = _open(self._rw)
        try:
            _flock(intent, fcntl.LOCK_EX, wait, "store write lock")
            _flock(fd, fcntl.LOCK_EX, wait, "store write lock")
            with _store_file_open():
                yield
        finally:
            _close(fd)
            _close(intent)


@contextmanager
def try_exclusive(path: Path, create: bool = True) -> Iterator[bool]:
    """Yield True while holding ``path`` exclusively, or False at once if another process holds it
    (or, with ``create=False``, if the file does not exist)."""
    try:
        fd = _open(path) if create else _open(path, os.O_RDWR)
    except FileNotFoundError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        _close(fd)


@contextmanager
def exclusive(path: Path, timeout: float, what: str) -> Iterator[None]:
    """Hold ``path`` exclusively, waiting at most ``timeout`` seconds (then :class:`LockTimeout`)."""
    fd = _open(path)
    try:
        _flock(fd, fcntl.LOCK_EX, timeout, what)
        yield
    finally:
        _close(fd)


class RunLiveness:
    """The shared run locks this process holds, by run id."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._held: dict[str, int] = {}

    def hold(self, run_id: str, timeout: float = 10.0) -> None:
        """Mark ``run_id`` as worked on by this process (idempotent)."""
        if run_id in self._held:
            return
        path = self._folder / f"{run_id}.lock"
        while True:
            fd = _open(path)
            try:
                _flock(fd, fcntl.LOCK_SH, timeout, f"liveness lock of run {run_id}")
                if os.fstat(fd).st_ino == os.stat(path).st_ino:
                    break  # else a reaper unlinked the file between our open and lock: retry
            except FileNotFoundError:
                pass
            except BaseException:
                _close(fd)
                raise
            _close(fd)
        self._held[run_id] = fd

    def release(self, run_id: str) -> None:
        """Stop holding ``run_id``; the lock file stays until a reaper or the run's end removes it."""
        fd = self._held.pop(run_id, None)
        if fd is not None:
            _close(fd)

    def holds(self, run_id: str) -> bool:
        return run_id in self._held

    def forget_after_fork(self) -> None:
        """In a forked child: the inherited run locks stay the parent's (the child's copies of their files
        were closed at fork, which leaves them held by the parent)."""
        self._held = {}

    @contextmanager
    def probe_dead(self, run_id: str) -> Iterator[bool]:
        """Yield True (holding the lock) if a lock file exists for ``run_id`` and no process holds it.

        A run without a lock file was not started on this machine, so it is never judged dead here.
        """
        if run_id in self._held:
            yield False
            return
        with try_exclusive(self._folder / f"{run_id}.lock", create=False) as free:
            yield free

    def is_dead(self, run_id: str) -> bool:
        """True if ``run_id`` has a lock file that no live process holds."""
        with self.probe_dead(run_id) as dead:
            return dead
