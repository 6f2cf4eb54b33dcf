"""One writer per run directory: an advisory lock held by ``bench run`` and ``bench report``.

``<run>/.lock`` is locked with the operating system's advisory file lock (``filelock``: ``flock`` on
Unix, ``LockFileEx`` on Windows). The kernel drops that lock when its process ends, however it ends
(Ctrl-C, ``kill -9``, a crash), so a lock can never outlive its holder. Beside it, ``<run>/.lock.holder``
says who holds it: host, pid and start time; it is removed when the lock is released. A second writer
fails at once with one line naming that holder. A holder file found when the lock is free was left by
a process that died holding it (killed, crashed): it is reported as stale and taken over.

A Dask run is written by its client process alone (workers only compute and hand results back), so
the client holds the lock. Locking is re-entrant within one process: ``bench run`` renders its report
under the lock it already holds.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import filelock

if TYPE_CHECKING:
    from .store import ResultsStore

__all__ = ["RunLocked", "run_lock", "holder", "current_tables"]

log = logging.getLogger(__name__)

LOCK, HOLDER = ".lock", ".lock.holder"
_held: dict[Path, int] = {}  # run directories this process holds, with their nesting depth


class RunLocked(Exception):
    """Another process is writing the run directory."""


def holder(run_dir: Path) -> dict | None:
    """Who last took the lock of ``run_dir`` (host, pid, started, command), or None.

    Args:
        run_dir: the run directory.

    Returns:
        ``<run_dir>/.lock.holder`` as a dict, or None when there is none (or it cannot be read).
    """
    try:
        return json.loads((Path(run_dir) / HOLDER).read_text())
    except (OSError, ValueError):
        return None


def _describe(h: dict | None) -> str:
    if not h:
        return "another process (no holder record)"
    return f"pid {h.get('pid')} on {h.get('host')} since {h.get('started')} ({h.get('command', '?')})"


@contextmanager
def run_lock(run_dir: str | Path, command: str):
    """Hold ``run_dir``'s lock for the block; :class:`RunLocked` at once if another process holds it.

    Creates ``run_dir`` if needed; if it created it and the block leaves nothing but the lock files
    (a run refused before its first write), the folder is removed again. Re-entrant within a process.

    Args:
        run_dir: the run directory.
        command: who holds it, for the holder record (``"bench run"``).

    Raises:
        RunLocked: another process holds the lock; the message names it (host, pid, since when).

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from bench.results.runlock import holder, run_lock
        >>> run_dir = Path(tempfile.mkdtemp()) / "run"
        >>> with run_lock(run_dir, "my analysis"):
        ...     holder(run_dir)["command"]
        'my analysis'
        >>> run_dir.exists()  # created for the block, and nothing was written: removed again
        False
    """
    run_dir = Path(run_dir).resolve()
    if run_dir in _held:  # re-entrant: bench run -> its report
        _held[run_dir] += 1
        try:
            yield
        finally:
            _held[run_dir] -= 1
        return
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(run_dir / LOCK, timeout=0, thread_local=False)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise RunLocked(f"{run_dir} is being written by {_describe(holder(run_dir))}; wait for it to finish, "
                        "or use another --out") from None
    try:
        old = holder(run_dir)
        if old is not None:  # the lock was free, so its last holder died without releasing it
            log.warning("%s: taking over the stale lock of %s, which is no longer running", run_dir, _describe(old))
        me = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "command": command}
        (run_dir / HOLDER).write_text(json.dumps(me))
        _held[run_dir] = 1
        yield
    finally:
        _held.pop(run_dir, None)
        (run_dir / HOLDER).unlink(missing_ok=True)
        if created and {p.name for p in run_dir.iterdir()} <= {LOCK, HOLDER}:
            lock.release()
            (run_dir / LOCK).unlink(missing_ok=True)
            run_dir.rmdir()
        else:
            lock.release()


@contextmanager
def current_tables(run_dir: str | Path, command: str = "bench report") -> Iterator[ResultsStore]:
    """A run directory's top-level tables brought up to date with its finished jobs, held under its lock
    while the caller reads them (what ``bench report`` renders from).

    A folder that is not a run directory (no ``metadata.json``, lock or ``parts/``: a data folder?) is
    neither locked nor written: the reader names what is missing. Otherwise, under the lock, jobs finished
    since the tables were built are consolidated (:meth:`bench.results.store.ResultsStore.consolidate`):
    damaged parts moved aside, named; CSV exports replaced, never deleted; with no part left, the tables
    already built are the only copy and are kept, and a warning says so.

    Args:
        run_dir: the run directory.
        command: who holds the lock, as its holder file says.

    Yields:
        The run's :class:`bench.results.store.ResultsStore`.

    Raises:
        RunLocked: another process is writing the run directory.
    """
    import contextlib
    import sys

    from .store import ResultsStore

    store = ResultsStore(run_dir)
    if not any((store.dir / name).exists() for name in ("metadata.json", LOCK, "parts")):
        lock = contextlib.nullcontext()
    else:
        lock = run_lock(store.dir, command)  # it may rebuild the tables: one writer at a time
    with lock:
        if store.parts.is_dir() and not store.is_current():  # jobs finished since the tables were built
            if not store.consolidate(csv=False):
                print(f"warning: {store.parts} holds no finished job; reporting from the tables built before",
                      file=sys.stderr)
        yield store
