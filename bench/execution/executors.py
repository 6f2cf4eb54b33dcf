"""Executors run jobs and hand back ``(job, tables)`` as each finishes; the caller stores them.

Both run the same pure function, :func:`bench.execution.jobs.run_job`, so a job's result does not depend on
which executor ran it, and the results store (written only by the caller, one atomic folder per job)
cannot tell them apart: a resumed run skips finished jobs whichever executor finished them.

Same thread counts and subnormal policy everywhere: before every job, in this process or in a Dask
worker, torch's and numba's CPU pools are both set to :func:`job_threads` (``--threads``, or torch's
default in the process that starts the run) and ``--subnormals`` is put in force in them. Both are needed. A Dask worker starts with ``OMP_NUM_THREADS=1`` (torch then uses
1 thread where a local run uses every core), and numba's OpenMP layer shares torch's OpenMP runtime:
its first parallel launch (the IndRNN kernel's warm-up) resets the process's OpenMP thread count to
numba's pool size, so torch silently trained the first IndRNN job of a process with another thread
count than the jobs after it. Different thread counts split reductions differently, and float sums
in another order differ in the last bits, then by a clip or more after a few epochs.
"""
from __future__ import annotations

import torch

from ..measure.envinfo import job_environment
from ..measure.policy import apply_policy
from .jobs import run_job

__all__ = ["ExecutorError", "LocalExecutor", "DaskExecutor", "local_cluster", "make_executor", "job_threads"]

DEFAULT_THREADS = torch.get_num_threads()  # torch's choice in this process, read before anything changes it


class ExecutorError(Exception):
    """The executor cannot start as asked (missing extra, no GPU, bad option)."""


def job_threads(cfg) -> int:
    """The CPU threads every job of a run uses: ``cfg.threads``, or torch's default where the run starts.

    Args:
        cfg (RunConfig): the run's configuration.

    Returns:
        ``cfg.threads``, or torch's thread count read when this module was first imported.
    """
    return cfg.threads or DEFAULT_THREADS


def pinned_environment(cfg, threads: int) -> dict:
    """The environment a job would record here, measured after the run's policy is put in force."""
    apply_policy(threads, cfg.subnormals)
    return job_environment(cfg.device)


def run_job_pinned(job, data, cfg, threads: int, progress: bool = False):
    """What each executor runs: one job, after setting torch's and numba's pools and the subnormal
    policy in the thread that runs it (the job records what it verified)."""
    apply_policy(threads, cfg.subnormals)
    return run_job(job, data, cfg, progress)


class LocalExecutor:
    """One job after another in this process: the timing reference (nothing else runs beside it)."""

    name = "local"

    def describe(self) -> dict:
        """What a run's session records about its executor.

        Returns:
            ``{"executor": "local"}``.
        """
        return {"executor": "local"}

    def map(self, jobs, data, cfg, progress: bool = False, check_env=None):
        """``(job, tables)`` per job; ``check_env(env)`` sees this process's environment before the first.

        Each job runs under the run's thread count and subnormal policy (set in this thread first).

        Args:
            jobs (list[Job]): the jobs to run, in order.
            data (JobData): what every job reads.
            cfg (RunConfig): the run's configuration.
            progress: show each job's epoch bar.
            check_env (Callable[[dict], None] | None): called with the environment the jobs will record,
                before the first job (it may raise to refuse them).

        Yields:
            (tuple[Job, dict[str, pandas.DataFrame]]): ``(job, tables)`` as each job finishes: the tables
                of :func:`bench.execution.jobs.run_job`.
        """
        threads = job_threads(cfg)
        if jobs and check_env is not None:
            check_env(pinned_environment(cfg, threads))
        for job in jobs:
            yield job, run_job_pinned(job, data, cfg, threads, progress)


class DaskExecutor:
    """Each job is one Dask task, on a LocalCluster it starts or on an existing scheduler.

    * The feature table is scattered once to every worker (``broadcast=True``); tasks receive a
      reference to it, so it is sent once per worker, not once per task.
    * A CUDA run asks each task for the worker resource ``GPU=1``; a worker started with
      ``--resources GPU=1`` per device then never runs two timed jobs on one GPU. The LocalCluster
      of a CUDA run has one worker per visible GPU, each seeing only its own device.
    * A worker that dies mid-task (killed, out of memory) loses its task; the scheduler reruns it
      elsewhere (up to ``distributed.scheduler.allowed-failures`` times), and ``retries`` reruns a
      task that raised. Only finished results come back, so nothing is half-written.

    Args:
        scheduler: address of a running scheduler (``tcp://HOST:8786``); None starts a LocalCluster.
        workers: the LocalCluster's worker processes (a CUDA run: one per visible GPU instead).
        threads_per_worker: the LocalCluster's threads per worker.
        retries: reruns of a task that raised.
    """

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int = 2, threads_per_worker: int = 1,
                 retries: int = 2):
        self.scheduler, self.workers, self.threads_per_worker, self.retries = scheduler, workers, threads_per_worker, retries

    def describe(self) -> dict:
        """What a run's session records about its executor.

        Returns:
            ``executor``, ``scheduler`` (or ``"LocalCluster"``), ``workers`` and ``threads_per_worker``
                (None with a scheduler of one's own).
        """
        return {"executor": "dask", "scheduler": self.scheduler or "LocalCluster",
                "workers": None if self.scheduler else self.workers,
                "threads_per_worker": None if self.scheduler else self.threads_per_worker}

    def _client(self, gpu: bool):
        try:
            from dask.distributed import Client
        except ImportError as exc:  # the optional extra
            raise ExecutorError("--executor dask needs Dask distributed: pip install -e '.[cluster]'") from exc
        if self.scheduler:
            return Client(self.scheduler), None
        gpus = 0
        if gpu:
            import torch

            gpus = torch.cuda.device_count()
            if gpus == 0:
                raise ExecutorError("--device cuda with --executor dask: torch sees no CUDA device here")
        cluster = local_cluster(self.workers, self.threads_per_worker, gpus)
        return Client(cluster), cluster

    def map(self, jobs, data, cfg, progress: bool = False, check_env=None):
        """``(job, tables)`` as tasks finish; ``check_env(env)`` sees every worker's environment (under
        the run's policy) before any task is submitted, so a mismatched worker trains nothing.

        Args:
            jobs (list[Job]): the jobs to run.
            data (JobData): what every job reads, scattered once to every worker.
            cfg (RunConfig): the run's configuration (a ``cuda`` device asks each task for ``GPU=1``).
            progress: show each job's epoch bar (in the worker's output).
            check_env (Callable[[dict], None] | None): called with each worker's environment first.

        Yields:
            (tuple[Job, dict[str, pandas.DataFrame]]): ``(job, tables)`` in the order the tasks finish.

        Raises:
            ExecutorError: Dask is not installed, or a CUDA run finds no GPU.
        """
        from dask.distributed import as_completed

        jobs = list(jobs)
        if not jobs:
            return
        gpu = cfg.device.startswith("cuda")
        client, cluster = self._client(gpu)
        try:
            shared = client.scatter(data, broadcast=True)
            threads = job_threads(cfg)  # resolved here, so that workers use the local count
            if check_env is not None:
                for env in client.run(pinned_environment, cfg, threads).values():
                    check_env(env)
            futures = {client.submit(run_job_pinned, job, shared, cfg, threads, pure=False, retries=self.retries,
                                     resources={"GPU": 1} if gpu else None): job for job in jobs}
            for fut in as_completed(futures):
                yield futures[fut], fut.result()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


def local_cluster(workers: int, threads_per_worker: int, gpus: int = 0):
    """A cluster on this machine: ``workers`` CPU workers, or (``gpus`` > 0) one worker per GPU that
    sees only its own device (``CUDA_VISIBLE_DEVICES``) and offers the resource ``GPU=1``.

    Args:
        workers: worker processes (CPU).
        threads_per_worker: threads of each worker.
        gpus: visible GPUs; more than 0 replaces the CPU workers by one worker per GPU.

    Returns:
        (distributed.SpecCluster): A started ``LocalCluster`` or ``SpecCluster`` (no dashboard); close
            it when done.
    """
    from dask.distributed import LocalCluster, Nanny, Scheduler, SpecCluster

    if not gpus:
        return LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker, processes=True,
                            dashboard_address=None)
    specs = {f"gpu{i}": {"cls": Nanny, "options": {"nthreads": threads_per_worker, "resources": {"GPU": 1},
                                                   "env": {"CUDA_VISIBLE_DEVICES": str(i)}}}
             for i in range(gpus)}
    return SpecCluster(workers=specs, scheduler={"cls": Scheduler, "options": {"dashboard_address": None}})


def make_executor(name: str, scheduler: str | None = None, workers: int = 2, threads_per_worker: int = 1):
    """The executor ``--executor name`` asks for, checked before any work.

    Args:
        name: ``"local"`` or ``"dask"``.
        scheduler: a Dask scheduler's address (``dask`` only).
        workers: LocalCluster workers (``dask`` only).
        threads_per_worker: LocalCluster threads per worker (``dask`` only).

    Returns:
        (LocalExecutor | DaskExecutor): The executor (a Dask one connects when it first runs jobs).

    Raises:
        ExecutorError: an unknown name, or a scheduler given to the local executor.
    """
    if name == "local":
        if scheduler:
            raise ExecutorError("--scheduler needs --executor dask")
        return LocalExecutor()
    if name == "dask":
        return DaskExecutor(scheduler, workers, threads_per_worker)
    raise ExecutorError(f"unknown executor {name!r}; choose local or dask")
