"""Scattering in several single-threaded processes.

Clips are independent, and kymatio's transform of one clip uses a second thread poorly (at 10 s clips
on a 2-core AMD EPYC, 2026-12-02: 0.47 s per clip on one thread, 0.54 s on two, 0.34 s on two in
batches of 4) and very badly when another process holds a core (0.9 -> 2.8 s per 30 s clip, issue 18).
N processes of one thread each share the clips instead: every clip is computed by the same code on one
thread, so the features are the same as in one process (tested).

Each process is started with ``spawn`` (never ``fork`` a process whose OpenMP pools are running) and
pays a start-up of a few seconds (importing torch and kymatio, building the filter bank), so a small
data set is extracted in the calling process: see :func:`processes_for`.
"""
from __future__ import annotations

import multiprocessing
import signal
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from .scattering import FeatureConfig, Scatterer
from .sources import Clip

__all__ = ["MIN_AUDIO_SECONDS", "CHUNK", "processes_for", "extract_in_processes"]

MIN_AUDIO_SECONDS = 300.0  # below 5 minutes of audio in all, the start-up outweighs the second core
"""Seconds of audio in all below which :func:`processes_for` keeps the extraction in one process."""
CHUNK = 8  # clips per task: small enough for an even share and a live progress bar
"""Clips per task of :func:`extract_in_processes`."""

_SCATTERERS: dict[FeatureConfig, Scatterer] = {}  # one per worker process and configuration


def processes_for(n_clips: int, config: FeatureConfig, threads: int, device: str = "cpu") -> int:
    """How many processes extract ``n_clips``: ``threads`` on the CPU when the data set holds at least
    :data:`MIN_AUDIO_SECONDS` of audio (and enough clips for every process), else 1 (this process).

    Args:
        n_clips: clips to extract.
        config: the feature options (its ``duration`` counts the audio).
        threads: the run's thread count.
        device: where the scattering runs; anything but the CPU gets 1.

    Returns:
        ``min(threads, ceil(n_clips / CHUNK))``, or 1.
    """
    if not str(device).startswith("cpu") or n_clips * config.duration < MIN_AUDIO_SECONDS:
        return 1
    return max(1, min(threads, -(-n_clips // CHUNK)))


def _extract_chunk(config: FeatureConfig, clips: Sequence[Clip]):
    scatterer = _SCATTERERS.get(config)
    if scatterer is None:
        scatterer = _SCATTERERS[config] = Scatterer(config, "cpu")
    x, lengths, kept, skipped = scatterer.extract(clips, progress=False)
    position = {id(c): i for i, c in enumerate(clips)}
    return x, lengths, [position[id(c)] for c in kept], skipped, torch.get_num_threads(), scatterer.window


def _start(init: Callable[[], object] | None) -> None:
    """A worker's start: Ctrl-C is the parent's to handle (one line, no traceback from every worker), then
    the caller's policy."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if init is not None:
        init()


def extract_in_processes(clips: Sequence[Clip], config: FeatureConfig, processes: int,
                         init: Callable[[], object] | None = None, progress: bool = True):
    """Scatter ``clips`` in ``processes`` spawned processes, each running ``init`` first (the caller's
    execution policy at one thread). Returns what :meth:`Scatterer.extract` returns, in clip order,
    then the frame window and the thread counts the workers reported (``[1]`` when ``init`` set one
    thread in each).

    Args:
        clips: the clips, in order.
        config: the feature options.
        processes: worker processes (started with ``spawn``).
        init: run first in each worker, or None.
        progress: show a progress bar.

    Returns:
        (tuple): ``(x, lengths, kept, skipped, window, threads)``: as :meth:`features.scattering.Scatterer.extract`,
            then the :class:`features.frames.FrameWindow` and the sorted thread counts the workers reported.
    """
    chunks = [list(clips[i: i + CHUNK]) for i in range(0, len(clips), CHUNK)]
    results: list = [None] * len(chunks)
    bar = tqdm(total=len(clips), desc=f"scattering ({processes} processes)", unit="clip", disable=not progress)
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=processes, mp_context=context, initializer=_start, initargs=(init,))
    try:
        pending = {pool.submit(_extract_chunk, config, chunk): i for i, chunk in enumerate(chunks)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                i = pending.pop(future)
                results[i] = future.result()
                for _, reason in results[i][3]:
                    bar.write(f"skipped {reason}")
                bar.update(len(chunks[i]))
    except BaseException:  # Ctrl-C in this process: no new chunk starts, the workers finish theirs and exit
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    bar.close()
    kept = [chunks[i][k] for i, r in enumerate(results) for k in r[2]]
    parts = [r[0] for r in results if len(r[2])]
    x = np.concatenate(parts) if parts else np.empty((0, 0, 0), dtype=np.float32)
    lengths = np.concatenate([r[1] for r in results]).astype(np.int64)
    skipped = [s for r in results for s in r[3]]
    return x, lengths, kept, skipped, results[0][5], sorted({r[4] for r in results})
